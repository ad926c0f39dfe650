"""The HTTPRoute resource: rules of matches, filters and weighted backends.

Fields as in ``apis/v1/httproute_types.go`` (kubernetes-sigs/gateway-api
v1.6); bounds and CEL rules as in
``config/crd/standard/gateway.networking.k8s.io_httproutes.yaml``, with
the experimental channel's ``retry`` (Istio implements it). The
experimental ``sessionPersistence`` and ``ExternalAuth`` filter are
accepted as written and refused by the local target at deployment.
"""

from __future__ import annotations

import re
from typing import Any, Literal

from pydantic import Field, model_validator

from ..base import StrictModel
from .resource import GatewayAPIResource
from .shared import (
    BackendObjectReference,
    CommonRouteSpec,
    GatewayDuration,
    HeaderName,
    Hostname,
    HTTPHeaderFilter,
    LocalObjectReference,
    PortNumber,
    PreciseHostname,
    SectionName,
    duration_seconds,
    unique,
)

__all__ = [
    "HTTPBackendRef",
    "HTTPCORSFilter",
    "HTTPHeaderMatch",
    "HTTPPathMatch",
    "HTTPPathModifier",
    "HTTPQueryParamMatch",
    "HTTPRequestMirrorFilter",
    "HTTPRequestRedirectFilter",
    "HTTPRouteFilter",
    "HTTPRouteMatch",
    "HTTPRouteRetry",
    "HTTPRouteRule",
    "HTTPRouteSpec",
    "HTTPRouteTimeouts",
    "HTTPURLRewriteFilter",
    "KubernetesHTTPRoute",
    "MirrorFraction",
    "check_filters",
]

HTTPMethod = Literal["GET", "HEAD", "POST", "PUT", "DELETE", "CONNECT", "OPTIONS", "TRACE", "PATCH"]
_PATH_CHARACTERS = re.compile(r"^(?:[-A-Za-z0-9/._~!$&'()*+,;=:@]|[%][0-9a-fA-F]{2})+$")


class HTTPPathMatch(StrictModel):
    type: Literal["Exact", "PathPrefix", "RegularExpression"] = "PathPrefix"
    value: str = Field(default="/", max_length=1024)

    @model_validator(mode="after")
    def _valid_path(self) -> HTTPPathMatch:
        # The CEL rules on HTTPPathMatch, in the CRD's order and wording.
        if self.type == "RegularExpression":
            return self
        value = self.value
        if not value.startswith("/"):
            raise ValueError(
                "value must be an absolute path and start with '/' when type one of "
                "['Exact', 'PathPrefix']"
            )
        for fragment in ("//", "/./", "/../", "%2f", "%2F", "#"):
            if fragment in value:
                raise ValueError(
                    f"must not contain '{fragment}' when type one of ['Exact', 'PathPrefix']"
                )
        for suffix in ("/..", "/."):
            if value.endswith(suffix):
                raise ValueError(
                    f"must not end with '{suffix}' when type one of ['Exact', 'PathPrefix']"
                )
        if not _PATH_CHARACTERS.match(value):
            raise ValueError(
                "must only contain valid characters (matching "
                f"{_PATH_CHARACTERS.pattern}) for types ['Exact', 'PathPrefix']"
            )
        return self


class HTTPHeaderMatch(StrictModel):
    type: Literal["Exact", "RegularExpression"] = "Exact"
    name: HeaderName
    value: str = Field(min_length=1, max_length=4096)


class HTTPQueryParamMatch(StrictModel):
    type: Literal["Exact", "RegularExpression"] = "Exact"
    name: HeaderName
    value: str = Field(min_length=1, max_length=1024)


class HTTPRouteMatch(StrictModel):
    """One match: every condition given must hold (ANDed)."""

    path: HTTPPathMatch = Field(default_factory=HTTPPathMatch)
    headers: list[HTTPHeaderMatch] = Field(default_factory=list, max_length=16)
    query_params: list[HTTPQueryParamMatch] = Field(default_factory=list, max_length=16)
    method: HTTPMethod | None = None

    @model_validator(mode="after")
    def _unique_names(self) -> HTTPRouteMatch:
        # list-type map keyed by name: the API server refuses duplicates. Istio
        # additionally folds header names to lower case.
        unique([h.name for h in self.headers], "header match")
        unique([q.name for q in self.query_params], "query parameter match")
        return self


class HTTPPathModifier(StrictModel):
    type: Literal["ReplaceFullPath", "ReplacePrefixMatch"]
    replace_full_path: str | None = Field(default=None, max_length=1024)
    replace_prefix_match: str | None = Field(default=None, max_length=1024)

    @model_validator(mode="after")
    def _value_for_type(self) -> HTTPPathModifier:
        full, prefix = self.replace_full_path is not None, self.replace_prefix_match is not None
        if self.type == "ReplaceFullPath" and not full:
            raise ValueError(
                "replaceFullPath must be specified when type is set to 'ReplaceFullPath'"
            )
        if full and self.type != "ReplaceFullPath":
            raise ValueError("type must be 'ReplaceFullPath' when replaceFullPath is set")
        if self.type == "ReplacePrefixMatch" and not prefix:
            raise ValueError(
                "replacePrefixMatch must be specified when type is set to 'ReplacePrefixMatch'"
            )
        if prefix and self.type != "ReplacePrefixMatch":
            raise ValueError("type must be 'ReplacePrefixMatch' when replacePrefixMatch is set")
        return self


