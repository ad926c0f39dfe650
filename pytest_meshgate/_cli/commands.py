"""The commands that describe and render: ``schema``, ``matrix``, ``analyze``, ``render``."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

__all__ = ["ANALYSIS_DOCS", "level", "run_analyze", "run_matrix", "run_render", "run_schema"]

# istioctl analyze's url.ConfigAnalysis, for the closing line when issues are found.
ANALYSIS_DOCS = "https://istio.io/latest/docs/reference/config/analysis"


def run_schema(args: argparse.Namespace) -> int:
    from .._cases.schema import case_schema_json

    sys.stdout.write(case_schema_json())
    return 0


def run_matrix(args: argparse.Namespace) -> int:
    from .._conformance.matrix import render_matrix
    from .._conformance.report import load_report

    try:
        reports = [load_report(path) for path in args.reports]
    except ValueError as exc:
        sys.stderr.write(f"error: {exc}\n")
        return 2
    profiles = [p.strip() for p in args.profile.split(",") if p.strip()]
    sys.stdout.write(render_matrix(reports, profiles or None))
    return 0


def level(text: str) -> str:
    """An ``istioctl analyze`` level, matched case-insensitively as istioctl's level flags."""
    from .._cases.analysis import LEVELS

    for known in LEVELS:
        if known.lower() == text.strip().lower():
            return known
    raise argparse.ArgumentTypeError(f"{text!r} is not one of {', '.join(LEVELS)}")


def run_analyze(args: argparse.Namespace) -> int:
    """Print findings as ``istioctl analyze`` does; 1 when one is at or above the failure
    threshold, or a case file is invalid (its located errors go to stderr); 0 otherwise."""
    from .._cases.analysis import analyze, at_or_above
    from .._cases.loader import load_case_file
    from .._cases.yamlpos import looks_like_case_file
    from .._errors import display_path

    files: list[Path] = []
    for path in args.paths:
        if path.is_dir():
            found = sorted(p for p in path.rglob("*") if p.suffix in (".yaml", ".yml"))
            files += [p for p in found if p.is_file() and looks_like_case_file(p)]
        elif path.is_file():
            files.append(path)
        else:
            sys.stderr.write(f"error: no such file or directory: {path}\n")
            return 2
    invalid = issues = False
    shown = 0
    for file in files:
        loaded = load_case_file(file)
        for document in loaded.invalid:
            sys.stderr.write(document.error.render() + "\n\n")
            invalid = True
        for case in loaded.cases:
            for replacement in case.replacements:
                sys.stderr.write(f"note: {replacement.message()}\n")
            for finding in analyze(case):
                issues = issues or at_or_above(finding.level, args.failure_threshold)
                if at_or_above(finding.level, args.output_threshold):
                    sys.stdout.write(f"{finding}\n")
                    shown += 1
    targets = ", ".join(display_path(p) for p in args.paths)
    if issues:
        sys.stderr.write(
            f"Error: Analyzers found issues when analyzing {targets}.\n"
            f"See {ANALYSIS_DOCS} for more information about causes and resolutions.\n"
        )
    elif not shown and not invalid:
        sys.stderr.write(f"{_check_mark()} No validation issues found when analyzing {targets}.\n")
    return 1 if issues or invalid else 0


def _check_mark() -> str:
    try:
        "\u2714".encode(sys.stderr.encoding or "ascii")
    except (UnicodeEncodeError, LookupError):
        return "OK:"
    return "\u2714"


def run_render(args: argparse.Namespace) -> int:
    from .._errors import TargetUnavailable
    from .._targets.kubernetes.render import render_paths

    values = {"istio-profile": args.profile, "istio-revision": args.revision}
    try:
        return render_paths(args.target, args.paths, args.output, values)
    except TargetUnavailable as exc:
        sys.stderr.write(f"error: {exc}\n")
        return 2
