"""A local proxy: one gateway's or client sidecar's Envoy and the loopback ports it binds."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..._cases.model.workloads import GatewayWorkload

__all__ = ["LOOPBACK", "LocalProxy"]

LOOPBACK = "127.0.0.1"


@dataclass
class LocalProxy:
    """A gateway's or a client sidecar's Envoy and the loopback ports its listeners bind.

    ``source_address`` is the loopback address its upstream connections come
    from, so a backend's peer names the proxy that reached it (``via``).
    """

    workload: GatewayWorkload
    envoy: Any  # EnvoyProcess
    source_address: str = LOOPBACK
    sidecar: bool = False
    short_name: str = ""  # what checks call it: ingress, egress, a gateway or client name
    ports: dict[int, int] = field(default_factory=dict)  # listener port -> loopback port
    config: Any = None  # the EnvoyConfig last applied
    # The access logs Istio configured on it: (file on disk, LogFormat) each.
    istio_logs: tuple[tuple[str, Any], ...] = ()
    # What its Istio standard metrics are counted with (local.stats): a ProxyIdentity
    # and the MetricsConfig the Telemetry API gives it; None until configured.
    stats_identity: Any = None
    metrics_config: Any = None
    stats_cache: Any = None  # local.stats.SampleCache

    @property
    def access_log_path(self) -> Path:
        """The harness's own JSON access log (diagnostics, and each request's x-request-id)."""
        return Path(self.envoy.workdir) / "access.log"

    @property
    def stats_log_path(self) -> Path:
        """The per-request stats log (translate.stats), beside the harness's own log."""
        return Path(self.envoy.workdir) / "stats.log"

    @property
    def log_dir(self) -> Path:
        """Where the Istio-configured access logs go: ``container.log`` for /dev/stdout."""
        return Path(self.envoy.workdir) / "logs"

    def bind(self, listener_port: int) -> tuple[str, int]:
        from .envoy import allocate_port

        if listener_port not in self.ports:
            self.ports[listener_port] = allocate_port(LOOPBACK)
        return LOOPBACK, self.ports[listener_port]

    def address_for(self, service_port: int) -> tuple[str, int]:
        """Where a client reaching the gateway Service on ``service_port`` connects.

        The Service maps port -> targetPort (80 -> 8080); a port that is not a
        Service port is taken as a pod port, as when addressing the pod itself.
        """
        listener_port = service_port
        for port in self.workload.ports:
            if port.port == service_port:
                listener_port = port.target_port or port.port
                break
        return self.bind(listener_port)
