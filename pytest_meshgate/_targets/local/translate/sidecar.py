"""A client sidecar's outbound configuration: listeners per port, mesh routes, fall-through.

Istio captures a pod's outbound connections with iptables and hands them to
the listener of the destination port (``virtualOutbound`` 15001 with
``use_original_dst``). Here the harness connects to the sidecar's listener for
the URL's port itself and sends a PROXY protocol header carrying the original
destination (what the pod's DNS resolved the host to); the
``proxy_protocol`` listener filter restores it as the connection's local
address, so destination-IP filter chains and the ``ORIGINAL_DST``
``PassthroughCluster`` see what they would see behind iptables.

Per outbound port (every port of a visible service, plus ports the harness
sends to):

- HTTP ports: one HCM with route configuration ``"<port>"``, built as
  ``httproute.go`` ``BuildSidecarOutboundVirtualHosts``: a virtual host per
  VirtualService bound to ``mesh`` (for a host the **oldest** VirtualService
  wins: later duplicate virtual hosts are dropped, nothing merges), a default
  virtual host for every other service on the port, and the catch-all
  ``allow_any`` (``PassthroughCluster``) or ``block_all`` (502) of
  ``buildCatchAllVirtualHost``;
- TLS/HTTPS ports: filter chains by SNI for hosts without a VIP and by
  destination IP for those with one, from VirtualService ``tls`` routes or the
  service's own cluster (``tls.go`` ``buildSidecarOutboundTLSFilterChainOpts``);
- TCP ports: the VIP's chain, VirtualService ``tcp`` routes first
  (``buildSidecarOutboundTCPFilterChainOpts``);
- anything else falls through (the listener's default chain) to
  ``PassthroughCluster`` (``ALLOW_ANY``) or ``BlackHoleCluster``
  (``REGISTRY_ONLY``: the connection is closed), as Istio's ``virtualOutbound``.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass

from ...._cases.model.istio import (
    Gateway,
    L4MatchAttributes,
    RouteDestination,
    Sidecar,
    TLSMatchAttributes,
)
from ..world import GatewayProxy, MeshService, World
from .clusters import DEFAULT_CONNECT_TIMEOUT, build_clusters
from .common import (
    _API,
    CLUSTER_TYPE,
    LISTENER_TYPE,
    ROUTE_TYPE,
    EnvoyConfig,
    Json,
    UnsupportedFeature,
    resources_of,
)
from .gateway import HTTP_PROTOCOLS, BoundServer, http_connection_manager
from .hosts import host_matches, resolve_gateway_name
from .index import (
    MESH_GATEWAY,
    ResolvedVS,
    ServiceIndex,
    cluster_name,
    destination_cluster,
    virtual_services_for_gateway,
)
from .listeners import HCM_FILTER, TLS_INSPECTOR
from .route import DEFAULT_RETRY_POLICY, MAX_DIRECT_RESPONSE_BODY, routes_for_virtual_service
from .serviceentry import with_registry
from .tcp import TCP_PROXY_TYPE

__all__ = [
    "BLACKHOLE_CLUSTER",
    "PASSTHROUGH_CLUSTER",
    "PROXY_PROTOCOL_FILTER",
    "outbound_traffic_policy",
    "service_domains",
    "translate_sidecar",
]

PASSTHROUGH_CLUSTER = "PassthroughCluster"
BLACKHOLE_CLUSTER = "BlackHoleCluster"
TLS_PROTOCOLS = frozenset({"HTTPS", "TLS"})
PROXY_PROTOCOL_FILTER: Json = {
    "name": "envoy.filters.listener.proxy_protocol",
    "typed_config": {
        "@type": f"{_API}.filters.listener.proxy_protocol.v3.ProxyProtocol",
    },
}


# --------------------------------------------------------------------- Sidecar resource


def _selects(sidecar: Sidecar, labels: dict[str, str]) -> bool:
    selector = sidecar.spec.workload_selector
    if selector is None:
        return False
    return all(labels.get(k) == v for k, v in selector.labels.items())


def _sidecar_for(world: World, proxy: GatewayProxy) -> Sidecar | None:
    """``SidecarScope`` choice: a selecting Sidecar in the proxy's namespace, then the
    namespace's selector-less one, then the root namespace's selector-less one."""
    sidecars = resources_of(world, Sidecar)
    labels = dict(proxy.labels)
    own = [s for s in sidecars if s.metadata.namespace == proxy.namespace]
    for candidates in (
        [s for s in own if _selects(s, labels)],
        [s for s in own if s.spec.workload_selector is None],
        [
            s
            for s in sidecars
            if s.metadata.namespace == world.root_namespace and s.spec.workload_selector is None
        ],
    ):
        if candidates:
            return candidates[0]
    return None


def outbound_traffic_policy(world: World, proxy: GatewayProxy) -> str:
    """``ALLOW_ANY`` (Istio's default) or ``REGISTRY_ONLY``, from the proxy's Sidecar."""
    sidecar = _sidecar_for(world, proxy)
    if sidecar is None:
        return "ALLOW_ANY"
    spec = sidecar.spec
    if spec.ingress:
        raise UnsupportedFeature(sidecar, "spec.ingress")
    if spec.inbound_connection_pool is not None:
        raise UnsupportedFeature(sidecar, "spec.inboundConnectionPool")
    for i, egress in enumerate(spec.egress):
        if egress.port is not None or egress.bind or egress.capture_mode:
            raise UnsupportedFeature(sidecar, f"spec.egress[{i}]", "only hosts, no port")
    if len(spec.egress) > 1:
        raise UnsupportedFeature(sidecar, "spec.egress", "more than one egress listener")
    policy = spec.outbound_traffic_policy
    if policy is None:
        return "ALLOW_ANY"
    if policy.egress_proxy is not None:
        raise UnsupportedFeature(sidecar, "spec.outboundTrafficPolicy.egressProxy")
    return policy.mode


def egress_imports(world: World, proxy: GatewayProxy) -> list[tuple[str, str]] | None:
    """The Sidecar's ``egress[0].hosts`` as (namespace, host) pairs; None: import everything.

    ``./h`` is the proxy's namespace, ``*/h`` any namespace, ``~/h`` nothing;
    a bare ``h`` is ``*/h`` (``sidecar.go`` ``ParseHosts``, egress listener hosts).
    """
    sidecar = _sidecar_for(world, proxy)
    if sidecar is None or not sidecar.spec.egress:
        return None
    imports: list[tuple[str, str]] = []
    for entry in sidecar.spec.egress[0].hosts:
        namespace, _, host = entry.rpartition("/")
        namespace = namespace or "*"
        if namespace == ".":
            namespace = proxy.namespace
        if namespace != "~":
            imports.append((namespace, host.lower()))
    return imports


def _imported(imports: list[tuple[str, str]] | None, namespace: str, hosts: Sequence[str]) -> bool:
    """A service or VirtualService (its namespace, its hosts) is visible through the imports."""
    if imports is None:
        return True
    return any(
        ns in ("*", namespace) and (pattern == "*" or any(host_matches(pattern, h) for h in hosts))
        for ns, pattern in imports
    )


# --------------------------------------------------------------------- helpers


@dataclass(frozen=True)
class _MeshBinding(BoundServer):
    """The ``mesh`` gateway on one outbound port, for the shared route translation."""

    @property
    def gateway_name(self) -> str:
        return MESH_GATEWAY


def _mesh_server(port: int, namespace: str) -> BoundServer:
    gateway = Gateway.model_validate(
        {
            "apiVersion": "networking.istio.io/v1",
            "kind": "Gateway",
            "metadata": {"name": MESH_GATEWAY, "namespace": namespace},
            "spec": {"servers": [{"port": {"number": port, "protocol": "HTTP"}, "hosts": ["*"]}]},
        }
    )
    return _MeshBinding(
        gateway=gateway, server=gateway.spec.servers[0], hosts=("*",), listen_port=port
    )


def _port_of(service: MeshService, number: int) -> str | None:
    """The protocol of ``service``'s port ``number``, None if it has no such port."""
    return next((p.protocol for p in service.ports if p.port == number), None)


def service_domains(service: MeshService, proxy_namespace: str, domain_suffix: str) -> list[str]:
    """``generateVirtualHostDomains`` with the port ignored (``IgnorePortInHostMatching``).

    The FQDN and its absolute form, the short forms a pod's DNS search path
    completes (``name``, ``name.ns``, ``name.ns.svc`` in the pod's namespace;
    ``name.ns``, ``name.ns.svc`` from another), and the service's VIP.
    """
    host = service.hostname
    domains = [host, host + "."]
    suffix = f".svc.{domain_suffix}"
    if host.endswith(suffix):
        base = host[: -len(suffix)]
        name, _, namespace = base.partition(".")
        if namespace and "." not in namespace:
            if namespace == proxy_namespace:
                domains += [name, base + ".svc", base]
            else:
                domains += [base, base + ".svc"]
    if service.address:
        domains.append(service.address)
    return domains


def _no_timeout_route(name: str, cluster: str, operation: str) -> Json:
    return {
        "name": name,
        "match": {"prefix": "/"},
        "route": {
            "cluster": cluster,
            "timeout": "0s",
            "max_grpc_timeout": "0s",
            "retry_policy": dict(DEFAULT_RETRY_POLICY),
        },
        "decorator": {"operation": operation},
    }


def _catch_all_vhost(policy: str) -> Json:
    """``buildCatchAllVirtualHost``: ``allow_any`` to PassthroughCluster, else ``block_all`` 502."""
    if policy == "ALLOW_ANY":
        route: Json = {
            "name": "allow_any",
            "match": {"prefix": "/"},
            "route": {"cluster": PASSTHROUGH_CLUSTER, "timeout": "0s", "max_grpc_timeout": "0s"},
        }
        name = "allow_any"
    else:
        route = {"name": "block_all", "match": {"prefix": "/"}, "direct_response": {"status": 502}}
        name = "block_all"
    return {
        "name": name,
        "domains": ["*"],
        "routes": [route],
        "include_request_attempt_count": True,
    }


# --------------------------------------------------------------------- HTTP


@dataclass
class _VhostWrapper:
    services: list[MeshService]
    vs_hosts: list[str]
    routes: list[Json]


def _mesh_virtual_services(world: World, proxy: GatewayProxy) -> list[ResolvedVS]:
    return virtual_services_for_gateway(world, proxy.namespace, MESH_GATEWAY)


def http_route_config(
    world: World, proxy: GatewayProxy, port: int, policy: str, vss: Sequence[ResolvedVS]
) -> Json:
    """Route configuration ``"<port>"`` (``BuildSidecarOutboundVirtualHosts``)."""
    on_port = {
        s.hostname: s for s in world.services if _port_of(s, port) is not None
    }  # servicesByName
    if port != 80:
        # selectVirtualServices(): only VSs naming a service on this port.
        vss = [v for v in vss if any(host_matches(h, s) for h in v.hosts for s in on_port)]
    server = _mesh_server(port, proxy.namespace)
    wrappers: list[_VhostWrapper] = []
    for rvs in vss:
        routes = routes_for_virtual_service(rvs, server, world, proxy)
        if not routes:
            continue
        matching: list[MeshService] = []
        others: list[str] = []
        for host in rvs.hosts:
            found = [s for name, s in on_port.items() if host_matches(host, name)]
            if found:
                matching += [s for s in found if s not in matching]
            else:
                others.append(host.lower())
        http_services = [s for s in matching if (_port_of(s, port) or "") in HTTP_PROTOCOLS]
        if http_services or port == 80:
            # A VS naming no service on this port still gets virtual hosts for its
            # other hosts, but on port 80 only (Istio's "gross HACK").
            wrappers.append(_VhostWrapper(http_services, others, routes))
    covered = {s.hostname for w in wrappers for s in w.services}
    for service in on_port.values():
        if service.hostname in covered or _port_of(service, port) not in HTTP_PROTOCOLS:
            continue
        cluster = cluster_name(port, None, service.hostname)
        route = _no_timeout_route("default", cluster, f"{service.hostname}:{port}/*")
        wrappers.append(_VhostWrapper([service], [], [route]))

    names: set[str] = set()
    domains_used: set[str] = set()
    vhosts: list[Json] = []

    def add(name: str, domains: list[str], routes: list[Json]) -> None:
        if name in names:
            return  # duplicate virtual host: the older VirtualService keeps it
        names.add(name)
        fresh = [d for d in domains if d.lower() not in domains_used]
        domains_used.update(d.lower() for d in fresh)
        if fresh:
            vhosts.append(
                {
                    "name": name,
                    "domains": fresh,
                    "routes": routes,
                    "include_request_attempt_count": True,
                }
            )

    for wrapper in wrappers:
        for host in wrapper.vs_hosts:
            add(f"{host}:{port}", [host], wrapper.routes)
        for service in wrapper.services:
            domains = service_domains(service, proxy.namespace, world.domain_suffix)
            add(f"{service.hostname}:{port}", domains, wrapper.routes)
    vhosts.sort(key=lambda v: str(v["name"]))  # util.SortVirtualHosts
    vhosts.append(_catch_all_vhost(policy))
    return {
        "@type": ROUTE_TYPE,
        "name": str(port),
        "virtual_hosts": vhosts,
        "validate_clusters": False,
        "ignore_port_in_host_matching": True,
        "max_direct_response_body_size_bytes": MAX_DIRECT_RESPONSE_BODY,
    }


def _sidecar_hcm(proxy: GatewayProxy, listener: str, route_name: str) -> Json:
    hcm = http_connection_manager(proxy, listener, route_name, [])
    # Outbound sidecar HCM: the client is the app, not the internet.
    hcm["use_remote_address"] = False
    hcm["forward_client_cert_details"] = "APPEND_FORWARD"
    return hcm


# --------------------------------------------------------------------- TLS and TCP


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


def _configs_for_host(vss: Sequence[ResolvedVS], host: str) -> list[ResolvedVS]:
    return [v for v in vss if any(host_matches(h, host) for h in v.hosts)]


def _tls_chains(
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

    for service in services:
        cidrs = [service.address] if service.address else []
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
            sni = [] if cidrs else [service.hostname]
            add(_chain_match(sni, cidrs), _single(cluster))
    return chains


def _single(cluster: str) -> list[Json]:
    return [
        {
            "name": "envoy.filters.network.tcp_proxy",
            "typed_config": {"@type": TCP_PROXY_TYPE, "stat_prefix": cluster, "cluster": cluster},
        }
    ]


def _tcp_chains(
    world: World,
    proxy: GatewayProxy,
    port: int,
    services: Sequence[MeshService],
    vss: Sequence[ResolvedVS],
) -> list[Json]:
    chains: list[Json] = []
    seen: set[str] = set()
    for service in services:
        cidrs = [service.address] if service.address else []
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
            filters = _single(cluster_name(target, None, service.hostname))
        match = _chain_match([], cidrs)
        key = repr(sorted(match.items()))
        if key in seen:
            continue
        seen.add(key)
        chains.append(
            {"filter_chain_match": match, "filters": filters} if match else {"filters": filters}
        )
    return chains


# --------------------------------------------------------------------- clusters


def _fallthrough_cluster(name: str, proxy: GatewayProxy) -> Json:
    cluster: Json = {
        "@type": CLUSTER_TYPE,
        "name": name,
        "connect_timeout": DEFAULT_CONNECT_TIMEOUT,
    }
    if name == PASSTHROUGH_CLUSTER:
        cluster["type"] = "ORIGINAL_DST"
        cluster["lb_policy"] = "CLUSTER_PROVIDED"
    else:
        cluster["type"] = "STATIC"
        cluster["load_assignment"] = {"cluster_name": name, "endpoints": []}
    if proxy.source_address is not None:
        cluster["upstream_bind_config"] = {
            "source_address": {"address": proxy.source_address, "port_value": 0}
        }
    return cluster


def _original_dst(cluster: Json) -> None:
    """``convertResolution``: a ``resolution: NONE`` service is ``ORIGINAL_DST`` on sidecars."""
    cluster["type"] = "ORIGINAL_DST"
    cluster["lb_policy"] = "CLUSTER_PROVIDED"
    cluster.pop("load_assignment", None)


# --------------------------------------------------------------------- the sidecar


def _listener(proxy: GatewayProxy, port: int, chains: list[Json], policy: str, tls: bool) -> Json:
    ip, bound = proxy.bind(port)
    fallthrough = PASSTHROUGH_CLUSTER if policy == "ALLOW_ANY" else BLACKHOLE_CLUSTER
    filters = [PROXY_PROTOCOL_FILTER]
    if tls:
        filters.append(TLS_INSPECTOR)
    listener: Json = {
        "@type": LISTENER_TYPE,
        "name": f"0.0.0.0_{port}",
        "address": {"socket_address": {"address": ip, "port_value": bound}},
        "listener_filters": filters,
        "filter_chains": chains,
        "default_filter_chain": {
            "name": "PassthroughFilterChain" if policy == "ALLOW_ANY" else "BlackHoleFilterChain",
            "filters": _single(fallthrough),
        },
    }
    return listener


def translate_sidecar(world: World, proxy: GatewayProxy) -> EnvoyConfig:
    """Listeners, clusters and routes of a client sidecar (see the module docstring)."""
    world = with_registry(world, proxy.namespace)
    policy = outbound_traffic_policy(world, proxy)
    # A Sidecar's egress hosts narrow the registry and the VirtualServices it sees.
    imports = egress_imports(world, proxy)
    world = dataclasses.replace(
        world,
        services=tuple(s for s in world.services if _imported(imports, s.namespace, [s.hostname])),
    )
    vss = [
        v
        for v in _mesh_virtual_services(world, proxy)
        if _imported(imports, v.vs.metadata.namespace, v.hosts)
    ]
    protocols: dict[int, str] = {}
    for service in world.services:
        for sp in service.ports:
            protocols.setdefault(sp.port, sp.protocol)  # the first service decides the port
    listeners: list[Json] = []
    routes: list[Json] = []
    for port in sorted(set(protocols) | set(proxy.capture_ports)):
        protocol = protocols.get(port)
        name = f"0.0.0.0_{port}"
        if protocol is None:
            listeners.append(_listener(proxy, port, [], policy, tls=False))
            continue
        on_port = [s for s in world.services if _port_of(s, port) is not None]
        if protocol in HTTP_PROTOCOLS:
            hcm = _sidecar_hcm(proxy, name, str(port))
            chains = [{"filters": [{"name": HCM_FILTER, "typed_config": hcm}]}]
            routes.append(http_route_config(world, proxy, port, policy, vss))
            listeners.append(_listener(proxy, port, chains, policy, tls=False))
        elif protocol in TLS_PROTOCOLS:
            tls_services = [s for s in on_port if _port_of(s, port) in TLS_PROTOCOLS]
            chains = _tls_chains(world, proxy, port, tls_services, vss)
            listeners.append(_listener(proxy, port, chains, policy, tls=True))
        else:
            tcp_services = [
                s
                for s in on_port
                if (_port_of(s, port) or "") not in HTTP_PROTOCOLS | TLS_PROTOCOLS
            ]
            chains = _tcp_chains(world, proxy, port, tcp_services, vss)
            listeners.append(_listener(proxy, port, chains, policy, tls=False))

    clusters = build_clusters(world, proxy)
    passthrough_hosts = {s.hostname for s in world.services if s.resolution == "NONE"}
    for cluster in clusters:
        host = str(cluster["name"]).split("|")[-1]
        if host in passthrough_hosts:
            _original_dst(cluster)
    clusters += [
        _fallthrough_cluster(PASSTHROUGH_CLUSTER, proxy),
        _fallthrough_cluster(BLACKHOLE_CLUSTER, proxy),
    ]
    clusters.sort(key=lambda c: str(c["name"]))
    return EnvoyConfig(listeners=listeners, clusters=clusters, routes=routes)
