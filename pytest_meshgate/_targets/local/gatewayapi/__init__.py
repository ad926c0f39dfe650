"""Kubernetes Gateway API -> Istio config, as Istio's controller converts it.

Istio does not program Envoy from Gateway API resources directly: its
controller (``pilot/pkg/config/kube/gateway/``) turns each listener into an
Istio ``Gateway`` and the routes into ``VirtualService`` s with gateway
semantics, writes the resources' status, and deploys a gateway per Gateway.
``convert`` does the same for a case, so the Istio translation
(``translate/``) runs unchanged on its output: ``listeners`` (Gateways),
``parents`` (attachment), ``http`` and ``destinations`` (rules),
``routes`` (VirtualServices, merging, status), ``backendtls``
(BackendTLSPolicies as DestinationRules), ``status`` (conditions).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from ...._cases.model.gatewayapi import KubernetesGatewayClass
from ...._cases.model.istio import HTTPRoute
from .backendtls import convert_backend_tls_policies
from .context import DEFAULT_CLASS, ISTIO_CONTROLLER, ConversionInputs
from .destinations import UnsupportedBackend
from .grpc import convert_grpc_rule
from .http import convert_http_rule
from .listeners import GatewayResult, ParentInfo, convert_gateways, gateway_service_name
from .parents import LISTENER_SET_PREFIX
from .routes import (
    ROUTE_SEMANTICS_ANNOTATION,
    RouteWithKey,
    compute_route,
    http_virtual_services,
    merge_http_routes,
    tcp_virtual_services,
    tls_virtual_services,
)
from .status import Condition, ObjectStatus, Pending, set_conditions

__all__ = [
    "ROUTE_SEMANTICS_ANNOTATION",
    "Condition",
    "Conversion",
    "ConversionInputs",
    "GatewayResult",
    "ObjectStatus",
    "convert",
    "gateway_service_name",
]


@dataclass
class Conversion:
    """The Istio config, gateway deployments and status a case's Gateway API resources give.

    ``unsupported`` lists what the local target cannot do for them (the case
    is skipped with these reasons rather than run half-configured).
    """

    resources: tuple[Any, ...] = ()
    gateways: list[GatewayResult] = field(default_factory=list)
    status: list[ObjectStatus] = field(default_factory=list)
    unsupported: list[str] = field(default_factory=list)

    def gateway(self, key: str) -> GatewayResult | None:
        return next((g for g in self.gateways if g.gateway.key == key), None)


def _class_status(inputs: ConversionInputs) -> list[ObjectStatus]:
    """``GetClassStatus``: Accepted for every class of Istio's controller."""
    names = {DEFAULT_CLASS} | {c.name for c in inputs.of(KubernetesGatewayClass)}
    accepted = {"Accepted": Pending("Accepted", "Handled by Istio controller")}
    return [
        ObjectStatus(resource=f"GatewayClass/{name}", conditions=set_conditions(accepted))
        for name in sorted(names)
        if inputs.classes.get(name) == ISTIO_CONTROLLER
    ]


