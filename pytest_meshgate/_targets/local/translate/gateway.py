"""Gateway -> proxy binding, server merging per port, and the gateway HCM.

Listeners and their filter chains are assembled in ``listeners.py``.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

from ...._cases.model.istio import Gateway, Server
from ..world import GatewayProxy, World
from .common import _API, HCM_TYPE, Json, UnsupportedFeature, resources_of
from .hosts import sanitize_server_hosts
from .peer import PeerIdentity, outbound_peer_filters

__all__ = [
    "GATEWAY_SERVICE_ANNOTATION",
    "HTTP_PROTOCOLS",
    "BoundServer",
    "PortServers",
    "access_log",
    "http_connection_manager",
    "https_route_name",
    "merge_servers",
    "resolve_port",
    "security_network_filters",
    "selected_gateways",
]

log = logging.getLogger(__name__)

# model.InternalGatewayServiceAnnotation (pilot/pkg/model/push_context.go)
GATEWAY_SERVICE_ANNOTATION = "internal.istio.io/gateway-service"
# constants.InternalParentNamespace: a ListenerSet's Gateways live in its own namespace
# and bind the Service of its parent Gateway, in that Gateway's namespace.
PARENT_NAMESPACE_ANNOTATION = "internal.istio.io/parent-namespace"

# protocol.Instance.IsHTTP() (pkg/config/protocol/instance.go)
HTTP_PROTOCOLS = frozenset({"HTTP", "HTTP2", "GRPC", "GRPC-WEB", "HTTP_PROXY"})


@dataclass(frozen=True)
class BoundServer:
    """A Gateway server bound on this proxy, hosts sanitized (``./h`` resolved)."""

    gateway: Gateway
    server: Server
    hosts: tuple[str, ...]
    listen_port: int  # after Service port -> targetPort translation

    @property
    def gateway_name(self) -> str:
        return self.gateway.key  # "ns/name", as VirtualServices refer to it

    @property
    def protocol(self) -> str:
        return self.server.port.protocol.upper()

    @property
    def port_number(self) -> int:
        return self.server.port.number

    @property
    def is_http(self) -> bool:
        return self.protocol in HTTP_PROTOCOLS

    @property
    def is_tls(self) -> bool:
        """``gateway.IsTLSServer``: tls on a non-HTTP protocol (httpsRedirect is not TLS)."""
        return self.server.tls is not None and not self.is_http

    @property
    def https_redirect(self) -> bool:
        return self.server.tls is not None and self.server.tls.https_redirect

    @property
    def tls_mode(self) -> str | None:
        """``tls.mode`` (the model defaults it to PASSTHROUGH, the API's zero value)."""
        tls = self.server.tls
        return None if tls is None else tls.mode

    @property
    def is_passthrough(self) -> bool:
        """``gateway.IsPassThroughServer``."""
        return self.tls_mode in ("PASSTHROUGH", "AUTO_PASSTHROUGH")

    @property
    def terminates_https(self) -> bool:
        """``gateway.IsHTTPSServerWithTLSTermination``: an HCM behind a TLS context."""
        return self.protocol == "HTTPS" and self.server.tls is not None and not self.is_passthrough

    @property
    def https_route_name(self) -> str:
        """``gatewayRDSRouteName`` for a terminating HTTPS server."""
        return https_route_name(self)


@dataclass
class PortServers:
    """Everything bound on one listener port, as ``mergeGateways`` leaves it."""

    port: int
    plaintext: list[BoundServer] = field(default_factory=list)
    tls: list[BoundServer] = field(default_factory=list)

    @property
    def http_servers(self) -> list[BoundServer]:
        return [s for s in self.plaintext if s.is_http]

    @property
    def route_name(self) -> str:
        return f"http.{self.port}"  # model/gateway.go gatewayRDSRouteName()


def selected_gateways(world: World, proxy: GatewayProxy) -> list[Gateway]:
    """Gateways applying to ``proxy`` in Istio's order (``push_context.go`` ``mergeGateways``).

    A Gateway generated from a Gateway API Gateway binds the pods of its Service;
    otherwise no selector binds every gateway proxy, and a selector must be a
    subset of the pod labels. Gateways from all namespaces count
    (``PILOT_SCOPE_GATEWAY_TO_NAMESPACE`` defaults to false).
    """
    out = []
    own_service = f"{proxy.name}.{proxy.namespace}.svc.{world.domain_suffix}"
    for gw in resources_of(world, Gateway):
        services = gw.metadata.annotations.get(GATEWAY_SERVICE_ANNOTATION)
        if services is not None:
            # A Gateway the Gateway API conversion generated applies to the pods of
            # its Services in its own namespace only (InternalGatewayServiceAnnotation),
            # or in its parent Gateway's for a ListenerSet's (push_context.go).
            namespace = gw.metadata.annotations.get(
                PARENT_NAMESPACE_ANNOTATION, gw.metadata.namespace
            )
            if own_service in services.split(",") and namespace == proxy.namespace:
                out.append(gw)
            continue
        selector = gw.spec.selector or {}
        if all(proxy.labels.get(k) == v for k, v in selector.items()):
            out.append(gw)
    return out


def resolve_port(number: int, proxy: GatewayProxy) -> int:
    """``model/gateway.go`` ``resolvePorts()`` for label-selected gateways.

    A server port equal to a port of the gateway's Service is bound on that
    port's targetPort (first match); any other number is bound as is.
    """
    for sp in proxy.service_ports:
        if sp.port == number:
            return sp.target_port
    return number


def _can_merge(new: str, current: str) -> bool:
    # model/gateway.go canMergeProtocols(): only HTTP joins an existing plaintext port.
    return (current in HTTP_PROTOCOLS or current == new) and new in HTTP_PROTOCOLS


def merge_servers(world: World, proxy: GatewayProxy) -> list[PortServers]:
    """Servers of the selected gateways grouped by listener port (``mergeGateways()``).

    The first server on a port decides; a later server whose protocol cannot
    merge is skipped ("conflict with existing server"), as is a TLS server
    repeating a host already used with TLS on that port (``CheckDuplicates``).
    """
    ports: dict[int, PortServers] = {}
    tls_hosts_by_port: dict[int, set[str]] = {}
    https_route_names: set[str] = set()
    for gw in selected_gateways(world, proxy):
        for index, server in enumerate(gw.spec.servers):
            if server.bind:
                raise UnsupportedFeature(gw, f"spec.servers[{index}].bind")
            bound = BoundServer(
                gateway=gw,
                server=server,
                hosts=tuple(sanitize_server_hosts(server.hosts, gw.metadata.namespace)),
                listen_port=resolve_port(server.port.number, proxy),
            )
            port = bound.listen_port
            if server.tls is not None:
                known = tls_hosts_by_port.setdefault(port, set())
                duplicates = [h for h in bound.hosts if h in known]
                if duplicates:
                    log.info("skipping server of %s: duplicate hosts %s", gw.key, duplicates)
                    continue
                known.update(bound.hosts)
            entry = ports.get(port)
            if entry is None:
                entry = ports[port] = PortServers(port=port)
                (entry.tls if bound.is_tls else entry.plaintext).append(bound)
                if bound.terminates_https:
                    https_route_names.add(bound.https_route_name)
                continue
            if entry.plaintext:
                current = entry.plaintext[0].protocol
                if not _can_merge(bound.protocol, current):
                    log.info(
                        "skipping server of %s on port %d: %s conflicts with %s",
                        gw.key,
                        port,
                        bound.protocol,
                        current,
                    )
                    continue
                entry.plaintext.append(bound)
            elif not bound.is_tls:
                # Only TLS servers so far: Istio keeps the plaintext server as a
                # separate MergedServers entry on the same listener.
                entry.plaintext.append(bound)
            else:
                if bound.terminates_https and bound.https_route_name in https_route_names:
                    log.info("skipping server of %s: non unique port name", gw.key)
                    continue
                entry.tls.append(bound)
            if bound.terminates_https:
                https_route_names.add(bound.https_route_name)
    return sorted(ports.values(), key=lambda p: p.port)


def https_route_name(bound: BoundServer) -> str:
    port = bound.server.port
    gw = bound.gateway.metadata
    return f"https.{port.number}.{port.name or ''}.{gw.name}.{gw.namespace}"


# --------------------------------------------------------------------- listeners

_ACCESS_LOG_FORMAT = {
    "start_time": "%START_TIME%",
    "method": "%REQ(:METHOD)%",
    "path": "%REQ(X-ENVOY-ORIGINAL-PATH?:PATH)%",
    "authority": "%REQ(:AUTHORITY)%",
    "protocol": "%PROTOCOL%",
    "response_code": "%RESPONSE_CODE%",
    "response_flags": "%RESPONSE_FLAGS%",
    "response_code_details": "%RESPONSE_CODE_DETAILS%",
    "route_name": "%ROUTE_NAME%",
    "upstream_cluster": "%UPSTREAM_CLUSTER%",
    "upstream_host": "%UPSTREAM_HOST%",
    "duration": "%DURATION%",
    "meshgate_id": "%REQ(X-MESHGATE-ID)%",
    # The request id as this proxy logs it, which finds the request's line in the
    # access log Istio configures (its formats carry no x-meshgate-id).
    "request_id": "%REQ(X-REQUEST-ID)%",
}


def access_log(proxy: GatewayProxy) -> list[Json]:
    """The harness's own JSON file access log, always on, for failure messages and to
    learn each request's ``x-request-id``; it finds its line by ``x-meshgate-id``.
    Istio's access logs (``proxy.access_logs``) come after it."""
    return [
        {
            "name": "envoy.access_loggers.file",
            "typed_config": {
                "@type": f"{_API}.access_loggers.file.v3.FileAccessLog",
                "path": proxy.access_log_path,
                "log_format": {"json_format": dict(_ACCESS_LOG_FORMAT)},
            },
        }
    ]


def _http_filters(servers: list[BoundServer]) -> list[Json]:
    filters: list[Json] = []
    # listener_builder.go buildHTTPConnectionManager(): grpc-web only when the
    # (first) server protocol is GRPC-WEB.
    if servers and servers[0].protocol == "GRPC-WEB":
        filters.append(
            {
                "name": "envoy.filters.http.grpc_web",
                "typed_config": {
                    "@type": "type.googleapis.com/envoy.extensions.filters.http.grpc_web.v3.GrpcWeb"
                },
            }
        )
    # Fault and CORS are always present, empty, so route-level
    # typed_per_filter_config can act ("TypedPerFilterConfig in route needs these filters").
    filters.append(
        {
            "name": "envoy.filters.http.fault",
            "typed_config": {
                "@type": "type.googleapis.com/envoy.extensions.filters.http.fault.v3.HTTPFault"
            },
        }
    )
    filters.append(
        {
            "name": "envoy.filters.http.cors",
            "typed_config": {
                "@type": "type.googleapis.com/envoy.extensions.filters.http.cors.v3.Cors"
            },
        }
    )
    filters.append(
        {
            "name": "envoy.filters.http.router",
            "typed_config": {
                "@type": "type.googleapis.com/envoy.extensions.filters.http.router.v3.Router"
            },
        }
    )
    return filters


def _peer_filters(proxy: GatewayProxy) -> list[Json]:
    """Metadata exchange (``appendMxFilter``: after authn and authz), where it is modelled."""
    if not proxy.peer_exchange:
        return []
    identity = PeerIdentity(
        pod=f"{proxy.name}-0",
        namespace=proxy.namespace,
        workload=proxy.name,
        labels=dict(proxy.labels),
    )
    return outbound_peer_filters(identity, proxy.source_address or "127.0.0.1", proxy.sidecar)


def _security_http_filters(proxy: GatewayProxy) -> list[Json]:
    security = proxy.security
    return [dict(f) for f in security.http] if security is not None else []


def security_network_filters(proxy: GatewayProxy) -> list[Json]:
    """The network RBAC filters a TCP filter chain of ``proxy`` starts with."""
    security = proxy.security
    return [dict(f) for f in security.network] if security is not None else []


def http_connection_manager(
    proxy: GatewayProxy, listener_name: str, route_name: str, servers: list[BoundServer]
) -> Json:
    """The gateway HCM as Istio builds it with default mesh and proxy config.

    gateway.go buildGatewayConnectionManager() (xff hops 0, SANITIZE_SET client
    cert details, server name ``istio-envoy``) plus listener_builder.go
    buildHTTPConnectionManager() (codec AUTO, use_remote_address for gateways,
    normalize_path with slashes kept, websocket upgrades, no stream idle timeout).
    """
    hcm: Json = {
        "@type": HCM_TYPE,
        "stat_prefix": f"outbound_{listener_name}",
        "codec_type": "AUTO",
        # No config_source: the transport that delivers routes (file xDS per
        # route file, or ADS) fills it in, so translation stays transport-free.
        "rds": {"route_config_name": route_name},
        # Authentication and authorization first (listener_builder.go), then the rest.
        "http_filters": [
            *_security_http_filters(proxy),
            *_peer_filters(proxy),
            *_http_filters(servers),
        ],
        "access_log": [*access_log(proxy), *(dict(x) for x in proxy.access_logs)],
        "use_remote_address": True,
        "forward_client_cert_details": "SANITIZE_SET",
        "set_current_client_cert_details": {
            "subject": True,
            "cert": True,
            "dns": True,
            "uri": True,
        },
        "server_name": "istio-envoy",
        "server_header_transformation": "OVERWRITE",
        "http_protocol_options": {},
        "normalize_path": True,
        "path_with_escaped_slashes_action": "KEEP_UNCHANGED",
        "upgrade_configs": [{"upgrade_type": "websocket"}],
        "stream_idle_timeout": "0s",
        "request_id_extension": {
            "typed_config": {
                "@type": f"{_API}.request_id.uuid.v3.UuidRequestIdConfig",
                "use_request_id_for_trace_sampling": True,
            }
        },
    }
    if proxy.num_trusted_proxies:
        # buildGatewayConnectionManager: gatewayTopology.numTrustedProxies.
        hcm["xff_num_trusted_hops"] = proxy.num_trusted_proxies
    return hcm
