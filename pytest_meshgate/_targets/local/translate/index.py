"""The translator's shared lookups: VirtualServices by gateway, DestinationRules by host, clusters.

Istio computes these once per push in its push context
(``pilot/pkg/model/push_context.go``) and every config builder reads them from
there; here the route, cluster, TCP and sidecar builders all take them from
this module, so each rule exists once.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from ...._cases.model.istio import (
    Destination,
    DestinationRule,
    PortTrafficPolicy,
    Subset,
    TrafficPolicy,
    VirtualService,
)
from ..world import GatewayProxy, MeshService, World
from .common import exported_to, labels_match, resources_of
from .hosts import most_specific_match, resolve_gateway_name, resolve_shortname

__all__ = [
    "MESH_GATEWAY",
    "ROUTE_SEMANTICS_ANNOTATION",
    "UNKNOWN_SERVICE",
    "ResolvedVS",
    "ServiceIndex",
    "cluster_name",
    "destination_cluster",
    "destination_port",
    "destination_rule_for",
    "merged_subsets",
    "merged_traffic_policy",
    "port_level_settings",
    "service_port_protocol",
    "subset_named",
    "uses_gateway_semantics",
    "virtual_services_for_gateway",
]

# The reserved gateway name of sidecars (constants.IstioMeshGateway).
MESH_GATEWAY = "mesh"
# constants.InternalRouteSemantics: "gateway" on VirtualServices converted from Gateway API routes.
ROUTE_SEMANTICS_ANNOTATION = "internal.istio.io/route-semantics"
# The cluster of an empty destination (route.go GetDestinationCluster).
UNKNOWN_SERVICE = "UnknownService"


# --------------------------------------------------------------------- services


class ServiceIndex:
    """The world's services by hostname (push_context.go ``ServiceIndex``)."""

    def __init__(self, world: World) -> None:
        self.by_host: dict[str, MeshService] = {s.hostname: s for s in world.services}

    def service(self, hostname: str) -> MeshService | None:
        """The service named ``hostname`` (an FQDN), None when the registry has none."""
        return self.by_host.get(hostname)


def service_port_protocol(service: MeshService, number: int) -> str | None:
    """The protocol of ``service``'s port ``number``, None if it has no such port."""
    return next((p.protocol for p in service.ports if p.port == number), None)


# --------------------------------------------------------------------- VirtualServices


@dataclass(frozen=True)
class ResolvedVS:
    """A VirtualService with Istio's short-name resolution applied."""

    vs: VirtualService
    hosts: tuple[str, ...]
    gateways: tuple[str, ...]


def _resolve(vs: VirtualService, world: World) -> ResolvedVS:
    ns = vs.metadata.namespace
    hosts = tuple(resolve_shortname(h, ns, world.domain_suffix) for h in vs.spec.hosts)
    # push_context.go getGatewayNames(): no gateways means the mesh only.
    gateways = tuple(resolve_gateway_name(g, ns) for g in vs.spec.gateways) or (MESH_GATEWAY,)
    return ResolvedVS(vs=vs, hosts=hosts, gateways=gateways)


def virtual_services_for_gateway(
    world: World, proxy_namespace: str, gateway_name: str
) -> list[ResolvedVS]:
    """VSs bound to ``gateway_name`` and visible in the proxy's namespace, in Istio's order.

    push_context.go initVirtualServices()/VirtualServicesForGateway(): VSs
    private to the proxy namespace, then VSs exported to it, then public ones
    (those converted from Gateway API routes of the proxy's namespace first);
    creation order within each group.
    """
    private: list[ResolvedVS] = []
    exported: list[ResolvedVS] = []
    public: list[ResolvedVS] = []
    own_public: list[ResolvedVS] = []  # Gateway API routes of the proxy's namespace
    for vs in resources_of(world, VirtualService):
        resolved = _resolve(vs, world)
        if gateway_name not in resolved.gateways:
            continue
        ns = vs.metadata.namespace
        export_to = [ns if e == "." else e for e in vs.spec.export_to] or ["*"]
        if "*" in export_to:
            # "Favor same-namespace Gateway routes, to give the consumer override preference."
            (own_public if uses_gateway_semantics(vs) and ns == proxy_namespace else public).append(
                resolved
            )
        elif "~" not in export_to and proxy_namespace in export_to:
            (private if proxy_namespace == ns else exported).append(resolved)
    return private + exported + own_public + public


# --------------------------------------------------------------------- clusters


def destination_port(dest: Destination, service: MeshService | None, listener_port: int) -> int:
    """route.go GetDestinationCluster() port: explicit; the only service port; the gateway port."""
    if dest.port is not None:
        return dest.port.number
    if service is not None and len(service.ports) == 1:
        return service.ports[0].port
    return listener_port


def uses_gateway_semantics(vs: VirtualService) -> bool:
    """``model.UseGatewaySemantics``: converted from Gateway API routes (``route-semantics``)."""
    return vs.metadata.annotations.get(ROUTE_SEMANTICS_ANNOTATION) == "gateway"


def cluster_name(port: int, subset: str | None, host: str) -> str:
    """model.BuildSubsetKey: ``outbound|<port>|<subset>|<host>``."""
    return f"outbound|{port}|{subset or ''}|{host}"


