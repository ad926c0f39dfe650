"""pytest nodes for case files: one collector per file and case, one item per check."""

from __future__ import annotations

import warnings
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from .._cases.analysis import Finding, analyze
from .._cases.loader import InvalidDocument, LoadedCase, load_case_file
from .._cases.refusals import CaseNames, case_refusals
from .._cases.yamlpos import Mark
from .._errors import (
    AnalysisWarning,
    CaseError,
    MeshgateError,
    MeshgateWarning,
    Problem,
    ReplacedResourceWarning,
    WebhookWarning,
    display_path,
)
from .._options import settings_of
from .failure import CheckFailureRepr, failure_repr

if TYPE_CHECKING:
    from .._targets.base import Target
    from .lanes import PlannedCase

__all__ = ["INVALID_DOCUMENTS", "CaseFileNode", "CaseNode", "CheckItem", "InvalidCaseItem"]

# Suite-wide registry of case names and where each was first defined (names are pytest ids).
_CASE_NAMES = pytest.StashKey[CaseNames]()
# Invalid documents seen at collection, shown in the summary of --collect-only.
INVALID_DOCUMENTS = pytest.StashKey[list[InvalidDocument]]()


class CaseFileNode(pytest.File):
    """A YAML file whose first document is a ``meshgate.dev`` case."""

    def collect(self) -> Iterator[pytest.Item | pytest.Collector]:
        from .._cases.catalog import CatalogError
        from .conformance import selection_for

        try:
            selection = selection_for(self.config)
        except CatalogError as exc:
            raise self.CollectError(str(exc)) from None
        loaded = load_case_file(self.path, root=include_root(self.config))
        names = self.config.stash.setdefault(_CASE_NAMES, CaseNames())
        for case in loaded.cases:
            duplicate = names.claim(case)
            if duplicate is not None:
                document = _invalid(case, duplicate)
                self.config.stash.setdefault(INVALID_DOCUMENTS, []).append(document)
                yield InvalidCaseItem.from_parent(self, name=case.name, document=document)
                continue
            # Once per case: every failing check shows them, --meshgate-analyze warns them.
            findings = analyze(case)
            problems = case_refusals(selection.catalog, case)
            problems += _refused_webhook_warnings(case)
            problems += _refused_warnings(case)
            if settings_of(self.config).analyze:
                problems += _refused_findings(findings)
            if problems:  # an unknown feature or a refused warning: the case is invalid
                document = InvalidDocument(case.name, case.start, CaseError(problems))
                self.config.stash.setdefault(INVALID_DOCUMENTS, []).append(document)
                yield InvalidCaseItem.from_parent(self, name=case.name, document=document)
                continue
            yield CaseNode.from_parent(
                self,
                name=case.name,
                loaded=case,
                conformance=selection.item_properties(case),
                findings=findings,
            )
        for document in loaded.invalid:
            self.config.stash.setdefault(INVALID_DOCUMENTS, []).append(document)
            yield InvalidCaseItem.from_parent(self, name=document.name, document=document)


def _refused_webhook_warnings(case: LoadedCase) -> list[Problem]:
    """Warn what Istio's webhook warns about the case's resources, at their file:line.

    Refused (``-W error::pytest_meshgate.WebhookWarning``), the case is an ERROR.
    """
    problems: list[Problem] = []
    for problem in case.warnings:
        mark = Mark(problem.path, problem.line, problem.column)
        if _warn(WebhookWarning, problem.headline(), mark) is not None:
            problems.append(problem)
    return problems


def include_root(config: pytest.Config) -> Path:
    """Where includes must stay: ``meshgate-include-root``, else pytest's rootdir."""
    return settings_of(config).include_root or config.rootpath


def _invalid(case: LoadedCase, problem: Problem) -> InvalidDocument:
    return InvalidDocument(case.name, case.start, CaseError([problem]))


def _refused_warnings(case: LoadedCase) -> list[Problem]:
    """Warn, at collection, where a later definition replaced an earlier one.

    A run that turns these warnings into errors (``-W error::...``, or an ini
    ``filterwarnings = error``) gets this case as an ERROR at that line, not a
    collection error that would hide the other cases of the file.
    """
    problems: list[Problem] = []
    for replacement in case.replacements:
        refused = _warn(ReplacedResourceWarning, replacement.message(), replacement.later)
        if refused is not None:
            problems.append(replacement.later.problem("", str(refused)))
    return problems


