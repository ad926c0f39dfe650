"""One case's echo workloads and the mesh service registry they form.

Every version (and replica) of a case service is an echo "pod" with one
loopback listener per port. Inside the mesh a service is a ``MeshService``
with a ClusterIP and those endpoints; an external service is no Kubernetes
Service: its names (and addresses) lead straight to its listeners for whoever
resolves them outside the mesh. The gateways join the registry as Services
too, when mesh clients may address them.

The Service kinds, as Istio's Kubernetes registry converts them
(``pilot/pkg/serviceregistry/kube/conversion.go`` ``ConvertService``): a
headless Service (``clusterIP: None``) has no VIP and resolution ``NONE``
(Istio's ``Passthrough``), its pods each an IP of their own and, as a
StatefulSet's, a DNS name ``<pod>.<service>.<ns>.svc.cluster.local``; an
ExternalName Service is an ``ALIAS`` of its ``externalName``, with no pods; a
``selector`` Service has the pods of other services, its ports onto their
container ports.
"""

from __future__ import annotations

import hashlib
import ssl
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from ..._cases.model.kubernetes import KubernetesConfigMap
from ..._cases.model.meshconfig import MeshConfig
from ..._cases.model.workloads import (
    CLUSTER_IP_RANGE,
    H2C_APP_PROTOCOL,
    HEADLESS_POD_IP_RANGE,
    Service,
    ServicePort,
    headless_pod_name,
    nth_address,
    port_protocol,
)
from ..._exchange.tlskeys import load_key_pair
from ..secrets import CaseSecrets, SecretStore, common_name_for
from .mesh_identity import gateway_service_account, spiffe_id
from .proxy import LOOPBACK, LocalProxy
from .world import (
    DOMAIN_SUFFIX,
    Endpoint,
    InboundPort,
    InboundWorkload,
    MeshIdentity,
    MeshService,
    ServicePortInfo,
    World,
)

__all__ = [
    "CaseBackends",
    "PodAddress",
    "backend_tls",
    "pod_name",
    "service_fqdn",
    "service_names",
]


@dataclass(frozen=True)
class PodAddress:
    """One echo pod: where it runs and, per container port, where it listens."""

    namespace: str
    labels: Mapping[str, str]
    ip: str
    listeners: Mapping[int, tuple[str, int]]  # container port -> (ip, port) listening
    account: str  # its SPIFFE identity

    def connect_address(self, port: int) -> tuple[str, int]:
        """Where ``<pod ip>:<port>`` leads: its listener on that container port, else the
        port on its IP, where nothing of the case listens."""
        return self.listeners.get(port, (self.ip, port))


def service_fqdn(service: Service) -> str:
    """``<name>.<namespace>.svc.cluster.local``."""
    return f"{service.name}.{service.namespace}.svc.{DOMAIN_SUFFIX}"


def _port_info(port: ServicePort) -> ServicePortInfo:
    return ServicePortInfo(port.name, port.port, port.target_port or port.port, port.protocol)


