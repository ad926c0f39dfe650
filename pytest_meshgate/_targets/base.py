"""The target interface: where a case is deployed and its requests are sent.

A target turns a case into a running deployment and sends a check's request
into it. It declares the capabilities it has (``tls``, ``mesh-clients``, ...);
a check that needs one it lacks is skipped with a reason naming it.
"""

from __future__ import annotations

import abc
from collections.abc import Collection
from typing import TYPE_CHECKING

import pytest

from .._cases.model.case import Check
from .._cases.model.expect import BackendRef
from .._cases.model.request import Request
from .._exchange.records import AccessLogLine, Credential, Exchange, MetricSnapshot
from .._exchange.status import ObjectStatus
from .._judge.verdicts import Consistency

if TYPE_CHECKING:
    from .._cases.loader import LoadedCase

__all__ = ["Deployment", "Target", "required_capabilities"]


class Deployment(abc.ABC):
    """One case running on a target."""

    @abc.abstractmethod
    def send(self, request: Request) -> Exchange:
        """Send one attempt of ``request`` and capture what came back."""

    def serves(self, request: Request) -> bool:
        """Whether this deployment can take ``request`` as it stands.

        A target may set up only what the case's checks use (the local target
        starts the gateways and sidecar ports they send to); the Python API
        deploys the case again with the request among its checks when not.
        """
        return True

    def send_many(self, request: Request, count: int, concurrency: int = 1) -> list[Exchange]:
        """Send ``count`` attempts of ``request``, ``concurrency`` at a time.

        This default sends them one after the other; targets with the
        ``statistics`` capability send them concurrently.
        """
        return [self.send(request) for _ in range(count)]

    def received(
        self,
        backend: BackendRef,
        meshgate_ids: Collection[str],
        wait: float,
        settle: float | None = None,
    ) -> dict[str, str]:
        """Which of the requests (by ``x-meshgate-id``) reached ``backend``, with the
        Host it saw for each.

        Waits up to ``wait`` seconds for all of them (mirrored copies arrive on
        their own time), or, with ``settle``, until none has come for that long.
        Targets with the ``mirroring`` capability implement it.
        """
        raise NotImplementedError(f"{type(self).__name__} cannot see what backends received")

    def access_log(self, proxy: str, exchange: Exchange, expect_line: bool) -> AccessLogLine:
        """The line ``proxy`` logged for ``exchange``'s request, as Istio configured its
        access log, or why there is none.

        A proxy writes the line after the response: a target polls briefly for it,
        and when ``expect_line`` is false waits long enough that a line would have
        appeared. Targets with the ``access-log`` capability implement it.
        """
        raise NotImplementedError(f"{type(self).__name__} cannot read access logs")

    def metrics(self, proxy: str) -> MetricSnapshot:
        """``proxy``'s Istio standard metrics (``istio_*`` Prometheus samples) now, or
        why there are none. The suite reads them just before and just after a
        request and judges the growth. Targets with the ``metrics`` capability
        implement it."""
        raise NotImplementedError(f"{type(self).__name__} cannot read metrics")

    def status(self) -> list[ObjectStatus]:
        """The status conditions of the case's resources, as their controller wrote them.

        Targets with the ``status`` capability implement it.
        """
        raise NotImplementedError(f"{type(self).__name__} cannot read resource status")

    def credentials(self) -> dict[str, Credential]:
        """The TLS material the case's ``secrets:`` generated, by secret name, as PEM."""
        raise NotImplementedError(f"{type(self).__name__} cannot hand out its secrets")

    def ca_pem(self, name: str = "default") -> bytes:
        """The certificate (PEM) of the CA ``name`` of the case (``default``: the run's CA,
        which issues every secret without an ``issuer``), for a client to trust.

        Raises:
            KeyError: the case has no CA of that name.
        """
        raise NotImplementedError(f"{type(self).__name__} cannot hand out its CAs")

    def gateway_address(self, port: int, gateway: str | None = None) -> tuple[str, int]:
        """Where a client connects for Service ``port`` of ``gateway`` (default: the
        ingress gateway), as ``send`` would for a URL with that port."""
        raise NotImplementedError(f"{type(self).__name__} cannot tell its gateway addresses")

    def explain(self, exchange: Exchange) -> str:
        """Target diagnostics for a failed attempt (access log, routes); may be empty."""
        return ""

    def deployment_warnings(self) -> tuple[str, ...]:
        """What the target warned about while deploying the case (a server left out for
        a missing secret, a route skipped), one line each; every failing check of the
        case shows them."""
        return ()

    @abc.abstractmethod
    def teardown(self) -> None:
        """Remove the case from the target; idempotent."""


