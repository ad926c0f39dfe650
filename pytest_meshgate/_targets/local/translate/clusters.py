"""Mesh services and DestinationRule subsets -> Envoy clusters of a gateway proxy."""

from __future__ import annotations

from collections.abc import Mapping

from ...._model.istio import DestinationRule, Subset
from ..world import Endpoint, GatewayProxy, MeshService, World
from .common import _API, CLUSTER_TYPE, Json, UnsupportedFeature, exported_to, resources_of
from .hosts import most_specific_match, resolve_shortname
from .routes import cluster_name

__all__ = ["H2_PROTOCOLS", "build_clusters", "destination_rule_for"]

# protocol.Instance.IsHTTP2(): these ports get an HTTP/2 upstream (cluster_builder.go
# setUpstreamProtocol); everything else stays HTTP/1.1, whatever the client spoke.
H2_PROTOCOLS = frozenset({"HTTP2", "GRPC", "GRPC-WEB"})
_MAX_UINT32 = 4294967295
DEFAULT_CONNECT_TIMEOUT = "10s"  # mesh connectTimeout default


def _dr_host(dr: DestinationRule, world: World) -> str:
    return resolve_shortname(dr.spec.host, dr.metadata.namespace, world.domain_suffix)


def destination_rule_for(
    world: World, proxy: GatewayProxy, service: MeshService
) -> list[DestinationRule]:
    """The DestinationRules that apply to ``service`` for this proxy.

    push_context.go destinationRule(): the proxy's namespace first (the root
    namespace's own rules when the proxy lives there), then rules in the
    service's namespace exported to the proxy, then the root namespace's. The
    most specific host wins; rules of one namespace for the same host merge.
    """
    rules = [
        dr
        for dr in resources_of(world, DestinationRule)
        if dr.spec.workload_selector is None
        and exported_to(dr.spec.export_to, dr.metadata.namespace, proxy.namespace)
    ]
    order = [proxy.namespace, service.namespace, world.root_namespace]
    for ns in dict.fromkeys(order):
        candidates = [dr for dr in rules if dr.metadata.namespace == ns]
        best = most_specific_match(service.hostname, {_dr_host(dr, world) for dr in candidates})
        if best is not None:
            return [dr for dr in candidates if _dr_host(dr, world) == best]
    return []


def _merged_subsets(rules: list[DestinationRule]) -> list[Subset]:
    # destination_rule.go mergeDestinationRule(): later rules add subsets with new names.
    seen: dict[str, Subset] = {}
    for dr in rules:
        for subset in dr.spec.subsets:
            seen.setdefault(subset.name, subset)
    return list(seen.values())


def _check_policies(rules: list[DestinationRule]) -> None:
    for dr in rules:
        if dr.spec.traffic_policy is not None:
            raise UnsupportedFeature(dr, "spec.trafficPolicy")
        for i, subset in enumerate(dr.spec.subsets):
            if subset.traffic_policy is not None:
                raise UnsupportedFeature(dr, f"spec.subsets[{i}].trafficPolicy")


def _endpoints(endpoints: list[Endpoint], port: int) -> list[Json]:
    lb_endpoints: list[Json] = []
    for ep in endpoints:
        address = ep.addresses.get(port)
        if address is None:
            continue
        ip, number = address
        lb_endpoints.append(
            {"endpoint": {"address": {"socket_address": {"address": ip, "port_value": number}}}}
        )
    return [{"lb_endpoints": lb_endpoints}] if lb_endpoints else []


def _cluster(name: str, protocol: str, endpoints: list[Json], proxy: GatewayProxy) -> Json:
    """An outbound cluster with Istio's defaults (cluster_builder.go, cluster_traffic_policy.go).

    Istio uses EDS; STATIC with the same endpoints behaves the same here. An
    empty endpoint list is kept: Envoy then answers 503 UH "no healthy upstream".
    """
    cluster: Json = {
        "@type": CLUSTER_TYPE,
        "name": name,
        "type": "STATIC",
        "connect_timeout": DEFAULT_CONNECT_TIMEOUT,
        "lb_policy": "LEAST_REQUEST",
        "circuit_breakers": {
            "thresholds": [
                {
                    "max_connections": _MAX_UINT32,
                    "max_pending_requests": _MAX_UINT32,
                    "max_requests": _MAX_UINT32,
                    "max_retries": _MAX_UINT32,
                    "track_remaining": True,
                }
            ]
        },
        "common_lb_config": {},
        "load_assignment": {"cluster_name": name, "endpoints": endpoints},
    }
    if protocol.upper() in H2_PROTOCOLS:
        cluster["typed_extension_protocol_options"] = {
            "envoy.extensions.upstreams.http.v3.HttpProtocolOptions": {
                "@type": f"{_API}.upstreams.http.v3.HttpProtocolOptions",
                "explicit_http_config": {"http2_protocol_options": {}},
            }
        }
    if proxy.source_address is not None:
        cluster["upstream_bind_config"] = {
            "source_address": {"address": proxy.source_address, "port_value": 0}
        }
    return cluster


def _matches(labels: Mapping[str, str], selector: Mapping[str, str]) -> bool:
    return all(labels.get(k) == v for k, v in selector.items())


def build_clusters(world: World, proxy: GatewayProxy) -> list[Json]:
    """One cluster per service port, plus one per visible DestinationRule subset."""
    clusters: list[Json] = []
    for service in world.services:
        rules = destination_rule_for(world, proxy, service)
        _check_policies(rules)
        subsets = _merged_subsets(rules)
        for sp in service.ports:
            endpoints = list(service.endpoints)
            clusters.append(
                _cluster(
                    cluster_name(sp.port, None, service.hostname),
                    sp.protocol,
                    _endpoints(endpoints, sp.port),
                    proxy,
                )
            )
            for subset in subsets:
                chosen = [ep for ep in endpoints if _matches(ep.labels, subset.labels)]
                clusters.append(
                    _cluster(
                        cluster_name(sp.port, subset.name, service.hostname),
                        sp.protocol,
                        _endpoints(chosen, sp.port),
                        proxy,
                    )
                )
    clusters.sort(key=lambda c: str(c["name"]))
    return clusters
