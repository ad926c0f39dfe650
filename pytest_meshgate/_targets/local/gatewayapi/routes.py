"""Routes -> Istio VirtualServices (one per parent and hostname, merged per key), and route status.

``pilot/pkg/config/kube/gateway/route_collections.go``: ``HTTPRouteCollection``
(rules split to one match each, one VirtualService per parent and host,
``mergeHTTPRoutes`` across routes and ``sortHTTPRoutes`` for the API's
precedence), ``TLSRouteCollection``, ``TCPRouteCollection`` and
``computeRoute``; the status of each parentRef is ``conditions.go``
``createRouteStatus``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

from ...._cases.model.gatewayapi import ParentReference
from ...._cases.model.istio import (
    Destination,
    HTTPRoute,
    PortSelector,
    RouteDestination,
    TCPRoute,
    TLSMatchAttributes,
    TLSRoute,
    VirtualService,
    VirtualServiceSpec,
)
from ...._cases.model.istio.resource import Metadata
from ..translate.hosts import intersection
from .context import ConversionInputs, by_creation
from .destinations import build_destination, is_invalid_backend
from .listeners import INTERNAL_GATEWAY_NAME, PARENTS_ANNOTATION, ParentInfo
from .parents import RouteParent, filtered_references, parent_ref_string, route_parents
from .status import ConfigError, ObjectStatus, ParentError, Pending, set_conditions

__all__ = [
    "ROUTE_SEMANTICS_ANNOTATION",
    "RouteConversion",
    "RouteWithKey",
    "compute_route",
    "http_virtual_services",
    "merge_http_routes",
    "sort_http_routes",
    "tcp_virtual_services",
    "tls_virtual_services",
]

# constants.InternalRouteSemantics = RouteSemanticsGateway: the translation then applies
# the Gateway API's semantics (route.go UseGatewaySemantics).
ROUTE_SEMANTICS_ANNOTATION = "internal.istio.io/route-semantics"

R = TypeVar("R")


@dataclass
class RouteConversion:
    """What converting one route gave: per-parent status and the parents that took it."""

    status: list[ObjectStatus]
    parents: list[RouteParent]


@dataclass
class RouteWithKey:
    """A pre-merge VirtualService and its merge key (``parent/host``)."""

    vs: VirtualService
    key: str


def _uri_rank(route: HTTPRoute) -> tuple[int, int]:
    """``getURIRank`` and ``getURILength`` of the route's only match."""
    uri = route.match[0].uri if route.match else None
    if uri is None:
        return (-1, 0)
    if uri.exact is not None:
        return (3, len(uri.exact))
    if uri.prefix is not None:
        return (2, len(uri.prefix))
    if uri.regex is not None:
        return (1, len(uri.regex))
    return (-1, -1)


def sort_http_routes(routes: Sequence[HTTPRoute]) -> list[HTTPRoute]:
    """``sortHTTPRoutes``: the Gateway API's match precedence, stable otherwise.

    Exact before prefix before regex; longer paths first; then a method
    match, more header matches, more query parameter matches; routes
    without a match last.
    """

    def key(route: HTTPRoute) -> tuple[int, int, int, int, int, int]:
        if not route.match:
            return (1, 0, 0, 0, 0, 0)
        m = route.match[0]
        rank, length = _uri_rank(route)
        return (
            0,
            -rank,
            -length,
            0 if m.method is not None else 1,
            -len(m.headers),
            -len(m.query_params),
        )

    return sorted(routes, key=key)


def _parent_description(ref: ParentReference, namespace: str) -> str:
    text = f"{ref.namespace or namespace}/{ref.name}"
    if ref.section_name:
        text += f"/{ref.section_name}"
    if ref.port:
        text += f":{ref.port}"
    return text


_RANK = {
    None: 0,
    "NotAllowedByListeners": 1,
    "NoMatchingListenerHostname": 2,
    "ParentRefConflict": 3,
    "NoMatchingParent": 4,
}


