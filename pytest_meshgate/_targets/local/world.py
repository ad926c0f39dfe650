"""What the translation sees: the mesh's resources, services, endpoints and one proxy.

Plain frozen data, built by the local target from a case and the echo ports it
started; the translation is a pure function of it, so golden tests build a
``World`` by hand with fixed addresses.
"""

from __future__ import annotations

import os
import ssl
from collections.abc import Callable, Mapping
from dataclasses import KW_ONLY, dataclass, field
from typing import Any

from ..._cases.model.meshconfig import MeshConfig

__all__ = [
    "DOMAIN_SUFFIX",
    "ROOT_NAMESPACE",
    "Endpoint",
    "GatewayProxy",
    "InboundPort",
    "InboundWorkload",
    "MeshIdentity",
    "MeshService",
    "ServicePortInfo",
    "World",
    "default_system_ca_file",
]

DOMAIN_SUFFIX = "cluster.local"
ROOT_NAMESPACE = "istio-system"


@dataclass(frozen=True)
class ServicePortInfo:
    """A Service port: ``port`` is what clients and cluster names use."""

    name: str
    port: int
    target_port: int
    protocol: str  # HTTP, HTTP2, GRPC, HTTPS, TLS, TCP, ... (from the port name, as Istio does)


@dataclass(frozen=True)
class Endpoint:
    """One pod behind a Service: its labels and, per Service port number, where it listens."""

    labels: Mapping[str, str]
    addresses: Mapping[int, tuple[str, int]]  # Service port number -> (ip, port)
    workload: str  # e.g. "reviews-v1", for messages
    _: KW_ONLY  # the rest by name: they are optional facts of some pods
    # The pod's IP (a headless service's pods each have their own); None: the addresses'.
    pod_ip: str | None = None
    # The pod has a sidecar (Istio's endpoint label ``security.istio.io/tlsMode: istio``):
    # ``addresses`` are then its inbound listeners, and auto mTLS may apply.
    sidecar: bool = False
    namespace: str = ""  # the pod's, for its PeerAuthentication


@dataclass(frozen=True)
class MeshService:
    """A Service known to the mesh: a case service, a gateway's Service, or a ServiceEntry host.

    ``resolution`` is the ServiceEntry's (``NONE``, ``STATIC``, ``DNS``,
    ``DNS_ROUND_ROBIN``); Kubernetes Services count as ``STATIC`` (EDS), a
    headless one as ``NONE`` (Istio's ``Passthrough``), an ExternalName one as
    ``ALIAS`` (Istio's ``Alias``: ``alias_for`` names the host it stands for).
    ``external`` is ``location: MESH_EXTERNAL``. ``address`` is the VIP clients
    resolve the name to (a Kubernetes ClusterIP, a ServiceEntry's first address).
    """

    hostname: str  # FQDN, e.g. reviews.default.svc.cluster.local
    namespace: str
    ports: tuple[ServicePortInfo, ...]
    endpoints: tuple[Endpoint, ...]
    external: bool = False
    address: str | None = None
    resolution: str = "STATIC"
    export_to: tuple[str, ...] = ()
    origin: str = "kubernetes"  # or "ServiceEntry <ns>/<name>", for messages
    # Mesh TLS: the SPIFFE identities of the service's workloads (Istio's
    # ``ServiceAccounts``), which ISTIO_MUTUAL clusters verify by default; for a
    # ServiceEntry, its ``subjectAltNames``. Empty: no SAN check.
    service_accounts: tuple[str, ...] = ()
    alias_for: str | None = None  # an ExternalName Service's externalName

    @property
    def headless(self) -> bool:
        """A Kubernetes Service with ``clusterIP: None`` (Passthrough, Kubernetes registry)."""
        return self.resolution == "NONE" and self.origin == "kubernetes"

    @property
    def alias(self) -> bool:
        """An ExternalName Service: no clusters, listeners or virtual hosts of its own."""
        return self.resolution == "ALIAS"


@dataclass(frozen=True)
class MeshIdentity:
    """A proxy's mesh workload certificate, as Istio's agent serves it over SDS.

    ``default`` (certificate chain and key, URI SAN ``spiffe_id``) and ``ROOTCA``
    (the mesh CA) become files here: 0600 in a 0700 directory of the local
    target, referenced by name so no key material enters the xDS JSON.
    """

    spiffe_id: str  # spiffe://cluster.local/ns/<ns>/sa/<service account>
    cert_chain_file: str
    private_key_file: str = field(repr=False)
    root_ca_file: str


@dataclass(frozen=True)
class InboundPort:
    """One port of a pod's inbound sidecar: ``listen`` is the sidecar's, ``app`` the echo's."""

    port: ServicePortInfo  # the Service port it serves (target_port: the container port)
    listen: tuple[str, int]
    app: tuple[str, int]


@dataclass(frozen=True)
class InboundWorkload:
    """A pod whose inbound traffic crosses its sidecar (Istio's ``virtualInbound``)."""

    pod: str
    namespace: str
    labels: Mapping[str, str]
    identity: MeshIdentity
    ports: tuple[InboundPort, ...]
    # Its Deployment (``<service>-<version>``) and Service, as the stats filter names them.
    workload: str = ""
    service: str = ""


