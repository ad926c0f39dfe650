"""Pydantic models of the Istio networking API subset the suite understands.

One module per Istio resource, as Istio's API protos are laid out
(``networking/v1alpha3/*.proto`` in istio/api): ``gateway``,
``virtualservice``, ``destinationrule``, ``serviceentry``, ``sidecar``;
``telemetry`` (``telemetry.istio.io``), ``security`` (``security.istio.io``:
AuthorizationPolicy, RequestAuthentication) and ``peerauthentication``
(``security.istio.io``) beside them;
``common`` holds the messages they share and ``resource`` the Kubernetes
object around each. This module picks a manifest's model by its ``kind``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from .common import (
    Destination,
    LabelSelector,
    Percent,
    PortSelector,
    StringMatch,
    WorkloadSelector,
)
from .destinationrule import (
    ClientTLSSettings,
    ConnectionPoolSettings,
    ConsistentHashLB,
    DestinationRule,
    DestinationRuleSpec,
    HTTPCookie,
    HTTPSettings,
    LoadBalancerSettings,
    OutlierDetection,
    PortTrafficPolicy,
    Subset,
    TCPKeepalive,
    TCPSettings,
    TrafficPolicy,
    WarmupConfiguration,
)
from .gateway import (
    Gateway,
    GatewaySpec,
    Port,
    Server,
    ServerTLSSettings,
    TLSCertificate,
    TLSVersion,
)
from .peerauthentication import (
    MutualTLS,
    PeerAuthentication,
    PeerAuthenticationSpec,
)
from .resource import (
    API_VERSIONS,
    ApiVersion,
    IstioResource,
    Metadata,
)
from .security import (
    SECURITY_API_VERSIONS,
    AuthorizationPolicy,
    AuthorizationPolicySpec,
    AuthorizationRule,
    Condition,
    JWTRule,
    Operation,
    RequestAuthentication,
    RequestAuthenticationSpec,
    Source,
)
from .serviceentry import (
    ServiceEntry,
    ServiceEntrySpec,
    ServicePort,
    WorkloadEntry,
)
from .sidecar import (
    IstioEgressListener,
    IstioIngressListener,
    OutboundTrafficPolicy,
    Sidecar,
    SidecarPort,
    SidecarSpec,
)
from .telemetry import (
    TELEMETRY_API_VERSIONS,
    AccessLogging,
    AccessLoggingFilter,
    LogSelector,
    Metrics,
    MetricSelector,
    MetricsOverrides,
    PolicyTargetReference,
    ProviderRef,
    TagOverride,
    Telemetry,
    TelemetrySpec,
)
from .virtualservice import (
    CorsPolicy,
    Delegate,
    FaultAbort,
    FaultDelay,
    HeaderOperations,
    Headers,
    HTTPBody,
    HTTPDirectResponse,
    HTTPFaultInjection,
    HTTPMatchRequest,
    HTTPMirrorPolicy,
    HTTPRedirect,
    HTTPRetry,
    HTTPRewrite,
    HTTPRoute,
    HTTPRouteDestination,
    L4MatchAttributes,
    RegexRewrite,
    RouteDestination,
    TCPRoute,
    TLSMatchAttributes,
    TLSRoute,
    VirtualService,
    VirtualServiceSpec,
)

__all__ = [
    "API_VERSIONS",
    "SECURITY_API_VERSIONS",
    "SUPPORTED_KINDS",
    "TELEMETRY_API_VERSIONS",
    "AccessLogging",
    "AccessLoggingFilter",
    "ApiVersion",
    "AuthorizationPolicy",
    "AuthorizationPolicySpec",
    "AuthorizationRule",
    "ClientTLSSettings",
    "Condition",
    "ConnectionPoolSettings",
    "ConsistentHashLB",
    "CorsPolicy",
    "Delegate",
    "Destination",
    "DestinationRule",
    "DestinationRuleSpec",
    "FaultAbort",
    "FaultDelay",
    "Gateway",
    "GatewaySpec",
    "HTTPBody",
    "HTTPCookie",
    "HTTPDirectResponse",
    "HTTPFaultInjection",
    "HTTPMatchRequest",
    "HTTPMirrorPolicy",
    "HTTPRedirect",
    "HTTPRetry",
    "HTTPRewrite",
    "HTTPRoute",
    "HTTPRouteDestination",
    "HTTPSettings",
    "HeaderOperations",
    "Headers",
    "IstioEgressListener",
    "IstioIngressListener",
    "IstioResource",
    "JWTRule",
    "L4MatchAttributes",
    "LabelSelector",
    "LoadBalancerSettings",
    "LogSelector",
    "Metadata",
    "MetricSelector",
    "Metrics",
    "MetricsOverrides",
    "MutualTLS",
    "Operation",
    "OutboundTrafficPolicy",
    "OutlierDetection",
    "PeerAuthentication",
    "PeerAuthenticationSpec",
    "Percent",
    "PolicyTargetReference",
    "Port",
    "PortSelector",
    "PortTrafficPolicy",
    "ProviderRef",
    "RegexRewrite",
    "RequestAuthentication",
    "RequestAuthenticationSpec",
    "RouteDestination",
    "Server",
    "ServerTLSSettings",
    "ServiceEntry",
    "ServiceEntrySpec",
    "ServicePort",
    "Sidecar",
    "SidecarPort",
    "SidecarSpec",
    "Source",
    "StringMatch",
    "Subset",
    "TCPKeepalive",
    "TCPRoute",
    "TCPSettings",
    "TLSCertificate",
    "TLSMatchAttributes",
    "TLSRoute",
    "TLSVersion",
    "TagOverride",
    "Telemetry",
    "TelemetrySpec",
    "TrafficPolicy",
    "UnsupportedResource",
    "VirtualService",
    "VirtualServiceSpec",
    "WarmupConfiguration",
    "WorkloadEntry",
    "WorkloadSelector",
    "parse_resource",
    "resource_models",
]


class UnsupportedResource(ValueError):
    """A manifest whose apiVersion/kind this suite does not model."""


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
    """The model of each supported networking kind, for schemas and "did you mean" hints
    (Telemetry, of ``telemetry.istio.io``, is registered apart: ``TELEMETRY_API_VERSIONS``)."""
    return dict(_KINDS)
