"""The VirtualService resource: HTTP, TLS and TCP routes.

Fields as in ``networking/v1alpha3/virtual_service.proto`` (istio/api), with
the CRD's ``oneOf`` groups; what Istio's webhook checks besides
(``pkg/config/validation``) is in ``_cases/validation``.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field, model_validator

from ..base import Duration, StrictModel
from .common import Destination, Percent, StringMatch
from .resource import IstioResource

__all__ = [
    "CorsPolicy",
    "Delegate",
    "FaultAbort",
    "FaultDelay",
    "HTTPBody",
    "HTTPDirectResponse",
    "HTTPFaultInjection",
    "HTTPMatchRequest",
    "HTTPMirrorPolicy",
    "HTTPRedirect",
    "HTTPRetry",
    "HTTPRewrite",
    "HTTPRoute",
    "HTTPRouteDestination",
    "HeaderOperations",
    "Headers",
    "L4MatchAttributes",
    "RegexRewrite",
    "RouteDestination",
    "TCPRoute",
    "TLSMatchAttributes",
    "TLSRoute",
    "VirtualService",
    "VirtualServiceSpec",
]


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
        # The CRD's oneOf; what Istio's webhook asks of a redirect is in _cases/validation.
        if self.port is not None and self.derive_port is not None:
            raise ValueError("set only one of port or derivePort")
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


class VirtualService(IstioResource):
    kind: Literal["VirtualService"]
    spec: VirtualServiceSpec
