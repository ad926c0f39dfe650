"""Istio config -> Envoy xDS for one gateway proxy of the local target.

``translate_gateway(world, proxy)`` is pure and deterministic: the same World
gives byte-identical JSON. Rules follow Istio's pilot code (cited per function).
"""

from __future__ import annotations

import contextlib
import dataclasses
import logging
import threading
from collections.abc import Callable, Iterator

from ...._cases.model.istio import AuthorizationPolicy
from ..world import GatewayProxy, World
from .accesslog import with_access_logs
from .authz import SecurityFilters, applicable_policies, security_filters
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
    "SecurityFilters",
    "UnsupportedFeature",
    "recorded_warnings",
    "security_filters",
    "translate",
    "translate_gateway",
    "translate_sidecar",
]

# The parent of every translation module's logger.
_LOG = logging.getLogger(__name__)


# Lanes translate cases in several threads at once: each recorder keeps its own
# thread's lines, and the logger's level is raised while any recorder is active.
_RECORDING = threading.Lock()
_recorders = 0
_saved_level = logging.NOTSET


class _Recorder(logging.Handler):
    def __init__(self, into: list[str]) -> None:
        super().__init__(logging.INFO)
        self.into = into
        self.thread = threading.get_ident()

    def emit(self, record: logging.LogRecord) -> None:
        if record.thread == self.thread:
            self.into.append(record.getMessage())


@contextlib.contextmanager
def recorded_warnings() -> Iterator[list[str]]:
    """What the translation logs (INFO and above) while the block runs, one line each.

    The translation stays pure; what it leaves out or cannot honour (a server
    without its secret, a server skipped for a conflict) it says in the log.
    Those lines are the deployment's warnings, shown in every failing check
    of the case. They still reach pytest's log capture as well.
    """
    global _recorders, _saved_level
    lines: list[str] = []
    recorder = _Recorder(lines)
    with _RECORDING:
        if _recorders == 0:
            _saved_level = _LOG.level
            if not _LOG.isEnabledFor(logging.INFO):
                _LOG.setLevel(logging.INFO)
        _recorders += 1
        _LOG.addHandler(recorder)
    try:
        yield lines
    finally:
        with _RECORDING:
            _LOG.removeHandler(recorder)
            _recorders -= 1
            if _recorders == 0:
                _LOG.setLevel(_saved_level)


def translate(world: World, proxy: GatewayProxy) -> EnvoyConfig:
    """The configuration of ``proxy``: a gateway's, or a client sidecar's."""
    if proxy.sidecar:
        return translate_sidecar(world, proxy)
    return translate_gateway(world, proxy)


def _with_security(world: World, proxy: GatewayProxy) -> GatewayProxy:
    """``proxy`` with the jwt_authn and RBAC filters of its policies; a CUSTOM policy
    (an external authorizer the local target does not run) is unsupported."""
    for policy in applicable_policies(world, proxy, AuthorizationPolicy):
        if policy.spec.action == "CUSTOM":
            raise UnsupportedFeature(
                policy, "spec.action", "CUSTOM needs an ext_authz provider, which is not run"
            )
    port_of = _bound_port(proxy)
    return dataclasses.replace(proxy, security=security_filters(world, proxy, port_of=port_of))


def _bound_port(proxy: GatewayProxy) -> Callable[[int], int]:
    """A policy names the gateway's container ports; its listeners bind others here."""
    listener_ports = {p.target_port for p in proxy.service_ports}

    def port_of(port: int) -> int:
        return proxy.bind(port)[1] if port in listener_ports else port

    return port_of


def translate_gateway(world: World, proxy: GatewayProxy) -> EnvoyConfig:
    """Listeners, clusters and route configurations for ``proxy``."""
    # ServiceEntry hosts exported to the gateway's namespace are destinations too.
    world = with_registry(world, proxy.namespace)
    proxy = with_stats_log(world, with_access_logs(world, proxy))
    proxy = _with_security(world, proxy)
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
