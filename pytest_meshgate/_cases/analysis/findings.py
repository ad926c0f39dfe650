"""A finding: one analyzer message about one resource, located, printed as istioctl prints it."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from ..._errors import display_path
from .messages import LEVELS, Level

__all__ = ["Finding", "at_or_above", "sorted_findings"]


@dataclass(frozen=True)
class Finding:
    """What ``istioctl analyze`` would report: code, level, message, and where.

    ``kind`` and ``name`` (``namespace/name``) identify the resource; ``path``
    and ``line`` are where the field the message is about is written (the
    resource's own line when Istio names no field); ``column`` is only for carets.
    """

    code: str
    level: Level
    message: str
    kind: str
    name: str
    path: Path
    line: int
    column: int = 1

    @property
    def origin(self) -> str:
        """``VirtualService default/reviews cases/x.yaml:12``, as istioctl's origin."""
        return f"{self.kind} {self.name} {display_path(self.path)}:{self.line}"

    def __str__(self) -> str:
        # pkg/config/analysis/diag/message.go Message.String()
        return f"{self.level} [{self.code}] ({self.origin}) {self.message}"


def at_or_above(level: Level, threshold: Level) -> bool:
    """Whether ``level`` is at least as severe as ``threshold`` (``IsWorseThanOrEqualTo``)."""
    return LEVELS.index(level) <= LEVELS.index(threshold)


def sorted_findings(findings: Iterable[Finding]) -> list[Finding]:
    """Sorted and without duplicates, as ``diag.Messages.SortedDedupedCopy``.

    Level (worst first), code, resource, then the text; two findings are the
    same when they print the same (several analyzers report a Gateway whose
    selector matches nothing, for instance).
    """
    ordered = sorted(
        findings, key=lambda f: (LEVELS.index(f.level), f.code, f.kind, f.name, str(f))
    )
    unique: list[Finding] = []
    for finding in ordered:
        if not unique or str(unique[-1]) != str(finding):
            unique.append(finding)
    return unique
