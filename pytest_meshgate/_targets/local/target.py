"""The embedded local target: one real Envoy per gateway, echo backends on loopback.

Envoys start on first use and stay up for the session; each case swaps their
configuration through filesystem xDS, which costs milliseconds, not a start.
Echo listeners live only as long as their case.
"""

from __future__ import annotations

import atexit
import hashlib
import ipaddress
import shutil
import ssl
import tempfile
import time
from collections.abc import Collection
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
from cryptography import x509

from ..._cases.loader import LoadedCase
from ..._cases.model.expect import BackendRef
from ..._cases.model.request import Request, RequestTLS
from ..._cases.model.workloads import (
    DEFAULT_GATEWAYS,
    Client,
    GatewayWorkload,
    Service,
    ServicePort,
    port_protocol,
)
from ..._errors import TargetError
from ..._exchange.client import HTTPClient
from ..._exchange.records import (
    MESHGATE_ID_HEADER,
    ClientTLS,
    Exchange,
    ResponseRecord,
    SentRequest,
)
from ..._judge.verdicts import Consistency
from ..base import Deployment, Target
from ..secrets import CaseSecrets, SecretStore
from .explain import access_log_record, format_access_record, host_of, route_table
from .features import CAPABILITIES, SUPPORTED_FEATURES
from .mesh_identity import MeshCA, gateway_service_account, spiffe_id
from .world import (
    DOMAIN_SUFFIX,
    Endpoint,
    GatewayProxy,
    MeshService,
    ServicePortInfo,
    World,
    default_system_ca_file,
)

__all__ = ["LocalTarget"]

LOOPBACK = "127.0.0.1"


@dataclass
class _Proxy:
    """A gateway's or a client sidecar's Envoy and the loopback ports its listeners bind.

    ``source_address`` is the loopback address its upstream connections come
    from, so a backend's peer names the proxy that reached it (``via``).
    """

    workload: GatewayWorkload
    envoy: Any  # EnvoyProcess
    source_address: str = LOOPBACK
    sidecar: bool = False
    short_name: str = ""  # what checks call it: ingress, egress, a gateway or client name
    ports: dict[int, int] = field(default_factory=dict)  # listener port -> loopback port
    config: Any = None  # the EnvoyConfig last applied

    @property
    def access_log_path(self) -> Path:
        return Path(self.envoy.workdir) / "access.log"

    def bind(self, listener_port: int) -> tuple[str, int]:
        from .envoy import allocate_port

        if listener_port not in self.ports:
            self.ports[listener_port] = allocate_port(LOOPBACK)
        return LOOPBACK, self.ports[listener_port]

    def address_for(self, service_port: int) -> tuple[str, int]:
        """Where a client reaching the gateway Service on ``service_port`` connects.

        The Service maps port -> targetPort (80 -> 8080); a port that is not a
        Service port is taken as a pod port, as when addressing the pod itself.
        """
        listener_port = service_port
        for port in self.workload.ports:
            if port.port == service_port:
                listener_port = port.target_port or port.port
                break
        return self.bind(listener_port)


