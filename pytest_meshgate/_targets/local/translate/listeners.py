"""One listener per gateway port: plaintext HTTP, TCP, TLS-terminating and passthrough chains.

``gateway.go`` ``buildGatewayListeners``/``buildGatewayTCPBasedFilterChains`` and
``listener.go`` ``buildGatewayListener``/``toFilterChainMatch``.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, field

from ...._cases.model.istio import ServerTLSSettings
from ..world import GatewayProxy, World
from .common import LISTENER_TYPE, Json, UnsupportedFeature
from .gateway import BoundServer, PortServers, http_connection_manager, security_network_filters
from .tcp import passthrough_chains, tcp_route_filters
from .tls import CredentialError, UnsupportedServerTLS, downstream_tls_context, transport_socket

__all__ = ["BuiltListener", "build_listener", "filter_chain_match", "listener_name"]

log = logging.getLogger(__name__)

HCM_FILTER = "envoy.filters.network.http_connection_manager"
TLS_INSPECTOR: Json = {
    "name": "envoy.filters.listener.tls_inspector",
    "typed_config": {
        "@type": "type.googleapis.com/envoy.extensions.filters.listener.tls_inspector.v3"
        ".TlsInspector"
    },
}
# listener.go gatewayTransportSocketConnectTimeout(): bounds slow TLS handshakes.
TRANSPORT_SOCKET_CONNECT_TIMEOUT = "15s"


@dataclass
class BuiltListener:
    """A port's listener (None when no chain survived) and the route configs it refers to."""

    listener: Json | None
    # RDS name -> the servers whose VirtualServices feed it
    routes: list[tuple[str, list[BoundServer]]] = field(default_factory=list)


def filter_chain_match(sni_hosts: Sequence[str]) -> Json | None:
    """``toFilterChainMatch``: sorted ``server_names``; none at all when ``*`` is among them."""
    if not sni_hosts or "*" in sni_hosts:
        return None
    return {"server_names": sorted(sni_hosts)}


def server_sni_hosts(server: BoundServer) -> list[str]:
    """``GetSNIHostsForServer``: the server hosts without ``ns/``, deduplicated, sorted."""
    return sorted({h.split("/", 1)[1] if "/" in h else h for h in server.hosts})


def _chain(sni_hosts: Sequence[str], filters: list[Json], tls_context: Json | None = None) -> Json:
    chain: Json = {}
    match = filter_chain_match(sni_hosts)
    if match is not None:
        chain["filter_chain_match"] = match
    chain["filters"] = filters
    if tls_context is not None:
        chain["transport_socket"] = transport_socket(tls_context)
    chain["transport_socket_connect_timeout"] = TRANSPORT_SOCKET_CONNECT_TIMEOUT
    return chain


def _tls_context(
    world: World, proxy: GatewayProxy, server: BoundServer, *, tcp: bool = False
) -> Json | None:
    """The server's DownstreamTlsContext, or None (and a warning) when its secret is unusable.

    ``tcp``: the server terminates TLS into VirtualService tcp routes.
    """
    tls = server.server.tls
    assert tls is not None
    try:
        return downstream_tls_context(
            world, proxy.namespace, tls, identity=proxy.mesh_identity, tcp=tcp
        )
    except UnsupportedServerTLS as exc:
        index = server.gateway.spec.servers.index(server.server)
        raise UnsupportedFeature(
            server.gateway, f"spec.servers[{index}].{_alias_path(exc.field_path)}", exc.detail
        ) from None
    except CredentialError as exc:
        # Istio: the SDS secret never arrives, the chain stays unusable and its
        # handshakes are reset; the other servers on the port keep working.
        log.warning(
            "gateway %s server on port %d (hosts %s): no filter chain: %s",
            server.gateway_name,
            server.port_number,
            ", ".join(server.hosts),
            exc,
        )
        return None


def _alias_path(path: str) -> str:
    head, _, name = path.partition(".")
    field_info = ServerTLSSettings.model_fields.get(name)
    if field_info is not None and field_info.alias:
        return f"{head}.{field_info.alias}"
    return path


