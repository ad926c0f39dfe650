"""``python -m pytest_meshgate``: the case file JSON Schema, conformance matrices, analysis, render.

* ``schema``: print the case file JSON Schema.
* ``matrix [--profile P,...] REPORT...``: render ConformanceReports as
  Markdown feature matrices (implementations as rows, features as columns).
* ``analyze [--failure-threshold L] [--output-threshold L] PATH...``: what
  ``istioctl analyze`` would report about the cases in these files and
  directories, printed as istioctl prints it (docs/analysis.md).
* ``render --target kind|cluster [--profile P] PATH... --output DIR``: every
  object the target would apply for each case, ``DIR/<case>.yaml`` (a dry run;
  ``_targets/kubernetes/render.py``).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

USAGE = (
    "usage: python -m pytest_meshgate schema\n"
    "       python -m pytest_meshgate matrix [--profile P[,P...]] REPORT.yaml [REPORT.yaml ...]\n"
    "       python -m pytest_meshgate analyze [--failure-threshold LEVEL] "
    "[--output-threshold LEVEL] PATH [PATH ...]\n"
    "       python -m pytest_meshgate render --target kind|cluster [--profile P] PATH... "
    "--output DIR\n"
)


def main(argv: list[str]) -> int:
    if argv[:1] == ["schema"]:
        from ._cases.schema import case_schema_json

        sys.stdout.write(case_schema_json())
        return 0
    if argv[:1] == ["matrix"]:
        return _matrix(argv[1:])
    if argv[:1] == ["analyze"]:
        return _analyze(argv[1:])
    if argv[:1] == ["render"]:
        return _render(argv[1:])
    sys.stderr.write(USAGE)
    return 2


def _matrix(argv: list[str]) -> int:
    from ._conformance.matrix import render_matrix
    from ._conformance.report import load_report

    parser = argparse.ArgumentParser(
        prog="python -m pytest_meshgate matrix",
        description="Render ConformanceReports as Markdown feature matrices.",
    )
    parser.add_argument("reports", nargs="+", type=Path, metavar="REPORT.yaml")
    parser.add_argument("--profile", default="", help="comma-separated profiles (default: all)")
    args = parser.parse_args(argv)
    try:
        reports = [load_report(path) for path in args.reports]
    except ValueError as exc:
        sys.stderr.write(f"error: {exc}\n")
        return 2
    profiles = [p.strip() for p in args.profile.split(",") if p.strip()]
    sys.stdout.write(render_matrix(reports, profiles or None))
    return 0


# istioctl analyze's url.ConfigAnalysis, for the closing line when issues are found.
ANALYSIS_DOCS = "https://istio.io/latest/docs/reference/config/analysis"


def _level(text: str) -> str:
    from ._cases.analysis import LEVELS

    for level in LEVELS:  # case-insensitive, as istioctl's level flags
        if level.lower() == text.strip().lower():
            return level
    raise argparse.ArgumentTypeError(f"{text!r} is not one of {', '.join(LEVELS)}")


def _analyze(argv: list[str]) -> int:
    """Print findings as ``istioctl analyze`` does; 1 when one is at or above the failure
    threshold, or a case file is invalid (its located errors go to stderr); 0 otherwise."""
    from ._cases.analysis import analyze, at_or_above
    from ._cases.loader import load_case_file
    from ._cases.yamlpos import looks_like_case_file
    from ._errors import display_path

    parser = argparse.ArgumentParser(
        prog="python -m pytest_meshgate analyze",
        description="What istioctl analyze would report about the cases in PATHs "
        "(case files, or directories searched for them).",
    )
    parser.add_argument("paths", nargs="+", type=Path, metavar="PATH")
    parser.add_argument(
        "--failure-threshold",
        type=_level,
        default="Error",
        metavar="LEVEL",
        help="the level at which to exit 1 (Error, Warning, Info; default Error)",
    )
    parser.add_argument(
        "--output-threshold",
        type=_level,
        default="Info",
        metavar="LEVEL",
        help="the level from which findings are printed (default Info: all)",
    )
    args = parser.parse_args(argv)
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


def _render(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m pytest_meshgate render",
        description="Write every object the kind or cluster target would apply, per case.",
    )
    parser.add_argument("paths", nargs="+", type=Path, metavar="PATH")
    parser.add_argument("--target", choices=("kind", "cluster"), default="kind")
    parser.add_argument("--profile", default=None, help="istio profile (default: default)")
    parser.add_argument("--revision", default=None, help="istio revision")
    parser.add_argument("--output", type=Path, required=True, metavar="DIR")
    args = parser.parse_args(argv)
    from ._errors import TargetUnavailable
    from ._targets.kubernetes.render import render_paths

    values = {"istio-profile": args.profile, "istio-revision": args.revision}
    try:
        return render_paths(args.target, args.paths, args.output, values)
    except TargetUnavailable as exc:
        sys.stderr.write(f"error: {exc}\n")
        return 2


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
