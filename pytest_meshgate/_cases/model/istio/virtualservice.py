"""The VirtualService resource: HTTP, TLS and TCP routes.

Fields as in ``networking/v1alpha3/virtual_service.proto`` (istio/api); the
validators follow ``pkg/config/validation`` (istio/istio).
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


class VirtualService(IstioResource):
    kind: Literal["VirtualService"]
    spec: VirtualServiceSpec