def route_status(
    kind: str,
    key: str,
    namespace: str,
    parents: Sequence[RouteParent],
    gateway_error: ConfigError | None,
    mesh_error: ConfigError | None,
) -> list[ObjectStatus]:
    """``createRouteStatus``: per parentRef, its best listener's verdict."""
    seen: dict[ParentReference, list[RouteParent]] = {}
    success: dict[ParentReference, int] = {}
    for parent in parents:
        seen.setdefault(parent.original, []).append(parent)
        if parent.denied is None:
            success[parent.original] = success.get(parent.original, 0) + 1
    out: list[tuple[str, ObjectStatus]] = []
    for ref, results in seen.items():
        chosen = results[0]
        denied: ParentError | None = chosen.denied
        rank = _RANK.get(denied.reason if denied else None, 0)
        for other in results[1:]:
            other_rank = _RANK.get(other.denied.reason if other.denied else None, 0)
            if other_rank < rank:
                rank, chosen, denied = other_rank, other, other.denied
            elif other_rank == rank and other.denied is not None:
                denied = (
                    other.denied
                    if denied is None
                    else ParentError(denied.reason, f"{denied.message}; {other.denied.message}")
                )
        count = success.get(ref, 0)
        message = "Route was valid" if count <= 1 else f"Route was valid, bound to {count} parents"
        accepted = Pending("Accepted", message)
        if denied is not None:
            accepted.error = ConfigError(denied.reason, denied.message)
        resolved = Pending("ResolvedRefs", "All references resolved")
        resolved.error = mesh_error if chosen.is_mesh else gateway_error
        status = ObjectStatus(
            resource=f"{kind}/{key}",
            parent=_parent_description(ref, namespace),
            conditions=set_conditions({"Accepted": accepted, "ResolvedRefs": resolved}),
            details={"parentRef": parent_ref_string(ref, namespace)},
        )
        out.append((parent_ref_string(ref, namespace), status))
    out.sort(key=lambda item: item[0], reverse=True)
    return [status for _, status in out]


def compute_route(
    inputs: ConversionInputs,
    gateway_parents: Mapping[str, Sequence[ParentInfo]],
    route: Any,
    kind: str,
    hostnames: Sequence[str],
    convert: Callable[[bool], list[tuple[R | None, ConfigError | None]]],
) -> tuple[RouteConversion, list[R], list[R]]:
    """``computeRoute``: parents, rules converted for the mesh and/or gateways, and status.

    ``convert(mesh)`` gives (route, error) per rule; a route of None is a
    hard error that leaves no rule at all.
    """
    parents = route_parents(
        inputs, gateway_parents, kind, route.namespace, route.spec.parent_refs, hostnames
    )

    def rules(mesh: bool) -> tuple[list[R], ConfigError | None]:
        converted: list[R] = []
        error: ConfigError | None = None
        for istio_route, rule_error in convert(mesh):
            if istio_route is None:
                return [], rule_error
            if rule_error is not None:
                error = rule_error
            converted.append(istio_route)
        return converted, error

    needs_mesh = any(p.is_mesh for p in parents)
    needs_gateway = any(not p.is_mesh for p in parents)
    mesh_routes, mesh_error = rules(True) if needs_mesh else ([], None)
    gateway_routes, gateway_error = rules(False) if needs_gateway else ([], None)
    status = route_status(kind, route.key, route.namespace, parents, gateway_error, mesh_error)
    return RouteConversion(status, parents), mesh_routes, gateway_routes


def _virtual_service(route: Any, name: str, host: str, gateway: str, **spec: Any) -> VirtualService:
    return VirtualService(
        api_version="networking.istio.io/v1",
        kind="VirtualService",
        metadata=Metadata(
            name=name,
            namespace=route.namespace,
            annotations={
                ROUTE_SEMANTICS_ANNOTATION: "gateway",
                PARENTS_ANNOTATION: f"{route.kind}/{route.name}.{route.namespace}",
            },
            creation_timestamp=route.metadata.creation_timestamp,
        ),
        spec=VirtualServiceSpec.model_construct(
            hosts=[host],
            gateways=[gateway],
            http=spec.get("http", []),
            tls=spec.get("tls", []),
            tcp=spec.get("tcp", []),
            export_to=[],
        ),
    )