def _refused_findings(findings: Sequence[Finding]) -> list[Problem]:
    """``--meshgate-analyze``: each finding a warning at its file:line, as istioctl prints it.

    Refused (``-W error::pytest_meshgate.AnalysisWarning``, a strict CI), the
    case is an ERROR listing them.
    """
    problems: list[Problem] = []
    for finding in findings:
        mark = Mark(finding.path, finding.line, finding.column)
        refused = _warn(AnalysisWarning, str(finding), mark)
        if refused is not None:
            problems.append(Problem(mark.path, mark.line, mark.column, "", str(refused)))
    return problems


def _warn(category: type[MeshgateWarning], message: str, mark: Mark) -> Warning | None:
    """Issue a warning located at ``mark`` (pytest shows it with that file:line).

    Returns the warning instead when a filter turned it into an error.
    """
    try:
        warnings.warn_explicit(message, category, display_path(mark.path), mark.line)
    except MeshgateWarning as exc:
        return exc
    return None


class CaseNode(pytest.Collector):
    """One case; its checks run in order against one deployment of it."""

    def __init__(
        self,
        *,
        loaded: LoadedCase,
        conformance: dict[str, Any] | None = None,
        findings: Sequence[Finding] = (),
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.loaded = loaded
        # What istioctl analyze reports about the case; a failing check shows them.
        self.findings = tuple(findings)
        # Support decisions and profiles (_conformance.Selection.item_properties).
        self.conformance = conformance or {}
        # -m matches marker names and (pytest >= 8.3) their keyword arguments:
        # -m meshgate, -m "meshgate_case(name='x')", -m "meshgate_feature(name='HTTPMirror')".
        # The positional name stays for code that reads the marker's args.
        self.add_marker(pytest.mark.meshgate)
        self.add_marker(pytest.mark.meshgate_case(loaded.name, name=loaded.name))
        features = list(loaded.case.metadata.features)
        profiles = sorted(self.conformance.get("profiles", {}))
        for feature in features:
            self.add_marker(pytest.mark.meshgate_feature(name=feature))
        for profile in profiles:
            self.add_marker(pytest.mark.meshgate_profile(name=profile))
        # -k matches node names (the file, the case, the check) and these keywords.
        self.extra_keyword_matches.update(features, profiles)
        # With --dist loadgroup (the kind and cluster targets' default under xdist),
        # a case's checks stay on one worker and the case deploys once.
        self.add_marker(pytest.mark.xdist_group(name=f"{loaded.path.name}::{loaded.name}"))
        if self.conformance.get("status", "run") != "run":
            self.add_marker(pytest.mark.skip(reason=self.conformance["reason"]))

    def collect(self) -> Iterator[pytest.Item]:
        lanes = session_lanes(self.config)
        for index, check in enumerate(self.loaded.case.spec.checks):
            yield CheckItem.from_parent(
                self,
                name=check.name,
                callobj=_runner(
                    self.loaded,
                    index,
                    self.findings,
                    self.selected_checks,
                    lanes,
                    lambda: session_plan(self.session),
                ),
                loaded=self.loaded,
                index=index,
            )

    def selected_checks(self) -> list[int]:
        """The indices of this case's checks the session runs (after -k, deselection)."""
        return [
            item.index
            for item in self.session.items
            if isinstance(item, CheckItem) and item.parent is self
        ]

    def reportinfo(self) -> tuple[Path, int, str]:
        return self.loaded.path, self.loaded.start.line - 1, self.loaded.name


def session_lanes(config: pytest.Config) -> int:
    """``--meshgate-lanes`` for this process (auto: ``lanes.auto_lanes``)."""
    chosen = settings_of(config).lanes
    if hasattr(config, "workerinput"):
        return 1  # an xdist worker does not know which cases it will be sent
    if chosen is not None:
        return chosen
    from .lanes import auto_lanes

    return auto_lanes(in_xdist_worker=False)


# The session's cases in item order, planned once (items are final when they run).
_PLAN = pytest.StashKey[list["PlannedCase"]]()


# Items pytest would skip before calling them: never started ahead.
_SKIPPING_MARKS = ("skip", "skipif")


def session_plan(session: pytest.Session) -> list[PlannedCase]:
    """Every case with checks this session runs, in the order of its first item, each
    with its checks' indices in item order; items that a mark skips are left out."""
    plan = session.stash.get(_PLAN, None)
    if plan is not None:
        return plan
    from .lanes import PlannedCase

    cases: dict[int, tuple[CaseNode, list[int]]] = {}
    for item in session.items:
        if not isinstance(item, CheckItem) or not isinstance(item.parent, CaseNode):
            continue
        if any(item.get_closest_marker(name) is not None for name in _SKIPPING_MARKS):
            continue
        node = item.parent
        cases.setdefault(id(node), (node, []))[1].append(item.index)
    plan = [
        PlannedCase(node.loaded, node.findings, tuple(indices)) for node, indices in cases.values()
    ]
    session.stash[_PLAN] = plan
    return plan


def freeze_collected_objects(session: pytest.Session) -> None:
    """After collecting case checks, leave what collection made out of the garbage
    collector's passes (``gc.freeze``).

    Collection builds some 180,000 long-lived objects (pydantic models,
    schemas, modules) that every full collection during the run would walk
    again, on the run's critical path: measured on the cases of 681cb13,
    freezing them saves about 9 % of the run's CPU. Only in a session that
    runs case checks (not under ``--collect-only``); objects frozen here are
    collected no more, so a cycle among them that becomes garbage lives until
    the process ends. Collection's own garbage is collected first, so that it
    is not frozen with them.
    """
    if session.config.option.collectonly:
        return
    if not any(isinstance(item, CheckItem) for item in session.items):
        return
    import gc

    gc.collect()
    gc.freeze()


def _runner(
    loaded: LoadedCase,
    index: int,
    findings: Sequence[Finding],
    selected: Callable[[], Sequence[int]],
    lanes: int = 1,
    plan: Callable[[], Sequence[PlannedCase]] | None = None,
) -> Callable[..., None]:
    # The signature names the fixtures pytest injects: the target is a real
    # session fixture, so users can override or wrap it in a conftest.
    def run_check(meshgate_target: Target) -> None:
        from .schedule import run_scheduled

        run_scheduled(meshgate_target, loaded, index, findings, selected, lanes, plan)

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
        # JUnit XML's classname/name split the id at its dots; this property keeps it
        # whole, as `pytest '<id>'` takes it back (relative to the rootdir).
        self.user_properties.append(("meshgate_id", self.nodeid))
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
        # Not "<case>::<check>": pytest's -v line rewrites a domain that ends the
        # node id as a Python one (dots become "::", v1.routes shows as
        # v1::routes), and that id no longer selects the check.
        return mark.path, mark.line - 1, f"check '{self.name}' of case '{self.loaded.name}'"

    # pytest.Function itself narrows Node.repr_failure to (excinfo); we follow it.
    def repr_failure(  # type: ignore[override]
        self, excinfo: pytest.ExceptionInfo[BaseException]
    ) -> str | Any:
        """A failed check reads as its story (sent, got, why), not a traceback: its
        summary line is the failed expectation, and ``--tb`` picks how much follows."""
        if isinstance(excinfo.value, MeshgateError):
            return self._report(excinfo.value)
        return super().repr_failure(excinfo)

    def harness_report(self, error: BaseException) -> str | CheckFailureRepr:
        """An error outside the check's run (setup, teardown) as one located paragraph."""
        if isinstance(error, CaseError):
            return error.render()
        if not isinstance(error, MeshgateError):
            from .run import harness_error

            wrapped = harness_error(self.loaded.name, self.name, error)
            wrapped.__cause__ = error
            error = wrapped
        return self._report(error)

    def _report(self, error: BaseException) -> CheckFailureRepr:
        mark = self.loaded.check_mark(self.index)
        option = self.config.option
        style = str(getattr(option, "tbstyle", "auto"))
        return failure_repr(error, display_path(mark.path), mark.line, style, option.verbose)


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
