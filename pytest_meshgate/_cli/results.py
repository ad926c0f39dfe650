"""What ``validate`` found in each file, and the counts over a run."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from .._errors import Problem

__all__ = ["FileResult", "Severity", "summary"]

Severity = Literal["error", "warning"]


@dataclass
class FileResult:
    """What validating one file found; ``status`` is ``skipped`` for a file that is no case file."""

    path: Path
    status: Literal["valid", "invalid", "skipped"] = "valid"
    cases: list[str] = field(default_factory=list)
    problems: list[tuple[Severity, Problem]] = field(default_factory=list)


def summary(results: Sequence[FileResult]) -> dict[str, int]:
    """Counts over every file: by status, valid cases, problems by severity."""
    severities = [severity for result in results for severity, _ in result.problems]
    return {
        "files": len(results),
        "valid": sum(result.status == "valid" for result in results),
        "invalid": sum(result.status == "invalid" for result in results),
        "skipped": sum(result.status == "skipped" for result in results),
        "cases": sum(len(result.cases) for result in results),
        "errors": severities.count("error"),
        "warnings": severities.count("warning"),
    }
