"""What a case deploys: echo services, in-mesh clients, gateways and TLS secrets."""

from __future__ import annotations

import ipaddress
from typing import Annotated, Literal, get_args

from pydantic import Field, ValidationInfo, field_validator, model_validator

from .base import CaseModel, PortNumber, Slug, StatusCode, TLSVersionName
from .values import (
    AppProtocol,
    CertificateHost,
    DNSLabel,
    ExternalHostName,
    Labels,
    MisbehaviourDelay,
    ServiceName,
    kubernetes_service_name,
)

__all__ = [
    "CLUSTER_IP_RANGE",
    "DEFAULT_GATEWAYS",
    "H2C_APP_PROTOCOL",
    "HARNESS_LOOPBACK_RANGES",
    "HEADLESS_POD_IP_RANGE",
    "SERVICE_ENTRY_ADDRESS_RANGE",
    "SOURCE_ADDRESS_RANGE",
    "Client",
    "GatewayPort",
    "GatewayWorkload",
    "Misbehaviour",
    "Secret",
    "Service",
    "ServicePort",
    "ServicePortTLS",
    "headless_pod_name",
    "nth_address",
    "port_protocol",
    "sidecar_injected",
]


# Loopback ranges the local target gives its own sockets: 127.0.0.1 is the harness's
# client and 127.0.<lane>.x its proxies' source addresses (local/target.py), 127.96/16
# ClusterIPs and 127.97/16 headless pods' IPs (local/backends.py), 127.240/16
# ServiceEntry addresses (local/addressing.py). A client's podIP stays out of them.
SOURCE_ADDRESS_RANGE = ipaddress.IPv4Network("127.0.0.0/16")
CLUSTER_IP_RANGE = ipaddress.IPv4Network("127.96.0.0/16")
HEADLESS_POD_IP_RANGE = ipaddress.IPv4Network("127.97.0.0/16")
SERVICE_ENTRY_ADDRESS_RANGE = ipaddress.IPv4Network("127.240.0.0/16")
HARNESS_LOOPBACK_RANGES = (
    SOURCE_ADDRESS_RANGE,
    CLUSTER_IP_RANGE,
    HEADLESS_POD_IP_RANGE,
    SERVICE_ENTRY_ADDRESS_RANGE,
)


