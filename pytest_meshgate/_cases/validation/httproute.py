"""One HTTP route of a VirtualService: its action, matches, headers, policies, destinations.

``validateHTTPRoute`` and what it calls, in Istio's
``pkg/config/validation/virtualservice.go`` and ``validation.go``
(``validateHTTPRouteConflict``, ``validateHTTPRouteMatchRequest``,
``validateHTTPRouteDestinations``, ``validateDestination``, ...); the route's
policies (redirect, rewrite, retries, faults, CORS) are in ``httppolicy``.
"""

from __future__ import annotations

from ..model.istio import (
    Destination,
    HeaderOperations,
    Headers,
    HTTPMatchRequest,
    HTTPRoute,
    HTTPRouteDestination,
    StringMatch,
)
from .common import (
    go_quote,
    is_dns1123_label,
    validate_duration,
    validate_labels,
    validate_port,
)
from .headers import (
    is_authority_header,
    validate_header_name,
    validate_header_operation_name,
    validate_header_value,
    validate_request_header_operation_name,
)
from .hosts import validate_fqdn, validate_wildcard_domain
from .httppolicy import (
    validate_cors,
    validate_direct_response,
    validate_fault,
    validate_redirect,
    validate_retries,
    validate_rewrite,
)
from .regex import validate_regex
from .report import Report

__all__ = [
    "validate_destination",
    "validate_gateway_names",
    "validate_http_route",
    "validate_string_match",
]


def validate_http_route(
    route: HTTPRoute, *, delegate: bool, gateway_semantics: bool, r: Report
) -> None:
    """``validateHTTPRoute``: one entry of ``spec.http``."""
    _validate_conflicts(route, delegate, r)
    for i, match in enumerate(route.match):
        _validate_match(match, r.at("match", i))
    if route.headers is not None:
        _validate_header_operations(route.headers, r.at("headers"))
    if route.cors_policy is not None:
        validate_cors(route.cors_policy, r.at("corsPolicy"))
    if route.fault is not None:
        validate_fault(route.fault, r.at("fault"))
    if route.mirror_percent is not None:
        if route.mirror_percent > 100:
            r.error(
                f"mirror_percent must have a max value of 100 (it has {route.mirror_percent})",
                "mirrorPercent",
            )
        r.warn(
            'using deprecated setting "mirrorPercent", use "mirrorPercentage" instead',
            "mirrorPercent",
        )
    if route.mirror_percentage is not None:
        value = route.mirror_percentage.value
        if value > 100:
            r.error(
                f"mirror_percentage must have a max value of 100 (it has {value:f})",
                "mirrorPercentage",
            )
        if value < 0:
            r.error(
                f"mirror_percentage must have a min value of 0 (it has {value:f})",
                "mirrorPercentage",
            )
    if route.mirror is not None:
        validate_destination(route.mirror, r.at("mirror"))
    for i, mirror in enumerate(route.mirrors):
        m = r.at("mirrors", i)
        validate_destination(mirror.destination, m.at("destination"))
        if mirror.percentage is not None:
            value = mirror.percentage.value
            if value > 100:
                m.error(
                    f"mirror percentage must have a max value of 100 (it has {value:f})",
                    "percentage",
                )
            if value < 0:
                m.error(
                    f"mirror percentage must have a min value of 0 (it has {value:f})", "percentage"
                )
    if route.redirect is not None:
        validate_redirect(route.redirect, route.match, r.at("redirect"))
    if route.direct_response is not None:
        validate_direct_response(route.direct_response, r.at("directResponse"))
    if route.retries is not None:
        validate_retries(route.retries, r.at("retries"))
    if route.rewrite is not None:
        validate_rewrite(route.rewrite, r.at("rewrite"))
    _validate_authority_rewrite(route, r)
    _validate_route_destinations(route.route, gateway_semantics, r)
    if route.timeout is not None:
        r.error(validate_duration(route.timeout), "timeout")


def _validate_conflicts(route: HTTPRoute, delegate: bool, r: Report) -> None:
    """``validateHTTPRouteConflict``: one action of route, redirect, directResponse, delegate."""
    if not delegate and route.delegate is not None:
        # A root route hands the request to the delegate VirtualService: nothing else.
        if route.redirect is not None:
            r.error(f"root HTTP route {route.name or ''} must not specify redirect", "redirect")
        if route.route:  # (proto3: an empty list is no list)
            r.error(f"root HTTP route {route.name or ''} must not specify route", "route")
        return
    if delegate and route.delegate is not None:
        r.error("delegate HTTP route cannot contain delegate", "delegate")
    if route.redirect is not None:
        if route.route:
            r.error("HTTP route cannot contain both route and redirect", "route")
        if route.fault is not None:
            r.error("HTTP route cannot contain both fault and redirect", "fault")
        if route.rewrite is not None:
            r.error("HTTP route rule cannot contain both rewrite and redirect", "rewrite")
        if route.direct_response is not None:
            r.error(
                "HTTP route rule cannot contain both direct_response and redirect", "directResponse"
            )
    elif route.direct_response is not None:
        if route.route:
            r.error("HTTP route cannot contain both route and direct_response", "route")
        if route.fault is not None:
            r.error("HTTP route cannot contain both fault and direct_response", "fault")
        if route.rewrite is not None:
            r.error("HTTP route rule cannot contain both rewrite and direct_response", "rewrite")
    elif not route.route:
        r.error("HTTP route, redirect or direct_response is required")
    if route.mirror is not None and route.mirrors:
        r.error("HTTP route cannot contain both mirror and mirrors", "mirrors")


