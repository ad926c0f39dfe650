"""The Python API: a case deployed from a file, a dict or resources; requests sent and judged.

``deploy(target, source)`` validates the case as the loader validates case
files (``_cases.inline``) and deploys it with ``Target.activate``, as the
suite does, so a user's test and a case's checks share one deployment at a
time. ``DeployedCase.expect`` judges with ``_suite.run.judge_check``, the
same consistency loop, batch and split verdicts and failure story as a
case check. Documented in ``docs/python-api.md``.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from types import TracebackType
from typing import Any, Union

import pytest

from .._cases.analysis import analyze
from .._cases.inline import CaseSource, load_case, load_check, with_requests
from .._cases.loader import LoadedCase
from .._cases.model.case import Case, Check
from .._cases.model.expect import Expect
from .._cases.model.request import Request
from .._cases.yamlpos import Mark
from .._errors import CaseError, CheckFailed, TargetError
from .._exchange.records import Credential, Exchange
from .._targets.base import Deployment, Target, required_capabilities
from .overlap import attempts_at_once
from .run import case_appendix, judge_check
from .schedule import leave_case

__all__ = [
    "CaseDeployer",
    "DeployedCase",
    "ExpectLike",
    "RequestLike",
    "case_name_for",
    "deploy",
    "deployer",
]

RequestLike = Union[Request, Mapping[str, Any], str]  # noqa: UP007 (a runtime alias on 3.10)
"""A ``Request``, its case-file form as a dict, or just a URL."""

ExpectLike = Union[Expect, Mapping[str, Any]]  # noqa: UP007 (a runtime alias on 3.10)


def _caller(depth: int = 2) -> Mark:
    """Where the user's code called us: the place problems of data (which has no lines)
    are reported at."""
    frame = sys._getframe(depth)
    return Mark(Path(frame.f_code.co_filename), frame.f_lineno, 1)


def deploy(
    target: Target,
    source: CaseSource,
    *,
    case: str | None = None,
    name: str = "python-api",
    services: Sequence[Mapping[str, Any]] | None = None,
    clients: Sequence[Mapping[str, Any]] | None = None,
    gateways: Sequence[Mapping[str, Any]] | None = None,
    secrets: Sequence[Mapping[str, Any]] | None = None,
    root: str | Path | None = None,
    _origin: Mark | None = None,
) -> DeployedCase:
    """Validate the case ``source`` describes and deploy it on ``target``.

    ``source``: a case file's path (``case`` names one of several); a Case
    document as a dict; a case's ``spec`` as a dict; one resource; or a list
    of resources (Istio, Gateway API, Kubernetes objects as dicts), with the
    case's ``services``, ``clients``, ``gateways`` and ``secrets`` in their
    case-file form. A case deploys with the case's own checks' gateways, the
    ingress gateway otherwise. Includes resolve from the calling file's
    directory, within ``root`` (default: the working directory).

    The case replaces whatever case the target runs (one at a time) and is
    removed by ``close()``, or on leaving a ``with`` block.

    Raises:
        CaseError: the case is invalid: every problem, located at the file's
            line or, for data, at the calling line, with its key path.
        TargetError: the target could not deploy it.
    """
    __tracebackhide__ = True
    origin = _origin or _caller()
    try:
        loaded = load_case(
            source,
            origin=origin,
            root=Path(root) if root is not None else Path.cwd(),
            case=case,
            name=name,
            services=services,
            clients=clients,
            gateways=gateways,
            secrets=secrets,
        )
    except _TOLD as exc:
        raise exc.with_traceback(None) from None
    deployed = DeployedCase(target, loaded)
    deployed.start()
    return deployed


# A CaseError or CheckFailed from the API loses the harness's frames: its message is the
# whole story, and the user's traceback ends at the line that called the API.
_TOLD = (CaseError, CheckFailed)


class DeployedCase:
    """One case running on a target, for a test to send requests into and judge."""

    def __init__(self, target: Target, loaded: LoadedCase) -> None:
        self.target = target
        self.loaded = loaded
        self._deployment: Deployment | None = None
        self._anticipated: list[Check] = []  # requests the case's own checks did not foresee
        self._expects = 0
        self._closed = False
        self._appendix: str | None = None

    @property
    def case(self) -> Case:
        """The validated case (its model: ``case.spec.resources``, ``case.spec.services``, ...)."""
        return self.loaded.case

    @property
    def name(self) -> str:
        return self.loaded.name

    def start(self) -> None:
        """Deploy the case (again: with the requests sent so far that it did not foresee)."""
        if self._closed:
            raise TargetError(f"case '{self.name}' was closed")
        loaded = self.loaded
        if self._anticipated or not any(c.request for c in loaded.case.spec.checks):
            # A case without requests of its own still gets the ingress gateway.
            loaded = with_requests(loaded, [*self._ingress(), *self._anticipated])
        leave_case(self.target)  # a case file's checks still running side by side finish first
        self._deployment = self.target.activate(loaded)
        self._appendix = None

    @staticmethod
    def _ingress() -> list[Check]:
        return [Check(name="python api: ingress", request=Request(url="http://ingress.invalid/"))]

    @property
    def deployment(self) -> Deployment:
        """The target's deployment of the case; refused once another case replaced it."""
        if self._closed or self._deployment is None:
            raise TargetError(f"case '{self.name}' is not deployed (closed)")
        if self.target.current is not self._deployment:
            raise TargetError(
                f"case '{self.name}' is no longer deployed: another case replaced it "
                "(a target runs one case at a time)"
            )
        return self._deployment

    # -------------------------------------------------------------- requests

    def send(self, request: RequestLike) -> Exchange:
        """Send ``request`` once and return what came back (an answer or a connection outcome).

        Raises:
            CaseError: the request is invalid, or names what the case lacks.
        """
        __tracebackhide__ = True
        try:
            check = self._check({"request": request}, _caller())
        except _TOLD as exc:
            raise exc.with_traceback(None) from None
        assert check.request is not None
        return self._ready(check).send(check.request)

    def expect(self, request: RequestLike, expectation: ExpectLike | None = None) -> Exchange:
        """Send ``request`` until ``expectation`` holds as a case check's would: the target's
        consistency (``--meshgate-consistency-timeout``, ``--meshgate-consecutive-successes``),
        ``count`` batches and ``split`` tests included.

        ``expectation`` is an ``Expect`` or its case-file form as a dict (``{status: 200}``
        when omitted). Returns the passing answer (see ``judge_check``).

        Raises:
            CheckFailed: what was sent, what came back, each failed expectation, the
                target's diagnostics, as a failing check shows them.
            CaseError: the request or expectation is invalid.
        """
        __tracebackhide__ = True
        self._expects += 1
        origin = _caller()
        data = {"name": f"expect #{self._expects}", "request": request, "expect": expectation or {}}
        try:
            check = self._check(data, origin)
        except _TOLD as exc:
            raise exc.with_traceback(None) from None
        missing = sorted(required_capabilities(check) - self.target.capabilities)
        if missing:
            pytest.skip(f"target '{self.target.name}' lacks capability {', '.join(missing)}")
        deployment = self._ready(check)
        if self._appendix is None:
            self._appendix = case_appendix(deployment.deployment_warnings(), analyze(self.loaded))
        where = f"{origin.path.name}:{origin.line}"
        title = f"expect #{self._expects} ({where}) of case '{self.name}'"
        try:
            consistency, overlap = (
                self.target.consistency,
                attempts_at_once(self.target, self.loaded, check),
            )
            exchange = judge_check(deployment, check, consistency, title, self._appendix, overlap)
        except _TOLD as exc:
            raise exc.with_traceback(None) from None
        assert exchange is not None  # it has a request
        return exchange

    def _check(self, data: dict[str, Any], origin: Mark) -> Check:
        request = data["request"]
        if isinstance(request, str):
            data["request"] = {"url": request}
        data.setdefault("name", "request")
        return load_check(self.loaded, data, origin)

    def _ready(self, check: Check) -> Deployment:
        """The deployment, deployed again first if it does not serve ``check``'s request."""
        deployment = self.deployment
        assert check.request is not None
        if not deployment.serves(check.request):
            name = f"python api: {len(self._anticipated) + 1}"
            self._anticipated.append(Check(name=name, request=check.request))
            self.start()
            deployment = self.deployment
        return deployment

    # -------------------------------------------------------------- TLS and addresses

    def ca_pem(self, name: str = "default") -> bytes:
        """The certificate (PEM) of CA ``name``: ``default`` is the run's CA, which issues
        every secret without an ``issuer``; others are the case's ``type: ca`` secrets."""
        return self.deployment.ca_pem(name)

    def credentials(self) -> dict[str, Credential]:
        """The material the case's ``secrets:`` generated, by name (``cert_pem``,
        ``key_pem``, ``ca_pem``)."""
        return self.deployment.credentials()

    def gateway_address(self, port: int = 80, gateway: str | None = None) -> tuple[str, int]:
        """Where a client of its own connects for Service ``port`` of a gateway (default
        the ingress gateway; ``namespace/name`` for a Gateway API Gateway). The case is
        deployed again first if no request to that gateway was foreseen."""
        probe: dict[str, Any] = {"url": f"http://gateway.invalid:{port}/"}
        if gateway is not None:
            probe["gateway"] = gateway
        check = self._check({"request": probe}, _caller())
        return self._ready(check).gateway_address(port, gateway)

    # -------------------------------------------------------------- lifecycle

    def close(self) -> None:
        """Remove the case from the target, unless another case replaced it already."""
        if self._closed:
            return
        self._closed = True
        if self._deployment is not None and self.target.current is self._deployment:
            self.target.deactivate()

    def __enter__(self) -> DeployedCase:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        value: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()


