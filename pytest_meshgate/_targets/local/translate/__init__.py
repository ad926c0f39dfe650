"""Istio config -> Envoy xDS for one gateway proxy of the local target.

``translate_gateway(world, proxy)`` is pure and deterministic: the same World
gives byte-identical JSON. Rules follow Istio's pilot code (cited per function).
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterator

from ..world import GatewayProxy, World
from .accesslog import with_access_logs
from .clusters import build_clusters
from .common import EnvoyConfig, Json, UnsupportedFeature
from .gateway import merge_servers
from .listeners import build_listener
from .route import build_route_config
from .serviceentry import with_registry
from .sidecar import translate_sidecar
from .stats import attach_tcp_access_logs, with_stats_log

__all__ = [
    "EnvoyConfig",
    "UnsupportedFeature",
    "recorded_warnings",
    "translate",
    "translate_gateway",
    "translate_sidecar",
]

# The parent of every translation module's logger.
_LOG = logging.getLogger(__name__)


class _Recorder(logging.Handler):
    def __init__(self, into: list[str]) -> None:
        super().__init__(logging.INFO)
        self.into = into

    def emit(self, record: logging.LogRecord) -> None:
        self.into.append(record.getMessage())


@contextlib.contextmanager
def recorded_warnings() -> Iterator[list[str]]:
    """What the translation logs (INFO and above) while the block runs, one line each.

    The translation stays pure; what it leaves out or cannot honour (a server
    without its secret, a server skipped for a conflict) it says in the log.
    Those lines are the deployment's warnings, shown in every failing check
    of the case. They still reach pytest's log capture as well.
    """
    lines: list[str] = []
    recorder = _Recorder(lines)
    level = _LOG.level
    if not _LOG.isEnabledFor(logging.INFO):
        _LOG.setLevel(logging.INFO)
    _LOG.addHandler(recorder)
    try:
        yield lines
    finally:
        _LOG.removeHandler(recorder)
        _LOG.setLevel(level)


def translate(world: World, proxy: GatewayProxy) -> EnvoyConfig:
    """The configuration of ``proxy``: a gateway's, or a client sidecar's."""
    if proxy.sidecar:
        return translate_sidecar(world, proxy)
    return translate_gateway(world, proxy)


def translate_gateway(world: World, proxy: GatewayProxy) -> EnvoyConfig:
    """Listeners, clusters and route configurations for ``proxy``."""
    # ServiceEntry hosts exported to the gateway's namespace are destinations too.
    world = with_registry(world, proxy.namespace)
    proxy = with_stats_log(world, with_access_logs(world, proxy))
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
    attach_tcp_access_logs(listeners, proxy)
    return EnvoyConfig(listeners=listeners, clusters=build_clusters(world, proxy), routes=routes)
