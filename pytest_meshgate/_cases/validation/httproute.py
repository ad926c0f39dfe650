"""One HTTP route of a VirtualService: its action, matches, headers, policies, destinations.

``validateHTTPRoute`` and what it calls, in Istio's
``pkg/config/validation/virtualservice.go`` and ``validation.go``
(``validateHTTPRouteConflict``, ``validateHTTPRouteMatchRequest``,
``validateHTTPRedirect``, ``validateCORSPolicy``, ...), and
``agent.ValidateHTTPRetry``.
"""

from __future__ import annotations

import base64
import binascii

from ..model.istio import (
    CorsPolicy,
    Destination,
    HeaderOperations,
    Headers,
    HTTPDirectResponse,
    HTTPFaultInjection,
    HTTPMatchRequest,
    HTTPRedirect,
    HTTPRetry,
    HTTPRewrite,
    HTTPRoute,
    HTTPRouteDestination,
    StringMatch,
)
from .common import (
    go_quote,
    is_dns1123_label,
    one_of_problem,
    validate_duration,
    validate_labels,
    validate_percentage,
    validate_port,
)
from .headers import (
    is_authority_header,
    validate_cors_header_name,
    validate_header_name,
    validate_header_operation_name,
    validate_header_value,
    validate_request_header_operation_name,
)
from .hosts import validate_fqdn, validate_wildcard_domain
from .regex import validate_regex
from .report import Report

__all__ = [
    "validate_destination",
    "validate_gateway_names",
    "validate_http_route",
    "validate_string_match",
]

_KB = 1024
_MB = 1024 * _KB

