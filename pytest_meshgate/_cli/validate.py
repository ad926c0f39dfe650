"""``validate PATH...``: every case file judged as pytest's collection judges it, for CI.

The same loader (``_cases/loader.py``) and the same refusals
(``_cases/refusals.py``: unknown features, a case name another file uses) as
the plugin, so a file that passes here is collected by pytest without an
invalid case. Warnings are reported and fail the run only with ``--strict``.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from .._cases.catalog import DEFAULT_CATALOG, Catalog, CatalogError, load_catalog
from .._cases.discovery import yaml_files
from .._cases.loader import load_case_file
from .._cases.refusals import CaseNames, case_refusals
from .._cases.yamlpos import looks_like_case_file
from .formats import write_results
from .results import FileResult

__all__ = ["run_validate", "validate_paths"]


def run_validate(args: argparse.Namespace) -> int:
    """0 when every case file is valid, 1 when one is not, 2 for a path or catalogue missing."""
    missing = [path for path in args.paths if not path.exists()]
    if missing:
        sys.stderr.write(f"error: no such file or directory: {missing[0]}\n")
        return 2
    try:
        catalog = load_catalog(args.features or DEFAULT_CATALOG)
    except CatalogError as exc:
        sys.stderr.write(f"error: {exc}\n")
        return 2
    root = args.include_root if args.include_root is not None else Path.cwd()
    results = validate_paths(args.paths, root, catalog, strict=args.strict)
    write_results(results, args.format, sys.stdout)
    return 1 if any(result.status == "invalid" for result in results) else 0


def validate_paths(
    paths: list[Path], include_root: Path, catalog: Catalog, *, strict: bool = False
) -> list[FileResult]:
    """One result per file found under ``paths``, in the order pytest would collect them."""
    names = CaseNames()
    results: list[FileResult] = []
    for path in yaml_files(paths):
        result = FileResult(path)
        results.append(result)
        if not looks_like_case_file(path):
            result.status = "skipped"
            continue
        loaded = load_case_file(path, root=include_root)
        for document in loaded.invalid:
            result.problems += [("error", problem) for problem in document.error.problems]
        for case in loaded.cases:
            errors = case_refusals(catalog, case)
            duplicate = names.claim(case)
            if duplicate is not None:
                errors.append(duplicate)
            warnings = [*case.warnings]
            warnings += [r.later.problem("", r.message()) for r in case.replacements]
            if strict:
                errors += warnings
            else:
                result.problems += [("warning", problem) for problem in warnings]
            result.problems += [("error", problem) for problem in errors]
            if not errors:
                result.cases.append(case.name)
        if any(severity == "error" for severity, _ in result.problems):
            result.status = "invalid"
        result.problems.sort(key=lambda entry: (str(entry[1].path), entry[1].line, entry[1].column))
    return results
