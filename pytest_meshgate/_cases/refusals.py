"""What collection refuses about a loaded case beyond the loader, shared by pytest and ``validate``.

The loader judges one file; these rules need more: the feature catalogue
(``metadata.features`` must name catalogued features), the other files of
the run (a case name is a test id, so it is unique across the suite) and
pytest's id syntax (a check name must not select another check). The
plugin (``_suite/nodes.py``) and ``python -m pytest_meshgate validate`` both
apply them, so that a file ``validate`` passes is a file pytest collects.
"""

from __future__ import annotations

import os
from pathlib import Path

from .._errors import Problem, display_path
from .catalog import Catalog, feature_problems
from .loader import LoadedCase
from .yamlpos import Mark

__all__ = ["CaseNames", "case_refusals", "same_file"]


class CaseNames:
    """The case names of one run, each with where it was first defined."""

    def __init__(self) -> None:
        self._first: dict[str, Mark] = {}

    def claim(self, case: LoadedCase) -> Problem | None:
        """Record ``case``'s name; a problem at its ``metadata.name`` if another file has it.

        The same file reached again through a link holds the same case, not a duplicate.
        """
        first = self._first.get(case.name)
        if first is not None and not same_file(first.path, case.path):
            mark = case.mark(("metadata", "name"))
            return mark.problem(
                "metadata.name",
                f"duplicate case name '{case.name}' "
                f"(first used in {display_path(first.path)}:{first.line})",
            )
        self._first[case.name] = case.start
        return None


def case_refusals(catalog: Catalog, case: LoadedCase) -> list[Problem]:
    """The problems collection finds in a case the loader accepted, whatever the run's filters.

    Warnings (Istio's webhook warnings, replaced objects) are not among them:
    they refuse a case only when a warning filter makes them errors.
    """
    return feature_problems(catalog, case) + _ambiguous_check_names(case)


def _ambiguous_check_names(case: LoadedCase) -> list[Problem]:
    """Check names whose test ids would select more than their check.

    pytest selects ``file::case::x`` also for a check named ``x[...]`` (it
    reads a ``[...]`` tail as a parametrization), so such a name beside ``x``
    is refused; the loader refuses a repeated name already.
    """
    problems: list[Problem] = []
    checks = case.case.spec.checks
    names = {check.name for check in checks}
    for index, check in enumerate(checks):
        stem = check.name.split("[", 1)[0]
        if stem != check.name and stem in names:
            mark = case.mark(("spec", "checks", index, "name"))
            problems.append(
                mark.problem(
                    f"spec.checks[{index}].name",
                    f"check name '{check.name}': pytest selects it with the id of check "
                    f"'{stem}' too (it reads '[...]' as a parametrization); rename one",
                )
            )
    return problems


def same_file(a: Path, b: Path) -> bool:
    return a == b or os.path.realpath(a) == os.path.realpath(b)
