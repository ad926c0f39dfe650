"""A client sidecar's HTTP route configuration ``"<port>"``: virtual hosts per service and VS.

Istio's ``pilot/pkg/networking/core/httproute.go``
``BuildSidecarOutboundVirtualHosts``: a virtual host per VirtualService bound
to ``mesh``, a default virtual host for every other service on the port, and
the catch-all of ``buildCatchAllVirtualHost``. A service belongs to the
VirtualService whose host matches it most specifically (an exact host over
any wildcard, a longer wildcard over a shorter one; among identical hosts the
oldest), as ``pilot/pkg/model/sidecar.go`` ``computeWildcardHostVirtualServiceIndex``
records it and ``core/route/route.go`` ``separateVSHostsAndServices`` reads it.
The routes of a VirtualService come from the shared route translation
(``route/``), with a server standing for ``mesh``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from ....._cases.model.istio import Gateway
from ...world import GatewayProxy, MeshService, World
from ..common import ROUTE_TYPE, Json
from ..gateway import HTTP_PROTOCOLS, BoundServer
from ..hosts import host_matches, most_specific_match
from ..index import (
    MESH_GATEWAY,
    ResolvedVS,
    cluster_name,
    service_port_protocol,
    uses_gateway_semantics,
)
from ..route import DEFAULT_RETRY_POLICY, MAX_DIRECT_RESPONSE_BODY, routes_for_virtual_service
from .scope import PASSTHROUGH_CLUSTER

__all__ = ["http_route_config", "most_specific_virtual_services", "service_domains"]


@dataclass(frozen=True)
class _MeshBinding(BoundServer):
    """The ``mesh`` gateway on one outbound port, for the shared route translation."""

    @property
    def gateway_name(self) -> str:
        return MESH_GATEWAY


def _mesh_server(port: int, namespace: str) -> BoundServer:
    gateway = Gateway.model_validate(
        {
            "apiVersion": "networking.istio.io/v1",
            "kind": "Gateway",
            "metadata": {"name": MESH_GATEWAY, "namespace": namespace},
            "spec": {"servers": [{"port": {"number": port, "protocol": "HTTP"}, "hosts": ["*"]}]},
        }
    )
    return _MeshBinding(
        gateway=gateway, server=gateway.spec.servers[0], hosts=("*",), listen_port=port
    )


def service_domains(
    service: MeshService,
    proxy_namespace: str,
    domain_suffix: str,
    aliases: Sequence[str] = (),
) -> list[str]:
    """``generateVirtualHostDomains`` with the port ignored (``IgnorePortInHostMatching``).

    For the FQDN and each alias of it (the ExternalName Services naming it):
    the name and its absolute form, the short forms a pod's DNS search path
    completes (``name``, ``name.ns``, ``name.ns.svc`` in the pod's namespace;
    ``name.ns``, ``name.ns.svc`` from another). A headless Kubernetes Service
    adds ``*.`` before each, so its pods' own names
    (``<pod>.<service>.<ns>.svc.cluster.local``) match too. Then the VIP.
    """
    domains: list[str] = []
    for host in (service.hostname, *aliases):
        domains += [host, host + "."]
        suffix = f".svc.{domain_suffix}"
        if host.endswith(suffix):
            base = host[: -len(suffix)]
            name, _, namespace = base.partition(".")
            if namespace and "." not in namespace:
                if namespace == proxy_namespace:
                    domains += [name, base + ".svc", base]
                else:
                    domains += [base, base + ".svc"]
    if service.headless:
        domains += [f"*.{d}" for d in domains]
    if service.address:
        domains.append(service.address)
    return domains


def _no_timeout_route(name: str, cluster: str, operation: str) -> Json:
    return {
        "name": name,
        "match": {"prefix": "/"},
        "route": {
            "cluster": cluster,
            "timeout": "0s",
            "max_grpc_timeout": "0s",
            "retry_policy": dict(DEFAULT_RETRY_POLICY),
        },
        "decorator": {"operation": operation},
    }


def _catch_all_vhost(policy: str) -> Json:
    """``buildCatchAllVirtualHost``: ``allow_any`` to PassthroughCluster, else ``block_all`` 502."""
    if policy == "ALLOW_ANY":
        route: Json = {
            "name": "allow_any",
            "match": {"prefix": "/"},
            "route": {"cluster": PASSTHROUGH_CLUSTER, "timeout": "0s", "max_grpc_timeout": "0s"},
        }
        name = "allow_any"
    else:
        route = {"name": "block_all", "match": {"prefix": "/"}, "direct_response": {"status": 502}}
        name = "block_all"
    return {
        "name": name,
        "domains": ["*"],
        "routes": [route],
        "include_request_attempt_count": True,
    }


def most_specific_virtual_services(
    vss: Sequence[ResolvedVS], services: Sequence[MeshService]
) -> dict[str, ResolvedVS]:
    """For each service, the VirtualService whose host matches it most specifically.

    ``computeWildcardHostVirtualServiceIndex`` (``pilot/pkg/model/sidecar.go``):
    ``vss`` come in Istio's precedence order and the first VirtualService to
    name a host keeps it; then ``MostSpecificHostMatch`` picks, per service,
    the exact host, else the most specific wildcard.
    """
    by_host: dict[str, ResolvedVS] = {}
    for rvs in vss:
        for host in rvs.hosts:
            by_host.setdefault(host, rvs)
    index: dict[str, ResolvedVS] = {}
    for service in services:
        best = most_specific_match(service.hostname, by_host)
        if best is not None:
            index[service.hostname] = by_host[best]
    return index


@dataclass
class _VhostWrapper:
    services: list[MeshService]
    vs_hosts: list[str]
    routes: list[Json]


def _gateway_route_allowed(
    rvs: ResolvedVS, services: Sequence[MeshService], proxy: GatewayProxy
) -> bool:
    """route.go ``BuildSidecarVirtualHostWrapper``: a Gateway API route (a mesh HTTPRoute)
    applies only to proxies of its own namespace or for a service of its namespace.

    That is what keeps a consumer route (an HTTPRoute in the client's namespace whose
    parentRef is a Service of another) from the service's other clients (MeshConsumerRoute).
    As there, the route is dropped when none of its services is allowed (so also when it
    names no service), and otherwise kept for all of them.
    """
    vs_namespace = rvs.vs.metadata.namespace
    return any(vs_namespace in (s.namespace, proxy.namespace) for s in services)


def http_route_config(
    world: World,
    proxy: GatewayProxy,
    port: int,
    policy: str,
    vss: Sequence[ResolvedVS],
    most_specific: Mapping[str, ResolvedVS],
) -> Json:
    """Route configuration ``"<port>"`` (``BuildSidecarOutboundVirtualHosts``).

    ``most_specific`` is ``most_specific_virtual_services`` over the sidecar's
    whole scope (every port), as Istio computes it once per sidecar scope.
    """
    # servicesByName; an alias builds no virtual host of its own (route.go: its
    # names join the virtual host of the service it stands for).
    on_port = {
        s.hostname: s
        for s in world.services
        if service_port_protocol(s, port) is not None and not s.alias
    }
    aliases: dict[str, list[str]] = {}
    for s in world.services:
        if s.alias_for is not None:
            aliases.setdefault(s.alias_for, []).append(s.hostname)
    if port != 80:
        # selectVirtualServices(): only VSs naming a service on this port.
        vss = [v for v in vss if any(host_matches(h, s) for h in v.hosts for s in on_port)]
    server = _mesh_server(port, proxy.namespace)
    wrappers: list[_VhostWrapper] = []
    for rvs in vss:
        routes = routes_for_virtual_service(rvs, server, world, proxy)
        if not routes:
            continue
        matching: list[MeshService] = []
        others: list[str] = []
        for host in rvs.hosts:
            found = [s for name, s in on_port.items() if host_matches(host, name)]
            if not found:
                others.append(host.lower())
            elif host.startswith("*"):
                # separateVSHostsAndServices: a wildcard host takes only the
                # services it is the most specific match for (and, matching
                # some, is never a plain non-registry host).
                found = [s for s in found if most_specific.get(s.hostname) is rvs]
            matching += [s for s in found if s not in matching]
        if uses_gateway_semantics(rvs.vs) and not _gateway_route_allowed(rvs, matching, proxy):
            continue
        http_services = [
            s for s in matching if (service_port_protocol(s, port) or "") in HTTP_PROTOCOLS
        ]
        if http_services or port == 80:
            # A VS naming no service on this port still gets virtual hosts for its
            # other hosts, but on port 80 only (Istio's "gross HACK").
            wrappers.append(_VhostWrapper(http_services, others, routes))
    covered = {s.hostname for w in wrappers for s in w.services}
    for service in on_port.values():
        if (
            service.hostname in covered
            or service_port_protocol(service, port) not in HTTP_PROTOCOLS
        ):
            continue
        cluster = cluster_name(port, None, service.hostname)
        route = _no_timeout_route("default", cluster, f"{service.hostname}:{port}/*")
        wrappers.append(_VhostWrapper([service], [], [route]))

    names: set[str] = set()
    domains_used: set[str] = set()
    vhosts: list[Json] = []

    def add(name: str, domains: list[str], routes: list[Json]) -> None:
        if name in names:
            return  # duplicate virtual host: the older VirtualService keeps it
        names.add(name)
        fresh = [d for d in domains if d.lower() not in domains_used]
        domains_used.update(d.lower() for d in fresh)
        if fresh:
            vhosts.append(
                {
                    "name": name,
                    "domains": fresh,
                    "routes": routes,
                    "include_request_attempt_count": True,
                }
            )

    for wrapper in wrappers:
        for host in wrapper.vs_hosts:
            add(f"{host}:{port}", [host], wrapper.routes)
        for service in wrapper.services:
            domains = service_domains(
                service,
                proxy.namespace,
                world.domain_suffix,
                sorted(aliases.get(service.hostname, ())),
            )
            add(f"{service.hostname}:{port}", domains, wrapper.routes)
    vhosts.sort(key=lambda v: str(v["name"]))  # util.SortVirtualHosts
    vhosts.append(_catch_all_vhost(policy))
    return {
        "@type": ROUTE_TYPE,
        "name": str(port),
        "virtual_hosts": vhosts,
        "validate_clusters": False,
        "ignore_port_in_host_matching": True,
        "max_direct_response_body_size_bytes": MAX_DIRECT_RESPONSE_BODY,
    }