class HTTPRequestRedirectFilter(StrictModel):
    scheme: Literal["http", "https"] | None = None
    hostname: PreciseHostname | None = None
    path: HTTPPathModifier | None = None
    port: PortNumber | None = None
    status_code: Literal[301, 302, 303, 307, 308] = 302


class HTTPURLRewriteFilter(StrictModel):
    hostname: PreciseHostname | None = None
    path: HTTPPathModifier | None = None


class MirrorFraction(StrictModel):
    numerator: int = Field(ge=0)
    denominator: int = Field(default=100, ge=1)

    @model_validator(mode="after")
    def _at_most_one(self) -> MirrorFraction:
        if self.numerator > self.denominator:
            raise ValueError("numerator must be less than or equal to denominator")
        return self


class HTTPRequestMirrorFilter(StrictModel):
    backend_ref: BackendObjectReference
    percent: int | None = Field(default=None, ge=0, le=100)
    fraction: MirrorFraction | None = None

    @model_validator(mode="after")
    def _percent_or_fraction(self) -> HTTPRequestMirrorFilter:
        if self.percent is not None and self.fraction is not None:
            raise ValueError(
                "Only one of percent or fraction may be specified in HTTPRequestMirrorFilter"
            )
        return self


_ORIGIN = re.compile(
    r"(^\*$)|(^(http(s)?):\/\/(((\*\.)?([a-zA-Z0-9\-]+\.)*[a-zA-Z0-9-]+|\*)(:([0-9]{1,5}))?)$)"
)


class HTTPCORSFilter(StrictModel):
    allow_origins: list[str] = Field(default_factory=list, max_length=64)
    allow_credentials: bool | None = None
    allow_methods: list[Literal[HTTPMethod, "*"]] = Field(default_factory=list, max_length=9)
    allow_headers: list[HeaderName] = Field(default_factory=list, max_length=64)
    expose_headers: list[HeaderName] = Field(default_factory=list, max_length=64)
    max_age: int = Field(default=5, ge=1)

    @model_validator(mode="after")
    def _cors_rules(self) -> HTTPCORSFilter:
        for origin in self.allow_origins:
            if not 1 <= len(origin) <= 253 or not _ORIGIN.match(origin):
                raise ValueError(f"invalid allowOrigins entry {origin!r}")
        for name, values, what in (
            ("AllowOrigins", self.allow_origins, "origins"),
            ("AllowMethods", [str(m) for m in self.allow_methods], "methods"),
            ("AllowHeaders", self.allow_headers, "methods"),
        ):
            if "*" in values and len(values) > 1:
                raise ValueError(f"{name} cannot contain '*' alongside other {what}")
            unique(values, f"{name} entry")
        unique(self.expose_headers, "ExposeHeaders entry")
        return self


FilterType = Literal[
    "RequestHeaderModifier",
    "ResponseHeaderModifier",
    "RequestMirror",
    "RequestRedirect",
    "URLRewrite",
    "ExtensionRef",
    "CORS",
    "ExternalAuth",
]
_FILTER_FIELDS = {
    "RequestHeaderModifier": "request_header_modifier",
    "ResponseHeaderModifier": "response_header_modifier",
    "RequestMirror": "request_mirror",
    "RequestRedirect": "request_redirect",
    "URLRewrite": "url_rewrite",
    "ExtensionRef": "extension_ref",
    "CORS": "cors",
    "ExternalAuth": "external_auth",
}
_CAMEL = {
    "request_header_modifier": "requestHeaderModifier",
    "response_header_modifier": "responseHeaderModifier",
    "request_mirror": "requestMirror",
    "request_redirect": "requestRedirect",
    "url_rewrite": "urlRewrite",
    "extension_ref": "extensionRef",
    "cors": "cors",
    "external_auth": "externalAuth",
}


class HTTPRouteFilter(StrictModel):
    """One filter; exactly the field its ``type`` names is set."""

    type: FilterType
    request_header_modifier: HTTPHeaderFilter | None = None
    response_header_modifier: HTTPHeaderFilter | None = None
    request_mirror: HTTPRequestMirrorFilter | None = None
    request_redirect: HTTPRequestRedirectFilter | None = None
    url_rewrite: HTTPURLRewriteFilter | None = None
    extension_ref: LocalObjectReference | None = None
    cors: HTTPCORSFilter | None = None
    external_auth: dict[str, Any] | None = Field(
        default=None, description="Experimental channel; not implemented by the local target."
    )

    @model_validator(mode="after")
    def _field_for_type(self) -> HTTPRouteFilter:
        wanted = _FILTER_FIELDS[self.type]
        for field_name in _FILTER_FIELDS.values():
            camel = _CAMEL[field_name]
            given = getattr(self, field_name) is not None
            filter_type = next(t for t, f in _FILTER_FIELDS.items() if f == field_name)
            if given and field_name != wanted:
                raise ValueError(
                    f"filter.{camel} must be nil if the filter.type is not {filter_type}"
                )
            if not given and field_name == wanted:
                raise ValueError(f"filter.{camel} must be specified for {filter_type} filter.type")
        return self


