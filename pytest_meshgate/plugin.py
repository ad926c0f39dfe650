"""The pytest11 entry point: options, markers, collection hook and fixtures.

Kept thin on purpose: pytest imports it in every session of every project
that has the plugin installed, so the case model, pydantic, httpx and the
targets are imported only when a case file is actually collected or run.
"""

from __future__ import annotations

import os
import signal
import sys
from collections.abc import Generator, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from ._options import register_options, settings_of

if TYPE_CHECKING:
    from ._suite.api import CaseDeployer
    from ._targets.base import Target


def pytest_addoption(parser: pytest.Parser) -> None:
    register_options(parser)


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", "meshgate: a check collected from a meshgate case file (added automatically)."
    )
    config.addinivalue_line(
        "markers",
        "meshgate_case(name=...): the case a check belongs to (added automatically; "
        "select with -m \"meshgate_case(name='my-case')\").",
    )
    config.addinivalue_line(
        "markers",
        "meshgate_feature(name=...): one per feature of the check's case, metadata.features "
        "(added automatically).",
    )
    config.addinivalue_line(
        "markers",
        "meshgate_profile(name=...): one per conformance profile the check's case counts "
        "towards (added automatically).",
    )
    config.addinivalue_line(
        "markers", "xdist_group(name): pytest-xdist's group (added to every check by its case)."
    )
    settings_of(config)  # every option is checked once, before anything runs
    if getattr(config.option, "dist", "no") == "load":
        # Keep all checks of a case on one worker (xdist_group, per case): on a cluster
        # a case deploys in seconds to minutes, and on the local target the first check
        # of a case starts its independent checks side by side (_suite/schedule.py).
        config.option.dist = "loadgroup"
    _terminate_cleanly_on_sigterm()
    if not hasattr(config, "workerinput"):  # xdist workers only send reports to the controller
        from ._suite.conformance import ConformanceHooks

        config.pluginmanager.register(ConformanceHooks(config), "meshgate-conformance")


def _terminate_cleanly_on_sigterm() -> None:
    """Turn SIGTERM into KeyboardInterrupt so fixture finalizers stop every Envoy.

    Only when nobody else handles SIGTERM, and only from the main thread
    (signal handlers cannot be set elsewhere).
    """
    try:
        if signal.getsignal(signal.SIGTERM) is signal.SIG_DFL:
            signal.signal(signal.SIGTERM, _raise_keyboard_interrupt)
    except ValueError:  # not the main thread
        pass


def _raise_keyboard_interrupt(signum: int, frame: Any) -> None:
    raise KeyboardInterrupt(f"signal {signum}")


@pytest.hookimpl(tryfirst=True)
def pytest_sessionstart(session: pytest.Session) -> None:
    """kind/cluster: stop at once, in one line, when this machine cannot get a cluster.

    Before xdist starts workers (tryfirst) and never for --collect-only, which
    must work offline; only cheap checks (binaries, the Docker socket, a TCP
    connect to the API server), so a missing engine costs milliseconds.
    """
    config = session.config
    settings = settings_of(config)
    if settings.target == "local" or config.option.collectonly:
        return
    if hasattr(config, "workerinput"):  # the controller checked already
        return
    from ._errors import TargetUnavailable
    from ._targets.factory import preflight

    try:
        preflight(settings)
    except TargetUnavailable as exc:
        raise pytest.UsageError(str(exc)) from None


# The real paths of the case files collected so far in this session -> the path
# that first reached each.
_COLLECTED = pytest.StashKey[dict[str, Path]]()


def pytest_collect_file(file_path: Path, parent: pytest.Collector) -> pytest.Collector | None:
    """A case file is collected at the first path that reaches it, never under another.

    A directory linked into itself (or a file linked beside itself) reaches the
    same file again under other names; pytest walks such a loop until the
    kernel says ELOOP, 40 levels down.
    """
    if file_path.suffix not in (".yaml", ".yml"):
        return None
    from ._cases.yamlpos import looks_like_case_file

    if not looks_like_case_file(file_path):
        return None
    collected = parent.config.stash.setdefault(_COLLECTED, {})
    # The same path again is pytest collecting its directory once more (it does for
    # each file named on the command line: `pytest a.yaml b.yaml`), not a loop.
    if collected.setdefault(os.path.realpath(file_path), file_path) != file_path:
        return None
    from ._suite.nodes import CaseFileNode

    node: pytest.Collector = CaseFileNode.from_parent(parent, path=file_path)
    return node