def _mesh_host(parent: RouteParent, inputs: ConversionInputs) -> str:
    namespace, name = parent.gateway_key.split("/", 1)
    return f"{name}.{namespace}.svc.{inputs.domain_suffix}"


def _with_port(routes: Sequence[HTTPRoute], port: int) -> list[HTTPRoute]:
    """``augmentPortMatch``: a mesh parentRef with a port matches only that port."""
    out = []
    for r in routes:
        matches = [m.model_copy(update={"port": port}) for m in r.match] or None
        if matches is None:
            from ...._cases.model.istio import HTTPMatchRequest

            matches = [HTTPMatchRequest(port=port)]
        out.append(r.model_copy(update={"match": matches}))
    return out


def http_virtual_services(
    inputs: ConversionInputs,
    route: Any,
    conversion: RouteConversion,
    mesh_routes: list[HTTPRoute],
    gateway_routes: list[HTTPRoute],
) -> list[RouteWithKey]:
    """The pre-merge VirtualServices of one HTTPRoute (or GRPCRoute): one per parent and host."""
    out: list[RouteWithKey] = []
    count = 0
    for parent in filtered_references(conversion.parents):
        route_key = parent.internal_name
        hosts = list(route.spec.hostnames) or ["*"]
        routes = gateway_routes
        if parent.is_mesh:
            routes = mesh_routes
            route_key = route.namespace
            if parent.original.port is not None:
                routes = _with_port(routes, parent.original.port)
                route_key += f"/{parent.original.port}"
            hosts = [_mesh_host(parent, inputs)]
        if not routes:
            continue
        for host in hosts:
            if not parent.hostname_allowed_by_isolation(host):
                continue
            name = f"{route.name}~{count}~{INTERNAL_GATEWAY_NAME}"
            vs = _virtual_service(
                route, name, host, parent.internal_name, http=sort_http_routes(routes)
            )
            out.append(RouteWithKey(vs, f"{route_key}/{host}"))
            count += 1
    return out


def merge_http_routes(bases: Sequence[RouteWithKey]) -> list[VirtualService]:
    """``mergeHTTPRoutes``: one VirtualService per key; routes by creation, then sorted."""
    by_key: dict[str, list[RouteWithKey]] = {}
    for base in bases:
        by_key.setdefault(base.key, []).append(base)
    out: list[VirtualService] = []
    for key, group in by_key.items():
        configs = by_creation([g.vs for g in group]) if len(group) > 1 else [group[0].vs]
        first = configs[0]
        http: list[HTTPRoute] = []
        for config in configs:
            http.extend(config.spec.http)
        parents = ",".join(c.metadata.annotations[PARENTS_ANNOTATION] for c in configs)
        metadata = first.metadata.model_copy(
            update={
                "name": key.replace("/", "~"),
                "annotations": {**first.metadata.annotations, PARENTS_ANNOTATION: parents},
            }
        )
        spec = first.spec.model_copy(
            update={"http": sort_http_routes(http) if len(configs) > 1 else http}
        )
        out.append(first.model_copy(update={"metadata": metadata, "spec": spec}))
    return out


def _l4_destinations(
    inputs: ConversionInputs, route: Any, rule: Any, kind: str, enforce_ref_grant: bool
) -> tuple[list[RouteDestination] | None, ConfigError | None]:
    """``buildTCPDestination``; all weights 0: a destination no cluster serves."""
    if sum(b.weight for b in rule.backend_refs) == 0:
        zero = Destination(
            host="internal.cluster.local", subset="zero-weight", port=PortSelector(number=65535)
        )
        return [RouteDestination(destination=zero, weight=0)], None
    kept = [b for b in rule.backend_refs if b.weight != 0]
    weights = [b.weight for b in kept] if len(kept) != 1 else [0]
    invalid: ConfigError | None = None
    out: list[RouteDestination] = []
    for backend, weight in zip(kept, weights, strict=True):
        destination, error = build_destination(
            inputs, backend, route.namespace, kind, enforce_ref_grant
        )
        if error is not None:
            if not is_invalid_backend(error):
                return None, error
            invalid = error
        assert destination is not None
        out.append(RouteDestination(destination=destination, weight=weight))
    return out, invalid