@dataclass(frozen=True)
class GatewayProxy:
    """The gateway workload being configured.

    ``bind`` maps a listener port (after Istio's Service-port -> targetPort
    translation) to the loopback address and port Envoy actually binds; the
    local target allocates these, golden tests pass a deterministic function.
    """

    name: str
    namespace: str
    labels: Mapping[str, str]
    service_ports: tuple[ServicePortInfo, ...]  # the gateway's own Service
    bind: Callable[[int], tuple[str, int]]
    access_log_path: str = "/dev/stdout"
    source_address: str | None = None  # upstream bind address (how `via` is known)
    # A client sidecar rather than a gateway: outbound listeners per port, mesh
    # routes; a DestinationRule credentialName then needs a workloadSelector.
    sidecar: bool = False
    # Sidecars: ports the harness sends to besides the registry's (Istio's
    # virtualOutbound listener catches them; here each gets a fall-through listener).
    capture_ports: tuple[int, ...] = ()
    # Mesh TLS: the workload certificate for ISTIO_MUTUAL (None: the proxy has no
    # mesh identity, so ISTIO_MUTUAL is unsupported).
    mesh_identity: MeshIdentity | None = None
    # Where the proxy's container log (/dev/stdout) and other log files go (None: the
    # paths as Istio names them, for golden tests).
    log_dir: str | None = None
    # The access loggers Istio configures on its HTTP connection managers (from the
    # mesh config and Telemetry: translate.accesslog), beside the harness's own.
    access_logs: tuple[Mapping[str, Any], ...] = ()
    # The access loggers of its tcp_proxy filters: Istio's and the stats log
    # (translate.stats, which also adds the stats log to access_logs).
    tcp_access_logs: tuple[Mapping[str, Any], ...] = ()
    # The jwt_authn and RBAC filters of the workload's policies (a
    # translate.authz.SecurityFilters; None: not computed, no filters).
    security: Any = None
    # proxy.istio.io/config gatewayTopology.numTrustedProxies (the pod annotation
    # over meshConfig.defaultConfig): the HCM's xff_num_trusted_hops.
    num_trusted_proxies: int = 0
    # Metadata exchange with the inbound sidecars (translate.peer): on where they run.
    peer_exchange: bool = False


@dataclass(frozen=True)
class World:
    """Everything the translation needs, in Istio's creation order.

    ``resources`` are parsed Istio objects (see ``pytest_meshgate._cases.model.istio``)
    in the order they were created: case-file order unless a resource sets
    ``metadata.creationTimestamp``.
    """

    resources: tuple[Any, ...]
    services: tuple[MeshService, ...]
    domain_suffix: str = DOMAIN_SUFFIX
    root_namespace: str = ROOT_NAMESPACE
    extra: Mapping[str, Any] = field(default_factory=dict)
    # Kubernetes Secret data by (namespace, name): ``tls.crt``/``tls.key``/``ca.crt``
    # (``ca.crl``) or generic ``cert``/``key``/``cacert`` (``crl``), PEM bytes. Gateway
    # ``credentialName`` and DestinationRule ``credentialName`` resolve here, in the
    # gateway proxy's namespace. Never logged: messages name secrets, not contents.
    secrets: Mapping[tuple[str, str], Mapping[str, bytes]] = field(default_factory=dict, repr=False)
    # Kubernetes ConfigMap data by (namespace, name): a ``configmap://<ns>/<name>``
    # credentialName (a BackendTLSPolicy's CA, ``ca.crt``) resolves here.
    config_maps: Mapping[tuple[str, str], Mapping[str, str]] = field(default_factory=dict)
    # The OS trust store Envoy uses where Istio means "system" roots (a DestinationRule
    # SIMPLE/MUTUAL without caCertificates or credentialName). None: no such file, so
    # those clusters cannot verify anything and are left out (503, as a bad CA is).
    system_ca_file: str | None = field(default_factory=lambda: default_system_ca_file())
    # Outside the mesh: what a DNS name or IP address and port lead to (external
    # services' echo servers). ServiceEntry endpoints (DNS names, STATIC IPs)
    # resolve here instead of the machine's DNS.
    network: Mapping[tuple[str, int], tuple[tuple[str, int], ...]] = field(default_factory=dict)
    # The case's spec.meshConfig; None: Istio's defaults (no access log).
    mesh_config: MeshConfig | None = None
    # JWT key sets istiod would inline (public JWKS JSON): by jwksUri, and by
    # "key:<name>" for the ${jwks:<name>} placeholder of an inline jwks.
    jwks: Mapping[str, str] = field(default_factory=dict)

    @property
    def mesh(self) -> MeshConfig:
        """The mesh config the proxies get: the case's, else Istio's defaults."""
        return self.mesh_config if self.mesh_config is not None else MeshConfig()


_SYSTEM_CA_CANDIDATES = (
    "/etc/ssl/certs/ca-certificates.crt",  # Debian, Ubuntu, Alpine
    "/etc/pki/tls/certs/ca-bundle.crt",  # Fedora, RHEL
    "/etc/ssl/cert.pem",  # macOS, OpenBSD
    "/etc/ssl/ca-bundle.pem",  # openSUSE
)


def default_system_ca_file() -> str | None:
    """The host's CA bundle file, as Istio's agent serves for ``caCertificates: system``."""
    paths = ssl.get_default_verify_paths()
    for candidate in (paths.cafile, paths.openssl_cafile, *_SYSTEM_CA_CANDIDATES):
        if candidate and os.path.isfile(candidate):
            return candidate
    return None