# net/http StatusText: the codes Go knows (a retryOn entry may be one of them).
_GO_STATUS_CODES = frozenset(
    (
        *(100, 101, 102, 103, *range(200, 209), 226, *range(300, 306), 307, 308),
        *(*range(400, 419), 421, 422, 423, 424, 425, 426, 428, 429, 431, 451),
        *(*range(500, 509), 510, 511),
    )
)
# pkg/config/validation/agent/validation.go supportedRetryOnPolicies.
_RETRY_ON = frozenset(
    {
        "5xx",
        "gateway-error",
        "reset",
        "reset-before-request",
        "connect-failure",
        "retriable-4xx",
        "refused-stream",
        "retriable-status-codes",
        "retriable-headers",
        "envoy-ratelimited",
        "http3-post-connect-failure",
        "cancelled",
        "deadline-exceeded",
        "internal",
        "resource-exhausted",
        "unavailable",
    }
)
# pkg/util/grpc/codes.go SupportedGRPCStatus.
_GRPC_STATUSES = frozenset(
    {
        "OK",
        "CANCELLED",
        "UNKNOWN",
        "INVALID_ARGUMENT",
        "DEADLINE_EXCEEDED",
        "NOT_FOUND",
        "ALREADY_EXISTS",
        "PERMISSION_DENIED",
        "RESOURCE_EXHAUSTED",
        "FAILED_PRECONDITION",
        "ABORTED",
        "OUT_OF_RANGE",
        "UNIMPLEMENTED",
        "INTERNAL",
        "UNAVAILABLE",
        "DATA_LOSS",
        "UNAUTHENTICATED",
    }
)
_CORS_METHODS = frozenset(
    {"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "CONNECT", "OPTIONS", "TRACE", "*"}
)


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
        _validate_cors(route.cors_policy, r.at("corsPolicy"))
    if route.fault is not None:
        _validate_fault(route.fault, r.at("fault"))
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
        _validate_redirect(route.redirect, route.match, r.at("redirect"))
    if route.direct_response is not None:
        _validate_direct_response(route.direct_response, r.at("directResponse"))
    if route.retries is not None:
        _validate_retries(route.retries, r.at("retries"))
    if route.rewrite is not None:
        _validate_rewrite(route.rewrite, r.at("rewrite"))
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


def _validate_cors(policy: CorsPolicy, r: Report) -> None:
    """``validateCORSPolicy``."""
    for i, origin in enumerate(policy.allow_origins):
        o = r.at("allowOrigins", i)
        value = next((v for v in (origin.exact, origin.prefix, origin.regex) if v is not None), "")
        if value == "":
            o.error(f"'{value}' is not a valid match type for CORS allow origins")
        elif origin.regex is not None:
            o.error(validate_regex(origin.regex, "corsPolicy.allowOrigins"), "regex")
    for i, method in enumerate(policy.allow_methods):
        if method not in _CORS_METHODS:
            r.error(f"{go_quote(method)} is not a supported HTTP method", "allowMethods", i)
    for key, names in (
        ("allowHeaders", policy.allow_headers),
        ("exposeHeaders", policy.expose_headers),
    ):
        for i, name in enumerate(names):
            r.error(validate_cors_header_name(name), key, i)
    if policy.max_age is not None:
        r.error(validate_duration(policy.max_age), "maxAge")
        if round(policy.max_age * 1e9) % 1_000_000_000:
            r.error("max_age duration is accurate only to seconds precision", "maxAge")


def _validate_fault(fault: HTTPFaultInjection, r: Report) -> None:
    """``validateHTTPFaultInjection``, with the CRD's oneOf groups."""
    if fault.abort is None and fault.delay is None:
        r.error("HTTP fault injection must have an abort and/or a delay")
    if (abort := fault.abort) is not None:
        a = r.at("abort")
        a.error(one_of_problem(abort, ("http_status", "grpc_status", "http2_error")))
        if abort.percentage is not None:
            a.error(validate_percentage(abort.percentage.value), "percentage")
        if abort.grpc_status is not None:
            if abort.grpc_status not in _GRPC_STATUSES:
                a.error(
                    f"gRPC status {go_quote(abort.grpc_status)} is not supported. See "
                    "https://github.com/grpc/grpc/blob/master/doc/statuscodes.md for a list of "
                    "supported codes, for example 'NOT_FOUND'",
                    "grpcStatus",
                )
        elif abort.http2_error is not None:
            a.error("HTTP/2 abort fault injection not supported yet", "http2Error")
        elif abort.http_status is not None:
            a.error(_http_status_problem(abort.http_status), "httpStatus")
        else:
            a.warn("abort configured, but error type not set")
    if (delay := fault.delay) is not None:
        d = r.at("delay")
        d.error(one_of_problem(delay, ("fixed_delay", "exponential_delay")))
        if delay.percentage is not None:
            d.error(validate_percentage(delay.percentage.value), "percentage")
        if delay.fixed_delay is not None:
            d.error(validate_duration(delay.fixed_delay), "fixedDelay")
        elif delay.exponential_delay is not None:
            d.error(validate_duration(delay.exponential_delay), "exponentialDelay")
            d.error("exponentialDelay not supported yet", "exponentialDelay")


def _http_status_problem(status: int) -> str | None:
    """``validateHTTPStatus`` (which lets 600 through, as Istio does)."""
    if status < 200 or status > 600:
        return f"HTTP status {status} is not in range 200-599"
    return None


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


def _validate_redirect(redirect: HTTPRedirect, matches: list[HTTPMatchRequest], r: Report) -> None:
    """``validateHTTPRedirect``: Istio stops at the first problem.

    The CRD's oneOf between ``port`` and ``derivePort`` is the model's.
    """
    if redirect.uri and redirect.prefix_rewrite:
        r.error("redirect may only specify one of uri or prefix_rewrite", "prefixRewrite")
        return
    if redirect.prefix_rewrite and any(m.uri is not None and m.uri.prefix is None for m in matches):
        r.error(
            "redirect prefix_rewrite requires all URI matches to use prefix match type",
            "prefixRewrite",
        )
        return
    has_port = redirect.port is not None or redirect.derive_port is not None
    if not (
        redirect.uri or redirect.prefix_rewrite or redirect.authority or has_port or redirect.scheme
    ):
        r.error("redirect must specify URI, authority, scheme, or port")
        return
    if redirect.redirect_code and not 300 <= redirect.redirect_code <= 399:
        r.error(
            f"{redirect.redirect_code} is not a valid redirect code, must be 3xx", "redirectCode"
        )
        return
    if redirect.scheme and redirect.scheme not in ("http", "https"):
        r.error('invalid redirect scheme, must be "http" or "https"', "scheme")
        return
    if redirect.port:
        r.error(validate_port(redirect.port), "port")


def _validate_direct_response(response: HTTPDirectResponse, r: Report) -> None:
    """``validateHTTPDirectResponse``: a status, a body below 1MB (warned above 100KB)."""
    if response.body is not None:
        if response.body.string is not None:
            size = len(response.body.string.encode())
        else:
            decoded = _base64_bytes(response.body.bytes or "")
            if decoded is None:
                r.error("bytes must be base64 (standard or URL-safe)", "body", "bytes")
            size = len(decoded or b"")
        if size > _MB:
            r.error(
                "large direct_responses may impact control plane performance, must be less than "
                "1MB",
                "body",
            )
        elif size > 100 * _KB:
            r.warn("large direct_responses may impact control plane performance", "body")
    r.error(_http_status_problem(response.status), "status")


def _base64_bytes(text: str) -> bytes | None:
    """Decode as protobuf's JSON mapping does: standard or URL-safe, padded or not."""
    padded = text + "=" * (-len(text) % 4)
    for altchars in (None, b"-_"):
        try:
            return base64.b64decode(padded.encode("ascii"), altchars=altchars, validate=True)
        except (binascii.Error, ValueError):
            continue
    return None


def _validate_retries(retries: HTTPRetry, r: Report) -> None:
    """``agent.ValidateHTTPRetry``."""
    if retries.attempts < 0:
        r.error("attempts cannot be negative", "attempts")
    if retries.attempts == 0 and (
        retries.per_try_timeout is not None
        or retries.retry_on
        or retries.retry_remote_localities is not None
    ):
        r.error("http retry policy configured when attempts are set to 0 (disabled)", "attempts")
    if retries.per_try_timeout is not None:
        r.error(validate_duration(retries.per_try_timeout), "perTryTimeout")
    if retries.retry_on:
        for policy in retries.retry_on.split(","):
            code = int(policy) if policy.isdigit() and policy.isascii() else 0
            if code not in _GO_STATUS_CODES and policy not in _RETRY_ON:
                r.error(f"{go_quote(policy)} is not a valid retryOn policy", "retryOn")
    if retries.backoff is not None:
        r.error(validate_duration(retries.backoff), "backoff")


def _validate_rewrite(rewrite: HTTPRewrite, r: Report) -> None:
    """``validateHTTPRewrite`` and ``validateURIRegexRewrite``."""
    regex = rewrite.uri_regex_rewrite
    if rewrite.uri and regex is not None:
        r.error("rewrite may only contain one of URI or UriRegexRewrite", "uriRegexRewrite")
        return
    if not rewrite.uri and regex is None and not rewrite.authority:
        r.error(
            "rewrite must specify at least one of URI, UriRegexRewrite, or authority. Only one of "
            "URI or UriRegexRewrite may be specified"
        )
        return
    if regex is None:
        return
    if not regex.match or not regex.rewrite:
        r.error(
            "UriRegexRewrite has errors: UriRegexRewrite requires both Rewrite and Match fields to "
            "be specified",
            "uriRegexRewrite",
        )
        return
    problem = validate_regex(regex.match, "HTTPRewrite.UriRegexRewrite.Match")
    if problem:
        r.error(f"UriRegexRewrite has errors: {problem}", "uriRegexRewrite", "match")


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