def nth_address(network: ipaddress.IPv4Network, index: int, first: int = 1) -> str:
    """The ``index``-th address the harness hands out in ``network``: 250 to a /24,
    from host ``first`` on (so no address ends in .0 or .255 unless ``first`` is 0)."""
    return str(network[(index // 250) * 256 + index % 250 + first])


_LOOPBACK = ipaddress.IPv4Network("127.0.0.0/8")
_BROADCAST = ipaddress.IPv4Address("127.255.255.255")


class ServicePortTLS(CaseModel):
    """The echo terminates TLS itself on this port (passthrough, re-encryption)."""

    secret: str | None = Field(
        default=None,
        description="A spec.secrets entry of type server or mutual; default: a certificate "
        "for the service's names issued by the default CA.",
    )
    min_version: TLSVersionName | None = Field(
        default=None, description="The oldest TLS version the echo accepts (staging old servers)."
    )
    max_version: TLSVersionName | None = Field(
        default=None, description="The newest TLS version the echo accepts."
    )

    @model_validator(mode="after")
    def _versions_in_order(self) -> ServicePortTLS:
        order = list(get_args(TLSVersionName))
        if (
            self.min_version is not None
            and self.max_version is not None
            and order.index(self.min_version) > order.index(self.max_version)
        ):
            raise ValueError(
                f"minVersion {self.min_version} is above maxVersion {self.max_version}"
            )
        return self


class ServicePort(CaseModel):
    """A Service port; the protocol comes from the name prefix, as Istio does."""

    name: DNSLabel = Field(
        description="http, http2, grpc, grpc-web, https, tls, tcp, ... optionally -suffix."
    )
    port: PortNumber
    target_port: PortNumber | None = Field(
        default=None, description="Container port; default: port."
    )
    app_protocol: AppProtocol | None = Field(
        default=None,
        description="Wins over the name: a protocol name, or kubernetes.io/h2c (HTTP2), "
        "kubernetes.io/ws, kubernetes.io/wss.",
    )
    tls: ServicePortTLS | None = None

    @property
    def protocol(self) -> str:
        """Istio's protocol selection by port name: ``http-web`` -> ``HTTP``."""
        return port_protocol(self.name, self.app_protocol, self.port)


# pkg/config/protocol/instance.go Parse(), names as this project spells them.
_PROTOCOLS = {
    "tcp": "TCP",
    "udp": "UDP",
    "grpc": "GRPC",
    "http": "HTTP",
    "http_proxy": "HTTP_PROXY",
    "http2": "HTTP2",
    "https": "HTTPS",
    "tls": "TLS",
    "mongo": "MONGO",
    "redis": "REDIS",
    "mysql": "MYSQL",
}
# The Kubernetes appProtocol names Istio knows (kubernetes.io/h2c is HTTP/2 with prior knowledge).
H2C_APP_PROTOCOL = "kubernetes.io/h2c"
_K8S_APP_PROTOCOLS = {
    H2C_APP_PROTOCOL: "HTTP2",
    "kubernetes.io/ws": "HTTP",
    "kubernetes.io/wss": "HTTPS",
}
# SMTP, DNS, MySQL and MongoDB ports are TCP when nothing says otherwise (no sniffing).
_WELL_KNOWN_TCP_PORTS = frozenset({25, 53, 3306, 27017})


def port_protocol(name: str, app_protocol: str | None = None, port: int | None = None) -> str:
    """The protocol Istio gives a Service port (pkg/config/kube/conversion.go ConvertProtocol).

    ``appProtocol`` if set (its Kubernetes names first), else the name; then a
    ``grpc-web`` prefix, else the part before the first ``-``, case-insensitive.
    """
    value = name
    if app_protocol is not None:
        if app_protocol in _K8S_APP_PROTOCOLS:
            return _K8S_APP_PROTOCOLS[app_protocol]
        value = app_protocol
    if value[:8].lower() == "grpc-web":
        return "GRPC-WEB"
    protocol = _PROTOCOLS.get(value.split("-", 1)[0].lower(), "UNSUPPORTED")
    if protocol == "UNSUPPORTED" and port in _WELL_KNOWN_TCP_PORTS:
        return "TCP"
    return protocol


class Misbehaviour(CaseModel):
    """One replica that answers badly whatever it is asked, or takes no connection at all."""

    version: Slug | None = Field(default=None, description="Default: the first version.")
    replica: int = Field(default=0, ge=0, description="Which replica of that version, from 0.")
    status: StatusCode | None = Field(default=None, description="Answer this status.")
    delay: MisbehaviourDelay | None = Field(
        default=None, description="Wait this long before answering."
    )
    reset: bool = Field(default=False, description="Answer with a TCP reset instead.")
    refuse: bool = Field(
        default=False,
        description="Refuse every connection to its service ports (nothing listens there); "
        "its readiness probe still passes.",
    )
    blackhole: bool = Field(
        default=False,
        description="Never answer a connect to its service ports (the SYNs are dropped, "
        "so a connect hangs until the caller's connect timeout); its readiness probe still "
        "passes.",
    )

    @model_validator(mode="after")
    def _some_misbehaviour(self) -> Misbehaviour:
        answers = self.status is not None or self.delay is not None or self.reset
        if self.refuse and self.blackhole:
            raise ValueError("give refuse or blackhole, not both")
        if (self.refuse or self.blackhole) and answers:
            # No connection is accepted, so there is nothing to delay, answer or reset.
            which = "refuse" if self.refuse else "blackhole"
            raise ValueError(f"{which} accepts no connection: give no status, delay or reset")
        if not answers and not self.refuse and not self.blackhole:
            raise ValueError("give status, delay, reset, refuse or blackhole")
        if self.status is not None and self.reset:
            raise ValueError("give status or reset, not both")
        return self


class Service(CaseModel):
    """An echo workload (one per version) and its Kubernetes Service."""

    name: ServiceName = Field(description="Service name, or a host for external ones.")
    namespace: Slug = "default"
    external_name: ExternalHostName | None = Field(
        default=None,
        description="type: ExternalName: no pods, its name a DNS alias (CNAME) of this host. "
        "Istio treats it as an alias of the service of that host (routes to it reach that "
        "service; its own ports are ignored).",
    )
    ports: list[ServicePort] = Field(
        default_factory=list,
        validate_default=True,
        max_length=16,
        description="At least one, except for an ExternalName Service (Istio ignores its ports).",
    )
    versions: list[Slug] = Field(
        default_factory=lambda: ["v1"],
        min_length=1,
        max_length=16,
        description="One workload per version, labelled app=<name>, version=<v>.",
    )
    replicas: int = Field(
        default=1,
        ge=1,
        le=16,
        description="Pods per version: same labels, distinct pod names "
        "(<name>-<version>-<hash>-<i>).",
    )
    misbehaving: list[Misbehaviour] = Field(
        default_factory=list, description="Replicas that answer badly (outlier detection)."
    )
    external: bool = Field(
        default=False,
        description="Outside the mesh (egress cases): not a Kubernetes Service; its name is "
        "a host that resolves, outside the mesh, to its echo servers.",
    )
    addresses: list[str] = Field(
        default_factory=list,
        max_length=16,
        description="External services only: IP addresses that also lead to its echo servers "
        "(as ServiceEntry endpoints or addresses name them), e.g. 203.0.113.10.",
    )
    headless: bool = Field(
        default=False,
        description="clusterIP: None. Its pods run as a StatefulSet's do: pod <name>-<i> (or "
        "<name>-<version>-<i> with several versions) with hostname <pod> and subdomain <name>, "
        "so <pod>.<name>.<namespace>.svc.cluster.local leads to that pod alone and the "
        "service's name to all of its pods.",
    )
    selector: Labels | None = Field(
        default=None,
        description="Run no pods of its own: select the pods of other services of the "
        "namespace by their labels (app=<service>, version=<v> and their labels), as a "
        "second Service over the same pods does. Its ports target their container ports.",
    )
    labels: Labels = Field(default_factory=dict, description="Extra pod labels.")
    service_account: DNSLabel | None = Field(
        default=None,
        description="The pods' service account, their mesh identity "
        "(spiffe://cluster.local/ns/<namespace>/sa/<account>); default: the service's name.",
    )
    sidecar: bool | None = Field(
        default=None,
        description="Whether its pods get a sidecar (the pod annotation "
        "sidecar.istio.io/inject); default: as its namespace says (a Namespace resource "
        "labelled istio-injection: disabled has none), else injected.",
    )

    @property
    def account(self) -> str:
        """The service account its pods run as."""
        return self.service_account or self.name

    @model_validator(mode="after")
    def _misbehaving_replicas_exist(self) -> Service:
        seen: set[tuple[str, int]] = set()
        for i, bad in enumerate(self.misbehaving):
            which = (bad.version or self.versions[0], bad.replica)
            if which in seen:
                raise ValueError(
                    f"misbehaving[{i}]: replica {which[1]} of {which[0]} is given twice"
                )
            seen.add(which)
            if bad.version is not None and bad.version not in self.versions:
                raise ValueError(f"misbehaving[{i}].version {bad.version!r} is not in versions")
            if bad.replica >= self.replicas:
                raise ValueError(
                    f"misbehaving[{i}].replica {bad.replica} needs replicas > {bad.replica}"
                )
        return self

    def misbehaviour(self, version: str, replica: int) -> Misbehaviour | None:
        """How replica ``replica`` of ``version`` misbehaves, if it does."""
        for bad in self.misbehaving:
            if (bad.version or self.versions[0]) == version and bad.replica == replica:
                return bad
        return None

    @field_validator("ports")
    @classmethod
    def _some_ports(cls, ports: list[ServicePort], info: ValidationInfo) -> list[ServicePort]:
        # external_name is declared (so validated) before ports.
        if not ports and info.data.get("external_name") is None:
            raise ValueError(
                "List should have at least 1 item (only an ExternalName Service may have none)"
            )
        return ports

    @field_validator("versions")
    @classmethod
    def _unique_versions(cls, versions: list[str]) -> list[str]:
        duplicated = sorted({v for v in versions if versions.count(v) > 1})
        if duplicated:
            raise ValueError(f"duplicate version {', '.join(duplicated)}")
        return versions

    @field_validator("addresses")
    @classmethod
    def _ip_addresses(cls, addresses: list[str]) -> list[str]:
        for address in addresses:
            try:
                ipaddress.ip_address(address)
            except ValueError:
                raise ValueError(f"not an IP address: {address!r}") from None
        return addresses

    @model_validator(mode="after")
    def _addresses_only_outside(self) -> Service:
        if self.addresses and not self.external:
            raise ValueError("addresses are for external services (external: true)")
        return self

    @model_validator(mode="after")
    def _in_mesh_name(self) -> Service:
        if not self.external:
            kubernetes_service_name(self.name)
        return self

    @property
    def runs_pods(self) -> bool:
        """Whether the service has echo pods of its own (not an alias or a second selector)."""
        return self.external_name is None and self.selector is None

    @model_validator(mode="after")
    def _service_kind(self) -> Service:
        kinds = [
            key
            for key, given in (
                ("external", self.external),
                ("headless", self.headless),
                ("externalName", self.external_name is not None),
                ("selector", self.selector is not None),
            )
            if given
        ]
        if len(kinds) > 1 and kinds != ["headless", "selector"]:
            raise ValueError(f"give only one of {', '.join(kinds)}")
        if not self.runs_pods:
            # Kubernetes: an ExternalName or a second Service runs no pods, so nothing of theirs.
            pod_keys = {
                "versions": "versions",
                "replicas": "replicas",
                "misbehaving": "misbehaving",
                "labels": "labels",
                "service_account": "serviceAccount",
            }
            given = [alias for key, alias in pod_keys.items() if key in self.model_fields_set]
            if given:
                why = (
                    "an ExternalName Service is a DNS alias: it has no pods"
                    if self.selector is None
                    else "a selector service runs no pods of its own: they are the selected "
                    "services'"
                )
                raise ValueError(f"{why}; drop {', '.join(given)}")
        if self.external_name is not None:
            for i, port in enumerate(self.ports):
                if port.tls is not None:
                    raise ValueError(
                        f"ports[{i}].tls: an ExternalName Service has no pods to terminate TLS"
                    )
        if self.headless and self.runs_pods:
            if self.misbehaving:
                # One StatefulSet's pods share one template, so none can misbehave alone.
                raise ValueError("misbehaving: the pods of a headless service cannot misbehave")
            longest = max(
                (headless_pod_name(self, v, self.replicas - 1) for v in self.versions), key=len
            )
            if len(longest) > 63:
                raise ValueError(
                    f"pod hostname {longest!r}: a pod's hostname is a DNS label of at most 63 "
                    "characters (shorten the name or versions)"
                )
        return self


def headless_pod_name(service: Service, version: str, replica: int) -> str:
    """A headless service's pod, its hostname: ``<name>-<i>``, ``<name>-<version>-<i>`` with
    several versions (one StatefulSet per version, ordinals from 0)."""
    base = service.name if len(service.versions) == 1 else f"{service.name}-{version}"
    return f"{base}-{replica}"


class Client(CaseModel):
    """A workload that sends a check's ``from`` requests: through its sidecar in the mesh,
    straight to the destination's pods outside it."""

    name: Slug
    namespace: Slug = "default"
    labels: Labels = Field(
        default_factory=dict, description="Pod labels besides app=<name> (sourceLabels, Sidecar)."
    )
    service_account: DNSLabel | None = Field(
        default=None,
        description="The pod's service account, its mesh identity "
        "(spiffe://cluster.local/ns/<namespace>/sa/<account>); default: the client's name.",
    )
    sidecar: bool | None = Field(
        default=None,
        description="Whether the pod gets a sidecar (sidecar.istio.io/inject); default: as its "
        "namespace says (istio-injection: disabled: none), else injected. Without one it "
        "sends plaintext straight to a pod of the destination Service.",
    )
    pod_ip: str | None = Field(
        default=None,
        alias="podIP",
        description="The pod's IP address (Kubernetes' status.podIP), which its connections "
        "come from: what ipBlocks and source.ip of a policy name. Local target only: a "
        "loopback address in 127.0.0.0/8 outside the ranges the harness uses itself "
        f"({', '.join(str(n) for n in HARNESS_LOOPBACK_RANGES)}); default: an address the "
        "harness picks. The kind and cluster targets skip a case that sets it.",
    )

    @field_validator("pod_ip")
    @classmethod
    def _loopback_pod_ip(cls, value: str | None) -> str | None:
        if value is None:
            return None
        try:
            address = ipaddress.ip_address(value)
        except ValueError:
            raise ValueError(f"podIP {value!r} is not an IP address") from None
        if not isinstance(address, ipaddress.IPv4Address) or address not in _LOOPBACK:
            raise ValueError(
                f"podIP {value} is not a loopback address in 127.0.0.0/8: the local target "
                "gives the pod this address, and a cluster assigns pod IPs itself"
            )
        if address == _BROADCAST:
            raise ValueError(f"podIP {value} is the broadcast address of 127.0.0.0/8")
        for reserved in HARNESS_LOOPBACK_RANGES:
            if address in reserved:
                raise ValueError(
                    f"podIP {value} is in {reserved}, which the harness uses itself "
                    "(the harness's client and proxies 127.0.0.0/16, ClusterIPs and "
                    "headless pods 127.96.0.0/15, ServiceEntry addresses 127.240.0.0/16)"
                )
        return str(address)

    @property
    def account(self) -> str:
        """The service account the pod runs as."""
        return self.service_account or self.name

    @property
    def pod_labels(self) -> dict[str, str]:
        return {"app": self.name, **self.labels}


class GatewayPort(CaseModel):
    """A port of a gateway's Service: clients reach ``port``, Envoy listens on ``targetPort``."""

    name: DNSLabel
    port: PortNumber
    target_port: PortNumber | None = None


class GatewayWorkload(CaseModel):
    """A gateway deployment besides the default ingress and egress gateways."""

    name: Slug
    namespace: Slug = "istio-system"
    labels: Labels = Field(min_length=1)
    ports: list[GatewayPort] = Field(
        default_factory=lambda: [
            GatewayPort(name="http2", port=80, target_port=8080),
            GatewayPort(name="https", port=443, target_port=8443),
        ],
        max_length=16,
    )
    annotations: dict[str, str] = Field(
        default_factory=dict,
        description="Pod annotations: proxy.istio.io/config (gatewayTopology) only.",
    )

    @field_validator("annotations")
    @classmethod
    def _honoured_annotations(cls, annotations: dict[str, str]) -> dict[str, str]:
        from .meshconfig import parse_proxy_config

        for key, value in annotations.items():
            if key != PROXY_CONFIG_ANNOTATION:
                raise ValueError(
                    f"annotation {key!r} is not honoured by the harness (only "
                    f"{PROXY_CONFIG_ANNOTATION})"
                )
            parse_proxy_config(value)
        return annotations


PROXY_CONFIG_ANNOTATION = "proxy.istio.io/config"

DEFAULT_GATEWAYS: dict[str, GatewayWorkload] = {
    "ingress": GatewayWorkload(
        name="istio-ingressgateway",
        labels={"app": "istio-ingressgateway", "istio": "ingressgateway"},
    ),
    "egress": GatewayWorkload(
        name="istio-egressgateway",
        labels={"app": "istio-egressgateway", "istio": "egressgateway"},
    ),
}
"""The gateways every case has, by the short name requests use (``gateway: ingress``)."""


class Secret(CaseModel):
    """TLS material generated per run with trustme; never written into the repository."""

    name: Slug
    namespace: Slug | None = Field(
        default=None, description="Where the Kubernetes Secret lives; none: not published."
    )
    type: Literal["server", "mutual", "client", "ca", "trust"]
    hosts: list[CertificateHost] = Field(
        default_factory=list,
        max_length=64,
        description="Names the certificate holds; the first is its common name (64 at most).",
    )
    uris: list[
        Annotated[
            str, Field(pattern=r"^[a-zA-Z][-a-zA-Z0-9+.]*://[^/?#\s]+[^\s]*$", max_length=2048)
        ]
    ] = Field(
        default_factory=list,
        max_length=16,
        description="URI subjectAltNames the certificate holds besides its hosts "
        "(e.g. spiffe://example.com/identity).",
    )
    issuer: str = Field(default="default", description="The CA that signs it.")
    format: Literal["tls", "generic"] = Field(
        default="tls",
        description="Key names: tls.crt/tls.key/ca.crt, or generic cert/key/cacert.",
    )
    expired: bool = Field(default=False, description="Issue a certificate that has expired.")
    kind: Literal["Secret", "ConfigMap"] = Field(
        default="Secret",
        description="Published as a Secret, or (a ca or trust secret) as a ConfigMap holding "
        "ca.crt, as BackendTLSPolicy caCertificateRefs read it.",
    )

    @model_validator(mode="after")
    def _hosts_where_needed(self) -> Secret:
        if self.kind == "ConfigMap":
            if self.type not in ("ca", "trust"):
                raise ValueError(
                    f"kind: ConfigMap publishes a CA certificate: type ca or trust, not {self.type}"
                )
            if self.namespace is None:
                raise ValueError("kind: ConfigMap needs the namespace it is published in")
            if self.format != "tls":
                raise ValueError("a ConfigMap holds ca.crt: format generic is for Secrets")
        if self.type in ("server", "mutual", "client") and not self.hosts:
            raise ValueError(f"a {self.type} secret needs hosts")
        if self.type == "ca" and self.hosts:
            raise ValueError("a ca secret has no hosts")
        if self.uris and self.type not in ("server", "mutual", "client"):
            raise ValueError(f"a {self.type} secret issues no certificate to hold uris")
        if self.hosts and len(self.hosts[0]) > 64:
            # RFC 5280 ub-common-name: the certificate could not be issued.
            raise ValueError(
                f"hosts[0] becomes the certificate's common name: at most 64 characters, "
                f"not {len(self.hosts[0])} (put a shorter name first)"
            )
        return self


def sidecar_injected(sidecar: bool | None, namespace: str, resources: object) -> bool:
    """Whether Istio's injector gives a pod a sidecar.

    A Namespace resource labelled ``istio-injection: disabled`` is outside the
    injector's namespaceSelector: no pod there gets one. Elsewhere the pod's
    own choice (``sidecar``, the annotation ``sidecar.istio.io/inject``) wins,
    and the default is injected (the suite's namespaces are labelled
    ``istio-injection: enabled``).
    """
    from .kubernetes import KubernetesNamespace

    for resource in resources if isinstance(resources, (list, tuple)) else ():
        if (
            isinstance(resource, KubernetesNamespace)
            and resource.metadata.name == namespace
            and resource.metadata.labels.get("istio-injection") == "disabled"
        ):
            return False
    return True if sidecar is None else sidecar