def tls_virtual_services(
    inputs: ConversionInputs, gateway_parents: Mapping[str, Sequence[ParentInfo]], route: Any
) -> tuple[RouteConversion, list[VirtualService]]:
    """``TLSRouteCollection`` with ``convertTLSRoute``: SNI matches from the hostnames."""
    hostnames = list(route.spec.hostnames)
    sni = hostnames or ["*"]

    def convert(mesh: bool) -> list[tuple[TLSRoute | None, ConfigError | None]]:
        results: list[tuple[TLSRoute | None, ConfigError | None]] = []
        for rule in route.spec.rules:
            destinations, error = _l4_destinations(inputs, route, rule, "TLSRoute", not mesh)
            if destinations is None:
                results.append((None, error))
                continue
            weight_zero = destinations[0].destination.host == "internal.cluster.local"
            match = [] if weight_zero else [TLSMatchAttributes(sni_hosts=list(sni))]
            results.append((TLSRoute.model_construct(match=match, route=destinations), error))
        return results

    conversion, _, gateway_routes = compute_route(
        inputs, gateway_parents, route, "TLSRoute", hostnames, convert
    )
    out: list[VirtualService] = []
    count = 0
    for parent in filtered_references(conversion.parents):
        if parent.is_mesh:
            continue  # mesh TLSRoutes: not modelled by the local target
        routes = gateway_routes
        hosts = list(sni)
        if parent.hostname:
            # Route hostnames meet the listener's: *.com on *.example.com is *.example.com.
            hosts = intersection(hosts, [parent.hostname])
            routes = _constrain_to_listener(routes, parent.hostname)
        for host in hosts:
            name = f"{route.name}~tls~{count}~{INTERNAL_GATEWAY_NAME}"
            out.append(_virtual_service(route, name, host, parent.internal_name, tls=routes))
            count += 1
    return conversion, out


def _constrain_to_listener(routes: Sequence[TLSRoute], listener_host: str) -> list[TLSRoute]:
    """``constrainTLSRoutesToListenerHost``: SNI hosts narrowed to the listener hostname."""
    out: list[TLSRoute] = []
    for r in routes:
        matches = [
            m.model_copy(update={"sni_hosts": intersection(m.sni_hosts, [listener_host])})
            for m in r.match
        ]
        if not matches or any(m.sni_hosts for m in matches):
            out.append(r.model_copy(update={"match": matches}))
    return out


def tcp_virtual_services(
    inputs: ConversionInputs, gateway_parents: Mapping[str, Sequence[ParentInfo]], route: Any
) -> tuple[RouteConversion, list[VirtualService]]:
    """``TCPRouteCollection`` with ``convertTCPRoute``: a VirtualService per parent, host ``*``."""

    def convert(mesh: bool) -> list[tuple[TCPRoute | None, ConfigError | None]]:
        results: list[tuple[TCPRoute | None, ConfigError | None]] = []
        for rule in route.spec.rules:
            destinations, error = _l4_destinations(inputs, route, rule, "TCPRoute", not mesh)
            if destinations is None:
                results.append((None, error))
            else:
                results.append((TCPRoute.model_construct(match=[], route=destinations), error))
        return results

    conversion, _, gateway_routes = compute_route(
        inputs, gateway_parents, route, "TCPRoute", [], convert
    )
    out: list[VirtualService] = []
    count = 0
    for parent in filtered_references(conversion.parents):
        if parent.is_mesh:
            continue  # mesh TCPRoutes: not modelled by the local target
        name = f"{route.name}~tcp~{count}~{INTERNAL_GATEWAY_NAME}"
        out.append(_virtual_service(route, name, "*", parent.internal_name, tcp=gateway_routes))
        count += 1
    return conversion, out