class LocalTarget(Target):
    """Runs cases on local Envoys; see the module docstring."""

    name = "local"
    capabilities = CAPABILITIES
    supported_features = SUPPORTED_FEATURES

    def __init__(
        self,
        consistency: Consistency | None = None,
        request_timeout: float = 10.0,
        envoy_binary: str | None = None,
        envoy_log_level: str = "warn",
    ) -> None:
        super().__init__()
        self.consistency = consistency or Consistency()
        self.envoy_binary = envoy_binary
        self.envoy_log_level = envoy_log_level
        # Private (0700) scratch space for Envoy bootstraps, xDS files and logs.
        self.workdir = Path(tempfile.mkdtemp(prefix="meshgate-local-"))
        self.client = HTTPClient(timeout=request_timeout)
        self.request_timeout = request_timeout
        self._bulk: Any = None  # BulkSender, made on first use
        self._proxies: dict[str, _Proxy] = {}
        self._sources = 1  # 127.0.0.1 is the harness; proxies get .2, .3, ...
        self._source_of: dict[str, str] = {}  # proxy key -> its upstream source address
        self._echo: Any = None
        self._secrets: SecretStore | None = None
        self._mesh_ca: MeshCA | None = None
        self._public_roots: str | None = None
        self._versions = 0
        atexit.register(self.close)

    # ---------------------------------------------------------------- lifecycle

    @property
    def secrets(self) -> SecretStore:
        """TLS material for the session; the default CA is shared by every case."""
        if self._secrets is None:
            self._secrets = SecretStore(directory=self.workdir)
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
        if self._echo is None:
            from ..echo import EchoServer

            self._echo = EchoServer()
            self._echo.start()
        return self._echo

    @property
    def bulk(self) -> Any:
        """The concurrent sender of ``count`` checks, made on first use."""
        if self._bulk is None:
            from ..._exchange.bulk import BulkSender

            self._bulk = BulkSender(timeout=self.request_timeout)
        return self._bulk

    def proxy(self, workload: GatewayWorkload, sidecar: bool = False) -> _Proxy:
        """The Envoy of ``workload`` (a gateway, or a client's sidecar), started on first use."""
        key = f"{'sidecar:' if sidecar else ''}{workload.namespace}/{workload.name}"
        proxy = self._proxies.get(key)
        if proxy is not None and proxy.envoy.poll() is not None:
            # It crashed; the check that was running reported it with the log
            # tail. Later cases get a fresh Envoy instead of the same error.
            proxy.envoy.stop()
            del self._proxies[key]
            proxy = None
        if proxy is not None and proxy.workload != workload:
            # Same name, other labels or ports: its listeners must be rebuilt.
            proxy.ports.clear()
            proxy.workload = workload
        if proxy is None:
            from .envoy import EnvoyProcess

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
                source = self._source_of[key] = f"127.0.0.{self._sources}"
            proxy = self._proxies[key] = _Proxy(workload, envoy, source, sidecar)
        return proxy

    def workload_at(self, address: str) -> str | None:
        """The short name of the proxy whose connections come from ``address``."""
        for proxy in self._proxies.values():
            if proxy.source_address == address:
                return proxy.short_name or proxy.workload.name
        return None

    def release(self) -> None:
        try:
            for proxy in self._proxies.values():
                proxy.envoy.stop()
            self._proxies.clear()
            if self._echo is not None:
                self._echo.close()
            self.client.close()
            if self._bulk is not None:
                self._bulk.close()
        finally:
            # Keys and configs go even if stopping something failed.
            if self._secrets is not None:
                self._secrets.close()
            if self._mesh_ca is not None:
                self._mesh_ca.close()
            shutil.rmtree(self.workdir, ignore_errors=True)
            atexit.unregister(self.close)

    # ---------------------------------------------------------------- deploying

    def deploy(self, loaded: LoadedCase) -> Deployment:
        spec = loaded.case.spec
        lacking = _case_capabilities(loaded) - self.capabilities
        if lacking:
            pytest.skip(f"target 'local' lacks capability {', '.join(sorted(lacking))}")
        deployment = LocalDeployment(self, loaded)
        try:
            deployment.start_backends()
            gateways = {g.name: g for g in spec.gateways} | DEFAULT_GATEWAYS
            used = {
                check.request.gateway or "ingress"
                for check in spec.checks
                if not check.request.from_
            }
            clients = {c.name: c for c in spec.clients}
            mesh_checks = [c for c in spec.checks if c.request.from_]
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
            for name in sorted({c.request.from_ for c in mesh_checks if c.request.from_}):
                client = clients[name]
                sidecar = self.proxy(_client_workload(client), sidecar=True)
                sidecar.short_name = name
                ports = sorted({c.request.port for c in mesh_checks if c.request.from_ == name})
                deployment.configure_sidecar(client, sidecar, world, tuple(ports))
                in_use.add(f"sidecar:{client.namespace}/{client.name}")
            self._retire(in_use)
        except BaseException:
            deployment.teardown()
            raise
        return deployment

    def _retire(self, in_use: set[str]) -> None:
        """Proxies this case does not use must not keep serving the last case.

        The default ingress and egress gateways serve most cases, so they stay
        up with an empty configuration; sidecars and custom gateways are
        stopped, since each costs tens of MiB and starts again in well under
        a second when a later case needs it.
        """
        defaults = {f"{g.namespace}/{g.name}" for g in DEFAULT_GATEWAYS.values()}
        for key in [k for k in self._proxies if k not in in_use]:
            proxy = self._proxies[key]
            if key in defaults:
                if proxy.config is not None:
                    self._apply(proxy, None)
            else:
                proxy.envoy.stop()
                del self._proxies[key]

    def _apply(self, proxy: _Proxy, config: Any) -> None:
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


