"""Automated deployment: the gateway workload and Service Istio creates for each Gateway.

Istio's deployment controller (``pilot/pkg/config/kube/gateway/deploymentcontroller.go``)
gives every Gateway of class ``istio`` a Deployment and a Service named
``<name>-<class>`` in the Gateway's namespace (``gatewaycommon.GetDefaultName``),
whose ports are the listener ports, each targeting the same port on the pod.
"""

from __future__ import annotations

from ...._cases.model.workloads import GatewayPort, GatewayWorkload
from .listeners import GatewayResult

__all__ = ["GATEWAY_NAME_LABEL", "gateway_workload"]

GATEWAY_NAME_LABEL = "gateway.networking.k8s.io/gateway-name"


def gateway_workload(result: GatewayResult) -> GatewayWorkload:
    """The gateway workload of one converted Gateway: its Service ports are its listener ports."""
    gateway = result.gateway
    ports: dict[int, str] = {}
    # The listeners of the ListenerSets the Gateway allows are its Service's ports too.
    allowed = [s.listener_set for s in result.listener_sets if s.allowed]
    listeners = [
        *gateway.spec.listeners,
        *(e.as_listener() for s in allowed for e in s.spec.listeners),
    ]
    for listener in listeners:
        if listener.port:  # a ListenerSet listener without a port has none to expose
            ports.setdefault(listener.port, f"{listener.protocol.lower()}-{listener.port}")
    # Built unchecked: a Gateway's name may be longer than a workload name (63).
    return GatewayWorkload.model_construct(
        name=result.service_name,
        namespace=gateway.namespace,
        labels={
            GATEWAY_NAME_LABEL: gateway.name,
            "gateway.networking.k8s.io/gateway-class-name": gateway.spec.gateway_class_name,
        },
        ports=[
            GatewayPort(name=name, port=port, target_port=port)
            for port, name in sorted(ports.items())
        ],
    )
