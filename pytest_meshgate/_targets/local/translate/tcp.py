"""VirtualService ``tls:`` and ``tcp:`` routes -> tcp_proxy filters on gateway servers.

``gateway.go`` ``buildGatewayNetworkFiltersFromTLSRoutes`` (PASSTHROUGH: one
filter chain per matching ``tls`` match, SNI from ``sniHosts``) and
``buildGatewayNetworkFiltersFromTCPRoutes`` (plain TCP, or TLS terminated at the
gateway: the first VS with a matching ``tcp`` block wins); the filters
themselves as ``networkfilter.go`` ``buildOutboundNetworkFilters`` builds them.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass

from ...._cases.model.istio import L4MatchAttributes, RouteDestination, TLSMatchAttributes
from ..world import GatewayProxy, World
from .common import _API, Json
from .gateway import BoundServer
from .hosts import host_matches, resolve_gateway_name
from .index import ResolvedVS, ServiceIndex, destination_cluster, virtual_services_for_gateway

__all__ = ["PassthroughChain", "passthrough_chains", "tcp_route_filters"]

log = logging.getLogger(__name__)

TCP_PROXY_TYPE = f"{_API}.filters.network.tcp_proxy.v3.TcpProxy"


# constants.InternalParentNames: the Gateway API resources a VirtualService was converted from.
PARENTS_ANNOTATION = "internal.istio.io/parents"


@dataclass(frozen=True)
class PassthroughChain:
    """One PASSTHROUGH filter chain: the SNI names it matches and its network filters."""

    sni_hosts: tuple[str, ...]
    filters: list[Json]


def _vs_matches_server(rvs: ResolvedVS, server: BoundServer) -> bool:
    """``pickMatchingGatewayHosts``: any VS host matching a server host (``ns/`` checked)."""
    vs_ns = rvs.vs.metadata.namespace
    for server_host in server.hosts:
        name = server_host
        if "/" in server_host:
            ns, name = server_host.split("/", 1)
            if ns != vs_ns:
                continue
        if any(host_matches(name, h) for h in rvs.hosts):
            return True
    return False


def _l4_match(
    match: L4MatchAttributes | TLSMatchAttributes, server: BoundServer, vs_namespace: str
) -> bool:
    """``l4SingleMatch``: the match port is the server's number; the gateway is listed."""
    if match.port is not None and match.port != server.port_number:
        return False
    if not match.gateways:
        return True
    gateways = {resolve_gateway_name(g, vs_namespace) for g in match.gateways}
    return server.gateway_name in gateways


def _network_filters(
    routes: Sequence[RouteDestination], rvs: ResolvedVS, server: BoundServer, world: World
) -> list[Json]:
    """``buildOutboundNetworkFilters``: one destination -> ``cluster``, else weighted."""
    services = ServiceIndex(world)
    vs = rvs.vs

    def name_of(route: RouteDestination) -> str:
        return destination_cluster(
            route.destination, vs.metadata.namespace, server.port_number, world, services
        )

    proxy_config: Json = {"@type": TCP_PROXY_TYPE}
    if len(routes) == 1:
        single = name_of(routes[0])
        proxy_config["stat_prefix"] = single
        proxy_config["cluster"] = single
    else:
        clusters = [{"name": name_of(r), "weight": r.weight} for r in routes if r.weight > 0]
        if not clusters:
            return []  # rejected by Istio's validation; nothing to forward to
        proxy_config["stat_prefix"] = f"{vs.metadata.name}.{vs.metadata.namespace}"
        proxy_config["weighted_clusters"] = {"clusters": clusters}
    return [{"name": "envoy.filters.network.tcp_proxy", "typed_config": proxy_config}]


def tcp_route_filters(world: World, proxy: GatewayProxy, server: BoundServer) -> list[Json]:
    """Filters for a TCP server, or a TLS server terminating at the gateway.

    The first VS (in Istio's order) whose hosts match the server and that has a
    ``tcp`` block matching port and gateway wins. Empty when none does: the
    server then gets no filter chain.
    """
    for rvs in virtual_services_for_gateway(world, proxy.namespace, server.gateway_name):
        if not _vs_matches_server(rvs, server):
            continue
        ns = rvs.vs.metadata.namespace
        for tcp in rvs.vs.spec.tcp:
            # l4MultiMatch: no match entries match everything.
            if tcp.match and not any(_l4_match(m, server, ns) for m in tcp.match):
                continue
            if not tcp.route:
                continue
            return _network_filters(tcp.route, rvs, server, world)
        # A TLSRoute on a terminating TLS listener: its tls blocks route the
        # decrypted stream (gateway.go buildGatewayNetworkFiltersFromTCPRoutes).
        if rvs.vs.metadata.annotations.get(PARENTS_ANNOTATION, "").startswith("TLSRoute/") and (
            not server.is_passthrough
        ):
            for tls in rvs.vs.spec.tls:
                for match in tls.match:
                    if _l4_match(match, server, ns) and tls.route:
                        return _network_filters(tls.route, rvs, server, world)
    log.info(
        "gateway %s port %d: no VirtualService tcp route", server.gateway_name, server.port_number
    )
    return []


def passthrough_chains(
    world: World, proxy: GatewayProxy, server: BoundServer, known_sni: set[str]
) -> list[PassthroughChain]:
    """One chain per ``tls`` match of the VSs bound to a PASSTHROUGH server.

    ``known_sni`` holds the SNI names already used on this listener port: a match
    repeating one is skipped whole (``CheckDuplicates``), as Envoy would refuse
    two chains with the same match.
    """
    chains: list[PassthroughChain] = []
    for rvs in virtual_services_for_gateway(world, proxy.namespace, server.gateway_name):
        if not _vs_matches_server(rvs, server):
            continue
        ns = rvs.vs.metadata.namespace
        for i, tls in enumerate(rvs.vs.spec.tls):
            if not tls.route:
                continue
            for match in tls.match:
                if not _l4_match(match, server, ns):
                    continue
                duplicates = [h for h in match.sni_hosts if h in known_sni]
                if duplicates:
                    log.warning(
                        "skipping VirtualService %s rule #%d on port %d of gateway %s: "
                        "duplicate SNI host names %s",
                        rvs.vs.key,
                        i,
                        server.port_number,
                        server.gateway_name,
                        duplicates,
                    )
                    continue
                known_sni.update(match.sni_hosts)
                filters = _network_filters(tls.route, rvs, server, world)
                if filters:
                    chains.append(PassthroughChain(tuple(match.sni_hosts), filters))
    return chains