def validate_string_match(
    match: StringMatch, where: str, r: Report, *, regex_only: bool = False
) -> None:
    """``validateStringMatch`` (or ``validateStringMatchRegexp`` with ``regex_only``)."""
    if match.prefix == "" and not regex_only:
        r.error(f"{go_quote(where)}: prefix string match should not be empty", "prefix")
    if match.regex is not None:
        if match.regex == "":
            r.error(f"{go_quote(where)}: regex string match should not be empty", "regex")
        else:
            r.error(validate_regex(match.regex, where), "regex")


def _validate_match(match: HTTPMatchRequest, r: Report) -> None:
    """``validateHTTPRouteMatchRequest``, one match."""
    for name, header in match.headers.items():
        r.error(validate_header_name(name), "headers", name)
        validate_string_match(header, "headers", r.at("headers", name))
    for name, header in match.without_headers.items():
        r.error(validate_header_name(name), "withoutHeaders", name)
        if header.regex != "*":  # `*` is not a regex: it means "present"
            validate_string_match(header, "withoutHeaders", r.at("withoutHeaders", name))
    # An empty uri prefix is valid (Envoy matches every path); other empty prefixes are not.
    if match.uri is not None:
        validate_string_match(match.uri, "uri", r.at("uri"), regex_only=True)
    for key, string_match in (
        ("scheme", match.scheme),
        ("method", match.method),
        ("authority", match.authority),
    ):
        if string_match is not None:
            validate_string_match(string_match, key, r.at(key))
    for name, param in match.query_params.items():
        validate_string_match(param, "queryParams", r.at("queryParams", name))
    if match.port is not None:
        r.error(validate_port(match.port), "port")
    r.errors(validate_labels(match.source_labels), "sourceLabels")
    validate_gateway_names(match.gateways, r.at("gateways"), gateway_semantics=False)
    if match.source_namespace and not is_dns1123_label(match.source_namespace):
        r.error(f"sourceNamespace match {match.source_namespace} is invalid", "sourceNamespace")


def _validate_header_operations(headers: Headers, r: Report) -> None:
    """The header manipulations of a route or of one of its destinations."""
    if headers.request is not None:
        _validate_operations(headers.request, r.at("request"), request=True)
    if headers.response is not None:
        _validate_operations(headers.response, r.at("response"), request=False)


def _validate_operations(ops: HeaderOperations, r: Report, *, request: bool) -> None:
    # A request may set its authority (Host); a response has none to set.
    name_problem = (
        validate_request_header_operation_name if request else validate_header_operation_name
    )
    for operation in ("set", "add"):
        for name, value in getattr(ops, operation).items():
            r.error(name_problem(name), operation, name)
            r.error(validate_header_value(value), operation, name)
    for i, name in enumerate(ops.remove):
        r.error(validate_header_operation_name(name), "remove", i)


def _validate_authority_rewrite(route: HTTPRoute, r: Report) -> None:
    """``validateAuthorityRewrite``: the authority is rewritten in one place only."""
    current = route.rewrite.authority if route.rewrite is not None else None
    request = route.headers.request if route.headers is not None else None
    if request is None:
        return
    for operation in ("set", "add"):
        for name, value in getattr(request, operation).items():
            if not is_authority_header(name):
                continue
            if current:
                r.error(
                    f"authority header cannot be set multiple times: have {go_quote(current)}, "
                    f"attempting to set {go_quote(value)}",
                    "headers",
                    "request",
                    operation,
                    name,
                )
                return
            current = value


def validate_destination(destination: Destination, r: Report) -> None:
    """``validateDestination``: host, subset name, port."""
    if destination.host == "*":
        r.error(f"invalid destination host {destination.host}", "host")
    else:
        r.error(validate_wildcard_domain(destination.host), "host")
    # proto3: an empty subset is no subset.
    if destination.subset and not is_dns1123_label(destination.subset):
        r.error(f"subset name is invalid: {destination.subset}", "subset")
    if destination.port is not None:
        r.error(validate_port(destination.port.number), "port", "number")


def _validate_route_destinations(
    destinations: list[HTTPRouteDestination], gateway_semantics: bool, r: Report
) -> None:
    """``validateHTTPRouteDestinations``."""
    for i, destination in enumerate(destinations):
        d = r.at("route", i)
        if destination.headers is not None:
            _validate_header_operations(destination.headers, d.at("headers"))
        if not gateway_semantics:
            validate_destination(destination.destination, d.at("destination"))
        if destination.weight < 0:
            d.error(f"weight {destination.weight} < 0", "weight")
    if len(destinations) > 1 and sum(d.weight for d in destinations) == 0:
        r.error("total destination weight = 0", "route")


def validate_gateway_names(names: list[str], r: Report, *, gateway_semantics: bool) -> None:
    """``validateGatewayNames``: ``<namespace>/<name>``, a name, or ``mesh``.

    Istio stops at the first name without a namespace (a ``return`` inside its
    loop), so names after it go unchecked; so they do here.
    """
    for i, name in enumerate(names):
        namespace, slash, gateway = name.partition("/")
        if not slash:
            if "." in name:  # the legacy <name>.<namespace> form
                parts = name.split(".")
                r.warn(
                    f"using legacy gatewayName format {go_quote(name)}; prefer the "
                    f"<namespace>/<name> format: {go_quote(parts[1] + '/' + parts[0])}",
                    i,
                )
            r.error(validate_fqdn(name), i)
            return
        if not namespace or not gateway:
            r.error("config namespace and gateway name cannot be empty", i)
        if not is_dns1123_label(namespace):
            r.error(f"invalid value for namespace: {go_quote(namespace)}", i)
        if not is_dns1123_label(gateway) and not gateway_semantics:
            r.error(f"invalid value for gateway name: {go_quote(gateway)}", i)
