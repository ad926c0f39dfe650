"""The parser of ``python -m pytest_meshgate``: its subcommands, their options, the exit codes.

Each subcommand's module is imported only when it runs, so ``--help`` costs
no pydantic or target import.
"""

from __future__ import annotations

import argparse
import textwrap
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from .. import __version__

if TYPE_CHECKING:
    Commands = argparse._SubParsersAction[argparse.ArgumentParser]

__all__ = ["EXIT_CODES", "PROG", "build_parser", "main"]

PROG = "python -m pytest_meshgate"

EXIT_CODES = """\
exit codes:
  0  success (validate: every case file is valid)
  1  something found: an invalid case file (validate, analyze, render), an
     analyze finding at the failure threshold
  2  usage error: an unknown command or option, a missing path, a broken catalogue
"""


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog=PROG,
        description=textwrap.fill(
            "Validate, describe and render pytest-meshgate case files "
            "(pytest collects and runs them).",
            79,
        ),
        epilog=EXIT_CODES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"pytest-meshgate {__version__}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    _add_validate(commands)
    _add_schema(commands)
    _add_matrix(commands)
    _add_analyze(commands)
    _add_render(commands)
    return parser


def main(argv: Sequence[str]) -> int:
    """Run one command; its exit code (argparse exits 2 itself on a usage error)."""
    args = build_parser().parse_args(list(argv))
    if args.command == "validate":
        from .validate import run_validate

        return run_validate(args)
    from . import commands

    handler = {
        "schema": commands.run_schema,
        "matrix": commands.run_matrix,
        "analyze": commands.run_analyze,
        "render": commands.run_render,
    }[args.command]
    return handler(args)


def _command(
    commands: Commands, name: str, summary: str, description: str
) -> argparse.ArgumentParser:
    return commands.add_parser(
        name,
        help=summary,
        description=textwrap.fill(description, 79),
        epilog=EXIT_CODES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )


def _add_validate(commands: Commands) -> None:
    parser = _command(
        commands,
        "validate",
        "check case files as pytest's collection checks them",
        "Load every case file in PATHs (files, or directories searched for *.yaml and "
        "*.yml as pytest collects them) and report each problem as "
        "path:line:col: key.path: message. Files that are not meshgate case files "
        "(no apiVersion: meshgate.dev/... in their first document) are skipped.",
    )
    parser.add_argument("paths", nargs="+", type=Path, metavar="PATH")
    parser.add_argument(
        "--format",
        choices=("text", "json", "github"),
        default="text",
        help="text (default), json (one document on stdout), or github (GitHub "
        "Actions ::error/::warning annotations)",
    )
    parser.add_argument(
        "--include-root",
        type=Path,
        default=None,
        metavar="DIR",
        help="includes must resolve inside DIR, as --meshgate-include-root (default: "
        "the current directory, pytest's rootdir when run from the project root)",
    )
    parser.add_argument(
        "--features",
        type=Path,
        default=None,
        metavar="FILE",
        help="the feature catalogue metadata.features must name, as --meshgate-features "
        "(default: the one shipped)",
    )
    parser.add_argument(
        "--strict",
        action="store_true",
        help="warnings (Istio's webhook warnings, a replaced object) are errors, as "
        "pytest -W error::pytest_meshgate.MeshgateWarning makes them",
    )


def _add_schema(commands: Commands) -> None:
    _command(
        commands,
        "schema",
        "print the JSON Schema of one case document",
        "Print the JSON Schema (draft-07) of one case document, as shipped in the "
        "package (pytest_meshgate/schema/case.schema.json).",
    )


def _add_matrix(commands: Commands) -> None:
    parser = _command(
        commands,
        "matrix",
        "render ConformanceReports as Markdown feature matrices",
        "Render ConformanceReports as Markdown feature matrices (implementations as "
        "rows, features as columns).",
    )
    parser.add_argument("reports", nargs="+", type=Path, metavar="REPORT.yaml")
    parser.add_argument("--profile", default="", help="comma-separated profiles (default: all)")


def _add_analyze(commands: Commands) -> None:
    from .commands import level

    parser = _command(
        commands,
        "analyze",
        "what istioctl analyze would report about cases",
        "What istioctl analyze would report about the cases in PATHs (case files, or "
        "directories searched for them), printed as istioctl prints it.",
    )
    parser.add_argument("paths", nargs="+", type=Path, metavar="PATH")
    parser.add_argument(
        "--failure-threshold",
        type=level,
        default="Error",
        metavar="LEVEL",
        help="the level at which to exit 1 (Error, Warning, Info; default Error)",
    )
    parser.add_argument(
        "--output-threshold",
        type=level,
        default="Info",
        metavar="LEVEL",
        help="the level from which findings are printed (default Info: all)",
    )


def _add_render(commands: Commands) -> None:
    parser = _command(
        commands,
        "render",
        "write the objects the kind or cluster target would apply",
        "Write every object the kind or cluster target would apply, per case "
        "(DIR/<case>.yaml; a dry run, no cluster needed).",
    )
    parser.add_argument("paths", nargs="+", type=Path, metavar="PATH")
    parser.add_argument("--target", choices=("kind", "cluster"), default="kind")
    parser.add_argument("--profile", default=None, help="istio profile (default: default)")
    parser.add_argument("--revision", default=None, help="istio revision")
    parser.add_argument("--output", type=Path, required=True, metavar="DIR")