def check_filters(filters: list[HTTPRouteFilter]) -> None:
    """The CEL rules on a filter list (of a rule or of a backendRef)."""
    types = [f.type for f in filters]
    if "RequestRedirect" in types and "URLRewrite" in types:
        raise ValueError(
            "May specify either httpRouteFilterRequestRedirect or httpRouteFilterRequestRewrite, "
            "but not both"
        )
    for name in (
        "CORS",
        "RequestHeaderModifier",
        "ResponseHeaderModifier",
        "RequestRedirect",
        "URLRewrite",
    ):
        if types.count(name) > 1:
            raise ValueError(f"{name} filter cannot be repeated")


class HTTPBackendRef(BackendObjectReference):
    weight: int = Field(default=1, ge=0, le=1000000)
    filters: list[HTTPRouteFilter] = Field(default_factory=list, max_length=16)

    @model_validator(mode="after")
    def _filter_rules(self) -> HTTPBackendRef:
        check_filters(self.filters)
        return self


class HTTPRouteTimeouts(StrictModel):
    request: GatewayDuration | None = None
    backend_request: GatewayDuration | None = None

    @model_validator(mode="after")
    def _backend_within_request(self) -> HTTPRouteTimeouts:
        if self.request is not None and self.backend_request is not None:
            request = duration_seconds(self.request)
            if request != 0 and duration_seconds(self.backend_request) > request:
                raise ValueError("backendRequest timeout cannot be longer than request timeout")
        return self


class HTTPRouteRetry(StrictModel):
    """Experimental channel (GEP-1731): retried status codes, attempts, backoff."""

    codes: list[int] = Field(default_factory=list)
    attempts: int | None = Field(default=None, ge=1)
    backoff: GatewayDuration | None = None

    @model_validator(mode="after")
    def _codes(self) -> HTTPRouteRetry:
        for code in self.codes:
            if not 400 <= code <= 599:
                raise ValueError(f"retry code {code} is not between 400 and 599")
        unique([str(c) for c in self.codes], "retry code")
        return self


def _default_matches() -> list[HTTPRouteMatch]:
    return [HTTPRouteMatch()]


class HTTPRouteRule(StrictModel):
    name: SectionName | None = None
    matches: list[HTTPRouteMatch] = Field(default_factory=_default_matches, max_length=64)
    filters: list[HTTPRouteFilter] = Field(default_factory=list, max_length=16)
    backend_refs: list[HTTPBackendRef] = Field(default_factory=list, max_length=16)
    timeouts: HTTPRouteTimeouts | None = None
    retry: HTTPRouteRetry | None = None
    session_persistence: dict[str, Any] | None = Field(
        default=None, description="Experimental channel; not implemented by the local target."
    )

    @model_validator(mode="after")
    def _rule_rules(self) -> HTTPRouteRule:
        check_filters(self.filters)
        if self.backend_refs and any(f.type == "RequestRedirect" for f in self.filters):
            raise ValueError("RequestRedirect filter must not be used together with backendRefs")
        one_prefix = len(self.matches) == 1 and self.matches[0].path.type == "PathPrefix"
        for what, kind in (("RequestRedirect", "request_redirect"), ("URLRewrite", "url_rewrite")):
            for where, filters in [("", self.filters)] + [
                ("Within backendRefs, w", b.filters) for b in self.backend_refs
            ]:
                prefix_filters = [
                    f
                    for f in filters
                    if getattr(f, kind) is not None
                    and getattr(f, kind).path is not None
                    and getattr(f, kind).path.type == "ReplacePrefixMatch"
                ]
                if prefix_filters and not one_prefix:
                    lead = f"{where}hen" if where else "When"
                    raise ValueError(
                        f"{lead} using {what} filter with path.replacePrefixMatch, exactly one "
                        "PathPrefix match must be specified"
                    )
        return self


def _default_rules() -> list[HTTPRouteRule]:
    return [HTTPRouteRule()]


class HTTPRouteSpec(CommonRouteSpec):
    hostnames: list[Hostname] = Field(default_factory=list, max_length=16)
    rules: list[HTTPRouteRule] = Field(default_factory=_default_rules, max_length=16)

    @model_validator(mode="after")
    def _total_matches(self) -> HTTPRouteSpec:
        if sum(len(rule.matches) for rule in self.rules) > 128:
            raise ValueError(
                "While 16 rules and 64 matches per rule are allowed, the total number of matches "
                "across all rules in a route must be less than 128"
            )
        return self


class KubernetesHTTPRoute(GatewayAPIResource):
    """``gateway.networking.k8s.io`` HTTPRoute (v1, v1beta1)."""

    api_version: Literal["gateway.networking.k8s.io/v1", "gateway.networking.k8s.io/v1beta1"]
    kind: Literal["HTTPRoute"]
    spec: HTTPRouteSpec
