"""The GRPCRoute resource: rules matching gRPC service, method and headers.

Fields as in ``apis/v1/grpcroute_types.go`` (kubernetes-sigs/gateway-api
v1.6); bounds and CEL rules as in
``config/crd/standard/gateway.networking.k8s.io_grpcroutes.yaml``. Served
in ``v1`` only since v1.6.
"""

from __future__ import annotations

import re
from typing import Any, Literal

from pydantic import Field, model_validator

from ..base import StrictModel
from .httproute import HTTPRequestMirrorFilter
from .resource import GatewayAPIResource
from .shared import (
    BackendObjectReference,
    CommonRouteSpec,
    HeaderName,
    Hostname,
    HTTPHeaderFilter,
    LocalObjectReference,
    SectionName,
    unique,
)

__all__ = [
    "GRPCBackendRef",
    "GRPCHeaderMatch",
    "GRPCMethodMatch",
    "GRPCRouteFilter",
    "GRPCRouteMatch",
    "GRPCRouteRule",
    "GRPCRouteSpec",
    "KubernetesGRPCRoute",
]

_SERVICE = re.compile(r"(?i)^\.?[a-z_][a-z_0-9]*(\.[a-z_][a-z_0-9]*)*$")
_METHOD = re.compile(r"^[A-Za-z_][A-Za-z_0-9]*$")


class GRPCMethodMatch(StrictModel):
    type: Literal["Exact", "RegularExpression"] = "Exact"
    service: str | None = Field(default=None, max_length=1024)
    method: str | None = Field(default=None, max_length=1024)

    @model_validator(mode="after")
    def _service_or_method(self) -> GRPCMethodMatch:
        if self.service is None and self.method is None:
            raise ValueError("One or both of 'service' or 'method' must be specified")
        if self.type == "Exact":
            if self.service is not None and not _SERVICE.match(self.service):
                raise ValueError(
                    "service must only contain valid characters (matching "
                    r"^(?i)\.?[a-z_][a-z_0-9]*(\.[a-z_][a-z_0-9]*)*$)"
                )
            if self.method is not None and not _METHOD.match(self.method):
                raise ValueError(
                    "method must only contain valid characters (matching ^[A-Za-z_][A-Za-z_0-9]*$)"
                )
        return self


class GRPCHeaderMatch(StrictModel):
    type: Literal["Exact", "RegularExpression"] = "Exact"
    name: HeaderName
    value: str = Field(min_length=1, max_length=4096)


class GRPCRouteMatch(StrictModel):
    method: GRPCMethodMatch | None = None
    headers: list[GRPCHeaderMatch] = Field(default_factory=list, max_length=16)

    @model_validator(mode="after")
    def _unique_headers(self) -> GRPCRouteMatch:
        unique([h.name for h in self.headers], "header match")
        return self


_FILTER_FIELDS = {
    "RequestHeaderModifier": ("request_header_modifier", "requestHeaderModifier"),
    "ResponseHeaderModifier": ("response_header_modifier", "responseHeaderModifier"),
    "RequestMirror": ("request_mirror", "requestMirror"),
    "ExtensionRef": ("extension_ref", "extensionRef"),
}


class GRPCRouteFilter(StrictModel):
    type: Literal[
        "ResponseHeaderModifier", "RequestHeaderModifier", "RequestMirror", "ExtensionRef"
    ]
    request_header_modifier: HTTPHeaderFilter | None = None
    response_header_modifier: HTTPHeaderFilter | None = None
    request_mirror: HTTPRequestMirrorFilter | None = None
    extension_ref: LocalObjectReference | None = None

    @model_validator(mode="after")
    def _field_for_type(self) -> GRPCRouteFilter:
        for filter_type, (field_name, camel) in _FILTER_FIELDS.items():
            given = getattr(self, field_name) is not None
            if given and filter_type != self.type:
                raise ValueError(
                    f"filter.{camel} must be nil if the filter.type is not {filter_type}"
                )
            if not given and filter_type == self.type:
                raise ValueError(f"filter.{camel} must be specified for {filter_type} filter.type")
        return self


def _check_filters(filters: list[GRPCRouteFilter]) -> None:
    types = [f.type for f in filters]
    for name in ("RequestHeaderModifier", "ResponseHeaderModifier"):
        if types.count(name) > 1:
            raise ValueError(f"{name} filter cannot be repeated")


class GRPCBackendRef(BackendObjectReference):
    weight: int = Field(default=1, ge=0, le=1000000)
    filters: list[GRPCRouteFilter] = Field(default_factory=list, max_length=16)

    @model_validator(mode="after")
    def _filter_rules(self) -> GRPCBackendRef:
        _check_filters(self.filters)
        return self


class GRPCRouteRule(StrictModel):
    name: SectionName | None = None
    matches: list[GRPCRouteMatch] = Field(default_factory=list, max_length=64)
    filters: list[GRPCRouteFilter] = Field(default_factory=list, max_length=16)
    backend_refs: list[GRPCBackendRef] = Field(default_factory=list, max_length=16)
    session_persistence: dict[str, Any] | None = Field(
        default=None, description="Experimental channel; not implemented by the local target."
    )

    @model_validator(mode="after")
    def _filter_rules(self) -> GRPCRouteRule:
        _check_filters(self.filters)
        return self


class GRPCRouteSpec(CommonRouteSpec):
    hostnames: list[Hostname] = Field(default_factory=list, max_length=16)
    rules: list[GRPCRouteRule] = Field(default_factory=list, max_length=16)

    @model_validator(mode="after")
    def _total_matches(self) -> GRPCRouteSpec:
        if sum(len(rule.matches) for rule in self.rules) > 128:
            raise ValueError(
                "While 16 rules and 64 matches per rule are allowed, the total number of matches "
                "across all rules in a route must be less than 128"
            )
        return self


class KubernetesGRPCRoute(GatewayAPIResource):
    """``gateway.networking.k8s.io/v1`` GRPCRoute."""

    api_version: Literal["gateway.networking.k8s.io/v1"]
    kind: Literal["GRPCRoute"]
    spec: GRPCRouteSpec