def pytest_collection_finish(session: pytest.Session) -> None:
    # Only where a case file was collected: other sessions never import the case model.
    nodes = sys.modules.get("pytest_meshgate._suite.nodes")
    if nodes is not None:
        nodes.freeze_collected_objects(session)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo[None]
) -> Generator[None, pytest.TestReport, pytest.TestReport]:
    """Errors in setup and teardown (a bad case file, a target that cannot start) read as one
    message.

    pytest renders them as tracebacks without asking the item, so the report
    is rewritten here: our errors already say where and why, and anything else
    raised around a check (the target fixture, say) is a harness error naming it.
    """
    report = yield
    if call.when in ("setup", "teardown") and call.excinfo is not None:
        error = call.excinfo.value
        if not isinstance(error, Exception):
            return report  # pytest's outcomes (skip, xfail, exit) and interrupts
        from ._errors import CaseError, MeshgateError

        nodes = sys.modules.get("pytest_meshgate._suite.nodes")
        if nodes is not None and isinstance(item, nodes.CheckItem):
            report.longrepr = item.harness_report(error)
        elif isinstance(error, CaseError):
            report.longrepr = error.render()
        elif isinstance(error, MeshgateError):
            path, line, _ = item.reportinfo()
            report.longrepr = f"{path}:{(line or 0) + 1}: {error}"
    return report


@pytest.hookimpl(wrapper=True)
def pytest_report_to_serializable(
    config: pytest.Config, report: Any
) -> Generator[None, dict[str, Any] | None, dict[str, Any] | None]:
    """Under pytest-xdist a failed check's report keeps its summary line on the way
    to the controller (pytest would send its longrepr as text only)."""
    data = yield
    failure = sys.modules.get("pytest_meshgate._suite.failure")
    longrepr = getattr(report, "longrepr", None)
    if data is not None and failure is not None and isinstance(longrepr, failure.CheckFailureRepr):
        data[failure.SERIALIZED_KEY] = longrepr.to_json()
    return data


@pytest.hookimpl(wrapper=True)
def pytest_report_from_serializable(
    config: pytest.Config, data: dict[str, Any]
) -> Generator[None, Any, Any]:
    report = yield
    from ._suite.failure import SERIALIZED_KEY, CheckFailureRepr  # imports nothing heavy

    if report is not None and isinstance(data, dict) and SERIALIZED_KEY in data:
        vars(report).pop(SERIALIZED_KEY, None)  # pytest keeps unknown keys as attributes
        report.longrepr = CheckFailureRepr.from_json(data[SERIALIZED_KEY])
    return report


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    """``--collect-only`` fails (exit 1) when a selected case document is invalid.

    A run reports such a document as an ERROR and exits 1; collecting alone
    would exit 0 and let a CI gate pass a broken file. Deselected documents
    (``-k``, ``-m``) do not count, as they would not run; with xdist,
    collection-only runs stay in this process (xdist steps aside).
    """
    if not session.config.option.collectonly or session.exitstatus != pytest.ExitCode.OK:
        return
    nodes = sys.modules.get("pytest_meshgate._suite.nodes")
    if nodes is not None and any(isinstance(i, nodes.InvalidCaseItem) for i in session.items):
        session.exitstatus = pytest.ExitCode.TESTS_FAILED


def pytest_terminal_summary(terminalreporter: Any, exitstatus: int, config: pytest.Config) -> None:
    """With --collect-only nothing runs, so show why case documents are invalid here."""
    if not config.option.collectonly or "pytest_meshgate._suite.nodes" not in sys.modules:
        return
    from ._suite.nodes import INVALID_DOCUMENTS

    invalid = config.stash.get(INVALID_DOCUMENTS, [])
    if invalid:
        terminalreporter.section("meshgate: invalid case documents", red=True)
        for document in invalid:
            terminalreporter.write_line(document.error.render())
            terminalreporter.write_line("")


@pytest.fixture(scope="session")
def meshgate_target(request: pytest.FixtureRequest) -> Iterator[Target]:
    """The target cases run on (``--meshgate-target``), started once per session/worker.

    Session-scoped and shared with the case files' checks; one case runs on it
    at a time (docs/python-api.md).
    """
    from ._targets.factory import create_target

    target = create_target(settings_of(request.config))
    try:
        yield target
    finally:
        try:
            schedule = sys.modules.get("pytest_meshgate._suite.schedule")
            if schedule is not None:  # checks still running side by side finish first
                schedule.close_schedule(target)
        finally:
            target.close()


@pytest.fixture
def meshgate_deploy(
    meshgate_target: Target, request: pytest.FixtureRequest
) -> Iterator[CaseDeployer]:
    """Deploy a case from a file, a dict or resources on ``meshgate_target``; removed after
    the test. ``meshgate_deploy(resources, services=[...])`` returns a ``DeployedCase``
    (``send``, ``expect``, ``ca_pem``, ``credentials``, ``gateway_address``)."""
    from ._suite.api import deployer
    from ._suite.nodes import include_root

    with deployer(meshgate_target, request.node.name, include_root(request.config)) as made:
        yield made