def destination_cluster(
    dest: Destination, vs_namespace: str, listener_port: int, world: World, services: ServiceIndex
) -> str:
    """route.go GetDestinationCluster(): the cluster a VirtualService destination names.

    An empty host is a Gateway API backendRef Istio could not follow: no cluster has its name.
    An ExternalName Service (an alias) names the cluster of its ``externalName``,
    on the port its own ports decide (route.go: "If this is an Alias, point to
    the concrete service"): with none declared, the listener's port.
    """
    if not dest.host:
        return UNKNOWN_SERVICE
    host = resolve_shortname(dest.host, vs_namespace, world.domain_suffix)
    service = services.service(host)
    port = destination_port(dest, service, listener_port)
    if service is not None and service.alias_for is not None:
        host = service.alias_for
    return cluster_name(port, dest.subset, host)


# --------------------------------------------------------------------- DestinationRules


def _dr_host(dr: DestinationRule, world: World) -> str:
    return resolve_shortname(dr.spec.host, dr.metadata.namespace, world.domain_suffix)


def destination_rule_for(
    world: World, proxy: GatewayProxy, service: MeshService
) -> list[DestinationRule]:
    """The DestinationRules that apply to ``service`` for this proxy.

    push_context.go destinationRule(): rules in the proxy's namespace (only the
    private ones when the proxy lives in the root namespace), then rules of the
    service's namespace exported to the proxy, then the root namespace's. The
    most specific host wins; rules of one namespace for the same host merge.
    A rule with a ``workloadSelector`` is private to its namespace and sorts
    first; of the rules found, those whose selector matches the proxy's labels
    win, else the ones without selector (sidecar.go ``DestinationRule``).
    """
    rules = [dr for dr in resources_of(world, DestinationRule) if "~" not in dr.spec.export_to]
    # sortConfigBySelectorAndCreationTime: selector rules first, creation order kept.
    rules.sort(key=lambda dr: dr.spec.workload_selector is None)

    def best(candidates: list[DestinationRule]) -> list[DestinationRule]:
        host = most_specific_match(service.hostname, {_dr_host(dr, world) for dr in candidates})
        return [dr for dr in candidates if host is not None and _dr_host(dr, world) == host]

    def private(dr: DestinationRule) -> bool:
        if dr.spec.workload_selector is not None:
            return True
        return bool(dr.spec.export_to) and all(
            e in (".", dr.metadata.namespace) for e in dr.spec.export_to
        )

    def exported(ns: str) -> list[DestinationRule]:
        return [
            dr
            for dr in rules
            if dr.metadata.namespace == ns
            and dr.spec.workload_selector is None
            and exported_to(dr.spec.export_to, dr.metadata.namespace, proxy.namespace)
        ]

    if proxy.namespace != world.root_namespace:
        # 1. any rule in the proxy's own namespace
        found = best([dr for dr in rules if dr.metadata.namespace == proxy.namespace])
    else:
        # 1'. only the root namespace's private (exportTo ".") rules
        found = best(
            [dr for dr in rules if dr.metadata.namespace == proxy.namespace and private(dr)]
        )
    # 2. rules in the service's namespace exported to the proxy; 3. the root namespace's.
    for ns in (service.namespace, world.root_namespace):
        if found:
            break
        found = best(exported(ns))
    return _for_workload(found, proxy)


def _for_workload(found: list[DestinationRule], proxy: GatewayProxy) -> list[DestinationRule]:
    """The first rule group whose workloadSelector matches the proxy, else the catch-all."""
    for dr in found:
        selector = dr.spec.workload_selector
        if (
            selector is not None
            and dr.metadata.namespace == proxy.namespace
            and labels_match(proxy.labels, selector.match_labels)
        ):
            # Rules with equal selectors merge (destination_rule.go mergeDestinationRule).
            return [
                other
                for other in found
                if other.spec.workload_selector is not None
                and other.spec.workload_selector.match_labels == selector.match_labels
            ]
    return [dr for dr in found if dr.spec.workload_selector is None]


def merged_traffic_policy(rules: Iterable[DestinationRule]) -> TrafficPolicy | None:
    """The top-level policy of merged rules: that of the first rule setting one.

    destination_rule.go mergeDestinationRule().
    """
    return next((dr.spec.traffic_policy for dr in rules if dr.spec.traffic_policy), None)


def merged_subsets(rules: Iterable[DestinationRule]) -> list[Subset]:
    """The subsets of merged rules; a later rule adds only subsets with new names.

    destination_rule.go mergeDestinationRule().
    """
    seen: dict[str, Subset] = {}
    for dr in rules:
        for subset in dr.spec.subsets:
            seen.setdefault(subset.name, subset)
    return list(seen.values())


def subset_named(rules: Iterable[DestinationRule], name: str) -> Subset | None:
    """The subset ``name`` of merged rules (the first rule defining it wins)."""
    return next((s for s in merged_subsets(rules) if s.name == name), None)


def port_level_settings(policy: TrafficPolicy | None, port: int) -> PortTrafficPolicy | None:
    """The ``portLevelSettings`` entry for ``port`` (GetPortLevelTrafficPolicy), None if none."""
    if policy is None:
        return None
    for entry in policy.port_level_settings:
        if entry.port is not None and entry.port.number == port:
            return entry
    return None
