"""``python -m pytest_meshgate``: the case file JSON Schema, and conformance matrices.

* ``schema``: print the case file JSON Schema.
* ``matrix [--profile P,...] REPORT...``: render ConformanceReports as
  Markdown feature matrices (implementations as rows, features as columns).
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
