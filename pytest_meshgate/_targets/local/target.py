"""The embedded local target: one real Envoy per gateway, echo backends on loopback.

Envoys start on first use and stay up for the session; each case swaps their
configuration through filesystem xDS, which costs milliseconds, not a start.
Echo listeners live only as long as their case.
"""

from __future__ import annotations

import atexit
import shutil
import threading
from pathlib import Path
from typing import Any

import pytest

from ..._cases.loader import LoadedCase
from ..._cases.model.istio import Gateway as IstioGateway
from ..._cases.model.workloads import (
    DEFAULT_GATEWAYS,
    SOURCE_ADDRESS_RANGE,
    Client,
    GatewayWorkload,
)
from ..._errors import ConfigRejected, TargetError
from ..._exchange.client import HTTPClient
from ..._judge.verdicts import Consistency
from ..base import Deployment, Target
from ..rundirs import make_run_directory
from ..secrets import SecretStore
from .deployment import LocalDeployment
from .features import CAPABILITIES, SUPPORTED_FEATURES
from .jwks import JwksServer
from .mesh_identity import MeshCA
from .meshtls import INBOUND_SIDECARS, mesh_tls_modelled
from .proxy import LocalProxy
from .world import default_system_ca_file

__all__ = ["IDLE_PROXIES", "LocalTarget"]

# A case deploys again with new listener ports this many times when one it was
# given is taken by the time Envoy binds it.
_BIND_ATTEMPTS = 3
_ADDRESS_IN_USE = "Address already in use"

# Idle sidecars and custom gateways kept running (with an empty configuration)
# for a later case that needs them again. None on a lane: there are several, and
# every Envoy holds two of the inotify instances the kernel allows a user (128 by
# default, fs.inotify.max_user_instances, shared by every run on the machine);
# with the default gateways only, six lanes of the current cases/ peak at about
# the instances three lanes with four idle Envoys each did, for no measured loss.
IDLE_PROXIES = 4
IDLE_PROXIES_ON_A_LANE = 0


