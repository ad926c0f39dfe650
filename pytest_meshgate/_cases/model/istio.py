"""Pydantic models of the Istio networking API subset the suite understands."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any, Literal

from pydantic import Field, model_validator

from .base import Duration, StrictModel

__all__ = [
    "API_VERSIONS",
    "SUPPORTED_KINDS",
    "ClientTLSSettings",
    "ConnectionPoolSettings",
    "Destination",
    "DestinationRule",
    "DestinationRuleSpec",
    "Gateway",
    "GatewaySpec",
    "HTTPMatchRequest",
    "HTTPRedirect",
    "HTTPRetry",
    "HTTPRewrite",
    "HTTPRoute",
    "HTTPRouteDestination",
    "HeaderOperations",
    "Headers",
    "IstioResource",
    "LoadBalancerSettings",
    "Metadata",
    "OutlierDetection",
    "Percent",
    "PortSelector",
    "Server",
    "ServerTLSSettings",
    "ServiceEntry",
    "ServiceEntrySpec",
    "Sidecar",
    "SidecarSpec",
    "StringMatch",
    "Subset",
    "TrafficPolicy",
    "UnsupportedResource",
    "VirtualService",
    "VirtualServiceSpec",
    "parse_resource",
    "resource_models",
]

API_VERSIONS = (
    "networking.istio.io/v1",
    "networking.istio.io/v1beta1",
    "networking.istio.io/v1alpha3",
)
ApiVersion = Literal[
    "networking.istio.io/v1",
    "networking.istio.io/v1beta1",
    "networking.istio.io/v1alpha3",
]


class UnsupportedResource(ValueError):
    """A manifest whose apiVersion/kind this suite does not model."""


# --------------------------------------------------------------------- common


class Metadata(StrictModel):
    """The Kubernetes object metadata the translation cares about."""

    name: str = Field(min_length=1)
    namespace: str = "default"
    labels: dict[str, str] = Field(default_factory=dict)
    annotations: dict[str, str] = Field(default_factory=dict)
    creation_timestamp: datetime | None = None


class StringMatch(StrictModel):
    """Istio ``StringMatch``: at most one of exact, prefix and regex (RE2)."""

    exact: str | None = None
    prefix: str | None = None
    regex: str | None = None

    @model_validator(mode="after")
    def _one_of(self) -> StringMatch:
        # A oneOf: at most one. An empty match is valid: for headers and query
        # parameters it means "present" (route.go canBeConvertedToPresentMatch).
        count = sum(v is not None for v in (self.exact, self.prefix, self.regex))
        if count > 1:
            raise ValueError("set only one of exact, prefix or regex")
        # validation.go validateStringMatch()
        if self.prefix == "":
            raise ValueError("prefix string match should not be empty")
        if self.regex == "":
            raise ValueError("regex string match should not be empty")
        return self

    @property
    def is_empty(self) -> bool:
        return self.exact is None and self.prefix is None and self.regex is None


class PortSelector(StrictModel):
    number: int = Field(ge=1, le=65535)


class Percent(StrictModel):
    value: float = Field(ge=0, le=100)


class Destination(StrictModel):
    host: str = Field(min_length=1)
    subset: str | None = None
    port: PortSelector | None = None


class WorkloadSelector(StrictModel):
    """``istio.type.v1beta1.WorkloadSelector`` (DestinationRule): ``matchLabels``."""

    match_labels: dict[str, str] = Field(default_factory=dict)


class LabelSelector(StrictModel):
    """``networking.v1.WorkloadSelector`` (Sidecar, ServiceEntry): ``labels``."""

    labels: dict[str, str] = Field(default_factory=dict)


# --------------------------------------------------------------------- Gateway


class Port(StrictModel):
    """A Gateway server port; ``protocol`` is matched case-insensitively, as Istio does."""

    number: int = Field(ge=1, le=65535)
    protocol: str = Field(min_length=1)
    name: str | None = None
    target_port: int | None = Field(default=None, ge=1, le=65535)


TLSVersion = Literal["TLS_AUTO", "TLSV1_0", "TLSV1_1", "TLSV1_2", "TLSV1_3"]


class TLSCertificate(StrictModel):
    server_certificate: str | None = None
    private_key: str | None = None
    ca_certificates: str | None = None


class ServerTLSSettings(StrictModel):
    https_redirect: bool = False
    # The API's zero value: a server with `tls` but no mode passes TLS through.
    mode: Literal[
        "PASSTHROUGH", "SIMPLE", "MUTUAL", "AUTO_PASSTHROUGH", "ISTIO_MUTUAL", "OPTIONAL_MUTUAL"
    ] = "PASSTHROUGH"
    server_certificate: str | None = None
    private_key: str | None = None
    ca_certificates: str | None = None
    ca_crl: str | None = None
    credential_name: str | None = None
    credential_names: list[str] = Field(default_factory=list, max_length=2)
    ca_cert_credential_name: str | None = None
    tls_certificates: list[TLSCertificate] = Field(default_factory=list, max_length=2)
    subject_alt_names: list[str] = Field(default_factory=list)
    verify_certificate_spki: list[str] = Field(default_factory=list)
    verify_certificate_hash: list[str] = Field(default_factory=list)
    min_protocol_version: TLSVersion | None = None
    max_protocol_version: TLSVersion | None = None
    cipher_suites: list[str] = Field(default_factory=list)


class Server(StrictModel):
    port: Port
    hosts: list[str] = Field(min_length=1)
    tls: ServerTLSSettings | None = None
    bind: str | None = None
    default_endpoint: str | None = None
    name: str | None = None


class GatewaySpec(StrictModel):
    selector: dict[str, str] | None = None
    servers: list[Server] = Field(default_factory=list)


# --------------------------------------------------------------------- VirtualService


class HTTPMatchRequest(StrictModel):
    name: str | None = None
    uri: StringMatch | None = None
    scheme: StringMatch | None = None
    method: StringMatch | None = None
    authority: StringMatch | None = None
    headers: dict[str, StringMatch] = Field(default_factory=dict)
    port: int | None = Field(default=None, ge=1, le=65535)
    source_labels: dict[str, str] = Field(default_factory=dict)
    gateways: list[str] = Field(default_factory=list)
    query_params: dict[str, StringMatch] = Field(default_factory=dict)
    ignore_uri_case: bool = False
    without_headers: dict[str, StringMatch] = Field(default_factory=dict)
    source_namespace: str | None = None
    stat_prefix: str | None = None


class HeaderOperations(StrictModel):
    set: dict[str, str] = Field(default_factory=dict)
    add: dict[str, str] = Field(default_factory=dict)
    remove: list[str] = Field(default_factory=list)


class Headers(StrictModel):
    request: HeaderOperations | None = None
    response: HeaderOperations | None = None


class HTTPRouteDestination(StrictModel):
    destination: Destination
    weight: int = Field(default=0, ge=0)
    headers: Headers | None = None


class HTTPRedirect(StrictModel):
    uri: str | None = None
    prefix_rewrite: str | None = None
    authority: str | None = None
    port: int | None = Field(default=None, ge=1, le=65535)
    derive_port: Literal["FROM_PROTOCOL_DEFAULT", "FROM_REQUEST_PORT"] | None = None
    scheme: str | None = None
    redirect_code: int = 0

    @model_validator(mode="after")
    def _port_one_of(self) -> HTTPRedirect:
        if self.port is not None and self.derive_port is not None:
            raise ValueError("set only one of port or derivePort")
        # validation.go validateHTTPRedirect()
        if self.uri and self.prefix_rewrite:
            raise ValueError("redirect may only specify one of uri or prefixRewrite")
        if not (
            self.uri
            or self.prefix_rewrite
            or self.authority
            or self.scheme
            or self.port is not None
            or self.derive_port is not None
        ):
            raise ValueError("redirect must specify uri, prefixRewrite, authority, scheme or port")
        # validation.go validateHTTPRedirect(): 3xx only (301/302/303/307/308 translate)
        if self.redirect_code != 0 and not 300 <= self.redirect_code <= 399:
            raise ValueError(f"{self.redirect_code} is not a valid redirect code, must be 3xx")
        return self


class HTTPBody(StrictModel):
    string: str | None = None
    bytes: str | None = None  # base64, as in the protobuf JSON mapping

    @model_validator(mode="after")
    def _one_of(self) -> HTTPBody:
        if (self.string is None) == (self.bytes is None):
            raise ValueError("set exactly one of string or bytes")
        return self


class HTTPDirectResponse(StrictModel):
    status: int = Field(ge=200, le=599)
    body: HTTPBody | None = None


class Delegate(StrictModel):
    name: str
    namespace: str | None = None


class RegexRewrite(StrictModel):
    match: str
    rewrite: str


class HTTPRewrite(StrictModel):
    uri: str | None = None
    authority: str | None = None
    uri_regex_rewrite: RegexRewrite | None = None

    @model_validator(mode="after")
    def _uri_one_of(self) -> HTTPRewrite:
        if self.uri is not None and self.uri_regex_rewrite is not None:
            raise ValueError("set only one of uri or uriRegexRewrite")
        return self


class HTTPRetry(StrictModel):
    attempts: int = Field(default=0, ge=0)
    per_try_timeout: Duration | None = None
    retry_on: str | None = None
    retry_remote_localities: bool | None = None
    retry_ignore_previous_hosts: bool | None = None
    backoff: Duration | None = None


class FaultDelay(StrictModel):
    fixed_delay: Duration | None = None
    exponential_delay: Duration | None = None
    percentage: Percent | None = None
    percent: int | None = Field(default=None, ge=0, le=100)


class FaultAbort(StrictModel):
    http_status: int | None = Field(default=None, ge=200, le=599)
    grpc_status: str | None = None
    http2_error: str | None = None
    percentage: Percent | None = None


class HTTPFaultInjection(StrictModel):
    delay: FaultDelay | None = None
    abort: FaultAbort | None = None


class HTTPMirrorPolicy(StrictModel):
    destination: Destination
    percentage: Percent | None = None


class CorsPolicy(StrictModel):
    allow_origins: list[StringMatch] = Field(default_factory=list)
    allow_origin: list[str] = Field(default_factory=list)
    allow_methods: list[str] = Field(default_factory=list)
    allow_headers: list[str] = Field(default_factory=list)
    expose_headers: list[str] = Field(default_factory=list)
    max_age: Duration | None = None
    allow_credentials: bool | None = None
    unmatched_preflights: Literal["UNSPECIFIED", "FORWARD", "IGNORE"] | None = None


class HTTPRoute(StrictModel):
    name: str | None = None
    match: list[HTTPMatchRequest] = Field(default_factory=list)
    route: list[HTTPRouteDestination] = Field(default_factory=list)
    redirect: HTTPRedirect | None = None
    direct_response: HTTPDirectResponse | None = None
    delegate: Delegate | None = None
    rewrite: HTTPRewrite | None = None
    timeout: Duration | None = None
    retries: HTTPRetry | None = None
    fault: HTTPFaultInjection | None = None
    mirror: Destination | None = None
    mirror_percentage: Percent | None = None
    mirror_percent: int | None = Field(default=None, ge=0, le=100)
    mirrors: list[HTTPMirrorPolicy] = Field(default_factory=list)
    cors_policy: CorsPolicy | None = None
    headers: Headers | None = None

    @model_validator(mode="after")
    def _has_action(self) -> HTTPRoute:
        # pkg/config/validation validateHTTPRoute()/validateHTTPRouteDestinations()
        if not (self.route or self.redirect or self.direct_response or self.delegate):
            raise ValueError("an http rule needs route, redirect, directResponse or delegate")
        if len(self.route) > 1 and sum(d.weight for d in self.route) == 0:
            raise ValueError("total destination weight is 0 with more than one destination")
        if (
            self.redirect is not None
            and self.redirect.prefix_rewrite
            and any(m.uri is not None and m.uri.prefix is None for m in self.match)
        ):
            raise ValueError("redirect prefixRewrite requires every uri match to be a prefix match")
        return self


class RouteDestination(StrictModel):
    destination: Destination
    weight: int = Field(default=0, ge=0)


class TLSMatchAttributes(StrictModel):
    sni_hosts: list[str] = Field(min_length=1)
    destination_subnets: list[str] = Field(default_factory=list)
    port: int | None = Field(default=None, ge=1, le=65535)
    source_labels: dict[str, str] = Field(default_factory=dict)
    gateways: list[str] = Field(default_factory=list)
    source_namespace: str | None = None


class TLSRoute(StrictModel):
    match: list[TLSMatchAttributes] = Field(min_length=1)
    route: list[RouteDestination] = Field(default_factory=list)


class L4MatchAttributes(StrictModel):
    destination_subnets: list[str] = Field(default_factory=list)
    port: int | None = Field(default=None, ge=1, le=65535)
    source_subnet: str | None = None
    source_labels: dict[str, str] = Field(default_factory=dict)
    gateways: list[str] = Field(default_factory=list)
    source_namespace: str | None = None


class TCPRoute(StrictModel):
    match: list[L4MatchAttributes] = Field(default_factory=list)
    route: list[RouteDestination] = Field(default_factory=list)


class VirtualServiceSpec(StrictModel):
    hosts: list[str] = Field(default_factory=list)
    gateways: list[str] = Field(default_factory=list)
    http: list[HTTPRoute] = Field(default_factory=list)
    tls: list[TLSRoute] = Field(default_factory=list)
    tcp: list[TCPRoute] = Field(default_factory=list)
    export_to: list[str] = Field(default_factory=list)


# --------------------------------------------------------------------- DestinationRule


class HTTPCookie(StrictModel):
    name: str
    path: str | None = None
    ttl: Duration | None = None
    attributes: list[dict[str, str]] = Field(default_factory=list)


class ConsistentHashLB(StrictModel):
    http_header_name: str | None = None
    http_cookie: HTTPCookie | None = None
    use_source_ip: bool | None = None
    http_query_parameter_name: str | None = None
    ring_hash: dict[str, int] | None = None
    maglev: dict[str, int] | None = None
    minimum_ring_size: int | None = None


class WarmupConfiguration(StrictModel):
    duration: Duration
    minimum_percent: float | None = None
    aggression: float | None = None


class LoadBalancerSettings(StrictModel):
    simple: (
        Literal[
            "UNSPECIFIED", "LEAST_CONN", "RANDOM", "PASSTHROUGH", "ROUND_ROBIN", "LEAST_REQUEST"
        ]
        | None
    ) = None
    consistent_hash: ConsistentHashLB | None = None
    locality_lb_setting: dict[str, Any] | None = None
    warmup_duration_secs: Duration | None = None
    warmup: WarmupConfiguration | None = None


class TCPKeepalive(StrictModel):
    probes: int | None = None
    time: Duration | None = None
    interval: Duration | None = None


class TCPSettings(StrictModel):
    max_connections: int | None = Field(default=None, ge=0)
    connect_timeout: Duration | None = None
    tcp_keepalive: TCPKeepalive | None = None
    max_connection_duration: Duration | None = None
    idle_timeout: Duration | None = None


class HTTPSettings(StrictModel):
    http1_max_pending_requests: int | None = Field(default=None, ge=0)
    http2_max_requests: int | None = Field(default=None, ge=0)
    max_requests_per_connection: int | None = Field(default=None, ge=0)
    max_retries: int | None = Field(default=None, ge=0)
    idle_timeout: Duration | None = None
    h2_upgrade_policy: Literal["DEFAULT", "DO_NOT_UPGRADE", "UPGRADE"] | None = None
    use_client_protocol: bool | None = None
    max_concurrent_streams: int | None = Field(default=None, ge=0)


class ConnectionPoolSettings(StrictModel):
    tcp: TCPSettings | None = None
    http: HTTPSettings | None = None


class OutlierDetection(StrictModel):
    split_external_local_origin_errors: bool | None = None
    consecutive_local_origin_failures: int | None = None
    consecutive_gateway_errors: int | None = None
    consecutive5xx_errors: int | None = Field(default=None, alias="consecutive5xxErrors")
    consecutive_errors: int | None = None
    interval: Duration | None = None
    base_ejection_time: Duration | None = None
    max_ejection_percent: int | None = Field(default=None, ge=0, le=100)
    min_health_percent: int | None = Field(default=None, ge=0, le=100)


class ClientTLSSettings(StrictModel):
    mode: Literal["DISABLE", "SIMPLE", "MUTUAL", "ISTIO_MUTUAL"] = "DISABLE"
    client_certificate: str | None = None
    private_key: str | None = None
    ca_certificates: str | None = None
    credential_name: str | None = None
    subject_alt_names: list[str] = Field(default_factory=list)
    sni: str | None = None
    insecure_skip_verify: bool | None = None
    ca_crl: str | None = None


class PortTrafficPolicy(StrictModel):
    port: PortSelector | None = None
    load_balancer: LoadBalancerSettings | None = None
    connection_pool: ConnectionPoolSettings | None = None
    outlier_detection: OutlierDetection | None = None
    tls: ClientTLSSettings | None = None


class TrafficPolicy(StrictModel):
    load_balancer: LoadBalancerSettings | None = None
    connection_pool: ConnectionPoolSettings | None = None
    outlier_detection: OutlierDetection | None = None
    tls: ClientTLSSettings | None = None
    port_level_settings: list[PortTrafficPolicy] = Field(default_factory=list)
    tunnel: dict[str, Any] | None = None
    proxy_protocol: dict[str, Any] | None = None
    retry_budget: dict[str, Any] | None = None


class Subset(StrictModel):
    name: str = Field(min_length=1)
    labels: dict[str, str] = Field(default_factory=dict)
    traffic_policy: TrafficPolicy | None = None


class DestinationRuleSpec(StrictModel):
    host: str = Field(min_length=1)
    traffic_policy: TrafficPolicy | None = None
    subsets: list[Subset] = Field(default_factory=list)
    export_to: list[str] = Field(default_factory=list)
    workload_selector: WorkloadSelector | None = None


# --------------------------------------------------------------------- ServiceEntry, Sidecar


class ServicePort(StrictModel):
    number: int = Field(ge=1, le=65535)
    protocol: str | None = None
    name: str = Field(min_length=1)
    target_port: int | None = Field(default=None, ge=1, le=65535)


class WorkloadEntry(StrictModel):
    address: str | None = None
    ports: dict[str, int] = Field(default_factory=dict)
    labels: dict[str, str] = Field(default_factory=dict)
    network: str | None = None
    locality: str | None = None
    weight: int | None = None
    service_account: str | None = None


class ServiceEntrySpec(StrictModel):
    hosts: list[str] = Field(min_length=1)
    addresses: list[str] = Field(default_factory=list)
    ports: list[ServicePort] = Field(default_factory=list)
    location: Literal["MESH_EXTERNAL", "MESH_INTERNAL"] = "MESH_EXTERNAL"
    resolution: Literal["NONE", "STATIC", "DNS", "DNS_ROUND_ROBIN", "DYNAMIC_DNS"] = "NONE"
    endpoints: list[WorkloadEntry] = Field(default_factory=list)
    workload_selector: LabelSelector | None = None
    export_to: list[str] = Field(default_factory=list)
    subject_alt_names: list[str] = Field(default_factory=list)


class SidecarPort(StrictModel):
    number: int = Field(ge=0, le=65535)
    protocol: str | None = None
    name: str | None = None
    target_port: int | None = None


class IstioIngressListener(StrictModel):
    port: SidecarPort
    bind: str | None = None
    capture_mode: Literal["DEFAULT", "IPTABLES", "NONE"] | None = None
    default_endpoint: str | None = None
    tls: ServerTLSSettings | None = None
    connection_pool: ConnectionPoolSettings | None = None


class IstioEgressListener(StrictModel):
    port: SidecarPort | None = None
    bind: str | None = None
    capture_mode: Literal["DEFAULT", "IPTABLES", "NONE"] | None = None
    hosts: list[str] = Field(min_length=1)


class OutboundTrafficPolicy(StrictModel):
    mode: Literal["REGISTRY_ONLY", "ALLOW_ANY"] = "ALLOW_ANY"
    egress_proxy: Destination | None = None


class SidecarSpec(StrictModel):
    workload_selector: LabelSelector | None = None
    ingress: list[IstioIngressListener] = Field(default_factory=list)
    egress: list[IstioEgressListener] = Field(default_factory=list)
    inbound_connection_pool: ConnectionPoolSettings | None = None
    outbound_traffic_policy: OutboundTrafficPolicy | None = None


# --------------------------------------------------------------------- resources


class IstioResource(StrictModel):
    """One Istio object: ``apiVersion``, ``kind``, ``metadata``, ``spec``."""

    api_version: ApiVersion
    kind: str
    metadata: Metadata
    spec: Any

    @property
    def name(self) -> str:
        return self.metadata.name

    @property
    def namespace(self) -> str:
        return self.metadata.namespace

    @property
    def key(self) -> str:
        """``namespace/name``, the form Istio uses to refer to the object."""
        return f"{self.metadata.namespace}/{self.metadata.name}"


class Gateway(IstioResource):
    kind: Literal["Gateway"]
    spec: GatewaySpec


class VirtualService(IstioResource):
    kind: Literal["VirtualService"]
    spec: VirtualServiceSpec


class DestinationRule(IstioResource):
    kind: Literal["DestinationRule"]
    spec: DestinationRuleSpec


class ServiceEntry(IstioResource):
    kind: Literal["ServiceEntry"]
    spec: ServiceEntrySpec


class Sidecar(IstioResource):
    kind: Literal["Sidecar"]
    spec: SidecarSpec


_KINDS: dict[str, type[IstioResource]] = {
    "Gateway": Gateway,
    "VirtualService": VirtualService,
    "DestinationRule": DestinationRule,
    "ServiceEntry": ServiceEntry,
    "Sidecar": Sidecar,
}
SUPPORTED_KINDS = tuple(_KINDS)


def parse_resource(data: Mapping[str, Any]) -> IstioResource:
    """Validate one manifest into its model.

    The model is picked from ``kind`` first, so a ``pydantic.ValidationError``
    carries locations relative to the manifest root with no union tags.
    """
    api_version = data.get("apiVersion") if isinstance(data, Mapping) else None
    kind = data.get("kind") if isinstance(data, Mapping) else None
    supported = ", ".join(f"{v}/{k}" for k in SUPPORTED_KINDS for v in ("networking.istio.io",))
    if api_version not in API_VERSIONS or kind not in _KINDS:
        raise UnsupportedResource(
            f"unsupported resource apiVersion={api_version!r} kind={kind!r}; supported kinds: "
            f"{supported} (apiVersion {', '.join(API_VERSIONS)})"
        )
    return _KINDS[str(kind)].model_validate(dict(data))


def resource_models() -> dict[str, type[IstioResource]]:
    """The model of each supported kind, for schemas and "did you mean" hints."""
    return dict(_KINDS)
