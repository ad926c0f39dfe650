"""Istio config -> Envoy xDS for one gateway proxy of the local target.

``translate_gateway(world, proxy)`` is pure and deterministic: the same World
gives byte-identical JSON. Rules follow Istio's pilot code (cited per function).
"""

from __future__ import annotations

from ..world import GatewayProxy, World
from .clusters import build_clusters
from .common import EnvoyConfig, Json, UnsupportedFeature
from .gateway import merge_servers
from .listeners import build_listener
from .route import build_route_config
from .serviceentry import with_registry
from .sidecar import translate_sidecar

__all__ = [
    "EnvoyConfig",
    "UnsupportedFeature",
    "translate",
    "translate_gateway",
    "translate_sidecar",
]


def translate(world: World, proxy: GatewayProxy) -> EnvoyConfig:
    """The configuration of ``proxy``: a gateway's, or a client sidecar's."""
    if proxy.sidecar:
        return translate_sidecar(world, proxy)
    return translate_gateway(world, proxy)


def translate_gateway(world: World, proxy: GatewayProxy) -> EnvoyConfig:
    """Listeners, clusters and route configurations for ``proxy``."""
    # ServiceEntry hosts exported to the gateway's namespace are destinations too.
    world = with_registry(world, proxy.namespace)
    listeners: list[Json] = []
    routes: list[Json] = []
    for entry in merge_servers(world, proxy):
        built = build_listener(world, proxy, entry)
        if built.listener is None:
            continue
        listeners.append(built.listener)
        for route_name, servers in built.routes:
            routes.append(build_route_config(world, proxy, route_name, servers))
    listeners.sort(key=lambda r: str(r["name"]))
    routes.sort(key=lambda r: str(r["name"]))
    return EnvoyConfig(listeners=listeners, clusters=build_clusters(world, proxy), routes=routes)