class LocalTarget(Target):
    """Runs cases on local Envoys; see the module docstring."""

    name = "local"
    capabilities = CAPABILITIES
    supported_features = SUPPORTED_FEATURES
    # EnvoyProcess.apply returns once Envoy's stats show the new versions served.
    confirms_configuration = True
    concurrent_checks = True
    concurrent_cases = True

    def __init__(
        self,
        consistency: Consistency | None = None,
        request_timeout: float = 10.0,
        envoy_binary: str | None = None,
        envoy_log_level: str = "warn",
        lane: int = 0,
        idle_proxies: int = IDLE_PROXIES,
    ) -> None:
        super().__init__()
        if not 0 <= lane <= 255:
            raise ValueError(f"lane {lane} is not between 0 and 255")
        self.lane = lane
        self.idle_proxies = idle_proxies
        self.consistency = consistency or Consistency()
        self.envoy_binary = envoy_binary
        self.envoy_log_level = envoy_log_level
        # Private (0700) scratch space for Envoy bootstraps, xDS files (TLS credentials
        # inline), logs and the mesh CA's keys; a killed run's is pruned by the next.
        # Made on first use: with lanes the fixture's own target may never deploy.
        self._workdir: Path | None = None
        self.client = HTTPClient(timeout=request_timeout)
        self.request_timeout = request_timeout
        self._bulk: Any = None  # BulkSender, made on first use
        self._bulk_lock = threading.Lock()
        self._proxies: dict[str, LocalProxy] = {}
        # Sidecars and custom gateways no case uses now, longest idle first (_retire).
        self._idle: dict[str, None] = {}
        # 127.0.0.1 is the harness; proxies get .2, .3, ...: 127.0.<lane>.x, so a
        # lane's proxies never share a source address with another lane's.
        self._sources = 1
        # Lanes' threads deploy while the session may be closing this target (an
        # interrupt, atexit): nothing starts once it is closed.
        self._lifecycle = threading.RLock()
        self._source_of: dict[str, str] = {}  # proxy key -> its upstream source address
        self._echo: Any = None
        self._jwks_server: JwksServer | None = None
        self._secrets: SecretStore | None = None
        self._mesh_ca: MeshCA | None = None
        self._public_roots: str | None = None
        self._versions = 0
        atexit.register(self.close)

    # ---------------------------------------------------------------- lifecycle

    @property
    def workdir(self) -> Path:
        """The run directory (see ``__init__``), made on first use."""
        with self._lifecycle:
            if self._workdir is None:
                self._refuse_if_closed()
                self._workdir = make_run_directory("meshgate-local")
            return self._workdir

    @property
    def secrets(self) -> SecretStore:
        """TLS material for the session; the default CA is shared by every case."""
        if self._secrets is None:
            self._secrets = SecretStore()
        return self._secrets

    @property
    def public_roots_file(self) -> str:
        """The trust store Istio calls "system": the host's CA bundle plus the default CA.

        External services stand in for servers on the internet, whose
        certificates a public CA issued; here the case's ``default`` CA issues
        them, so it joins the host's roots. A DestinationRule that originates
        TLS without ``caCertificates`` then verifies them as Istio's docs
        expect, and a case that wants a verification failure names another CA.
        """
        if self._public_roots is None:
            system = default_system_ca_file()
            bundle = Path(system).read_bytes() if system is not None else b""
            path = self.workdir / "public-roots.pem"
            path.write_bytes(bundle + b"\n" + self.secrets.default_ca.cert_pem.bytes())
            self._public_roots = str(path)
        return self._public_roots

    @property
    def mesh_ca(self) -> MeshCA:
        """The run's mesh CA: SPIFFE workload certificates for ISTIO_MUTUAL."""
        if self._mesh_ca is None:
            self._mesh_ca = MeshCA(directory=self.workdir)
        return self._mesh_ca

    @property
    def echo(self) -> Any:
        with self._lifecycle:
            if self._echo is None:
                from ..echo import EchoServer

                self._refuse_if_closed()
                self._echo = EchoServer()
                self._echo.start()
            return self._echo

    @property
    def jwks_server(self) -> JwksServer:
        """The server of the cases' ``jwksUri`` key sets (``jwks.py``), started on first use."""
        with self._lifecycle:
            if self._jwks_server is None:
                self._refuse_if_closed()
                self._jwks_server = JwksServer()
            return self._jwks_server

    def _refuse_if_closed(self) -> None:
        if self._closed:
            raise TargetError("the local target is closed (the session is ending)")

    def new_lane(self, lane: int) -> LocalTarget:
        """Another local target with the same settings, its own Envoys, echo server,
        run directory, secrets and mesh CA, its proxies' source addresses 127.0.<lane>.x."""
        return LocalTarget(
            consistency=self.consistency,
            request_timeout=self.request_timeout,
            envoy_binary=self.envoy_binary,
            envoy_log_level=self.envoy_log_level,
            lane=lane,
            idle_proxies=IDLE_PROXIES_ON_A_LANE,
        )

    @property
    def bulk(self) -> Any:
        """The concurrent sender of ``count`` checks, made on first use."""
        with self._bulk_lock:  # checks of a case may run side by side
            if self._bulk is None:
                from ..._exchange.bulk import BulkSender

                self._bulk = BulkSender(timeout=self.request_timeout)
            return self._bulk

    def proxy(self, workload: GatewayWorkload, sidecar: bool = False) -> LocalProxy:
        """The Envoy of ``workload`` (a gateway, or a client's sidecar), started on first use."""
        with self._lifecycle:
            return self._proxy(workload, sidecar)

    def _proxy(self, workload: GatewayWorkload, sidecar: bool) -> LocalProxy:
        key = f"{'sidecar:' if sidecar else ''}{workload.namespace}/{workload.name}"
        proxy = self._proxies.get(key)
        if proxy is not None and proxy.envoy.poll() is not None:
            # It crashed; the check that was running reported it with the log
            # tail. Later cases get a fresh Envoy instead of the same error.
            proxy.envoy.stop()
            del self._proxies[key]
            self._idle.pop(key, None)
            proxy = None
        if proxy is not None and proxy.workload != workload:
            # Same name, other labels or ports: its listeners must be rebuilt.
            proxy.ports.clear()
            proxy.workload = workload
        if proxy is None:
            from .envoy import EnvoyProcess

            self._refuse_if_closed()
            envoy = EnvoyProcess(
                name=workload.name,
                workdir=self.workdir
                / f"{'sidecar.' if sidecar else ''}{workload.namespace}.{workload.name}",
                binary=self.envoy_binary,
                log_level=self.envoy_log_level,
            )
            envoy.start()
            source = self._source_of.get(key)
            if source is None:  # a proxy started again keeps its address
                self._sources += 1
                if self._sources > 254:
                    raise TargetError("more than 253 proxies in one session")
                source = self._source_of[key] = str(
                    SOURCE_ADDRESS_RANGE[self.lane * 256 + self._sources]
                )
            proxy = self._proxies[key] = LocalProxy(workload, envoy, source, sidecar)
        # A client's declared podIP holds for its case only (_deploy sets it again).
        proxy.source_address = self._source_of[key]
        return proxy

    def workload_at(self, address: str) -> str | None:
        """The short name of the proxy whose connections come from ``address``."""
        for proxy in self._proxies.values():
            if proxy.source_address == address:
                return proxy.short_name or proxy.workload.name
        return None

    def release(self) -> None:
        with self._lifecycle:
            self._release()

    def _release(self) -> None:
        try:
            for proxy in self._proxies.values():
                proxy.envoy.terminate()  # all at once: each takes tens of ms to exit
            for proxy in self._proxies.values():
                proxy.envoy.stop()
            self._proxies.clear()
            if self._echo is not None:
                self._echo.close()
            if self._jwks_server is not None:
                self._jwks_server.close()
            self.client.close()
            if self._bulk is not None:
                self._bulk.close()
        finally:
            # Keys and configs go even if stopping something failed.
            if self._secrets is not None:
                self._secrets.close()
            if self._mesh_ca is not None:
                self._mesh_ca.close()
            if self._workdir is not None:
                shutil.rmtree(self._workdir, ignore_errors=True)
            atexit.unregister(self.close)

    # ---------------------------------------------------------------- deploying

    def deploy(self, loaded: LoadedCase) -> Deployment:
        for attempt in range(_BIND_ATTEMPTS):
            try:
                return self._deploy(loaded)
            except ConfigRejected as exc:
                if _ADDRESS_IN_USE not in str(exc) or attempt == _BIND_ATTEMPTS - 1:
                    raise
                # A port picked for a listener was taken meanwhile (by another
                # process: ports picked here are never picked twice): new ports.
                for proxy in self._proxies.values():
                    proxy.ports.clear()
        raise AssertionError("unreachable")

    def _deploy(self, loaded: LoadedCase) -> Deployment:
        spec = loaded.case.spec
        lacking = _case_capabilities(loaded) - self.capabilities
        if lacking:
            pytest.skip(f"target 'local' lacks capability {', '.join(sorted(lacking))}")
        from .translate.accesslog import provider_problems, telemetry_problems

        unhonoured = telemetry_problems(loaded.resources)
        unhonoured += provider_problems(spec.mesh_config, loaded.resources)
        if unhonoured:
            pytest.skip(f"target 'local' lacks capability: {'; '.join(unhonoured)}")
        deployment = LocalDeployment(self, loaded)
        try:
            inbound = None
            if mesh_tls_modelled(loaded):
                inbound = self.proxy(INBOUND_SIDECARS, sidecar=True)
                inbound.short_name = "inbound sidecars"
            deployment.start_backends(inbound)
            gateways = (
                {g.name: g for g in spec.gateways}
                | DEFAULT_GATEWAYS
                | _gateway_api_workloads(deployment, spec.checks)
            )
            requests = [c.request for c in spec.checks if c.request is not None]
            used = {r.gateway or "ingress" for r in requests if not r.from_}
            clients = {c.name: c for c in spec.clients}
            mesh_checks = [r for r in requests if r.from_]
            if mesh_checks:
                # Gateways are mesh services too (the egress gateway above all): every
                # gateway a Gateway resource selects runs, and its Service is in the registry.
                used |= _selected_gateways(loaded, gateways)
            proxies = {short: self.proxy(gateways[short]) for short in sorted(used)}
            for short, proxy in proxies.items():
                proxy.short_name = short
            if mesh_checks:
                deployment.add_gateway_services(proxies)
            world = deployment.world()
            for short_name, proxy in proxies.items():
                deployment.configure(short_name, proxy, world)
            in_use = {f"{gateways[n].namespace}/{gateways[n].name}" for n in used}
            senders = list(proxies.values())
            for name in sorted({r.from_ for r in mesh_checks if r.from_}):
                client = clients[name]
                sidecar = self.proxy(_client_workload(client), sidecar=True)
                sidecar.short_name = name
                if client.pod_ip is not None:
                    # The pod's own address: its sidecar's (or, without one, its own)
                    # upstream connections come from it, which ipBlocks and source.ip
                    # name. Out of the harness's ranges (model/workloads.py), so no
                    # other proxy of this target has it.
                    sidecar.source_address = client.pod_ip
                ports = sorted({r.port for r in mesh_checks if r.from_ == name})
                deployment.configure_sidecar(client, sidecar, world, tuple(ports))
                senders.append(sidecar)
                in_use.add(f"sidecar:{client.namespace}/{client.name}")
            if inbound is not None:
                # Last: its chains know every other proxy's source address.
                deployment.configure_inbound(inbound, world, tuple(senders))
                in_use.add(f"sidecar:{INBOUND_SIDECARS.namespace}/{INBOUND_SIDECARS.name}")
            self._retire(in_use)
        except BaseException:
            deployment.teardown()
            raise
        return deployment

    def _retire(self, in_use: set[str]) -> None:
        """Proxies this case does not use must not keep serving the last case.

        They stay up with an empty configuration: the default ingress and
        egress gateways serve most cases, and a sidecar (``sleep``'s above
        all) or custom gateway often comes back a few cases later, when
        switching its configuration costs milliseconds and starting it again
        a quarter of a second. Each idle Envoy costs tens of MiB (and two
        inotify instances), so beyond ``idle_proxies`` (``IDLE_PROXIES``; none
        on a lane) idle sidecars and custom gateways the longest idle
        ones are stopped.
        """
        defaults = {f"{g.namespace}/{g.name}" for g in DEFAULT_GATEWAYS.values()}
        for key in in_use:
            self._idle.pop(key, None)
        for key in [k for k in self._proxies if k not in in_use]:
            proxy = self._proxies[key]
            # An idle proxy keeps no case's podIP: `via` names a case's own proxies.
            proxy.source_address = self._source_of[key]
            if proxy.config is not None:
                self.apply_config(proxy, None)
            if key not in defaults:
                self._idle.setdefault(key, None)  # newly idle: last
        while len(self._idle) > self.idle_proxies:
            key = next(iter(self._idle))
            del self._idle[key]
            self._proxies.pop(key).envoy.stop()

    def apply_config(self, proxy: LocalProxy, config: Any) -> None:
        """Replace the whole configuration of ``proxy`` by ``config`` (None: an empty one)."""
        self._versions += 1
        version = f"v{self._versions}"
        if config is None:
            proxy.envoy.apply(clusters=[], listeners=[], routes=[], version=version)
        else:
            proxy.envoy.apply(
                clusters=config.clusters,
                listeners=config.listeners,
                routes=config.routes,
                version=version,
            )
        proxy.config = config


