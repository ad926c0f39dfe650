"""One GRPCRoute rule (with one of its matches) -> one Istio VirtualService HTTP route.

``pilot/pkg/config/kube/gateway/conversion.go`` ``convertGRPCRoute``: a gRPC
call is ``POST /<service>/<method>``, so a method match becomes a uri match
(``createGRPCURIMatch``): service and method exact, a ``/<service>/`` prefix
for a service alone, a ``/[^/]+/<method>`` regex for a method alone, and
regexes for ``RegularExpression``; header matches are exact or regex
(``createGRPCHeadersMatch``). Filters are the header modifiers and mirrors;
backends are weighted as for HTTPRoute (``buildGRPCDestination``), and a rule
without backends of positive weight answers 500. ``GRPCRouteCollection``
splits rules to one match each, as for HTTPRoute, and its VirtualServices
merge with HTTPRoutes' on the same parent and host.
"""

from __future__ import annotations

from ...._cases.model.gatewayapi import GRPCRouteMatch, GRPCRouteRule, KubernetesGRPCRoute
from ...._cases.model.istio import (
    Headers,
    HTTPDirectResponse,
    HTTPMatchRequest,
    HTTPMirrorPolicy,
    HTTPRoute,
    StringMatch,
)
from .context import ConversionInputs
from .http import HardError, header_operations, mirror_policy, route_destinations
from .status import INVALID_FILTER, ConfigError

__all__ = ["convert_grpc_rule", "grpc_uri_match"]

_KIND = "GRPCRoute"


def grpc_uri_match(match: GRPCRouteMatch) -> StringMatch | None:
    """``createGRPCURIMatch``: the method match as a match on ``/<service>/<method>``."""
    method = match.method
    if method is None:
        return None
    if method.type == "Exact":
        if method.method is None:
            return StringMatch(prefix=f"/{method.service}/")
        if method.service is None:
            return StringMatch(regex=f"/[^/]+/{method.method}")
        return StringMatch(exact=f"/{method.service}/{method.method}")
    if method.method is None:
        return StringMatch(regex=f"/{method.service}/.+")
    if method.service is None:
        return StringMatch(regex=f"/[^/]+/{method.method}")
    return StringMatch(regex=f"/{method.service}/{method.method}")


def _match(match: GRPCRouteMatch) -> HTTPMatchRequest:
    headers = {
        h.name: StringMatch(exact=h.value) if h.type == "Exact" else StringMatch(regex=h.value)
        for h in match.headers
    }
    return HTTPMatchRequest(uri=grpc_uri_match(match), headers=headers)


def convert_grpc_rule(
    inputs: ConversionInputs,
    route: KubernetesGRPCRoute,
    rule: GRPCRouteRule,
    position: int,
    match: GRPCRouteMatch | None,
    enforce_ref_grant: bool,
) -> tuple[HTTPRoute | None, ConfigError | None]:
    """``convertGRPCRoute`` for ``rule`` narrowed to ``match``: (route, error).

    No route means a hard error: the caller drops every rule of the route.
    """
    try:
        return _convert(inputs, route, rule, position, match, enforce_ref_grant)
    except HardError as exc:
        return None, exc.error


def _convert(
    inputs: ConversionInputs,
    route: KubernetesGRPCRoute,
    rule: GRPCRouteRule,
    position: int,
    match: GRPCRouteMatch | None,
    enforce_ref_grant: bool,
) -> tuple[HTTPRoute | None, ConfigError | None]:
    namespace = route.namespace
    fields: dict[str, object] = {
        "name": rule.name or f"{namespace}.{route.name}.{position}",
        "match": [_match(match)] if match is not None else [],
    }
    request_ops = response_ops = None
    mirrors: list[HTTPMirrorPolicy] = []
    for f in rule.filters:
        if f.type == "RequestHeaderModifier" and f.request_header_modifier is not None:
            request_ops = header_operations(f.request_header_modifier)
        elif f.type == "ResponseHeaderModifier" and f.response_header_modifier is not None:
            response_ops = header_operations(f.response_header_modifier)
        elif f.type == "RequestMirror" and f.request_mirror is not None:
            policy, error = mirror_policy(
                inputs, f.request_mirror, namespace, _KIND, enforce_ref_grant
            )
            if error is not None:
                raise HardError(error)  # convertGRPCRoute: a mirror error drops the route
            assert policy is not None
            mirrors.append(policy)
        else:
            raise HardError(ConfigError(INVALID_FILTER, f'unsupported filter type "{f.type}"'))
    if request_ops is not None or response_ops is not None:
        fields["headers"] = Headers(request=request_ops, response=response_ops)
    if mirrors:
        fields["mirrors"] = mirrors
    if sum(b.weight for b in rule.backend_refs) == 0:
        # "The spec requires us to return 500 when there are no >0 weight backends."
        fields["direct_response"] = HTTPDirectResponse(status=500)
        return HTTPRoute(**fields), None
    destinations, backend_error = route_destinations(
        inputs, rule.backend_refs, namespace, _KIND, enforce_ref_grant
    )
    fields["route"] = destinations
    return HTTPRoute(**fields), backend_error