def _client_workload(client: Client) -> GatewayWorkload:
    return GatewayWorkload(
        name=client.name, namespace=client.namespace, labels=client.pod_labels, ports=[]
    )


def _selected_gateways(loaded: LoadedCase, gateways: dict[str, GatewayWorkload]) -> set[str]:
    """Short names of the gateway workloads some Gateway resource of the case selects."""
    selected: set[str] = set()
    for resource in loaded.resources:
        if getattr(resource, "kind", "") != "Gateway":
            continue
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


class LocalDeployment(Deployment):
    """One case on the local target: its echo listeners and the gateways it configured."""

    def __init__(self, target: LocalTarget, loaded: LoadedCase) -> None:
        self.target = target
        self.loaded = loaded
        self._listeners: list[Any] = []
        self._services: list[MeshService] = []
        # Outside the mesh: (DNS name or IP, port) -> external echo addresses.
        self._network: dict[tuple[str, int], list[tuple[str, int]]] = {}
        self._entries: dict[str, _Proxy] = {}
        self._sidecars: dict[str, _Proxy] = {}
        # Per client namespace: ServiceEntry host -> the address DNS answers.
        self._service_entry_addresses: dict[str, dict[str, str]] = {}
        self._torn_down = False
        self.secrets = CaseSecrets({}, {})
        self._ca_subjects: dict[str, str] | None = None

    def start_backends(self) -> None:
        from ..echo import EchoFault, EchoIdentity

        self.secrets = self.target.secrets.for_case(self.loaded.case)
        for service in self.loaded.case.spec.services:
            endpoints: list[Endpoint] = []
            for version, replica in (
                (v, i) for v in service.versions for i in range(service.replicas)
            ):
                suffix = _pod_suffix(self.loaded.name, service.name, version)
                pod = f"{service.name}-{version}-{suffix}"
                if service.replicas > 1:
                    pod += f"-{replica}"
                bad = service.misbehaviour(version, replica)
                misbehaviour = (
                    EchoFault(status=bad.status, delay=bad.delay or 0.0, reset=bad.reset)
                    if bad is not None
                    else None
                )
                addresses: dict[int, tuple[str, int]] = {}
                for port in service.ports:
                    identity = EchoIdentity(
                        service=service.name,
                        namespace=service.namespace,
                        version=version,
                        pod=pod,
                        port_name=port.name,
                    )
                    context = self._backend_tls(service, port)
                    handle = self.target.echo.listen(
                        identity, host=LOOPBACK, ssl_context=context, misbehaviour=misbehaviour
                    )
                    self._listeners.append(handle)
                    addresses[port.port] = handle.address
                labels = {"app": service.name, "version": version, **service.labels}
                endpoints.append(Endpoint(labels, addresses, f"{service.name}-{version}"))
            if service.external:
                # Not a Kubernetes Service: its name (and addresses) lead to its echo
                # servers for whoever resolves them outside the mesh.
                for endpoint in endpoints:
                    for port_number, address in endpoint.addresses.items():
                        for name in (service.name, *service.addresses):
                            self._network.setdefault((name, port_number), []).append(address)
                continue
            ports = tuple(
                ServicePortInfo(p.name, p.port, p.target_port or p.port, p.protocol)
                for p in service.ports
            )
            hostname = f"{service.name}.{service.namespace}.svc.{DOMAIN_SUFFIX}"
            # Each echo workload runs as the service account named after its service.
            accounts = (spiffe_id(service.namespace, service.name),)
            self._services.append(
                MeshService(
                    hostname,
                    service.namespace,
                    ports,
                    tuple(endpoints),
                    address=self._next_vip(),
                    service_accounts=accounts,
                )
            )

    def _next_vip(self) -> str:
        # ClusterIPs: never connected to (routes pick endpoints), only matched
        # (sidecar destination-IP filter chains, the Host of a request by IP).
        # They are loopback addresses (127.96.0.0/16), so a passthrough to one
        # is refused on this machine instead of leaving it.
        index = len(self._services) + 10
        return f"127.96.{index // 250}.{index % 250}"

    def add_gateway_services(self, proxies: dict[str, _Proxy]) -> None:
        """Each gateway's Kubernetes Service, its endpoints the Envoy's listener addresses.

        ``istio-egressgateway.istio-system.svc.cluster.local`` 80 -> 8080 is where a
        sidecar sends what a VirtualService routes to the egress gateway. Ports
        are allocated now, before any translation, so every proxy agrees on them.
        """
        for proxy in proxies.values():
            workload = proxy.workload
            ports = tuple(
                ServicePortInfo(p.name, p.port, p.target_port or p.port, port_protocol(p.name))
                for p in workload.ports
            )
            addresses = {p.port: proxy.bind(p.target_port) for p in ports}
            endpoint = Endpoint(dict(workload.labels), addresses, workload.name)
            hostname = f"{workload.name}.{workload.namespace}.svc.{DOMAIN_SUFFIX}"
            self._services.append(
                MeshService(
                    hostname,
                    workload.namespace,
                    ports,
                    (endpoint,),
                    address=self._next_vip(),
                    service_accounts=(
                        spiffe_id(workload.namespace, gateway_service_account(workload.name)),
                    ),
                )
            )

    def _backend_tls(self, service: Service, port: ServicePort) -> ssl.SSLContext | None:
        """Backends on https/tls ports terminate TLS themselves (passthrough, re-encryption).

        The certificate is the port's secret, else one the default CA issues
        for the service's names. Client certificates from the case's CAs are
        asked for and reported (``tls.peerCertificates``); a ``mutual`` secret
        makes them required.
        """
        if port.tls is None and port.protocol not in ("HTTPS", "TLS"):
            return None
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        secret_name = port.tls.secret if port.tls is not None else None
        if secret_name is not None:
            material = self.secrets.materials[secret_name]
            cert, key = self.target.secrets.key_pair_files(self.loaded.name, material)
            context.load_cert_chain(cert, key)
            required = material.secret.type == "mutual"
        else:
            names = _service_names(service)
            leaf = self.target.secrets.default_ca.issue_cert(*names, common_name=names[0])
            leaf.configure_cert(context)
            required = False
        for ca in self.secrets.cas.values():
            context.load_verify_locations(cadata=ca.cert_pem.bytes().decode())
        context.verify_mode = ssl.CERT_REQUIRED if required else ssl.CERT_OPTIONAL
        context.set_alpn_protocols(["http/1.1"])
        return context

    def world(self) -> World:
        return World(
            resources=self.loaded.resources,
            services=tuple(self._services),
            secrets=self.secrets.kubernetes_secrets(),
            network={key: tuple(value) for key, value in self._network.items()},
            system_ca_file=self.target.public_roots_file,
        )

    def gateway_proxy(self, proxy: _Proxy) -> GatewayProxy:
        """What the translation needs to know about a gateway workload's Envoy."""
        workload = proxy.workload
        return GatewayProxy(
            name=workload.name,
            namespace=workload.namespace,
            labels=workload.labels,
            service_ports=tuple(
                ServicePortInfo(p.name, p.port, p.target_port or p.port, port_protocol(p.name))
                for p in workload.ports
            ),
            bind=proxy.bind,
            access_log_path=str(proxy.access_log_path),
            source_address=proxy.source_address,
            mesh_identity=self.target.mesh_ca.identity(
                workload.namespace, gateway_service_account(workload.name)
            ),
        )

    def configure(self, short_name: str, proxy: _Proxy, world: World) -> None:
        from .translate import UnsupportedFeature, translate_gateway

        try:
            config = translate_gateway(world, self.gateway_proxy(proxy))
        except UnsupportedFeature as exc:
            pytest.skip(f"target 'local' lacks capability: {exc}")
        self.target._apply(proxy, config)
        self._entries[short_name] = proxy

    def configure_sidecar(
        self, client: Client, proxy: _Proxy, world: World, capture_ports: tuple[int, ...]
    ) -> None:
        """A client's sidecar: outbound listeners for the registry's ports and ``capture_ports``."""
        from .translate import UnsupportedFeature, translate_sidecar

        sidecar = GatewayProxy(
            name=client.name,
            namespace=client.namespace,
            labels=client.pod_labels,
            service_ports=(),
            bind=proxy.bind,
            access_log_path=str(proxy.access_log_path),
            source_address=proxy.source_address,
            sidecar=True,
            capture_ports=capture_ports,
            # The client runs as the service account named after it, as echo workloads do.
            mesh_identity=self.target.mesh_ca.identity(client.namespace, client.name),
        )
        try:
            config = translate_sidecar(world, sidecar)
        except UnsupportedFeature as exc:
            pytest.skip(f"target 'local' lacks capability: {exc}")
        self.target._apply(proxy, config)
        self._sidecars[client.name] = proxy

    def resolve(self, host: str, port: int, namespace: str) -> tuple[str, int] | None:
        """Where a pod in ``namespace`` connects for ``host:port``: its DNS, as the mesh has it.

        Search path ``<ns>.svc.cluster.local``, ``svc.cluster.local``,
        ``cluster.local``; Services resolve to their ClusterIP, external
        services (name or address) to their echo server (on a port it does
        not serve: its address, where nothing listens), and other ServiceEntry
        hosts as Istio's DNS proxy answers them: the first of their
        ``addresses``, else an auto-allocated address (Istio: 240.240.0.0/16;
        here loopback 127.240.0.0/16, so nothing leaves the machine). An IP
        address is itself. None: the name does not resolve.
        """
        from .translate.serviceentry import service_entry_services, visible_services

        host = host.lower().rstrip(".")
        if (host, port) in self._network:
            return self._network[(host, port)][0]
        try:
            ipaddress.ip_address(host)
        except ValueError:
            pass
        else:
            return (host, port)
        for (name, _), addresses in self._network.items():
            if name == host:
                return (addresses[0][0], port)
        vips = {s.hostname: s.address for s in self._services if s.address}
        candidates = [host]
        if not host.endswith(DOMAIN_SUFFIX):
            candidates += [
                f"{host}.{namespace}.svc.{DOMAIN_SUFFIX}",
                f"{host}.svc.{DOMAIN_SUFFIX}",
                f"{host}.{DOMAIN_SUFFIX}",
            ]
        for name in candidates:
            if vips.get(name):
                return (str(vips[name]), port)
        if namespace not in self._service_entry_addresses:
            world = self.world()
            visible = {s.hostname for s in visible_services(world, namespace)}
            self._service_entry_addresses[namespace] = {
                s.hostname: s.address or f"127.240.{index // 250}.{index % 250 + 1}"
                for index, s in enumerate(service_entry_services(world))
                if s.hostname in visible
            }
        address = self._service_entry_addresses[namespace].get(host)
        return None if address is None else (address, port)

    # ---------------------------------------------------------------- requests

    def _route(self, request: Request) -> tuple[_Proxy, int, tuple[str, int], str]:
        """The gateway proxy, Service port, loopback address and entry a request goes to."""
        proxy = self._entries[request.gateway or "ingress"]
        proxy.envoy.check_alive()
        parts = urlsplit(request.url)
        port = parts.port or (443 if parts.scheme == "https" else 80)
        return proxy, port, proxy.address_for(port), f"gateway {proxy.workload.name} port {port}"

    def send(self, request: Request) -> Exchange:
        if request.from_ is not None:
            return self._send_from_client(request)
        _, port, address, entry = self._route(request)
        tls = self.client_tls(request) if request.url.startswith("https:") else None
        exchange = self.target.client.send(
            request, address, entry, timeout=request.timeout, tls=tls
        )
        exchange.extra.update(gateway=request.gateway or "ingress", service_port=port)
        return self._annotate(exchange)

    def _client_route(
        self, request: Request
    ) -> tuple[_Proxy, int, tuple[str, int], str, tuple[str, int] | None]:
        """A client's sidecar listener for the URL's port; where the host resolves in its pod."""
        client = next(c for c in self.loaded.case.spec.clients if c.name == request.from_)
        proxy = self._sidecars[client.name]
        proxy.envoy.check_alive()
        port = request.port
        host = urlsplit(request.url).hostname or ""
        destination = self.resolve(host, port, client.namespace)
        return (
            proxy,
            port,
            proxy.address_for(port),
            f"sidecar of {client.name} port {port}",
            destination,
        )

    def _send_from_client(self, request: Request) -> Exchange:
        """Through the client's sidecar, to where the URL's host resolves in the pod."""
        _, port, address, entry, destination = self._client_route(request)
        tls = self.client_tls(request) if request.url.startswith("https:") else None
        if destination is None:
            return _unresolved(request, address, entry, tls)
        exchange = self.target.client.send(
            request,
            address,
            entry,
            timeout=request.timeout,
            tls=tls,
            original_destination=destination,
        )
        exchange.extra.update(client=request.from_, service_port=port)
        return self._annotate(exchange)

    def _annotate(self, exchange: Exchange) -> Exchange:
        """Facts the judge needs: the CA that issued the peer's certificate; ``via``."""
        if exchange.tls is not None and exchange.tls.peer_issuer is not None:
            exchange.extra["issuer_ca"] = self._ca_named(exchange.tls.peer_issuer)
        echo = exchange.response.echo if exchange.response is not None else None
        peer = echo.get("peer") if echo is not None else None
        if isinstance(peer, str) and peer:
            ip = peer.rsplit(":", 1)[0].strip("[]")
            exchange.extra["peer"] = peer
            exchange.extra["via"] = self.target.workload_at(ip) or (
                "the harness itself (no proxy)" if ip == LOOPBACK else ip
            )
        return exchange

    def send_many(self, request: Request, count: int, concurrency: int = 1) -> list[Exchange]:
        """``count`` attempts through the bulk sender, ``concurrency`` connections at once."""
        if count == 1:
            return [self.send(request)]
        tls = self.client_tls(request) if request.url.startswith("https:") else None
        destination: tuple[str, int] | None = None
        if request.from_ is not None:
            _, port, address, entry, destination = self._client_route(request)
            if destination is None:
                return [_unresolved(request, address, entry, tls) for _ in range(count)]
            extra: dict[str, Any] = {"client": request.from_, "service_port": port}
        else:
            _, port, address, entry = self._route(request)
            extra = {"gateway": request.gateway or "ingress", "service_port": port}
        samples = self.target.bulk.send(
            request,
            address,
            count=count,
            concurrency=concurrency,
            tls=tls,
            original_destination=destination,
        )
        exchanges = [
            _sample_exchange(s, request, address, entry, tls, destination) for s in samples
        ]
        for exchange in exchanges:
            exchange.extra.update(extra)
            self._annotate(exchange)
        return exchanges

    def received(
        self,
        backend: BackendRef,
        meshgate_ids: Collection[str],
        wait: float,
        settle: float | None = None,
    ) -> dict[str, str]:
        """The requests the echo of ``backend`` logged, by ``x-meshgate-id``, with their Host."""
        wanted = set(meshgate_ids)
        now = time.monotonic()
        deadline, changed = now + wait, now
        seen: dict[str, str] = {}
        while True:
            found: dict[str, str] = {}
            for record in self.target.echo.requests():
                identity = record.identity
                if (
                    identity.service == backend.service
                    and (backend.version is None or identity.version == backend.version)
                    and (backend.namespace is None or identity.namespace == backend.namespace)
                ):
                    for meshgate_id in record.header(MESHGATE_ID_HEADER):
                        if meshgate_id in wanted:
                            found[meshgate_id] = record.host
            now = time.monotonic()
            if len(found) != len(seen):
                seen, changed = found, now
            if (
                len(seen) == len(wanted)
                or now >= deadline
                or (settle is not None and now - changed >= settle)
            ):
                return seen
            time.sleep(0.05)

    def client_tls(self, request: Request) -> ClientTLS:
        """The check's TLS settings resolved against the case's secrets.

        SNI and the name verified are the URL host unless ``tls.sni`` says
        otherwise (``none``: no SNI, and the chain alone is verified).
        """
        wanted = request.tls or RequestTLS()
        host = urlsplit(request.url).hostname or ""
        if wanted.sni is None:
            server_name: str | None = host
        else:
            server_name = None if wanted.sni == "none" else wanted.sni
        client_cert = None
        if wanted.client_cert is not None:
            material = self.secrets.materials[wanted.client_cert]
            client_cert = self.target.secrets.key_pair_files(self.loaded.name, material)
        return ClientTLS(
            server_name=server_name,
            ca_pem=self.secrets.ca_pem(wanted.ca),
            client_cert=client_cert,
            alpn=tuple(wanted.alpn) if wanted.alpn is not None else None,
            min_version=wanted.min_version,
            max_version=wanted.max_version,
            ciphers=tuple(wanted.ciphers) if wanted.ciphers is not None else None,
            http2=request.http2,
        )

    def _ca_named(self, issuer: str) -> str | None:
        """The name of the case CA whose subject is ``issuer`` (RFC 4514), if any."""
        if self._ca_subjects is None:  # parsed once per case, not per attempt
            self._ca_subjects = {
                x509.load_pem_x509_certificate(ca.cert_pem.bytes()).subject.rfc4514_string(): name
                for name, ca in self.secrets.cas.items()
            }
        return self._ca_subjects.get(issuer)

    def explain(self, exchange: Exchange) -> str:
        client = exchange.extra.get("client")
        if client is not None:
            proxy = self._sidecars.get(client)
            title = f"sidecar of {client}"
        else:
            proxy = self._entries.get(exchange.extra.get("gateway", ""))
            title = proxy.workload.name if proxy is not None else ""
        if proxy is None:
            return ""
        lines = [f"access log of {title}:"]
        record = access_log_record(proxy.access_log_path, exchange.request.meshgate_id)
        if record is None:
            lines.append("  (no line for this request: it never reached an HTTP listener)")
        else:
            lines.append("  " + format_access_record(record))
        if client is not None:
            # Where the request went next: the gateways' lines for it, if any.
            for other in self._entries.values():
                hop = access_log_record(
                    other.access_log_path, exchange.request.meshgate_id, wait=0.2
                )
                if hop is not None:
                    lines.append(f"then {other.workload.name}:")
                    lines.append("  " + format_access_record(hop))
        if "via" in exchange.extra:
            lines.append(
                f"the backend's connection came from {exchange.extra['via']} "
                f"(peer {exchange.extra.get('peer')})"
            )
        table = route_table(proxy, int(exchange.extra["service_port"]), host_of(exchange))
        if table:
            lines += ["", *table]
        return "\n".join(lines)

    def teardown(self) -> None:
        if self._torn_down:
            return
        self._torn_down = True
        for handle in self._listeners:
            handle.close()
        self._listeners.clear()