def _gateway_api_workloads(deployment: LocalDeployment, checks: Any) -> dict[str, GatewayWorkload]:
    """The automated gateway deployments, by ``namespace/name``; skips what cannot run."""
    conversion = deployment.gateway_api()
    if conversion.unsupported:
        pytest.skip(f"target 'local' lacks capability: {'; '.join(conversion.unsupported)}")
    workloads = deployment.gateway_workloads()
    for check in checks:
        name = check.request.gateway if check.request is not None else None
        if name is not None and "/" in name and name not in workloads:
            pytest.skip(
                f"Gateway {name} is not of a GatewayClass of Istio's controller "
                "(istio.io/gateway-controller): nothing deploys a gateway for it"
            )
    return workloads


def _client_workload(client: Client) -> GatewayWorkload:
    return GatewayWorkload(
        name=client.name, namespace=client.namespace, labels=client.pod_labels, ports=[]
    )


def _selected_gateways(loaded: LoadedCase, gateways: dict[str, GatewayWorkload]) -> set[str]:
    """Short names of the gateway workloads some Gateway resource of the case selects."""
    selected: set[str] = set()
    for resource in loaded.resources:
        if not isinstance(resource, IstioGateway):
            continue  # a Gateway API Gateway selects no workload: it gets its own
        selector = resource.spec.selector or {}
        for short, workload in gateways.items():
            if all(workload.labels.get(k) == v for k, v in selector.items()):
                selected.add(short)
    return selected


def _case_capabilities(loaded: LoadedCase) -> set[str]:
    """Capabilities a whole case needs, whatever its checks ask."""
    spec = loaded.case.spec
    needed: set[str] = set()
    if any(s.external for s in spec.services):
        needed.add("external-services")
    if any(
        p.tls is not None or p.protocol in ("HTTPS", "TLS") for s in spec.services for p in s.ports
    ):
        needed.add("backend-tls")
    kinds = {getattr(r, "kind", "") for r in loaded.resources}
    if "ServiceEntry" in kinds:
        needed.add("service-entry")
    if "Sidecar" in kinds:
        needed.add("mesh-clients")
    return needed
