"""An HTTP route's policies: redirect, rewrite, direct response, retries, faults, CORS.

``validateHTTPRedirect``, ``validateHTTPRewrite``, ``validateHTTPDirectResponse``,
``validateHTTPFaultInjection``, ``validateCORSPolicy`` in Istio's
``pkg/config/validation/validation.go``, and ``agent.ValidateHTTPRetry``.
"""

from __future__ import annotations

import base64
import binascii

from ..model.istio import (
    CorsPolicy,
    HTTPDirectResponse,
    HTTPFaultInjection,
    HTTPMatchRequest,
    HTTPRedirect,
    HTTPRetry,
    HTTPRewrite,
)
from .common import go_quote, one_of_problem, validate_duration, validate_percentage, validate_port
from .headers import validate_cors_header_name
from .regex import validate_regex
from .report import Report

__all__ = [
    "validate_cors",
    "validate_direct_response",
    "validate_fault",
    "validate_redirect",
    "validate_retries",
    "validate_rewrite",
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


def validate_cors(policy: CorsPolicy, r: Report) -> None:
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


def validate_fault(fault: HTTPFaultInjection, r: Report) -> None:
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


def validate_redirect(redirect: HTTPRedirect, matches: list[HTTPMatchRequest], r: Report) -> None:
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


def validate_direct_response(response: HTTPDirectResponse, r: Report) -> None:
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


def validate_retries(retries: HTTPRetry, r: Report) -> None:
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


def validate_rewrite(rewrite: HTTPRewrite, r: Report) -> None:
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
