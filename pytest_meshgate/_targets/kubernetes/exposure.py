"""Reaching a case's gateway ports from this machine: the NodePorts kind maps to the host.

kind maps host ports 30080-30099 to the same NodePorts (``providers/kind.py``).
The default gateways' 80 and 443 have fixed ones (the session pins them).
Gateways a case declares (``spec.gateways``) have their own Service, made a
NodePort Service from the rest of the pool here; so is the case's ports
Service for other ports of a default gateway (``manifests.ports_service``,
rendered with the case). The API server arbitrates: a taken nodePort is
refused and the next is tried. Elsewhere (an existing cluster) the ports
Service's node ports are the ones the API server numbered.
"""

from __future__ import annotations

from typing import Any

from .manifests import ports_service_name
from .providers import CUSTOM_NODE_PORTS, ClusterHandle

__all__ = ["expose_case_ports"]


def expose_case_ports(deployment: Any, cluster: ClusterHandle) -> dict[tuple[str, int], int]:
    """Give the case's gateway ports NodePorts; (short name, port) -> nodePort.

    The extra Services are among the case's objects (``manifests.render_case``),
    applied already; here their node ports are chosen (kind) or read (elsewhere).
    """
    kube = deployment.kube
    plan = deployment.plan
    assigned: dict[tuple[str, int], int] = {}
    if cluster.host_ports:
        for workload in deployment.loaded.case.spec.gateways:
            wanted = {p.port: list(CUSTOM_NODE_PORTS) for p in workload.ports}
            namespace = plan.map(workload.namespace)
            for port, node_port in kube.expose_node_ports(namespace, workload.name, wanted).items():
                assigned[(workload.name, port)] = node_port
    for obj in deployment.objects:
        short = (obj["metadata"].get("annotations") or {}).get("meshgate.dev/gateway-ports")
        if (
            obj["kind"] != "Service"
            or not short
            or obj["metadata"]["name"] != ports_service_name(plan, short)
        ):
            continue
        workload = deployment.workload(short)
        ports = [int(p["port"]) for p in obj["spec"]["ports"]]
        service = obj
        if cluster.host_ports:
            taken = set(assigned.values())
            pool = [p for p in CUSTOM_NODE_PORTS if p not in taken]
            wanted = {port: pool for port in ports}
            name = service["metadata"]["name"]
            numbers = kube.expose_node_ports(workload.namespace, name, wanted)
        else:
            live = kube.get("v1", "Service", service["metadata"]["name"], workload.namespace) or {}
            numbers = {
                int(p["port"]): int(p["nodePort"])
                for p in (live.get("spec") or {}).get("ports", [])
                if p.get("nodePort")
            }
        for port, node_port in numbers.items():
            assigned[(short, port)] = node_port
    return assigned
