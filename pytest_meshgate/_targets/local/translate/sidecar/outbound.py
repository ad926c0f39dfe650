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
  VirtualService bound to ``mesh`` (a service belongs to the VirtualService
  whose host matches it most specifically, the oldest among identical hosts;
  later duplicate virtual hosts are dropped, nothing merges), a default
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

from ...world import GatewayProxy, World
from ..accesslog import with_access_logs
from ..clusters import DEFAULT_CONNECT_TIMEOUT, build_clusters
from ..common import _API, CLUSTER_TYPE, LISTENER_TYPE, EnvoyConfig, Json
from ..gateway import HTTP_PROTOCOLS, http_connection_manager
from ..index import MESH_GATEWAY, ResolvedVS, service_port_protocol, virtual_services_for_gateway
from ..listeners import HCM_FILTER, TLS_INSPECTOR
from ..serviceentry import with_registry
from ..stats import attach_tcp_access_logs, with_stats_log
from .filterchains import tcp_filter_chains, tcp_proxy_to, tls_filter_chains
from .httproute import http_route_config, most_specific_virtual_services
from .scope import (
    BLACKHOLE_CLUSTER,
    PASSTHROUGH_CLUSTER,
    egress_imports,
    imported,
    outbound_traffic_policy,
)

__all__ = ["PROXY_PROTOCOL_FILTER", "translate_sidecar"]

TLS_PROTOCOLS = frozenset({"HTTPS", "TLS"})
PROXY_PROTOCOL_FILTER: Json = {
    "name": "envoy.filters.listener.proxy_protocol",
    "typed_config": {
        "@type": f"{_API}.filters.listener.proxy_protocol.v3.ProxyProtocol",
    },
}


def _sidecar_hcm(proxy: GatewayProxy, listener: str, route_name: str) -> Json:
    hcm = http_connection_manager(proxy, listener, route_name, [])
    # Outbound sidecar HCM: the client is the app, not the internet.
    hcm["use_remote_address"] = False
    hcm["forward_client_cert_details"] = "APPEND_FORWARD"
    return hcm


def _mesh_virtual_services(world: World, proxy: GatewayProxy) -> list[ResolvedVS]:
    return virtual_services_for_gateway(world, proxy.namespace, MESH_GATEWAY)


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
            "filters": tcp_proxy_to(fallthrough),
        },
    }
    return listener


def translate_sidecar(world: World, proxy: GatewayProxy) -> EnvoyConfig:
    """Listeners, clusters and routes of a client sidecar (see the module docstring)."""
    world = with_registry(world, proxy.namespace)
    proxy = with_stats_log(world, with_access_logs(world, proxy))
    policy = outbound_traffic_policy(world, proxy)
    # A Sidecar's egress hosts narrow the registry and the VirtualServices it sees.
    imports = egress_imports(world, proxy)
    world = dataclasses.replace(
        world,
        services=tuple(s for s in world.services if imported(imports, s.namespace, [s.hostname])),
    )
    vss = [
        v
        for v in _mesh_virtual_services(world, proxy)
        if imported(imports, v.vs.metadata.namespace, v.hosts)
    ]
    most_specific = most_specific_virtual_services(vss, world.services)
    protocols: dict[int, str] = {}
    for service in world.services:
        if service.alias:
            continue  # "Alias services do not get listeners generated" (listener.go)
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
        on_port = [
            s for s in world.services if service_port_protocol(s, port) is not None and not s.alias
        ]
        if protocol in HTTP_PROTOCOLS:
            hcm = _sidecar_hcm(proxy, name, str(port))
            chains = [{"filters": [{"name": HCM_FILTER, "typed_config": hcm}]}]
            routes.append(http_route_config(world, proxy, port, policy, vss, most_specific))
            listeners.append(_listener(proxy, port, chains, policy, tls=False))
        elif protocol in TLS_PROTOCOLS:
            tls_services = [s for s in on_port if service_port_protocol(s, port) in TLS_PROTOCOLS]
            chains = tls_filter_chains(world, proxy, port, tls_services, vss)
            listeners.append(_listener(proxy, port, chains, policy, tls=True))
        else:
            tcp_services = [
                s
                for s in on_port
                if (service_port_protocol(s, port) or "") not in HTTP_PROTOCOLS | TLS_PROTOCOLS
            ]
            chains = tcp_filter_chains(world, proxy, port, tcp_services, vss)
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
    attach_tcp_access_logs(listeners, proxy)
    return EnvoyConfig(listeners=listeners, clusters=clusters, routes=routes)
