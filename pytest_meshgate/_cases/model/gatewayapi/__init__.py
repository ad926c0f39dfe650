"""Pydantic models of the Kubernetes Gateway API resources the suite understands.

One module per resource as ``apis/v1/*_types.go`` (kubernetes-sigs/gateway-api
v1.6) lays them out: ``gatewayclass``, ``gateway``, ``httproute``,
``grpcroute``, ``l4routes`` (TLSRoute, TCPRoute), ``referencegrant``,
``backendtlspolicy``, ``listenerset``;
``shared`` holds the types they share and ``resource`` the object around
each. The classes whose Gateway API name is also an Istio model's
(Gateway, HTTPRoute, TLSRoute, TCPRoute) are prefixed ``Kubernetes``, as
Istio's own ``gvk.KubernetesGateway``, so that the two never share a
schema definition; the others follow for symmetry.
"""

from __future__ import annotations

from .backendtlspolicy import (
    BackendTLSPolicySpec,
    BackendTLSPolicyValidation,
    KubernetesBackendTLSPolicy,
    PolicyTargetReference,
    SubjectAltName,
)
from .gateway import (
    AllowedRoutes,
    KubernetesGateway,
    KubernetesGatewaySpec,
    Listener,
    ListenerTLSConfig,
    RouteGroupKind,
    RouteNamespaces,
)
from .gatewayclass import GatewayClassSpec, KubernetesGatewayClass
from .grpcroute import (
    GRPCBackendRef,
    GRPCHeaderMatch,
    GRPCMethodMatch,
    GRPCRouteFilter,
    GRPCRouteMatch,
    GRPCRouteRule,
    GRPCRouteSpec,
    KubernetesGRPCRoute,
)
from .httproute import (
    HTTPBackendRef,
    HTTPCORSFilter,
    HTTPHeaderMatch,
    HTTPPathMatch,
    HTTPPathModifier,
    HTTPQueryParamMatch,
    HTTPRequestMirrorFilter,
    HTTPRequestRedirectFilter,
    HTTPRouteFilter,
    HTTPRouteMatch,
    HTTPRouteRetry,
    HTTPRouteRule,
    HTTPRouteSpec,
    HTTPRouteTimeouts,
    HTTPURLRewriteFilter,
    KubernetesHTTPRoute,
    MirrorFraction,
)
from .l4routes import (
    KubernetesTCPRoute,
    KubernetesTCPRouteV1Alpha2,
    KubernetesTLSRoute,
    KubernetesTLSRouteV1Alpha2,
    L4RouteRule,
)
from .listenerset import (
    KubernetesListenerSet,
    ListenerEntry,
    ListenerSetSpec,
    ParentGatewayReference,
)
from .referencegrant import (
    KubernetesReferenceGrant,
    ReferenceGrantFrom,
    ReferenceGrantSpec,
    ReferenceGrantTo,
)
from .resource import (
    GATEWAY_API_CHANNEL,
    GATEWAY_API_VERSION,
    SERVED_VERSIONS,
    ClusterGatewayAPIResource,
    GatewayAPIResource,
)
from .shared import (
    GATEWAY_GROUP,
    BackendObjectReference,
    HTTPHeader,
    HTTPHeaderFilter,
    ParentReference,
    RouteBackendRef,
    SecretObjectReference,
    duration_seconds,
)

__all__ = [
    "GATEWAY_API_CHANNEL",
    "GATEWAY_API_VERSION",
    "GATEWAY_GROUP",
    "MODELS",
    "SERVED_VERSIONS",
    "AllowedRoutes",
    "BackendObjectReference",
    "BackendTLSPolicySpec",
    "BackendTLSPolicyValidation",
    "ClusterGatewayAPIResource",
    "GRPCBackendRef",
    "GRPCHeaderMatch",
    "GRPCMethodMatch",
    "GRPCRouteFilter",
    "GRPCRouteMatch",
    "GRPCRouteRule",
    "GRPCRouteSpec",
    "GatewayAPIResource",
    "GatewayClassSpec",
    "HTTPBackendRef",
    "HTTPCORSFilter",
    "HTTPHeader",
    "HTTPHeaderFilter",
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
    "KubernetesBackendTLSPolicy",
    "KubernetesGRPCRoute",
    "KubernetesGateway",
    "KubernetesGatewayClass",
    "KubernetesGatewaySpec",
    "KubernetesHTTPRoute",
    "KubernetesListenerSet",
    "KubernetesReferenceGrant",
    "KubernetesTCPRoute",
    "KubernetesTCPRouteV1Alpha2",
    "KubernetesTLSRoute",
    "KubernetesTLSRouteV1Alpha2",
    "L4RouteRule",
    "Listener",
    "ListenerEntry",
    "ListenerSetSpec",
    "ListenerTLSConfig",
    "MirrorFraction",
    "ParentGatewayReference",
    "ParentReference",
    "PolicyTargetReference",
    "ReferenceGrantFrom",
    "ReferenceGrantSpec",
    "ReferenceGrantTo",
    "RouteBackendRef",
    "RouteGroupKind",
    "RouteNamespaces",
    "SecretObjectReference",
    "SubjectAltName",
    "duration_seconds",
]

# (kind, version) -> model, for the resource registry (``model/resources.py``).
MODELS: dict[tuple[str, str], type[GatewayAPIResource] | type[ClusterGatewayAPIResource]] = {
    **{("GatewayClass", v): KubernetesGatewayClass for v in SERVED_VERSIONS["GatewayClass"]},
    **{("Gateway", v): KubernetesGateway for v in SERVED_VERSIONS["Gateway"]},
    **{("HTTPRoute", v): KubernetesHTTPRoute for v in SERVED_VERSIONS["HTTPRoute"]},
    **{("GRPCRoute", v): KubernetesGRPCRoute for v in SERVED_VERSIONS["GRPCRoute"]},
    **{("ReferenceGrant", v): KubernetesReferenceGrant for v in SERVED_VERSIONS["ReferenceGrant"]},
    ("TLSRoute", "v1"): KubernetesTLSRoute,
    ("TLSRoute", "v1alpha3"): KubernetesTLSRoute,
    ("TLSRoute", "v1alpha2"): KubernetesTLSRouteV1Alpha2,
    ("TCPRoute", "v1"): KubernetesTCPRoute,
    ("TCPRoute", "v1alpha2"): KubernetesTCPRouteV1Alpha2,
    **{
        ("BackendTLSPolicy", v): KubernetesBackendTLSPolicy
        for v in SERVED_VERSIONS["BackendTLSPolicy"]
    },
    ("ListenerSet", "v1"): KubernetesListenerSet,
}