def _tls_chains(
    world: World, proxy: GatewayProxy, entry: PortServers, built: BuiltListener
) -> list[Json]:
    """Chains of the TLS servers on a port, in server order (buildGatewayTCPBasedFilterChains)."""
    chains: list[Json] = []
    known_sni: set[str] = set()  # tlsHostsByPort for passthrough SNI names
    name = listener_name(entry)
    for server in entry.tls:
        mode = server.tls_mode
        if mode == "AUTO_PASSTHROUGH":
            index = server.gateway.spec.servers.index(server.server)
            raise UnsupportedFeature(server.gateway, f"spec.servers[{index}].tls.mode", mode)
        if server.is_passthrough:
            for pt in passthrough_chains(world, proxy, server, known_sni):
                filters = [*security_network_filters(proxy), *pt.filters]
                chains.append(_chain(pt.sni_hosts, filters))
            continue
        if server.terminates_https:
            context = _tls_context(world, proxy, server)
            if context is None:
                continue
            route_name = server.https_route_name
            hcm = http_connection_manager(proxy, name, route_name, [server])
            if server.server.name:
                hcm["stat_prefix"] = server.server.name  # createGatewayHTTPFilterChainOpts
            filters = [{"name": HCM_FILTER, "typed_config": hcm}]
            chains.append(_chain(server_sni_hosts(server), filters, context))
            built.routes.append((route_name, [server]))
            continue
        # TLS (or another non-HTTP protocol) terminated here, then VS tcp routes.
        filters = tcp_route_filters(world, proxy, server)
        if not filters:
            continue
        context = _tls_context(world, proxy, server, tcp=True)
        if context is None:
            continue
        filters = [*security_network_filters(proxy), *filters]
        chains.append(_chain(server_sni_hosts(server), filters, context))
    return chains


def _plaintext_chains(
    world: World, proxy: GatewayProxy, entry: PortServers, built: BuiltListener
) -> list[Json]:
    http = entry.http_servers
    if http:
        hcm = http_connection_manager(proxy, listener_name(entry), entry.route_name, http)
        built.routes.append((entry.route_name, list(http)))
        return [{"filters": [{"name": HCM_FILTER, "typed_config": hcm}]}]
    # A plain TCP server (the first one; TCP servers never merge): first VS tcp route.
    for server in entry.plaintext:
        filters = tcp_route_filters(world, proxy, server)
        if filters:
            # networkfilter.go: the authorization filters go before tcp_proxy.
            return [_chain((), [*security_network_filters(proxy), *filters])]
        return []
    return []


def build_listener(world: World, proxy: GatewayProxy, entry: PortServers) -> BuiltListener:
    """The ``0.0.0.0_<port>`` listener for one port (None when it has no filter chain).

    With a chain that matches SNI or terminates TLS the listener gets a
    ``tls_inspector``. Two chains without any match (say HTTPS servers with hosts
    ``a/*`` and ``b/*``, both SNI ``*``) are kept as Istio emits them: Envoy
    then refuses the listener ("multiple filter chains with the same matching
    rules"), which the local target reports as a rejected configuration.
    """
    built = BuiltListener(listener=None)
    chains = _plaintext_chains(world, proxy, entry, built)
    tls_chains = _tls_chains(world, proxy, entry, built)
    chains.extend(tls_chains)
    if not chains:
        built.routes.clear()
        return built
    ip, port = proxy.bind(entry.port)
    listener: Json = {
        "@type": LISTENER_TYPE,
        "name": listener_name(entry),
        "address": {"socket_address": {"address": ip, "port_value": port}},
        "filter_chains": chains,
    }
    if tls_chains:
        # Every TLS server chain matches SNI or advertises ALPN (buildGatewayListener).
        listener["listener_filters"] = [TLS_INSPECTOR]
    built.listener = listener
    return built


def listener_name(entry: PortServers) -> str:
    """``gateway.go`` ``getListenerName()`` for the wildcard bind."""
    return f"0.0.0.0_{entry.port}"
