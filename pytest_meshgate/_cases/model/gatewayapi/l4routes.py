"""The layer-4 routes: TLSRoute (by SNI) and TCPRoute.

Fields as in ``apis/v1/tlsroute_types.go`` and ``apis/v1/tcproute_types.go``
(kubernetes-sigs/gateway-api v1.6, where both reached v1); bounds and CEL
rules as in ``config/crd/experimental/gateway.networking.k8s.io_tlsroutes.yaml``
and ``..._tcproutes.yaml``. ``v1`` allows one rule and requires TLSRoute
hostnames; the older ``v1alpha2`` (and TLSRoute ``v1alpha3``, which is
``v1`` in all but name) are served by the experimental channel.
"""

from __future__ import annotations

import ipaddress
import re
from typing import Annotated, Literal

from pydantic import AfterValidator, Field, model_validator

from ..base import StrictModel
from .resource import GatewayAPIResource
from .shared import CommonRouteSpec, Hostname, RouteBackendRef, SectionName

__all__ = [
    "KubernetesTCPRoute",
    "KubernetesTCPRouteV1Alpha2",
    "KubernetesTLSRoute",
    "KubernetesTLSRouteV1Alpha2",
    "L4RouteRule",
    "TCPRouteSpec",
    "TCPRouteSpecV1Alpha2",
    "TLSRouteSpec",
    "TLSRouteSpecV1Alpha2",
]

_RFC1123 = re.compile(r"^([a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*)$")


class L4RouteRule(StrictModel):
    name: SectionName | None = None
    backend_refs: list[RouteBackendRef] = Field(min_length=1, max_length=16)


def _tls_hostname(host: str) -> str:
    # The CEL rules on TLSRoute v1 spec.hostnames.
    try:
        ipaddress.ip_address(host)
    except ValueError:
        pass
    else:
        raise ValueError("Hostnames cannot contain an IP")
    if "*" not in host and not _RFC1123.match(host):
        raise ValueError("Hostnames must be valid based on RFC-1123")
    return host


class TLSRouteSpec(CommonRouteSpec):
    """v1 (and v1alpha3): hostnames required, exactly one rule."""

    hostnames: list[Annotated[Hostname, AfterValidator(_tls_hostname)]] = Field(
        min_length=1, max_length=1024
    )
    rules: list[L4RouteRule] = Field(min_length=1, max_length=1)


class _Alpha2Rules(CommonRouteSpec):
    rules: list[L4RouteRule] = Field(min_length=1, max_length=16)

    @model_validator(mode="after")
    def _unique_rule_names(self) -> _Alpha2Rules:
        names = [r.name for r in self.rules if r.name is not None]
        if len(names) != len(set(names)):
            raise ValueError("Rule name must be unique within the route")
        return self


class TLSRouteSpecV1Alpha2(_Alpha2Rules):
    """v1alpha2: hostnames optional, up to 16 rules."""

    hostnames: list[Hostname] = Field(default_factory=list, max_length=1024)


class TCPRouteSpec(CommonRouteSpec):
    """v1: exactly one rule."""

    rules: list[L4RouteRule] = Field(min_length=1, max_length=1)


class TCPRouteSpecV1Alpha2(_Alpha2Rules):
    """v1alpha2: up to 16 rules."""


class KubernetesTLSRoute(GatewayAPIResource):
    """``gateway.networking.k8s.io`` TLSRoute v1 (and v1alpha3, experimental)."""

    api_version: Literal["gateway.networking.k8s.io/v1", "gateway.networking.k8s.io/v1alpha3"]
    kind: Literal["TLSRoute"]
    spec: TLSRouteSpec


class KubernetesTLSRouteV1Alpha2(GatewayAPIResource):
    """``gateway.networking.k8s.io/v1alpha2`` TLSRoute (experimental channel)."""

    api_version: Literal["gateway.networking.k8s.io/v1alpha2"]
    kind: Literal["TLSRoute"]
    spec: TLSRouteSpecV1Alpha2


class KubernetesTCPRoute(GatewayAPIResource):
    """``gateway.networking.k8s.io/v1`` TCPRoute."""

    api_version: Literal["gateway.networking.k8s.io/v1"]
    kind: Literal["TCPRoute"]
    spec: TCPRouteSpec


class KubernetesTCPRouteV1Alpha2(GatewayAPIResource):
    """``gateway.networking.k8s.io/v1alpha2`` TCPRoute (experimental channel)."""

    api_version: Literal["gateway.networking.k8s.io/v1alpha2"]
    kind: Literal["TCPRoute"]
    spec: TCPRouteSpecV1Alpha2
