"""``validate``'s three outputs: text for people, JSON for programs, GitHub Actions annotations."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import IO, Any

from .. import __version__
from .._errors import CaseError, Problem, display_path
from .results import FileResult, Severity, summary

__all__ = ["escape_data", "escape_property", "write_results"]


def write_results(results: Sequence[FileResult], style: str, out: IO[str]) -> None:
    {"text": _text, "json": _json, "github": _github}[style](results, out)


def _summary_line(results: Sequence[FileResult]) -> str:
    counts = summary(results)
    checked = counts["files"] - counts["skipped"]
    verdict = "invalid" if counts["invalid"] else "valid"
    return (
        f"meshgate validate: {verdict}: {checked} case file{'s' * (checked != 1)} "
        f"({counts['invalid']} invalid), {counts['cases']} valid case"
        f"{'s' * (counts['cases'] != 1)}, {counts['errors']} error"
        f"{'s' * (counts['errors'] != 1)}, {counts['warnings']} warning"
        f"{'s' * (counts['warnings'] != 1)}, {counts['skipped']} file"
        f"{'s' * (counts['skipped'] != 1)} skipped\n"
    )


# ------------------------------------------------------------------ text


def _text(results: Sequence[FileResult], out: IO[str]) -> None:
    """Errors as collection renders them (headline, source line, caret); warnings as gcc's."""
    for result in results:
        if result.status == "skipped":
            out.write(f"skipped (not a meshgate case file): {display_path(result.path)}\n")
            continue
        errors = [problem for severity, problem in result.problems if severity == "error"]
        for severity, problem in result.problems:
            if severity == "warning":
                out.write(_warning_headline(problem) + "\n")
        if errors:
            out.write(CaseError(errors).render() + "\n\n")
    out.write(_summary_line(results))


def _warning_headline(problem: Problem) -> str:
    where = f"{display_path(problem.path)}:{problem.line}:{problem.column}"
    key = f"{problem.key_path}: " if problem.key_path else ""
    return f"{where}: warning: {key}{problem.message}"


# ------------------------------------------------------------------ json


def _json(results: Sequence[FileResult], out: IO[str]) -> None:
    document = {
        "tool": "pytest-meshgate",
        "version": __version__,
        "valid": not any(result.status == "invalid" for result in results),
        "files": [
            {
                "path": display_path(result.path),
                "status": result.status,
                "cases": result.cases,
                "problems": [_problem_json(severity, p) for severity, p in result.problems],
            }
            for result in results
        ],
        "summary": summary(results),
    }
    out.write(json.dumps(document, indent=2) + "\n")


def _problem_json(severity: Severity, problem: Problem) -> dict[str, Any]:
    return {
        "severity": severity,
        "path": display_path(problem.path),
        "line": problem.line,
        "column": problem.column,
        "key": problem.key_path,
        "message": problem.message,
    }


# ------------------------------------------------------------------ github


def _github(results: Sequence[FileResult], out: IO[str]) -> None:
    """One workflow command per problem, annotated on its file and line in the pull request.

    The syntax and its escaping are GitHub's "Workflow commands for GitHub
    Actions" (``::error file=...,line=...,col=...,title=...::message``).
    """
    for result in results:
        for severity, problem in result.problems:
            properties = {
                "file": display_path(problem.path),
                "line": str(problem.line),
                "col": str(problem.column),
                "title": f"meshgate {severity}: {problem.key_path or 'case file'}",
            }
            joined = ",".join(
                f"{key}={escape_property(value)}" for key, value in properties.items()
            )
            out.write(f"::{severity} {joined}::{escape_data(problem.message)}\n")
    out.write(_summary_line(results))


def escape_data(text: str) -> str:
    """A workflow command's message: ``%``, CR and LF percent-encoded."""
    return text.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def escape_property(text: str) -> str:
    """A workflow command's property value: also ``:`` and ``,``, which delimit properties."""
    return escape_data(text).replace(":", "%3A").replace(",", "%2C")