def _unresolved(
    request: Request, address: tuple[str, int], entry: str, tls: ClientTLS | None
) -> Exchange:
    """A mesh client's attempt at a host its pod cannot resolve: it never leaves the pod."""
    host = urlsplit(request.url).hostname or ""
    sent = SentRequest(
        method=request.method,
        url=request.url,
        headers=(),
        body=request.body,
        address=address,
        entry=entry,
        meshgate_id="-",
        tls=tls,
    )
    return Exchange(sent, None, "error", f"{host}: no such host (nothing in the mesh or outside)")


def _sample_exchange(
    sample: Any,
    request: Request,
    address: tuple[str, int],
    entry: str,
    tls: ClientTLS | None,
    original_destination: tuple[str, int] | None = None,
) -> Exchange:
    """A bulk sender's ``Sample`` as the ``Exchange`` the judge reads."""
    sent = SentRequest(
        method=request.method,
        url=request.url,
        headers=tuple(request.headers.items()),
        body=request.body,
        address=address,
        entry=entry,
        meshgate_id=sample.meshgate_id,
        tls=tls,
        http2=request.http2,
        original_destination=original_destination,
    )
    if sample.status is None:
        outcome = sample.connection or "error"
        return Exchange(sent, None, outcome, sample.error or outcome, sample.elapsed)
    record = ResponseRecord(
        status=sample.status,
        reason="",
        # The bulk sender speaks what the request asks for.
        http_version="HTTP/2" if request.http2 else "HTTP/1.1",
        headers=tuple(sample.headers),
        body=sample.body,
    )
    return Exchange(sent, record, elapsed=sample.elapsed)


def _service_names(service: Service) -> list[str]:
    """The DNS names a backend's certificate carries, as a Kubernetes Service has them."""
    if service.external:
        return [service.name]
    ns = service.namespace
    return [
        f"{service.name}.{ns}.svc.{DOMAIN_SUFFIX}",
        service.name,
        f"{service.name}.{ns}",
        f"{service.name}.{ns}.svc",
    ]


def _pod_suffix(*parts: str) -> str:
    # Stable, Kubernetes-looking pod names ("reviews-v1-5f7c9d"), so messages are reproducible.
    return hashlib.sha1("/".join(parts).encode()).hexdigest()[:6]
