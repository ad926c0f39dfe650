"""One HTTPRoute rule (with one of its matches) -> one Istio VirtualService HTTP route.

``pilot/pkg/config/kube/gateway/conversion.go`` ``convertHTTPRoute``:
matches (``createURIMatch``, ``createHeadersMatch``, ``createQueryParamsMatch``,
``createMethodMatch``), filters (``createHeadersFilter``,
``createRedirectFilter``, ``createRewriteFilter``, ``createMirrorFilter``,
``createCorsFilter``), retries and timeouts, and the weighted destinations
of ``buildHTTPDestination``.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

from ...._cases.model.gatewayapi import (
    HTTPCORSFilter,
    HTTPHeaderFilter,
    HTTPRequestMirrorFilter,
    HTTPRequestRedirectFilter,
    HTTPRouteMatch,
    HTTPRouteRule,
    HTTPURLRewriteFilter,
    KubernetesHTTPRoute,
    duration_seconds,
)
from ...._cases.model.istio import (
    CorsPolicy,
    HeaderOperations,
    Headers,
    HTTPDirectResponse,
    HTTPMatchRequest,
    HTTPMirrorPolicy,
    HTTPRedirect,
    HTTPRetry,
    HTTPRewrite,
    HTTPRoute,
    HTTPRouteDestination,
    Percent,
    RegexRewrite,
    StringMatch,
)
from .context import ConversionInputs
from .destinations import build_destination, is_invalid_backend
from .status import INVALID_FILTER, ConfigError, join_errors

__all__ = [
    "convert_http_rule",
    "header_operations",
    "istio_duration",
    "mirror_policy",
    "route_destinations",
]


class HardError(Exception):
    """A ConfigError that drops the whole route (``computeRoute``: a nil route)."""

    def __init__(self, error: ConfigError) -> None:
        self.error = error
        super().__init__(error.message)


def istio_duration(seconds: float) -> str:
    """A duration as an Istio manifest writes it, to the millisecond (GEP-2257's unit)."""
    return f"{round(seconds * 1000)}ms"


def _uri(match: HTTPRouteMatch) -> StringMatch:
    """``createURIMatch``: PathPrefix ignores a trailing ``/``."""
    path = match.path
    if path.type == "PathPrefix":
        value = path.value if path.value == "/" else path.value.removesuffix("/")
        return StringMatch(prefix=value)
    if path.type == "Exact":
        return StringMatch(exact=path.value)
    return StringMatch(regex=path.value)


def _match(match: HTTPRouteMatch) -> HTTPMatchRequest:
    headers = {
        h.name: StringMatch(exact=h.value) if h.type == "Exact" else StringMatch(regex=h.value)
        for h in match.headers
    }
    query = {
        q.name: StringMatch(exact=q.value) if q.type == "Exact" else StringMatch(regex=q.value)
        for q in match.query_params
    }
    return HTTPMatchRequest(
        uri=_uri(match),
        headers=headers,
        query_params=query,
        method=StringMatch(exact=match.method) if match.method is not None else None,
    )


def _valid_header_value(value: str) -> bool:
    return all(c == "\t" or (c >= " " and c != "\x7f") for c in value)


def header_operations(headers: HTTPHeaderFilter) -> HeaderOperations:
    """``createHeadersFilter``: names folded to lower case; later duplicates ignored."""
    for header in (*headers.set, *headers.add):
        if not _valid_header_value(header.value):
            raise HardError(
                ConfigError(
                    INVALID_FILTER, f'header "{header.name}" value contains invalid characters'
                )
            )

    def as_map(entries: list[object]) -> dict[str, str]:
        out: dict[str, str] = {}
        for entry in entries:
            name = entry.name.lower()  # type: ignore[attr-defined]
            out.setdefault(name, entry.value)  # type: ignore[attr-defined]
        return out

    return HeaderOperations(
        set=as_map(list(headers.set)), add=as_map(list(headers.add)), remove=list(headers.remove)
    )


def _redirect(redirect: HTTPRequestRedirectFilter) -> HTTPRedirect:
    """``createRedirectFilter``: without a port, the request's (or the scheme's default)."""
    fields: dict[str, object] = {"redirect_code": redirect.status_code}
    if redirect.hostname is not None:
        fields["authority"] = redirect.hostname
    if redirect.scheme is not None:
        fields["scheme"] = redirect.scheme
    if redirect.port is not None:
        fields["port"] = redirect.port
    else:
        fields["derive_port"] = (
            "FROM_PROTOCOL_DEFAULT" if redirect.scheme is not None else "FROM_REQUEST_PORT"
        )
    if redirect.path is not None:
        if redirect.path.type == "ReplaceFullPath":
            fields["uri"] = redirect.path.replace_full_path
        else:
            fields["prefix_rewrite"] = redirect.path.replace_prefix_match
    return HTTPRedirect(**fields)


def _rewrite(rewrite: HTTPURLRewriteFilter) -> HTTPRewrite | None:
    """``createRewriteFilter``: ReplacePrefixMatch without its trailing ``/`` (``/`` alone:
    strip the prefix); ReplaceFullPath as a regex rewrite of the whole path."""
    uri: str | None = None
    regex: RegexRewrite | None = None
    if rewrite.path is not None:
        if rewrite.path.type == "ReplacePrefixMatch":
            uri = (rewrite.path.replace_prefix_match or "").removesuffix("/") or "/"
        else:
            regex = RegexRewrite(match="/.*", rewrite=rewrite.path.replace_full_path or "")
    if uri is None and regex is None and rewrite.hostname is None:
        return None
    return HTTPRewrite(uri=uri, uri_regex_rewrite=regex, authority=rewrite.hostname)


def mirror_policy(
    inputs: ConversionInputs,
    mirror: HTTPRequestMirrorFilter,
    namespace: str,
    route_kind: str,
    enforce_ref_grant: bool,
) -> tuple[HTTPMirrorPolicy | None, ConfigError | None]:
    """``createMirrorFilter``: fraction as a percentage, else percent; none: every request."""
    destination, error = build_destination(
        inputs, mirror.backend_ref, namespace, route_kind, enforce_ref_grant
    )
    if error is not None:
        return None, error
    assert destination is not None
    percentage = None
    if mirror.fraction is not None:
        percentage = Percent(value=100 * mirror.fraction.numerator / mirror.fraction.denominator)
    elif mirror.percent is not None:
        percentage = Percent(value=mirror.percent)
    return HTTPMirrorPolicy(destination=destination, percentage=percentage), None


def _cors(cors: HTTPCORSFilter) -> CorsPolicy:
    """``createCorsFilter``: origins as exact, prefix or anchored regex matches."""
    origins: list[StringMatch] = []
    for origin in cors.allow_origins:
        if origin == "*":
            origins.append(StringMatch(regex=r"^[a-zA-Z][a-zA-Z0-9+.-]*://[^/\s?#]+$"))
        elif "*" not in origin:
            origins.append(StringMatch(exact=origin))
        elif origin.count("*") == 1 and origin.endswith("*"):
            origins.append(StringMatch(prefix=origin[:-1]))
        else:
            origins.append(StringMatch(regex="^" + re.escape(origin).replace(r"\*", ".*") + "$"))
    return CorsPolicy(
        allow_origins=origins,
        allow_credentials=True if cors.allow_credentials else None,
        allow_methods=[str(m) for m in cors.allow_methods],
        allow_headers=list(cors.allow_headers),
        expose_headers=list(cors.expose_headers),
        max_age=f"{cors.max_age}s" if cors.max_age > 0 else None,
        unmatched_preflights="IGNORE",
    )


def route_destinations(
    inputs: ConversionInputs,
    backend_refs: Sequence[Any],
    namespace: str,
    kind: str,
    enforce_ref_grant: bool,
) -> tuple[list[HTTPRouteDestination], ConfigError | None]:
    """``buildHTTPDestination`` (and ``buildGRPCDestination``, the same for GRPCRoute's
    backendRefs of ``kind``): weight-0 backends dropped; a lone one carries weight 0."""
    kept = [b for b in backend_refs if b.weight != 0]
    weights = [b.weight for b in kept] if len(kept) != 1 else [0]
    invalid: ConfigError | None = None
    out: list[HTTPRouteDestination] = []
    for backend, weight in zip(kept, weights, strict=True):
        destination, error = build_destination(inputs, backend, namespace, kind, enforce_ref_grant)
        if error is not None:
            if not is_invalid_backend(error):
                raise HardError(error)
            invalid = error
        assert destination is not None
        request_ops = response_ops = None
        for f in backend.filters:
            if f.type == "RequestHeaderModifier" and f.request_header_modifier is not None:
                request_ops = header_operations(f.request_header_modifier)
            elif f.type == "ResponseHeaderModifier" and f.response_header_modifier is not None:
                response_ops = header_operations(f.response_header_modifier)
            else:
                raise HardError(ConfigError(INVALID_FILTER, f'unsupported filter type "{f.type}"'))
        headers = None
        if request_ops is not None or response_ops is not None:
            headers = Headers(request=request_ops, response=response_ops)
        out.append(HTTPRouteDestination(destination=destination, weight=weight, headers=headers))
    return out, invalid


def convert_http_rule(
    inputs: ConversionInputs,
    route: KubernetesHTTPRoute,
    rule: HTTPRouteRule,
    position: int,
    match: HTTPRouteMatch | None,
    enforce_ref_grant: bool,
) -> tuple[HTTPRoute | None, ConfigError | None]:
    """``convertHTTPRoute`` for ``rule`` narrowed to ``match``: (route, error).

    No route means a hard error: the caller drops every rule of the route.
    """
    try:
        return _convert(inputs, route, rule, position, match, enforce_ref_grant)
    except HardError as exc:
        return None, exc.error


def _convert(
    inputs: ConversionInputs,
    route: KubernetesHTTPRoute,
    rule: HTTPRouteRule,
    position: int,
    match: HTTPRouteMatch | None,
    enforce_ref_grant: bool,
) -> tuple[HTTPRoute | None, ConfigError | None]:
    namespace = route.namespace
    fields: dict[str, object] = {
        "name": rule.name or f"{namespace}.{route.name}.{position}",
        "match": [_match(match)] if match is not None else [],
    }
    request_ops = response_ops = None
    mirrors: list[HTTPMirrorPolicy] = []
    mirror_error: ConfigError | None = None
    for f in rule.filters:
        if f.type == "RequestHeaderModifier" and f.request_header_modifier is not None:
            request_ops = header_operations(f.request_header_modifier)
        elif f.type == "ResponseHeaderModifier" and f.response_header_modifier is not None:
            response_ops = header_operations(f.response_header_modifier)
        elif f.type == "RequestRedirect" and f.request_redirect is not None:
            fields["redirect"] = _redirect(f.request_redirect)
        elif f.type == "RequestMirror" and f.request_mirror is not None:
            policy, error = mirror_policy(
                inputs, f.request_mirror, namespace, "HTTPRoute", enforce_ref_grant
            )
            if error is not None:
                mirror_error = error
            elif policy is not None:
                mirrors.append(policy)
        elif f.type == "URLRewrite" and f.url_rewrite is not None:
            fields["rewrite"] = _rewrite(f.url_rewrite)
        elif f.type == "CORS" and f.cors is not None:
            fields["cors_policy"] = _cors(f.cors)
        else:
            raise HardError(ConfigError(INVALID_FILTER, f'unsupported filter type "{f.type}"'))
    if request_ops is not None or response_ops is not None:
        fields["headers"] = Headers(request=request_ops, response=response_ops)
    if mirrors:
        fields["mirrors"] = mirrors
    retries: HTTPRetry | None = None
    if rule.retry is not None:
        # "Implementations SHOULD retry on connection errors ... if a retry stanza is configured."
        attempts = rule.retry.attempts if rule.retry.attempts is not None else 2
        retry_on = ",".join(
            ["connect-failure", "refused-stream", "unavailable", "cancelled"]
            + [str(c) for c in rule.retry.codes]
        )
        retry_fields: dict[str, object] = {
            "attempts": attempts,
            "retry_on": retry_on if attempts else None,
        }
        if rule.retry.backoff is not None:
            retry_fields["backoff"] = istio_duration(duration_seconds(rule.retry.backoff))
        retries = HTTPRetry(**retry_fields)
    timeout: str | None = None
    if rule.timeouts is not None:
        if rule.timeouts.request is not None and duration_seconds(rule.timeouts.request) != 0:
            timeout = istio_duration(duration_seconds(rule.timeouts.request))
        backend = rule.timeouts.backend_request
        if backend is not None and duration_seconds(backend) != 0:
            if retries is not None:
                retries = retries.model_copy(update={"per_try_timeout": duration_seconds(backend)})
            else:
                timeout = istio_duration(duration_seconds(backend))
    if retries is not None:
        fields["retries"] = retries
    if timeout is not None:
        fields["timeout"] = timeout
    if sum(b.weight for b in rule.backend_refs) == 0 and "redirect" not in fields:
        # "when there are no >0 weight backends return 500" (none at all included).
        fields["direct_response"] = HTTPDirectResponse(status=500)
        return HTTPRoute(**fields), mirror_error
    destinations, backend_error = route_destinations(
        inputs, rule.backend_refs, namespace, "HTTPRoute", enforce_ref_grant
    )
    fields["route"] = destinations
    return HTTPRoute(**fields), join_errors(backend_error, mirror_error)
