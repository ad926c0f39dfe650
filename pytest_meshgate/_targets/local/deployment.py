"""One case deployed on the local target: its backends, its configured proxies, its requests.

``LocalDeployment`` composes the case's echo backends and registry
(``backends``), its pod DNS and entries (``addressing``) and its sender
(``sending``), and translates the case for each proxy it configures.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Collection, Mapping
from functools import partial
from pathlib import Path
from typing import Any, Protocol

import pytest

from ..._cases.loader import LoadedCase
from ..._cases.model.expect import BackendRef
from ..._cases.model.istio import RequestAuthentication
from ..._cases.model.meshconfig import parse_proxy_config
from ..._cases.model.request import Request
from ..._cases.model.workloads import (
    PROXY_CONFIG_ANNOTATION,
    Client,
    GatewayWorkload,
    Service,
    port_protocol,
    sidecar_injected,
)
from ..._durations import parse_duration
from ..._exchange.records import (
    AccessLogLine,
    ClientTLS,
    Credential,
    Exchange,
    MetricSnapshot,
    SeriesKey,
)
from ..accesslog import LogFormat
from ..base import Deployment
from ..jwtkeys import CaseJwtKeys
from ..secrets import CaseSecrets, SecretStore
from .addressing import PodDNS, Router
from .backends import CaseBackends, case_config_maps
from .explain import explain_exchange, istio_access_log_line, istio_server_log_line
from .gatewayapi import Conversion, ConversionInputs, ObjectStatus
from .gatewayapi import convert as convert_gateway_api
from .gatewayapi.deployment import gateway_workload
from .jwks import IstiodJwksFetcher, JwksServer
from .mesh_identity import MeshCA, gateway_service_account
from .proxy import LocalProxy
from .sending import Sender, Transport, ca_subjects, client_tls, received
from .stats import ProxyIdentity, SampleCache, read_samples, unsupported_expression
from .translate.accesslog import istio_log_files
from .translate.sidecar.inbound import pod_proxy, server_access_logs
from .translate.stats import MetricsConfig, istio_metrics_config
from .world import GatewayProxy, MeshIdentity, ServicePortInfo, World

__all__ = ["LocalDeployment", "LocalSession"]


class LocalSession(Transport, Protocol):
    """What a deployment borrows from the local target's session."""

    @property
    def secrets(self) -> SecretStore: ...

    @property
    def mesh_ca(self) -> MeshCA: ...

    @property
    def echo(self) -> Any: ...  # EchoServer, started on first use

    @property
    def public_roots_file(self) -> str: ...

    @property
    def jwks_server(self) -> JwksServer: ...  # started on first use

    def apply_config(self, proxy: LocalProxy, config: Any) -> None: ...


def _downstream_of(path: Path, upstream_local: str) -> str | None:
    """The downstream address of the inbound sidecars' connection that reached the app
    from ``upstream_local`` (their stats log has both; a TCP line comes at close)."""
    try:
        lines = path.read_text(encoding="utf-8", errors="replace").splitlines()
    except OSError:
        return None
    for line in lines:
        if upstream_local not in line:
            continue
        try:
            record = json.loads(line)
        except ValueError:
            continue
        remote = record.get("downstream_remote_address")
        if record.get("upstream_local_address") == upstream_local and isinstance(remote, str):
            return remote if remote and remote != "-" else None
    return None


def _of_pod(pod: str) -> Callable[[Mapping[str, Any]], bool]:
    def select(record: Mapping[str, Any]) -> bool:
        return record.get("pod") == pod

    return select