def convert(inputs: ConversionInputs) -> Conversion:
    """Convert every Gateway API resource of ``inputs`` (see the module docstring)."""
    out = Conversion()
    if not any(True for _ in _gateway_api_resources(inputs)):
        return out
    gateways, unsupported = convert_gateways(inputs)
    out.gateways = gateways
    out.unsupported.extend(unsupported)
    parents: dict[str, list[ParentInfo]] = {g.gateway.key: g.parents for g in gateways}
    # A ListenerSet's listeners are parents of the routes naming the ListenerSet.
    parents.update(
        {
            f"{LISTENER_SET_PREFIX}{s.listener_set.key}": s.parents
            for g in gateways
            for s in g.listener_sets
        }
    )
    istio: list[Any] = [gw for g in gateways for gw in g.istio_gateways]
    route_status: list[ObjectStatus] = []
    attached: dict[tuple[str, str], int] = {}

    def attach(conversion: Any) -> None:
        route_status.extend(conversion.status)
        for parent in conversion.parents:
            if parent.denied is None and not parent.is_mesh:
                key = (parent.gateway_key, parent.section)
                attached[key] = attached.get(key, 0) + 1

    bases: list[RouteWithKey] = []
    for route in inputs.http_routes:
        hostnames = list(route.spec.hostnames)

        def rules(mesh: bool, route: Any = route) -> list[tuple[HTTPRoute | None, Any]]:
            results = []
            for position, rule in enumerate(route.spec.rules):
                if rule.session_persistence is not None:
                    raise UnsupportedBackend(
                        f"HTTPRoute {route.key}: rules[{position}].sessionPersistence"
                    )
                for match in rule.matches or [None]:
                    results.append(
                        convert_http_rule(inputs, route, rule, position, match, not mesh)
                    )
            return results

        try:
            conversion, mesh_routes, gateway_routes = compute_route(
                inputs, parents, route, "HTTPRoute", hostnames, rules
            )
        except UnsupportedBackend as exc:
            out.unsupported.append(f"{exc} (HTTPRoute {route.key})")
            continue
        attach(conversion)
        bases.extend(http_virtual_services(inputs, route, conversion, mesh_routes, gateway_routes))
    for grpc in inputs.grpc_routes:

        def grpc_rules(mesh: bool, route: Any = grpc) -> list[tuple[HTTPRoute | None, Any]]:
            results = []
            for position, rule in enumerate(route.spec.rules):
                if rule.session_persistence is not None:
                    raise UnsupportedBackend(
                        f"GRPCRoute {route.key}: rules[{position}].sessionPersistence"
                    )
                for match in rule.matches or [None]:
                    results.append(
                        convert_grpc_rule(inputs, route, rule, position, match, not mesh)
                    )
            return results

        try:
            conversion, mesh_routes, gateway_routes = compute_route(
                inputs, parents, grpc, "GRPCRoute", list(grpc.spec.hostnames), grpc_rules
            )
        except UnsupportedBackend as exc:
            out.unsupported.append(f"{exc} (GRPCRoute {grpc.key})")
            continue
        if any(p.is_mesh and p.denied is None for p in conversion.parents):
            out.unsupported.append(
                f"GRPCRoute {grpc.key}: a Service parentRef (mesh routing, GAMMA)"
            )
        attach(conversion)
        # GRPCRouteCollection's VirtualServices merge with the HTTPRoutes' per parent and host.
        bases.extend(http_virtual_services(inputs, grpc, conversion, mesh_routes, gateway_routes))
    istio.extend(merge_http_routes(bases))
    for tls_route in inputs.tls_routes:
        try:
            conversion, vss = tls_virtual_services(inputs, parents, tls_route)
        except UnsupportedBackend as exc:
            out.unsupported.append(f"{exc} (TLSRoute {tls_route.key})")
            continue
        attach(conversion)
        istio.extend(vss)
    for tcp_route in inputs.tcp_routes:
        try:
            conversion, vss = tcp_virtual_services(inputs, parents, tcp_route)
        except UnsupportedBackend as exc:
            out.unsupported.append(f"{exc} (TCPRoute {tcp_route.key})")
            continue
        attach(conversion)
        istio.extend(vss)
    try:
        policies = convert_backend_tls_policies(inputs)
    except UnsupportedBackend as exc:
        out.unsupported.append(str(exc))
    else:
        istio.extend(policies.destination_rules)
        route_status.extend(policies.status)
    out.resources = tuple(istio)
    status = _class_status(inputs)
    for g in gateways:
        status.extend(g.status)
        for name, listener in g.listener_status.items():
            listener.details["attachedRoutes"] = attached.get((g.gateway.key, name), 0)
            status.append(listener)
        for listener_set in g.listener_sets:
            status.extend(listener_set.status)
            key = f"{LISTENER_SET_PREFIX}{listener_set.listener_set.key}"
            for name, listener in listener_set.listener_status.items():
                listener.details["attachedRoutes"] = attached.get((key, name), 0)
                status.append(listener)
    out.status = status + route_status
    return out


def _gateway_api_resources(inputs: ConversionInputs) -> Any:
    from ...._cases.model.gatewayapi import ClusterGatewayAPIResource, GatewayAPIResource

    return (
        r
        for r in inputs.resources
        if isinstance(r, (GatewayAPIResource, ClusterGatewayAPIResource))
    )
