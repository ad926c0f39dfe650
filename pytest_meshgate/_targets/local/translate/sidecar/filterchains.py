"""A client sidecar's TLS and TCP filter chains: by SNI or destination IP, VS routes first.

Istio's ``pilot/pkg/networking/core/tls.go``
``buildSidecarOutboundTLSFilterChainOpts`` (chains by SNI for hosts without a
VIP, by destination IP for those with one, from VirtualService ``tls`` routes
or the service's own cluster) and ``buildSidecarOutboundTCPFilterChainOpts``
(the VIP's chain, VirtualService ``tcp`` routes first); the filters as
``networkfilter.go`` ``buildOutboundNetworkFilters`` builds them.
"""

from __future__ import annotations

from collections.abc import Sequence

from ....._cases.model.istio import L4MatchAttributes, RouteDestination, TLSMatchAttributes
from ...world import GatewayProxy, MeshService, World
from ..common import Json
from ..hosts import host_matches, resolve_gateway_name
from ..index import MESH_GATEWAY, ResolvedVS, ServiceIndex, cluster_name, destination_cluster
from ..tcp import TCP_PROXY_TYPE

__all__ = ["tcp_filter_chains", "tcp_proxy_to", "tls_filter_chains"]


def _tcp_proxy(
    routes: Sequence[RouteDestination], vs_namespace: str, port: int, world: World, stat: str
) -> list[Json]:
    """``buildOutboundNetworkFilters``: one destination -> ``cluster``, else weighted."""
    services = ServiceIndex(world)

    def name_of(route: RouteDestination) -> str:
        return destination_cluster(route.destination, vs_namespace, port, world, services)

    config: Json = {"@type": TCP_PROXY_TYPE}
    if len(routes) == 1:
        config["stat_prefix"] = config["cluster"] = name_of(routes[0])
    else:
        clusters = [{"name": name_of(r), "weight": r.weight} for r in routes if r.weight > 0]
        if not clusters:
            return []
        config["stat_prefix"] = stat
        config["weighted_clusters"] = {"clusters": clusters}
    return [{"name": "envoy.filters.network.tcp_proxy", "typed_config": config}]


def _l4_static_match(
    match: TLSMatchAttributes | L4MatchAttributes, proxy: GatewayProxy, port: int, vs_ns: str
) -> bool:
    """``matchTLS``/``matchTCP``: the predicates known when the config is built."""
    if match.gateways and MESH_GATEWAY not in {
        resolve_gateway_name(g, vs_ns) for g in match.gateways
    }:
        return False
    if any(proxy.labels.get(k) != v for k, v in match.source_labels.items()):
        return False
    if match.port is not None and match.port != port:
        return False
    return not match.source_namespace or match.source_namespace == proxy.namespace


def _chain_match(sni: Sequence[str], cidrs: Sequence[str]) -> Json:
    match: Json = {}
    if cidrs:
        match["prefix_ranges"] = [_cidr(c) for c in cidrs]
    if sni:
        match["server_names"] = sorted(set(sni))
    return match


def _cidr(text: str) -> Json:
    address, _, length = text.partition("/")
    prefix = int(length) if length else (128 if ":" in address else 32)
    return {"address_prefix": address, "prefix_len": prefix}


def service_cidrs(service: MeshService) -> list[str]:
    """The destination addresses a service's chains match: its VIP; a headless Service's
    pods, each as Istio's listener per endpoint (``buildSidecarOutboundListeners``:
    "Support statefulsets/headless services with TCP ports"); none (any) otherwise."""
    if service.address:
        return [service.address]
    if service.headless:
        ips = {
            ep.pod_ip or next(iter(ep.addresses.values()))[0]
            for ep in service.endpoints
            if ep.addresses
        }
        return sorted(ips)
    return []


def _configs_for_host(vss: Sequence[ResolvedVS], host: str) -> list[ResolvedVS]:
    return [v for v in vss if any(host_matches(h, host) for h in v.hosts)]


def tls_filter_chains(
    world: World,
    proxy: GatewayProxy,
    port: int,
    services: Sequence[MeshService],
    vss: Sequence[ResolvedVS],
) -> list[Json]:
    chains: list[Json] = []
    seen: set[str] = set()

    def add(match: Json, filters: list[Json]) -> None:
        key = repr(sorted(match.items()))
        if key in seen or not filters:
            return  # Envoy refuses identical matches; the first keeps it
        seen.add(key)
        chain: Json = {"filter_chain_match": match} if match else {}
        chain["filters"] = filters
        chains.append(chain)

    aliases: dict[str, list[str]] = {}
    for other in world.services:
        if other.alias_for is not None:
            aliases.setdefault(other.alias_for, []).append(other.hostname)
    for service in services:
        cidrs = service_cidrs(service)
        has_tls_match = False
        handled: set[str] = set()
        for rvs in _configs_for_host(vss, service.hostname):
            ns = rvs.vs.metadata.namespace
            for tls in rvs.vs.spec.tls:
                if not tls.route:
                    continue
                for match in tls.match:
                    if not _l4_static_match(match, proxy, port, ns):
                        continue
                    runtime = ",".join(match.sni_hosts) + "|" + ",".join(match.destination_subnets)
                    has_tls_match = True
                    if runtime in handled:
                        continue
                    handled.add(runtime)
                    match_cidrs = match.destination_subnets or cidrs
                    add(
                        _chain_match(match.sni_hosts, match_cidrs),
                        _tcp_proxy(tls.route, ns, port, world, rvs.vs.metadata.name),
                    )
        if not has_tls_match:
            target = port if len(service.ports) != 1 else service.ports[0].port
            cluster = cluster_name(target, None, service.hostname)
            # No VIP: by SNI, the service's name and its aliases' (tls.go); a headless
            # service's pod addresses identify it without one.
            sni = [] if cidrs else [service.hostname, *aliases.get(service.hostname, ())]
            add(_chain_match(sni, cidrs), tcp_proxy_to(cluster))
    return chains


def tcp_proxy_to(cluster: str) -> list[Json]:
    return [
        {
            "name": "envoy.filters.network.tcp_proxy",
            "typed_config": {"@type": TCP_PROXY_TYPE, "stat_prefix": cluster, "cluster": cluster},
        }
    ]


def tcp_filter_chains(
    world: World,
    proxy: GatewayProxy,
    port: int,
    services: Sequence[MeshService],
    vss: Sequence[ResolvedVS],
) -> list[Json]:
    chains: list[Json] = []
    seen: set[str] = set()
    for service in services:
        cidrs = service_cidrs(service)
        filters: list[Json] = []
        for rvs in _configs_for_host(vss, service.hostname):
            ns = rvs.vs.metadata.namespace
            for tcp in rvs.vs.spec.tcp:
                if not tcp.route:
                    continue
                if not tcp.match or any(_l4_static_match(m, proxy, port, ns) for m in tcp.match):
                    filters = _tcp_proxy(tcp.route, ns, port, world, rvs.vs.metadata.name)
                    break
            if filters:
                break
        if not filters:
            target = port if len(service.ports) != 1 else service.ports[0].port
            filters = tcp_proxy_to(cluster_name(target, None, service.hostname))
        match = _chain_match([], cidrs)
        key = repr(sorted(match.items()))
        if key in seen:
            continue
        seen.add(key)
        chains.append(
            {"filter_chain_match": match, "filters": filters} if match else {"filters": filters}
        )
    return chains