class CaseDeployer:
    """The ``meshgate_deploy`` fixture: ``deploy`` on the session's target, closed after the
    test; every case a test deploys replaces the one before."""

    def __init__(self, target: Target, name: str, root: Path) -> None:
        self.target = target
        self._name = name
        self._root = root
        self._deployed: list[DeployedCase] = []

    def __call__(
        self,
        source: CaseSource,
        *,
        case: str | None = None,
        name: str | None = None,
        services: Sequence[Mapping[str, Any]] | None = None,
        clients: Sequence[Mapping[str, Any]] | None = None,
        gateways: Sequence[Mapping[str, Any]] | None = None,
        secrets: Sequence[Mapping[str, Any]] | None = None,
    ) -> DeployedCase:
        """``deploy(meshgate_target, source, ...)``; the case is named after the test."""
        __tracebackhide__ = True
        deployed = deploy(
            self.target,
            source,
            case=case,
            name=name or self._name,
            services=services,
            clients=clients,
            gateways=gateways,
            secrets=secrets,
            root=self._root,
            _origin=_caller(),
        )
        self._deployed.append(deployed)
        return deployed

    def close(self) -> None:
        for deployed in reversed(self._deployed):
            deployed.close()


@contextmanager
def deployer(target: Target, name: str, root: Path) -> Iterator[CaseDeployer]:
    """The fixture's body: a ``CaseDeployer`` whose cases are removed afterwards."""
    made = CaseDeployer(target, case_name_for(name), root)
    try:
        yield made
    finally:
        made.close()


def case_name_for(test_name: str) -> str:
    """A test's name as a case name (a DNS label): ``test_x[v1-a b]`` -> ``test-x-v1-a-b``."""
    slug = "".join(c if c.isalnum() and c.isascii() else "-" for c in test_name.lower())
    slug = "-".join(part for part in slug.split("-") if part)[:63].strip("-")
    return slug or "python-api"