class LocalDeployment(Deployment):
    """One case on the local target: its echo listeners and the gateways it configured."""

    def __init__(self, target: LocalSession, loaded: LoadedCase) -> None:
        self.target = target
        self.loaded = loaded
        self.backends = CaseBackends(loaded.name)
        self.secrets = CaseSecrets({}, {})
        # Generated per deployment, in memory: tokens are minted per attempt.
        self.jwt_keys = CaseJwtKeys.generate(loaded.case)
        self.dns = PodDNS(self.backends, self.world)
        self.router = Router(loaded.case.spec.clients, self.dns)
        self.sender = Sender(target, self.router, self.client_tls, self._ca_named)
        self._ca_subjects: dict[str, str] | None = None
        self._gateway_api: Conversion | None = None
        self._torn_down = False
        self.inbound_sidecars = False  # whether injected pods run behind inbound sidecars
        self._inbound_proxy: LocalProxy | None = None
        # Per injected pod: its server-side MetricsConfig and what its lines counted to.
        self._pod_metrics: dict[str, tuple[MetricsConfig, SampleCache]] = {}
        # Per injected pod: the files of the access logs of its inbound listeners.
        self._pod_logs: dict[str, tuple[tuple[str, LogFormat], ...]] = {}
        # What the translation of each proxy warned about (deployment_warnings).
        self._warnings: list[str] = []
        # The ports each client's sidecar captures besides the registry's (serves).
        self._captured: dict[str, tuple[int, ...]] = {}
        self._jwks: dict[str, str] | None = None  # istiod's key sets (_istiod_jwks)

    # ---------------------------------------------------------------- backends

    def start_backends(self, inbound: LocalProxy | None = None) -> None:
        """The case's echo pods; with the ``inbound`` sidecars' Envoy, injected ones behind it."""
        self.secrets = self.target.secrets.for_case(self.loaded.case)
        resources = self.loaded.resources
        self.inbound_sidecars = inbound is not None

        if inbound is not None:
            for service in self.loaded.case.spec.services:
                if service.headless or service.selector is not None:
                    # Their endpoints are pod IPs (ORIGINAL_DST) or other services'
                    # pods, which the shared inbound Envoy does not front yet.
                    kind = "headless" if service.headless else "selector"
                    pytest.skip(
                        "target 'local' lacks capability: inbound sidecars (mesh mutual TLS) "
                        f"in front of a {kind} Service ({service.name})"
                    )

        def sidecar_identity(service: Service) -> MeshIdentity | None:
            if inbound is None:
                return None
            if not sidecar_injected(service.sidecar, service.namespace, resources):
                return None
            return self.target.mesh_ca.identity(service.namespace, service.account)

        self.backends.start(
            self.loaded.case.spec.services,
            lambda: self.target.echo,
            self.secrets,
            self.target.secrets,
            sidecar_identity,
            inbound.bind if inbound is not None else None,
        )

    def configure_inbound(
        self, proxy: LocalProxy, world: World, senders: tuple[LocalProxy, ...]
    ) -> None:
        """The inbound sidecars of the case's injected pods, all on ``proxy``; ``senders``
        are the case's other proxies, whose source address reaches the echo unchanged."""
        from .translate import UnsupportedFeature, recorded_warnings
        from .translate.sidecar.inbound import translate_inbound

        for workload in self.backends.inbound:
            # Each pod's container log (Envoy creates files, not directories).
            pod = pod_proxy(workload, str(proxy.access_log_path))
            assert pod.log_dir is not None
            Path(pod.log_dir, "files").mkdir(parents=True, exist_ok=True)
        try:
            with recorded_warnings() as warnings:
                config = translate_inbound(
                    world,
                    tuple(self.backends.inbound),
                    str(proxy.access_log_path),
                    tuple(sorted({p.source_address for p in senders} - {proxy.source_address})),
                )
        except UnsupportedFeature as exc:
            pytest.skip(f"target 'local' lacks capability: {exc}")
        self._note("inbound sidecars", warnings)
        self.target.apply_config(proxy, config)
        self._inbound_proxy = proxy
        for workload in self.backends.inbound:
            # Each pod's server-side stats config (its own Telemetry selection).
            pod = pod_proxy(workload, str(proxy.access_log_path))
            config_of_pod = istio_metrics_config(world, pod, mode="SERVER")
            self._skip_unsupported(config_of_pod.expressions())
            self._pod_metrics[workload.pod] = (config_of_pod, SampleCache())
            # The same logs the translation gave the pod's inbound listeners.
            pod, logs = server_access_logs(world, workload, str(proxy.access_log_path))
            self._pod_logs[workload.pod] = tuple((e.file_on_disk(pod), e.log_format) for e in logs)

    def add_gateway_services(self, proxies: Mapping[str, LocalProxy]) -> None:
        """Each gateway's Kubernetes Service (see ``CaseBackends.add_gateway_services``)."""
        self.backends.add_gateway_services(proxies)

    def gateway_api(self) -> Conversion:
        """The case's Gateway API resources as Istio converts them (after ``start_backends``)."""
        if self._gateway_api is None:
            spec = self.loaded.case.spec
            namespaces = sorted(
                {s.namespace for s in spec.services}
                | {c.namespace for c in spec.clients}
                | {s.namespace for s in spec.secrets if s.namespace}
            )
            self._gateway_api = convert_gateway_api(
                ConversionInputs(
                    resources=self.loaded.resources,
                    services=tuple(self.backends.services),
                    secrets=self.secrets.kubernetes_secrets(),
                    config_maps=case_config_maps(self.loaded.resources, self.secrets),
                    extra_namespaces=namespaces,
                )
            )
        return self._gateway_api

    def gateway_workloads(self) -> dict[str, GatewayWorkload]:
        """The automated deployment of each Gateway API Gateway, by ``namespace/name``."""
        return {g.gateway.key: gateway_workload(g) for g in self.gateway_api().gateways}

    def world(self) -> World:
        resources = self.loaded.resources
        if self._gateway_api is not None:
            resources = (*resources, *self._gateway_api.resources)
        return self.backends.world(
            resources,
            self.secrets,
            self.target.public_roots_file,
            self.loaded.case.spec.mesh_config,
            jwks=self._istiod_jwks(),
        )

    def _istiod_jwks(self) -> dict[str, str]:
        """The key sets istiod inlines into the proxies, once per deployment (its push):
        ``key:<name>`` for an inline ``${jwks:<name>}``, and each RequestAuthentication
        ``jwksUri`` that istiod's fetch from the JWKS server answered with a JWKS
        (``jwks.py``). A failed fetch leaves its URI out, so the translation inlines
        the fail-closed key set, and is noted as istiod logs it."""
        if self._jwks is not None:
            return self._jwks
        jwks = self.jwt_keys.inline()
        wanted: dict[str, tuple[str, float]] = {}
        for resource in self.loaded.resources:
            if isinstance(resource, RequestAuthentication):
                for rule in resource.spec.jwt_rules:
                    if rule.jwks_uri and not rule.jwks and rule.jwks_uri not in wanted:
                        timeout = parse_duration(rule.timeout) if rule.timeout else 5.0
                        wanted[rule.jwks_uri] = (rule.issuer, timeout)
        notes: list[str] = []
        if wanted:
            server = self.target.jwks_server
            with server.serving(self.jwt_keys.served()) as served:
                fetcher = IstiodJwksFetcher(server, served)
                for uri, (issuer, timeout) in wanted.items():
                    result = fetcher.fetch(uri, timeout)
                    if result.jwks is not None:
                        jwks[uri] = result.jwks
                    else:
                        notes.append(
                            f"JWKS fetch failed for issuer {issuer} ({uri}): {result.error}; "
                            "using public-only JWKS with discarded private key - JWT "
                            "requests will be rejected"
                        )
        self._note("istiod", notes)
        self._jwks = jwks
        return jwks

    def status(self) -> list[ObjectStatus]:
        """The status conditions Istio's controller would write for the case's resources."""
        return list(self.gateway_api().status)

    # ---------------------------------------------------------------- proxies

    def gateway_proxy(self, proxy: LocalProxy) -> GatewayProxy:
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
            log_dir=str(proxy.log_dir),
            source_address=proxy.source_address,
            mesh_identity=self.target.mesh_ca.identity(
                workload.namespace, gateway_service_account(workload.name)
            ),
            num_trusted_proxies=self._trusted_proxies(workload),
            peer_exchange=self.inbound_sidecars,
        )

    def _trusted_proxies(self, workload: GatewayWorkload) -> int:
        """``gatewayTopology.numTrustedProxies``: the pod's ``proxy.istio.io/config``
        over the mesh's ``defaultConfig``, as Istio merges a proxy's ProxyConfig."""
        topology = self.loaded.case.spec.mesh_config.default_config.gateway_topology
        annotation = workload.annotations.get(PROXY_CONFIG_ANNOTATION)
        if annotation is not None:
            own = parse_proxy_config(annotation).gateway_topology
            if own is not None and "num_trusted_proxies" in own.model_fields_set:
                topology = own
        return topology.num_trusted_proxies if topology is not None else 0

    def configure(self, short_name: str, proxy: LocalProxy, world: World) -> None:
        from .translate import UnsupportedFeature, recorded_warnings, translate_gateway

        gateway = self.gateway_proxy(proxy)
        (proxy.log_dir / "files").mkdir(parents=True, exist_ok=True)
        try:
            with recorded_warnings() as warnings:
                config = translate_gateway(world, gateway)
        except UnsupportedFeature as exc:
            pytest.skip(f"target 'local' lacks capability: {exc}")
        self._note(proxy.workload.name, warnings)
        proxy.istio_logs = istio_log_files(world, gateway)
        self._prepare_metrics(proxy, world, gateway)
        self.target.apply_config(proxy, config)
        self.router.gateways[short_name] = proxy

    def configure_sidecar(
        self, client: Client, proxy: LocalProxy, world: World, capture_ports: tuple[int, ...]
    ) -> None:
        """A client's sidecar: outbound listeners for the registry's ports and ``capture_ports``.

        A client without a sidecar (``sidecar_injected``) gets the network of a
        plain pod instead: plaintext, straight to a pod of the Service.
        """
        from .translate import UnsupportedFeature, recorded_warnings, translate_sidecar
        from .translate.sidecar.plaintext import translate_without_sidecar

        injected = sidecar_injected(client.sidecar, client.namespace, self.loaded.resources)

        sidecar = GatewayProxy(
            name=client.name,
            namespace=client.namespace,
            labels=client.pod_labels,
            service_ports=(),
            bind=proxy.bind,
            access_log_path=str(proxy.access_log_path),
            log_dir=str(proxy.log_dir),
            source_address=proxy.source_address,
            sidecar=True,
            capture_ports=capture_ports,
            # The client runs as its service account (by default named after it).
            mesh_identity=self.target.mesh_ca.identity(client.namespace, client.account)
            if injected
            else None,
            peer_exchange=self.inbound_sidecars and injected,
        )
        (proxy.log_dir / "files").mkdir(parents=True, exist_ok=True)
        try:
            with recorded_warnings() as warnings:
                if injected:
                    config = translate_sidecar(world, sidecar)
                else:
                    config = translate_without_sidecar(world, sidecar)
        except UnsupportedFeature as exc:
            pytest.skip(f"target 'local' lacks capability: {exc}")
        self._note(f"sidecar of {client.name}", warnings)
        proxy.istio_logs = istio_log_files(world, sidecar)
        self._prepare_metrics(proxy, world, sidecar)
        self.target.apply_config(proxy, config)
        self.router.sidecars[client.name] = proxy
        self._captured[client.name] = capture_ports

    def _note(self, proxy: str, warnings: list[str]) -> None:
        for warning in warnings:
            line = f"{proxy}: {warning}"
            if line not in self._warnings:
                self._warnings.append(line)

    def deployment_warnings(self) -> tuple[str, ...]:
        """What translating the case for each proxy warned about, prefixed by the proxy."""
        return tuple(self._warnings)

    # ---------------------------------------------------------------- requests

    def resolve(self, host: str, port: int, namespace: str) -> tuple[str, int] | None:
        """Where a pod in ``namespace`` connects for ``host:port`` (see ``PodDNS.resolve``)."""
        return self.dns.resolve(host, port, namespace)

    def serves(self, request: Request) -> bool:
        """Whether the proxy ``request`` enters by was configured: the case's checks decide
        which gateways and sidecar ports run."""
        if request.from_ is not None:
            return request.from_ in self.router.sidecars and request.port in self._captured.get(
                request.from_, ()
            )
        return (request.gateway or "ingress") in self.router.gateways

    def send(self, request: Request) -> Exchange:
        return self.sender.send(self.jwt_keys.with_token(request))

    def send_many(self, request: Request, count: int, concurrency: int = 1) -> list[Exchange]:
        """``count`` attempts through the bulk sender, ``concurrency`` connections at once
        (one minted token for the batch, if the check asks for one)."""
        return self.sender.send_many(self.jwt_keys.with_token(request), count, concurrency)

    def received(
        self,
        backend: BackendRef,
        meshgate_ids: Collection[str],
        wait: float,
        settle: float | None = None,
    ) -> dict[str, str]:
        """The requests the echo of ``backend`` logged, by ``x-meshgate-id``, with their Host."""
        return received(self.target.echo, backend, meshgate_ids, wait, settle)

    def client_tls(self, request: Request) -> ClientTLS:
        """The check's TLS settings resolved against the case's secrets (see ``client_tls``)."""
        return client_tls(request, self.secrets)

    def _ca_named(self, issuer: str) -> str | None:
        """The name of the case CA whose subject is ``issuer`` (RFC 4514), if any."""
        if self._ca_subjects is None:  # parsed once per case, not per attempt
            self._ca_subjects = ca_subjects(self.secrets)
        return self._ca_subjects.get(issuer)

    def credentials(self) -> dict[str, Credential]:
        return self.secrets.credentials()

    def ca_pem(self, name: str = "default") -> bytes:
        return self.secrets.ca_pem(name)

    def gateway_address(self, port: int, gateway: str | None = None) -> tuple[str, int]:
        """The loopback listener of the gateway's Envoy for that Service port."""
        proxy = self.router.gateways.get(gateway or "ingress")
        if proxy is None:
            known = ", ".join(sorted(self.router.gateways)) or "none"
            raise KeyError(f"no gateway {gateway!r} in this case (gateways: {known})")
        return proxy.address_for(port)

    def explain(self, exchange: Exchange) -> str:
        return explain_exchange(exchange, self.router.gateways, self.router.sidecars)

    def access_log(self, proxy: str, exchange: Exchange, expect_line: bool) -> AccessLogLine:
        """The request's line in the access log Istio configured on ``proxy`` (found by
        the x-request-id that proxy logged in the harness's own log); a service's in
        the logs of its pods' inbound sidecars."""
        service = self.loaded.case.spec.service_proxy(proxy)
        if service is not None:
            return self._service_access_log(proxy, service, exchange, expect_line)
        local = self.router.gateways.get(proxy) or self.router.sidecars.get(proxy)
        if local is None:
            return AccessLogLine(proxy, None, note="that proxy does not run in this case")
        echo = exchange.response.echo if exchange.response is not None else None
        peer = echo.get("peer") if isinstance(echo, dict) else None
        inbound = self._inbound_proxy
        return istio_access_log_line(
            proxy,
            local,
            exchange.request.meshgate_id,
            expect_line,
            str(peer) if peer else None,
            partial(_downstream_of, inbound.stats_log_path) if inbound is not None else None,
        )

    def _service_pods(self, service: Service) -> list[str]:
        """The pods of ``service`` behind inbound sidecars in this case."""
        return [
            w.pod
            for w in self.backends.inbound
            if w.service == service.name and w.namespace == service.namespace
        ]

    def _service_access_log(
        self, proxy: str, service: Service, exchange: Exchange, expect_line: bool
    ) -> AccessLogLine:
        pods = self._service_pods(service)
        if self._inbound_proxy is None or not pods:
            return AccessLogLine.unavailable(
                proxy, f"the pods of {service.name} have no sidecar in this case"
            )
        client = exchange.extra.get("client")
        if client is not None:
            entry = self.router.sidecars.get(str(client))
        else:
            entry = self.router.gateways.get(str(exchange.extra.get("gateway", "")))
        logs = tuple(f for pod in pods for f in self._pod_logs.get(pod, ()))
        echo = exchange.response.echo if exchange.response is not None else None
        peer = echo.get("peer") if isinstance(echo, dict) else None
        return istio_server_log_line(
            proxy,
            entry,
            exchange.request.meshgate_id,
            logs,
            expect_line,
            str(peer) if peer else None,
        )

    def _prepare_metrics(self, proxy: LocalProxy, world: World, gateway: GatewayProxy) -> None:
        """What ``metrics`` counts this proxy's stats log with; a skip for a tag
        expression the local proxies cannot evaluate."""
        config = istio_metrics_config(world, gateway)
        self._skip_unsupported(config.expressions())
        proxy.metrics_config = config
        proxy.stats_identity = ProxyIdentity(
            gateway.name, gateway.namespace, dict(gateway.labels), gateway=not gateway.sidecar
        )

    @staticmethod
    def _skip_unsupported(expressions: list[str]) -> None:
        for expression in expressions:
            problem = unsupported_expression(expression)
            if problem is not None:
                pytest.skip(f"target 'local' lacks capability: {problem}")

    def _service_metrics(self, proxy: str, service: Service) -> MetricSnapshot:
        """The samples of the sidecars of ``service``'s pods (their destination reporter),
        summed, from the inbound sidecars' stats log (its lines name their pod)."""
        pods = set(self._service_pods(service))
        if self._inbound_proxy is None or not pods:
            return MetricSnapshot.unavailable(
                proxy, f"the pods of {service.name} have no sidecar in this case"
            )
        path = self._inbound_proxy.stats_log_path
        total: dict[SeriesKey, float] = {}
        for workload in (w for w in self.backends.inbound if w.pod in pods):
            config, cache = self._pod_metrics[workload.pod]
            if not config.enabled:
                continue
            identity = ProxyIdentity(workload.workload, workload.namespace, workload.labels, False)
            samples = read_samples(path, identity, config, cache, select=_of_pod(workload.pod))
            for key, value in samples.items():
                total[key] = total.get(key, 0.0) + value
        return MetricSnapshot(proxy, total)

    def metrics(self, proxy: str) -> MetricSnapshot:
        """The samples Istio's stats filter would hold at ``proxy``, counted from its
        stats log (``local.stats``); a service's from its pods' inbound sidecars."""
        service = self.loaded.case.spec.service_proxy(proxy)
        if service is not None:
            return self._service_metrics(proxy, service)
        local = self.router.gateways.get(proxy) or self.router.sidecars.get(proxy)
        if local is None or local.stats_identity is None:
            return MetricSnapshot.unavailable(proxy, "that proxy does not run in this case")
        if not local.metrics_config.enabled:
            # No stats filter: the endpoint serves no istio_* samples at all.
            return MetricSnapshot(proxy, {}, note="Telemetry disables its metrics")
        if local.stats_cache is None:
            local.stats_cache = SampleCache()
        samples = read_samples(
            local.stats_log_path, local.stats_identity, local.metrics_config, local.stats_cache
        )
        return MetricSnapshot(proxy, samples)

    def teardown(self) -> None:
        if self._torn_down:
            return
        self._torn_down = True
        self.backends.close()
