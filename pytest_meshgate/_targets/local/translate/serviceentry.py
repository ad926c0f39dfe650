"""ServiceEntry hosts as mesh services: the service registry a proxy sees.

``serviceregistry/serviceentry/conversion.go``: one service per SE host, with
the SE's ports, resolution, location and ``exportTo``. Endpoints are what
Istio's would resolve to, looked up in ``World.network`` (the names and
addresses outside the mesh) instead of the machine's DNS:

- ``DNS`` / ``DNS_ROUND_ROBIN`` without ``endpoints``: the host itself,
  on ``targetPort`` (else the port number);
- listed ``endpoints`` (any resolution): each address (a name for DNS, an IP
  for STATIC) on the endpoint's named port, else ``targetPort``, else the port;
- ``NONE`` without endpoints: none. Sidecars use an ``ORIGINAL_DST`` cluster for
  it (``cluster.go`` ``convertResolution``), gateways EDS with no endpoints.

An address that leads nowhere gives no endpoint (Envoy: 503 "no healthy upstream").
"""

from __future__ import annotations

import dataclasses
import ipaddress

from ...._cases.model.istio import ServiceEntry
from ...._cases.model.workloads import port_protocol
from ..world import Endpoint, MeshService, ServicePortInfo, World
from .common import UnsupportedFeature, exported_to, resources_of
from .hosts import resolve_shortname

__all__ = ["service_entry_services", "visible_services", "with_registry"]


def _protocol(protocol: str | None, name: str) -> str:
    # convertPort(): the declared protocol, else (as for Services) the name prefix.
    if protocol:
        return protocol.upper()
    return port_protocol(name)


def _is_ip(address: str) -> bool:
    try:
        ipaddress.ip_address(address)
    except ValueError:
        return False
    return True


def service_entry_services(world: World) -> list[MeshService]:
    """Every ServiceEntry host as a ``MeshService``, in Istio's creation order."""
    out: list[MeshService] = []
    for se in resources_of(world, ServiceEntry):
        spec = se.spec
        if spec.resolution == "DYNAMIC_DNS":
            raise UnsupportedFeature(se, "spec.resolution", "DYNAMIC_DNS")
        if spec.workload_selector is not None:
            raise UnsupportedFeature(se, "spec.workloadSelector")
        ports = tuple(
            ServicePortInfo(
                p.name, p.number, p.target_port or p.number, _protocol(p.protocol, p.name)
            )
            for p in spec.ports
        )
        address = next((a for a in spec.addresses if "/" not in a and _is_ip(a)), None)
        for raw_host in spec.hosts:
            host = resolve_shortname(raw_host.lower(), se.metadata.namespace, world.domain_suffix)
            endpoints: list[Endpoint] = []
            if spec.endpoints:
                for index, entry in enumerate(spec.endpoints):
                    target = entry.address or ""
                    for p in spec.ports:
                        number = entry.ports.get(p.name) or p.target_port or p.number
                        for ip, real_port in world.network.get((target, number), ()):
                            endpoints.append(
                                Endpoint(
                                    labels=dict(entry.labels),
                                    addresses={p.number: (ip, real_port)},
                                    workload=f"{se.metadata.name}-{index} ({target}:{number})",
                                )
                            )
            elif spec.resolution in ("DNS", "DNS_ROUND_ROBIN"):
                for p in spec.ports:
                    number = p.target_port or p.number
                    for ip, real_port in world.network.get((host, number), ()):
                        endpoints.append(
                            Endpoint(
                                labels={},
                                addresses={p.number: (ip, real_port)},
                                workload=f"{host}:{number}",
                            )
                        )
            out.append(
                MeshService(
                    hostname=host,
                    namespace=se.metadata.namespace,
                    ports=ports,
                    endpoints=tuple(endpoints),
                    external=spec.location == "MESH_EXTERNAL",
                    address=address,
                    resolution=spec.resolution,
                    export_to=tuple(spec.export_to),
                    origin=f"ServiceEntry {se.key}",
                    # ISTIO_MUTUAL to the entry verifies these identities, and so
                    # does SIMPLE/MUTUAL origination to a MESH_EXTERNAL one whose
                    # DestinationRule names no subjectAltNames.
                    service_accounts=tuple(spec.subject_alt_names),
                )
            )
    return out


def _visible(service: MeshService, namespace: str) -> bool:
    return exported_to(list(service.export_to), service.namespace, namespace)


def visible_services(world: World, namespace: str) -> tuple[MeshService, ...]:
    """The services a proxy in ``namespace`` sees: the world's, then ServiceEntry hosts.

    A host already known (a Kubernetes Service, an earlier ServiceEntry) keeps
    its first definition. ServiceEntries not exported to ``namespace`` are left
    out, so routes to them find no cluster (503 NC).
    """
    seen: set[str] = set()
    out: list[MeshService] = []
    for service in (*world.services, *service_entry_services(world)):
        if service.hostname in seen or not _visible(service, namespace):
            continue
        seen.add(service.hostname)
        out.append(service)
    return tuple(out)


def with_registry(world: World, namespace: str) -> World:
    """``world`` whose ``services`` are those a proxy in ``namespace`` sees."""
    return dataclasses.replace(world, services=visible_services(world, namespace))
