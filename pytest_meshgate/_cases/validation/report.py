"""Where validation rules put what they find: errors and warnings at key paths."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from ..._errors import Problem
from ..yamlpos import KeyPath, Positions, format_key_path

__all__ = ["Finding", "Findings", "Report"]


@dataclass(frozen=True)
class Finding:
    """One rule's verdict on one key: an error (Istio rejects) or a warning (it accepts)."""

    key_path: KeyPath
    message: str
    warning: bool = False


@dataclass
class Findings:
    """What validating one resource found, located in the case file."""

    errors: list[Problem] = field(default_factory=list)
    warnings: list[Problem] = field(default_factory=list)


class Report:
    """Collects findings below a key path; ``at`` narrows it to a child key.

    Istio's validators return one multierror per resource; here each error
    keeps the key it is about, so the user is pointed at the line.
    """

    def __init__(self, prefix: KeyPath = (), findings: list[Finding] | None = None) -> None:
        self.prefix = prefix
        self.findings: list[Finding] = [] if findings is None else findings

    def at(self, *keys: str | int) -> Report:
        """A report for ``keys`` below this one, sharing the same findings."""
        return Report((*self.prefix, *keys), self.findings)

    def error(self, message: str | None, *keys: str | int) -> None:
        """Record ``message`` (if any) as an error at ``keys`` below this report."""
        if message:
            self.findings.append(Finding((*self.prefix, *keys), message))

    def errors(self, messages: Iterable[str], *keys: str | int) -> None:
        for message in messages:
            self.error(message, *keys)

    def warn(self, message: str | None, *keys: str | int) -> None:
        """Record ``message`` (if any) as a warning: Istio accepts the resource but says so."""
        if message:
            self.findings.append(Finding((*self.prefix, *keys), message, warning=True))

    @property
    def has_errors(self) -> bool:
        return any(not f.warning for f in self.findings)

    def located(self, positions: Positions, path: Path) -> Findings:
        """The findings as located problems, in the order the rules found them."""
        out = Findings()
        seen: set[Finding] = set()
        for finding in self.findings:
            if finding in seen:  # the same rule reached twice (e.g. via two callers)
                continue
            seen.add(finding)
            mark = positions.locate(finding.key_path)
            key = format_key_path(finding.key_path)
            # The mark carries the source line, so the problem shows it with a caret.
            problem = (
                mark.problem(key, finding.message)
                if mark is not None
                else Problem(path, 1, 1, key, finding.message)
            )
            (out.warnings if finding.warning else out.errors).append(problem)
        return out
