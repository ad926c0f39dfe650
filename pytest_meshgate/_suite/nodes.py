"""pytest nodes for case files: one collector per file and case, one item per check."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from .._cases.loader import InvalidDocument, LoadedCase, load_case_file
from .._cases.yamlpos import Mark
from .._errors import CaseError, CheckFailed, MeshgateError, Problem, TargetError, display_path
from .._options import settings_of

if TYPE_CHECKING:
    from .._targets.base import Target

__all__ = ["INVALID_DOCUMENTS", "CaseFileNode", "CaseNode", "CheckItem", "InvalidCaseItem"]

# Suite-wide registry of case names -> where first defined (names are pytest ids).
_CASE_NAMES = pytest.StashKey[dict[str, Mark]]()
# Invalid documents seen at collection, shown in the summary of --collect-only.
INVALID_DOCUMENTS = pytest.StashKey[list[InvalidDocument]]()


class CaseFileNode(pytest.File):
    """A YAML file whose first document is a ``meshgate.dev`` case."""

    def collect(self) -> Iterator[pytest.Item | pytest.Collector]:
        from .._cases.catalog import CatalogError, feature_problems
        from .conformance import selection_for

        try:
            selection = selection_for(self.config)
        except CatalogError as exc:
            raise self.CollectError(str(exc)) from None
        loaded = load_case_file(self.path, root=include_root(self.config))
        names = self.config.stash.setdefault(_CASE_NAMES, {})
        for case in loaded.cases:
            first = names.get(case.name)
            # The same file reached again through a link is the same case, not a duplicate.
            if first is not None and not _same_file(first.path, case.path):
                mark = case.mark(("metadata", "name"))
                problem = mark.problem(
                    "metadata.name",
                    f"duplicate case name '{case.name}' (first used in {first.path}:{first.line})",
                )
                yield InvalidCaseItem.from_parent(
                    self, name=case.name, document=_invalid(case, problem)
                )
                continue
            names[case.name] = case.start
            problems = feature_problems(selection.catalog, case)
            if problems:  # an unknown feature: the case cannot be classified, so it is invalid
                document = InvalidDocument(case.name, case.start, CaseError(problems))
                self.config.stash.setdefault(INVALID_DOCUMENTS, []).append(document)
                yield InvalidCaseItem.from_parent(self, name=case.name, document=document)
                continue
            yield CaseNode.from_parent(
                self, name=case.name, loaded=case, conformance=selection.item_properties(case)
            )
        for document in loaded.invalid:
            self.config.stash.setdefault(INVALID_DOCUMENTS, []).append(document)
            yield InvalidCaseItem.from_parent(self, name=document.name, document=document)


def include_root(config: pytest.Config) -> Path:
    """Where includes must stay: ``meshgate-include-root``, else pytest's rootdir."""
    return settings_of(config).include_root or config.rootpath


def _same_file(a: Path, b: Path) -> bool:
    return a == b or os.path.realpath(a) == os.path.realpath(b)


def _invalid(case: LoadedCase, problem: Problem) -> InvalidDocument:
    return InvalidDocument(case.name, case.start, CaseError([problem]))


class CaseNode(pytest.Collector):
    """One case; its checks run in order against one deployment of it."""

    def __init__(
        self, *, loaded: LoadedCase, conformance: dict[str, Any] | None = None, **kwargs: Any
    ) -> None:
        super().__init__(**kwargs)
        self.loaded = loaded
        # Support decisions and profiles (_conformance.Selection.item_properties).
        self.conformance = conformance or {}
        self.add_marker(pytest.mark.meshgate)
        self.add_marker(pytest.mark.meshgate_case(loaded.name))
        if self.conformance.get("status", "run") != "run":
            self.add_marker(pytest.mark.skip(reason=self.conformance["reason"]))

    def collect(self) -> Iterator[pytest.Item]:
        for index, check in enumerate(self.loaded.case.spec.checks):
            yield CheckItem.from_parent(
                self,
                name=check.name,
                callobj=_runner(self.loaded, index),
                loaded=self.loaded,
                index=index,
            )

    def reportinfo(self) -> tuple[Path, int, str]:
        return self.loaded.path, self.loaded.start.line - 1, self.loaded.name


def _runner(loaded: LoadedCase, index: int) -> Callable[..., None]:
    # The signature names the fixtures pytest injects: the target is a real
    # session fixture, so users can override or wrap it in a conftest.
    def run_check(meshgate_target: Target) -> None:
        from .run import run_check as run

        run(meshgate_target, loaded, index)

    run_check.__doc__ = loaded.case.spec.checks[index].description
    return run_check


class CheckItem(pytest.Function):
    """One check of a case: ``<file>::<case>::<check>``."""

    def __init__(self, *, loaded: LoadedCase, index: int, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.loaded = loaded
        self.index = index
        self.check = loaded.case.spec.checks[index]
        self.user_properties.append(("meshgate_case", loaded.name))
        mark = loaded.check_mark(index)
        self.user_properties.append(("meshgate_location", f"{mark.path}:{mark.line}"))
        # user_properties travel to the xdist controller, which builds the conformance report.
        conformance = getattr(self.parent, "conformance", None)
        if conformance:
            self.user_properties.append(
                ("meshgate_conformance", {**conformance, "check": self.name})
            )

    def reportinfo(self) -> tuple[Path, int, str]:
        mark = self.loaded.check_mark(self.index)
        return mark.path, mark.line - 1, f"{self.loaded.name}::{self.name}"

    # pytest.Function itself narrows Node.repr_failure to (excinfo); we follow it.
    def repr_failure(  # type: ignore[override]
        self, excinfo: pytest.ExceptionInfo[BaseException]
    ) -> str | Any:
        """A failed check reads as its story (sent, got, why), not a traceback."""
        if isinstance(excinfo.value, (CheckFailed, TargetError, CaseError)):
            mark = self.loaded.check_mark(self.index)
            return f"{display_path(mark.path)}:{mark.line}: {excinfo.value}"
        if isinstance(excinfo.value, MeshgateError):
            return str(excinfo.value)
        return super().repr_failure(excinfo)


class InvalidCaseItem(pytest.Item):
    """Stands for a case document that failed validation.

    It errors in setup, so the run reports it as an ERROR (a bad case file),
    apart from FAILED checks (a misbehaving gateway), and the other cases of
    the suite still run.
    """

    def __init__(self, *, document: InvalidDocument, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.document = document

    def setup(self) -> None:
        raise self.document.error

    def runtest(self) -> None:  # pragma: no cover - setup always raises
        raise self.document.error

    def reportinfo(self) -> tuple[Path, int, str]:
        start = self.document.start
        return start.path, start.line - 1, f"{self.name} (invalid case)"

    def repr_failure(
        self, excinfo: pytest.ExceptionInfo[BaseException], style: Any = None
    ) -> str | Any:
        if isinstance(excinfo.value, CaseError):
            return excinfo.value.render()
        return super().repr_failure(excinfo, style=style)
