"""A workload without a sidecar: its connections go where kube-proxy sends them, as they are.

Outside the mesh nothing originates mutual TLS or routes by HTTP: a
connection to a Service's ClusterIP reaches one of its pods (kube-proxy's
random pick) on the target port, plaintext; a connection to any other
address goes there unchanged. Here that pod is its inbound sidecar's
listener when it has one, as iptables in the pod would redirect it.

The local target plays the pod's network with an Envoy all the same (so the
harness's PROXY protocol line carries the original destination and the
backend sees the client's own address): per port a listener whose chains
match the ClusterIPs and pass the bytes on (TCP proxy), and an
``ORIGINAL_DST`` default chain.
"""

from __future__ import annotations

from ...world import GatewayProxy, World
from ..clusters import DEFAULT_CONNECT_TIMEOUT
from ..common import CLUSTER_TYPE, LISTENER_TYPE, EnvoyConfig, Json
from .filterchains import tcp_proxy_to
from .scope import PASSTHROUGH_CLUSTER

__all__ = ["translate_without_sidecar"]


def _bind(proxy: GatewayProxy, cluster: Json) -> Json:
    if proxy.source_address is not None:
        cluster["upstream_bind_config"] = {
            "source_address": {"address": proxy.source_address, "port_value": 0}
        }
    return cluster


def translate_without_sidecar(world: World, proxy: GatewayProxy) -> EnvoyConfig:
    """Listeners and clusters standing in for a sidecar-less pod's network."""
    from .outbound import PROXY_PROTOCOL_FILTER

    chains: dict[int, list[Json]] = {port: [] for port in proxy.capture_ports}
    clusters: list[Json] = []
    for service in world.services:
        if service.external or not service.address or service.origin != "kubernetes":
            continue
        for sp in service.ports:
            name = f"kube-proxy|{sp.port}|{service.hostname}"
            lb_endpoints = [
                {
                    "endpoint": {
                        "address": {
                            "socket_address": {
                                "address": ep.addresses[sp.port][0],
                                "port_value": ep.addresses[sp.port][1],
                            }
                        }
                    }
                }
                for ep in service.endpoints
                if sp.port in ep.addresses
            ]
            clusters.append(
                _bind(
                    proxy,
                    {
                        "@type": CLUSTER_TYPE,
                        "name": name,
                        "type": "STATIC",
                        "connect_timeout": DEFAULT_CONNECT_TIMEOUT,
                        "lb_policy": "RANDOM",
                        "load_assignment": {
                            "cluster_name": name,
                            "endpoints": [{"lb_endpoints": lb_endpoints}] if lb_endpoints else [],
                        },
                    },
                )
            )
            chains.setdefault(sp.port, []).append(
                {
                    "name": name,
                    "filter_chain_match": {
                        "prefix_ranges": [{"address_prefix": service.address, "prefix_len": 32}]
                    },
                    "filters": tcp_proxy_to(name),
                }
            )
    listeners: list[Json] = []
    for port, port_chains in sorted(chains.items()):
        ip, bound = proxy.bind(port)
        listeners.append(
            {
                "@type": LISTENER_TYPE,
                "name": f"0.0.0.0_{port}",
                "address": {"socket_address": {"address": ip, "port_value": bound}},
                "listener_filters": [PROXY_PROTOCOL_FILTER],
                "filter_chains": port_chains,
                "default_filter_chain": {
                    "name": "PassthroughFilterChain",
                    "filters": tcp_proxy_to(PASSTHROUGH_CLUSTER),
                },
            }
        )
    passthrough: Json = {
        "@type": CLUSTER_TYPE,
        "name": PASSTHROUGH_CLUSTER,
        "type": "ORIGINAL_DST",
        "lb_policy": "CLUSTER_PROVIDED",
        "connect_timeout": DEFAULT_CONNECT_TIMEOUT,
    }
    clusters.append(_bind(proxy, passthrough))
    clusters.sort(key=lambda c: str(c["name"]))
    return EnvoyConfig(listeners=listeners, clusters=clusters, routes=[])