class CaseBackends:
    """The echo listeners of one case and the registry (``services``, ``network``) they form."""

    def __init__(self, case_name: str) -> None:
        self.case_name = case_name
        self.listeners: list[Any] = []
        self.services: list[MeshService] = []
        # Outside the mesh: (DNS name or IP, port) -> external echo addresses.
        self.network: dict[tuple[str, int], list[tuple[str, int]]] = {}
        # The case's pods, in the order they started; a headless service's by host
        # (<pod>.<service>.<ns>.svc.cluster.local) and by service FQDN; ExternalName
        # Services' FQDN -> externalName (a DNS CNAME).
        self.pods: list[PodAddress] = []
        self.pod_hosts: dict[str, PodAddress] = {}
        self.headless_pods: dict[str, list[PodAddress]] = {}
        self.aliases: dict[str, str] = {}
        self._pod_ips: set[str] = set()
        # Pods whose inbound traffic crosses their sidecar (mesh mTLS modelled).
        self.inbound: list[InboundWorkload] = []

    def start(
        self,
        services: Sequence[Service],
        echo: Callable[[], Any],
        secrets: CaseSecrets,
        store: SecretStore,
        sidecars: Callable[[Service], MeshIdentity | None] = lambda service: None,
        inbound_address: Callable[[int], tuple[str, int]] | None = None,
    ) -> None:
        """An echo listener per pod and port of ``services``, each entered in the registry.

        ``echo`` gives the session's echo server (started on first use, so a
        case without services starts none); ``secrets`` are the case's TLS
        material, ``store`` the session's (its default CA). Services that run
        no pods of their own (a ``selector`` over other services' pods, an
        ExternalName alias) join the registry after those that do.

        ``sidecars`` gives the mesh identity of a service whose pods have an
        inbound sidecar (None: none): their endpoints are then the sidecar's
        listeners, which ``inbound`` lists for the inbound Envoy, each at
        ``inbound_address(n)`` for the n-th listener of the case (the inbound
        Envoy's ports, kept from case to case so that few new ones are taken).
        """
        for service in services:
            if service.runs_pods:
                identity = None if service.external else sidecars(service)
                self._start_pods(service, echo, secrets, store, identity, inbound_address)
        for service in services:
            if service.selector is not None:
                self._add_selector_service(service, echo)
            elif service.external_name is not None:
                self.aliases[service_fqdn(service)] = service.external_name
                self.services.append(
                    MeshService(
                        service_fqdn(service),
                        service.namespace,
                        tuple(_port_info(p) for p in service.ports),
                        (),
                        resolution="ALIAS",
                        alias_for=service.external_name,
                    )
                )

    def _start_pods(
        self,
        service: Service,
        echo: Callable[[], Any],
        secrets: CaseSecrets,
        store: SecretStore,
        identity_of_pods: MeshIdentity | None = None,
        inbound_address: Callable[[int], tuple[str, int]] | None = None,
    ) -> None:
        from ..echo import EchoFault, EchoIdentity

        endpoints: list[Endpoint] = []
        for version, replica in ((v, i) for v in service.versions for i in range(service.replicas)):
            pod = pod_name(self.case_name, service, version, replica)
            # A headless service's pods are reached by their own IP (ORIGINAL_DST): each
            # gets a loopback address of its own; other pods share the loopback address.
            ip = self._next_pod_ip() if service.headless else LOOPBACK
            bad = service.misbehaviour(version, replica)
            misbehaviour = (
                EchoFault(
                    status=bad.status,
                    delay=bad.delay or 0.0,
                    reset=bad.reset,
                    refuse=bad.refuse,
                    blackhole=bad.blackhole,
                )
                if bad is not None
                else None
            )
            addresses: dict[int, tuple[str, int]] = {}
            by_container_port: dict[int, tuple[str, int]] = {}
            inbound: list[InboundPort] = []
            for port in service.ports:
                container = port.target_port or port.port
                identity = EchoIdentity(
                    service=service.name,
                    namespace=service.namespace,
                    version=version,
                    pod=pod,
                    port_name=port.name,
                    container_port=container,
                )
                context = backend_tls(service, port, secrets, store)
                handle = echo().listen(
                    identity,
                    host=ip,
                    ssl_context=context,
                    misbehaviour=misbehaviour,
                    # The Gateway API's base manifests put echo-basic's h2c server (which
                    # refuses HTTP/1) behind an appProtocol kubernetes.io/h2c port.
                    h2c_only=context is None and port.app_protocol == H2C_APP_PROTOCOL,
                )
                self.listeners.append(handle)
                addresses[port.port] = handle.address
                by_container_port.setdefault(container, handle.address)
                if identity_of_pods is not None:
                    assert inbound_address is not None
                    listen = inbound_address(sum(len(w.ports) for w in self.inbound) + len(inbound))
                    inbound.append(InboundPort(_port_info(port), listen, handle.address))
                    addresses[port.port] = listen
            labels = {"app": service.name, "version": version, **service.labels}
            endpoints.append(
                Endpoint(
                    labels,
                    addresses,
                    f"{service.name}-{version}",
                    pod_ip=ip if service.headless else None,
                    sidecar=identity_of_pods is not None,
                    namespace=service.namespace,
                )
            )
            if identity_of_pods is not None:
                self.inbound.append(
                    InboundWorkload(
                        pod,
                        service.namespace,
                        labels,
                        identity_of_pods,
                        tuple(inbound),
                        workload=f"{service.name}-{version}",
                        service=service.name,
                    )
                )
            if service.external:
                continue  # no pod of the cluster: no Service selects it
            pod_address = PodAddress(
                service.namespace,
                labels,
                ip,
                by_container_port,
                spiffe_id(service.namespace, service.account),
            )
            self.pods.append(pod_address)
            if service.headless:
                # StatefulSet pods: hostname <pod>, subdomain <service> (Kubernetes DNS).
                self.pod_hosts[f"{pod}.{service_fqdn(service)}"] = pod_address
        if service.external:
            # Not a Kubernetes Service: its name (and addresses) lead to its echo
            # servers for whoever resolves them outside the mesh.
            for endpoint in endpoints:
                for port_number, address in endpoint.addresses.items():
                    for name in (service.name, *service.addresses):
                        self.network.setdefault((name, port_number), []).append(address)
            return
        hostname = service_fqdn(service)
        if service.headless:
            self.headless_pods[hostname] = list(self.pods[-len(endpoints) :])
        # Each echo workload runs as its service account (by default named after its service).
        accounts = (spiffe_id(service.namespace, service.account),)
        self.services.append(
            MeshService(
                hostname,
                service.namespace,
                tuple(_port_info(p) for p in service.ports),
                tuple(endpoints),
                address=None if service.headless else self._next_vip(),
                resolution="NONE" if service.headless else "STATIC",
                service_accounts=accounts,
            )
        )

    def _add_selector_service(self, service: Service, echo: Callable[[], Any]) -> None:
        """A Service over other services' pods: its ports onto their container ports.

        A pod that does not listen on a port's targetPort refuses the connection,
        as a real pod would.
        """
        from ..echo import EchoFault, EchoIdentity

        selector = service.selector or {}
        chosen = [
            pod
            for pod in self.pods
            if pod.namespace == service.namespace
            and all(pod.labels.get(k) == v for k, v in selector.items())
        ]
        endpoints: list[Endpoint] = []
        for pod in chosen:
            addresses: dict[int, tuple[str, int]] = {}
            for port in service.ports:
                container = port.target_port or port.port
                address = pod.listeners.get(container)
                if address is None:
                    refusing = echo().listen(
                        EchoIdentity(service=service.name, namespace=service.namespace),
                        host=pod.ip,
                        misbehaviour=EchoFault(refuse=True),
                    )
                    self.listeners.append(refusing)
                    address = refusing.address
                addresses[port.port] = address
            workload = f"{pod.labels.get('app')}-{pod.labels.get('version')}"
            pod_ip = pod.ip if service.headless and pod.ip != LOOPBACK else None
            endpoints.append(Endpoint(dict(pod.labels), addresses, workload, pod_ip=pod_ip))
        hostname = service_fqdn(service)
        if service.headless:
            self.headless_pods[hostname] = chosen
        self.services.append(
            MeshService(
                hostname,
                service.namespace,
                tuple(_port_info(p) for p in service.ports),
                tuple(endpoints),
                address=None if service.headless else self._next_vip(),
                resolution="NONE" if service.headless else "STATIC",
                service_accounts=tuple(sorted({pod.account for pod in chosen})),
            )
        )

    def _next_pod_ip(self) -> str:
        # Pod IPs of headless services: loopback 127.97.0.0/16, one per pod of the case
        # (listening on free ports there, so cases never collide).
        index = len(self._pod_ips) + 1
        ip = nth_address(HEADLESS_POD_IP_RANGE, index)
        self._pod_ips.add(ip)
        return ip

    def _next_vip(self) -> str:
        # ClusterIPs: never connected to (routes pick endpoints), only matched
        # (sidecar destination-IP filter chains, the Host of a request by IP).
        # They are loopback addresses (127.96.0.0/16), so a passthrough to one
        # is refused on this machine instead of leaving it.
        index = len(self.services) + 10
        return nth_address(CLUSTER_IP_RANGE, index, first=0)

    def add_gateway_services(self, proxies: Mapping[str, LocalProxy]) -> None:
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
            self.services.append(
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

    def world(
        self,
        resources: tuple[Any, ...],
        secrets: CaseSecrets,
        system_ca_file: str,
        mesh_config: MeshConfig | None = None,
        jwks: Mapping[str, str] | None = None,
    ) -> World:
        """What the translation sees: the case's resources, secrets and mesh config, and
        this registry."""
        return World(
            mesh_config=mesh_config,
            resources=resources,
            services=tuple(self.services),
            secrets=secrets.kubernetes_secrets(),
            config_maps=case_config_maps(resources, secrets),
            network={key: tuple(value) for key, value in self.network.items()},
            system_ca_file=system_ca_file,
            jwks=dict(jwks or {}),
        )

    def close(self) -> None:
        for handle in self.listeners:
            handle.close()
        self.listeners.clear()


def case_config_maps(
    resources: tuple[Any, ...], secrets: CaseSecrets
) -> dict[tuple[str, str], dict[str, str]]:
    """The case's ConfigMaps by (namespace, name): its manifests', then the generated CAs."""
    out = {
        (r.namespace, r.name): dict(r.data) for r in resources if isinstance(r, KubernetesConfigMap)
    }
    out.update(secrets.kubernetes_config_maps())
    return out


def backend_tls(
    service: Service,
    port: ServicePort,
    secrets: CaseSecrets,
    store: SecretStore,
) -> ssl.SSLContext | None:
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
        material = secrets.materials[secret_name]
        assert material.cert_pem is not None and material.key_pem is not None
        load_key_pair(context, material.cert_pem, material.key_pem)
        required = material.secret.type == "mutual"
    else:
        names = service_names(service)
        leaf = store.default_ca.issue_cert(*names, common_name=common_name_for(names))
        leaf.configure_cert(context)
        required = False
    for ca in secrets.cas.values():
        context.load_verify_locations(cadata=ca.cert_pem.bytes().decode())
    context.verify_mode = ssl.CERT_REQUIRED if required else ssl.CERT_OPTIONAL
    if port.tls is not None:
        from ..echo.tls import limit_versions

        limit_versions(context, port.tls.min_version, port.tls.max_version)
    # Go's TLS servers (echo-basic's) offer h2 too; the echo speaks either.
    context.set_alpn_protocols(["h2", "http/1.1"])
    return context


def service_names(service: Service) -> list[str]:
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


def pod_name(case_name: str, service: Service, version: str, replica: int) -> str:
    """The echo pod of one version and replica, as the echo reports it (``reviews-v1-5f7c9d``).

    A headless service's pods are named as a StatefulSet's (``db-0``), their hostnames.
    """
    if service.headless:
        return headless_pod_name(service, version, replica)
    pod = f"{service.name}-{version}-{_pod_suffix(case_name, service.name, version)}"
    if service.replicas > 1:
        pod += f"-{replica}"
    return pod


def _pod_suffix(*parts: str) -> str:
    # Stable, Kubernetes-looking pod names ("reviews-v1-5f7c9d"), so messages are reproducible.
    return hashlib.sha1("/".join(parts).encode()).hexdigest()[:6]