class Target(abc.ABC):
    """Runs cases. One per session (per xdist worker)."""

    name: str
    capabilities: frozenset[str]
    # Conformance features (conformance/features.yaml) it implements; cases
    # needing others are skipped as not supported and not counted.
    supported_features: frozenset[str] = frozenset()
    consistency: Consistency
    # Whether a deployment's configuration is confirmed served before its first
    # attempt (the local target waits on Envoy's own stats). Only then may the
    # attempts of a check overlap: on a cluster, configuration reaches proxies
    # on its own time, and overlapping attempts could straddle the switch.
    confirms_configuration: bool = False
    # Whether independent checks of one case may run side by side against its
    # deployment (its senders are safe to use from several threads).
    concurrent_checks: bool = False
    # Whether copies of it made by ``new_lane`` may run other cases at the same
    # time in this process (the scheduler's lanes, _suite/lanes.py): each copy
    # has its own proxies, backends and secrets, and nothing they bind collides.
    concurrent_cases: bool = False

    def __init__(self) -> None:
        self._current: tuple[LoadedCase, Deployment] | None = None
        self._failed: tuple[LoadedCase, BaseException] | None = None
        self._closed = False

    @property
    def current(self) -> Deployment | None:
        """The deployment of the case that runs now (one at a time), if any."""
        return self._current[1] if self._current is not None else None

    def activate(self, loaded: LoadedCase) -> Deployment:
        """The deployment of ``loaded``, deploying it (and removing the previous case) if needed.

        Checks of one case run back to back, so a case is deployed once and
        replaced when the first check of the next case runs. A failed
        deployment is remembered, so the case's other checks fail fast with
        the same error instead of trying again (an unexpected exception too:
        the run reports it as a harness error of each check).
        """
        if self._current is not None and self._current[0] is loaded:
            return self._current[1]
        if self._failed is not None and self._failed[0] is loaded:
            raise self._failed[1]
        self.deactivate()
        try:
            deployment = self.deploy(loaded)
        except (Exception, pytest.skip.Exception) as exc:
            self._failed = (loaded, exc)
            raise
        self._current = (loaded, deployment)
        return deployment

    def deactivate(self) -> None:
        self._failed = None
        if self._current is not None:
            _, deployment = self._current
            self._current = None
            deployment.teardown()

    @abc.abstractmethod
    def deploy(self, loaded: LoadedCase) -> Deployment:
        """Deploy a case; raise ``pytest.skip.Exception`` for capabilities it lacks."""

    def close(self) -> None:
        """Remove the current case, then release what the target holds; idempotent.

        Runs from fixture teardown, atexit and signal paths alike, so a second
        call must be harmless, and a failing case removal must not keep
        processes alive.
        """
        if self._closed:
            return
        self._closed = True
        try:
            self.deactivate()
        finally:
            self.release()

    def new_lane(self, lane: int) -> Target:
        """An independent copy of this target (same settings, its own everything) for
        lane ``lane`` (1, 2, ...); only targets with ``concurrent_cases``. The caller
        closes it."""
        raise NotImplementedError(f"target '{self.name}' runs one case at a time")

    @abc.abstractmethod
    def release(self) -> None:
        """Stop processes and close clients the target started (called once by close)."""


def required_capabilities(check: Check) -> set[str]:
    """The capabilities a check needs from a target beyond plain HTTP at a gateway."""
    request, expect = check.request, check.expect
    needed: set[str] = set()
    if expect.conditions:
        needed.add("status")
    if request is None:
        return needed
    if (
        request.url.startswith("https:")
        or request.tls is not None
        or expect.tls is not None
        or "tlsError" in expect.connections
        or (expect.request is not None and expect.request.tls is not None)
    ):
        needed.add("tls")
    if request.from_ is not None:
        needed.add("mesh-clients")
    if request.http2:
        needed.add("http2")
    if request.grpc is not None:
        needed.add("grpc")
    if request.websocket is not None:
        needed.add("websocket")
    if expect.via is not None:
        needed.add("via")
    if expect.split is not None or request.count is not None or request.concurrency is not None:
        needed.add("statistics")
    if expect.mirrored_to is not None:
        needed.add("mirroring")
    if expect.access_log is not None:
        needed.add("access-log")
    if expect.metrics is not None:
        needed.add("metrics")
    return needed
