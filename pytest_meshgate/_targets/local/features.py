"""What the local target can do: its capabilities and the conformance features it implements.

Kept apart from the target so that the conformance layer can read them
without importing Envoy, the echo or the translator (the xdist controller
decides what runs before any target starts).
"""

from __future__ import annotations

__all__ = ["CAPABILITIES", "SUPPORTED_FEATURES"]

# What checks may ask of a target beyond plain HTTP at a gateway (base.required_capabilities).
CAPABILITIES = frozenset(
    {
        "http",
        "tls",
        "backend-tls",
        "http2",
        "grpc",
        "mesh-clients",
        "via",
        "external-services",
        "service-entry",
        "statistics",
        "mirroring",
    }
)
# The conformance features (conformance/features.yaml) the translation implements:
# HTTP and TLS ingress with traffic policy, mesh clients and egress.
SUPPORTED_FEATURES = frozenset(
    [
        "Gateway",
        "GatewaySelector",
        "GatewayPortTranslation",
        "GatewayServerMerge",
        "GatewayHostNamespaceScoping",
        "VirtualService",
        "VirtualServiceGatewayReference",
        "VirtualServiceMerge",
        "RouteOrdering",
        "HostWildcard",
        "HostIntersection",
        "ExportTo",
        "NotFound",
        "DestinationRule",
        "DestinationSubset",
        "DestinationPortDefault",
        "DestinationHostResolution",
        "ServiceUnavailable",
        "WeightedDestinations",
        "HTTPPathPrefixMatch",
        "HTTPPathExactMatch",
        "HTTPPathRegexMatch",
        "HTTPIgnoreUriCase",
        "HTTPHeaderMatch",
        "HTTPWithoutHeaders",
        "HTTPQueryParamMatch",
        "HTTPMethodMatch",
        "HTTPAuthorityMatch",
        "HTTPSchemeMatch",
        "HTTPPortMatch",
        "HTTPGatewayMatch",
        "HTTPSourceLabelsMatch",
        "HTTPMatchConditions",
        "HTTPRequestHeaders",
        "HTTPResponseHeaders",
        "HTTPRewrite",
        "HTTPRegexRewrite",
        "HTTPAuthorityRewrite",
        "HTTPRedirect",
        "HTTPRedirectScheme",
        "HTTPRedirectPort",
        "HTTPRedirectAuthority",
        "HTTPRedirectPrefixRewrite",
        "HTTPSRedirect",
        "DirectResponse",
        "HTTPRouteTimeout",
        "HTTPRetries",
        "HTTPFaultDelay",
        "HTTPFaultAbort",
        "HTTPMirror",
        "HTTPMirrorPercentage",
        "HTTPCorsPolicy",
        "TrafficPolicyConnectionPool",
        "TrafficPolicyOutlierDetection",
        "TrafficPolicyLoadBalancer",
        "GatewayTLSSimple",
        "GatewayCredentialName",
        "GatewayTLSSNI",
        "GatewayTLSMutual",
        "GatewayTLSOptionalMutual",
        "GatewayTLSSubjectAltNames",
        "GatewayTLSVersions",
        "GatewayTLSCipherSuites",
        "GatewayTLSPassthrough",
        "TLSRoute",
        "GatewayTCP",
        "TCPRoute",
        "DestinationRuleTLS",
        "GatewayHTTP2",
        # gRPC
        "GatewayGRPC",
        "GRPCRouting",
        "ServicePortProtocol",
        "GRPCTimeout",
        "ServiceEntry",
        "ServiceEntryResolution",
        "ServiceEntryExportTo",
        "ServiceEntryTargetPort",
        "EgressGateway",
        "EgressTLSOrigination",
        "EgressTLSPassthrough",
        "MeshRouting",
        "MeshDefaultRouting",
        "MeshVirtualServiceConflict",
        "OutboundTrafficPolicy",
        "SidecarEgressHosts",
        # mesh TLS
        "GatewayTLSIstioMutual",
        "DestinationRuleIstioMutual",
        "SidecarTLSOrigination",
    ]
)
