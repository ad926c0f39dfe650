"""Service analyzer: port names Istio cannot read a protocol from.

As Istio's ``pkg/config/analysis/analyzers/service/portname.go``
(PortNameAnalyzer), for the case's echo services (the gateways' Services
are Istio's own, which it skips).
"""

from __future__ import annotations

from ..model.workloads import ServicePort
from .cluster import Cluster
from .messages import PORT_NAME_IS_NOT_UNDER_NAMING_CONVENTION

__all__ = ["port_names"]

# pkg/config/protocol/instance.go Parse()
_PROTOCOLS = {
    "tcp", "udp", "grpc", "grpc-web", "http", "http_proxy", "http2", "https", "tls", "mongo",
    "redis", "mysql",
}  # fmt: skip
# pkg/config/kube/conversion.go wellKnownPorts: SMTP, DNS, MySQL, MongoDB count as TCP.
_WELL_KNOWN_PORTS = {25, 53, 3306, 27017}
# Kubernetes' standard appProtocol names (conversion.go ConvertProtocol).
_KUBERNETES_APP_PROTOCOLS = {"kubernetes.io/h2c", "kubernetes.io/ws", "kubernetes.io/wss"}


def _unsupported(port: ServicePort) -> bool:
    """``ConvertProtocol`` finds no protocol: not from appProtocol, nor the name's prefix."""
    name = port.app_protocol if port.app_protocol is not None else port.name
    if name in _KUBERNETES_APP_PROTOCOLS or name.lower().startswith("grpc-web"):
        return False
    if name.partition("-")[0].lower() in _PROTOCOLS:
        return False
    return port.port not in _WELL_KNOWN_PORTS


def port_names(cluster: Cluster) -> None:
    """An echo service port whose name (or appProtocol) names no protocol (IST0118, Info)."""
    for i, service in enumerate(cluster.loaded.case.spec.services):
        if service.external:
            continue
        for j, port in enumerate(service.ports):
            if _unsupported(port):
                cluster.report_workload(
                    PORT_NAME_IS_NOT_UNDER_NAMING_CONVENTION,
                    "Service",
                    f"{service.namespace}/{service.name}",
                    ("spec", "services", i, "ports", j, "name"),
                    port.name,
                    port.port,
                    str(port.target_port or port.port),
                )
