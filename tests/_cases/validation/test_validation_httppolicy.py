"""HTTP route policies: Istio's tables (validation_test.go TestValidateCORSPolicy,
TestValidateHTTPStatus, TestValidateHTTPFaultInjectionAbort, TestValidateHTTPFaultInjectionDelay,
TestValidateHTTPRetry, TestValidateHTTPRewrite, TestValidateUriRegexRewrite,
TestValidateHTTPRedirect, TestValidateHTTPDirectResponse)."""

from __future__ import annotations

import base64
from typing import Any

import pytest
from validating import check_row, http_vs, outcome, route

CORS = {
    "allowMethods": ["GET", "POST"],
    "allowHeaders": ["header1", "header2"],
    "exposeHeaders": ["header3"],
    "maxAge": "2s",
}


# TestValidateCORSPolicy.
CORS_ROWS: list[tuple[str, dict[str, Any], str]] = [
    ("valid", CORS, ""),
    (
        "bad method",
        {**CORS, "allowMethods": ["GET", "PUTT"]},
        '"PUTT" is not a supported HTTP method',
    ),
    ("bad header", {**CORS, "exposeHeaders": [""]}, "header name cannot be empty"),
    ("bad max age", {**CORS, "maxAge": "2000000042ns"}, "only durations to ms precision"),
    (
        "max age below a second",
        {**CORS, "maxAge": "1500ms"},
        "max_age duration is accurate only to seconds precision",
    ),
    (
        "empty matchType AllowOrigins",
        {**CORS, "allowOrigins": [{"exact": ""}, {"prefix": ""}, {"regex": ""}]},
        "'' is not a valid match type for CORS allow origins",
    ),
    (
        "non empty matchType AllowOrigins",
        {**CORS, "allowOrigins": [{"exact": "exact"}, {"prefix": "prefix"}, {"regex": "regex"}]},
        "",
    ),
    (
        "an origin regex RE2 refuses",
        {"allowOrigins": [{"regex": "(?i)a(?=b)"}]},
        '"corsPolicy.allowOrigins": error parsing regexp',
    ),
]


@pytest.mark.parametrize(("name", "policy", "error"), CORS_ROWS, ids=[r[0] for r in CORS_ROWS])
def test_validate_cors_policy(name: str, policy: dict[str, Any], error: str) -> None:
    check_row(http_vs(route(corsPolicy=policy)), error)


# TestValidateHTTPFaultInjectionAbort and ...Delay: (name, fault, error).
FAULT_ROWS: list[tuple[str, dict[str, Any], str]] = [
    ("abort valid", {"abort": {"percentage": {"value": 20}, "httpStatus": 200}}, ""),
    ("abort valid default", {"abort": {"httpStatus": 200}}, ""),
    ("abort invalid http status", {"abort": {"httpStatus": 9000}}, "less than or equal to 599"),
    (
        "abort invalid low http status",
        {"abort": {"httpStatus": 100}},
        "greater than or equal to 200",
    ),
    ("abort valid percentage", {"abort": {"percentage": {"value": 0.001}, "httpStatus": 200}}, ""),
    (
        "abort invalid fractional percent",
        {"abort": {"percentage": {"value": -10.0}, "httpStatus": 200}},
        "greater than or equal to 0",
    ),
    (
        "abort too small a percentage",
        {"abort": {"percentage": {"value": 0.00001}, "httpStatus": 200}},
        "percentage 1e-05 is neither 0.0, nor in range [0.0001, 100.0]",
    ),
    (
        "grpc: valid",
        {"abort": {"percentage": {"value": 20}, "grpcStatus": "DEADLINE_EXCEEDED"}},
        "",
    ),
    (
        "grpc: invalid status",
        {"abort": {"grpcStatus": "BAD_STATUS"}},
        'gRPC status "BAD_STATUS" is not supported',
    ),
    (
        "http2 errors are not supported",
        {"abort": {"http2Error": "x"}},
        "HTTP/2 abort fault injection not supported yet",
    ),
    (
        "abort oneOf",
        {"abort": {"httpStatus": 503, "grpcStatus": "INTERNAL"}},
        "only one of httpStatus, grpcStatus, http2Error may be set",
    ),
    ("delay valid fixed", {"delay": {"percentage": {"value": 20}, "fixedDelay": "3s"}}, ""),
    (
        "delay invalid percent",
        {"delay": {"percentage": {"value": 101}, "fixedDelay": "3s"}},
        "less than or equal to 100",
    ),
    (
        "delay invalid delay",
        {"delay": {"percentage": {"value": 20}, "fixedDelay": "3000000042ns"}},
        "only durations to ms precision are supported",
    ),
    (
        "delay valid fractional percentage",
        {"delay": {"percentage": {"value": 0.001}, "fixedDelay": "3s"}},
        "",
    ),
    (
        "exponential delay is not supported",
        {"delay": {"exponentialDelay": "1s"}},
        "exponentialDelay not supported yet",
    ),
    (
        "delay oneOf",
        {"delay": {"fixedDelay": "1s", "exponentialDelay": "1s"}},
        "only one of fixedDelay, exponentialDelay may be set",
    ),
    ("neither abort nor delay", {}, "HTTP fault injection must have an abort and/or a delay"),
]


@pytest.mark.parametrize(("name", "fault", "error"), FAULT_ROWS, ids=[r[0] for r in FAULT_ROWS])
def test_validate_http_fault_injection(name: str, fault: dict[str, Any], error: str) -> None:
    check_row(http_vs(route(fault=fault)), error)


def test_an_abort_without_error_type_is_warned() -> None:
    result = outcome(http_vs(route(fault={"abort": {"percentage": {"value": 5}}})))
    assert result.warnings == ["spec.http[0].fault.abort: abort configured, but error type not set"]


# TestValidateHTTPRetry.
RETRY_ROWS: list[tuple[str, dict[str, Any], str]] = [
    ("valid", {"attempts": 10, "perTryTimeout": "2s", "retryOn": "5xx,gateway-error"}, ""),
    ("disable retries", {"attempts": 0}, ""),
    (
        "invalid, retry policy configured but attempts set to zero",
        {"attempts": 0, "perTryTimeout": "2s", "retryOn": "5xx,gateway-error"},
        "http retry policy configured when attempts are set to 0 (disabled)",
    ),
    ("valid default", {"attempts": 10}, ""),
    (
        "valid http status retryOn",
        {"attempts": 10, "perTryTimeout": "2s", "retryOn": "503,connect-failure"},
        "",
    ),
    ("invalid attempts", {"attempts": -1, "perTryTimeout": "2s"}, "greater than or equal to 0"),
    (
        "invalid timeout",
        {"attempts": 10, "perTryTimeout": "2000000001ns"},
        "only durations to ms precision",
    ),
    (
        "timeout too small",
        {"attempts": 10, "perTryTimeout": "999ns"},
        "duration must be greater than 1ms",
    ),
    ("invalid backoff", {"attempts": 10, "backoff": "999ns"}, "duration must be greater than 1ms"),
    (
        "invalid policy retryOn",
        {"attempts": 10, "retryOn": "5xx,invalid policy"},
        '"invalid policy" is not a valid retryOn policy',
    ),
    (
        "invalid http status retryOn",
        {"attempts": 10, "retryOn": "600,connect-failure"},
        '"600" is not a valid retryOn policy',
    ),
    (
        "invalid, retryRemoteLocalities configured but attempts set to zero",
        {"attempts": 0, "retryRemoteLocalities": False},
        "attempts are set to 0",
    ),
]


@pytest.mark.parametrize(("name", "retries", "error"), RETRY_ROWS, ids=[r[0] for r in RETRY_ROWS])
def test_validate_http_retry(name: str, retries: dict[str, Any], error: str) -> None:
    check_row(http_vs(route(retries=retries)), error)


REGEX_REWRITE = {"match": "^/service/([^/]+)(/.*)$", "rewrite": "\\2/instance/\\1"}


# TestValidateHTTPRewrite and TestValidateUriRegexRewrite.
REWRITE_ROWS: list[tuple[str, dict[str, Any], str]] = [
    ("uri and authority", {"uri": "/path/to/resource", "authority": "foobar.org"}, ""),
    ("uri", {"uri": "/path/to/resource"}, ""),
    ("authority", {"authority": "foobar.org"}, ""),
    ("uriRegexRewrite", {"uriRegexRewrite": REGEX_REWRITE}, ""),
    (
        "uriRegexRewrite and authority",
        {"authority": "foobar.org", "uriRegexRewrite": REGEX_REWRITE},
        "",
    ),
    (
        "uriRegexRewrite and uri",
        {"uri": "/path/to/resource", "uriRegexRewrite": REGEX_REWRITE},
        "rewrite may only contain one of URI or UriRegexRewrite",
    ),
    (
        "no uri, uriRegexRewrite, or authority",
        {},
        "rewrite must specify at least one of URI, UriRegexRewrite, or authority",
    ),
    (
        "uriRegexRewrite missing match",
        {"uriRegexRewrite": {"rewrite": "\\2"}},
        "missing required key 'match'",
    ),
    (
        "uriRegexRewrite empty rewrite",
        {"uriRegexRewrite": {"match": "^/a", "rewrite": ""}},
        "requires both Rewrite and Match",
    ),
    (
        "uriRegexRewrite invalid regex patterns",
        {"uriRegexRewrite": {"match": "[", "rewrite": "["}},
        '"HTTPRewrite.UriRegexRewrite.Match": error parsing regexp',
    ),
]


@pytest.mark.parametrize(
    ("name", "rewrite", "error"), REWRITE_ROWS, ids=[r[0] for r in REWRITE_ROWS]
)
def test_validate_http_rewrite(name: str, rewrite: dict[str, Any], error: str) -> None:
    check_row(http_vs(route(rewrite=rewrite)), error)


# TestValidateHTTPRedirect.
REDIRECT_ROWS: list[tuple[str, dict[str, Any], str]] = [
    (
        "empty uri and authority",
        {"uri": "", "authority": ""},
        "redirect must specify URI, authority, scheme, or port",
    ),
    (
        "too small redirect code",
        {"uri": "t", "redirectCode": 299},
        "299 is not a valid redirect code, must be 3xx",
    ),
    (
        "too large redirect code",
        {"uri": "t", "redirectCode": 400},
        "400 is not a valid redirect code",
    ),
    ("empty authority", {"uri": "t", "authority": ""}, ""),
    ("empty uri", {"uri": "", "authority": "t"}, ""),
    ("empty redirect code", {"uri": "t", "authority": "t", "redirectCode": 0}, ""),
    ("normal redirect", {"uri": "t", "authority": "t", "redirectCode": 308}, ""),
    ("prefix_rewrite alone", {"prefixRewrite": "/bar"}, ""),
    ("prefix_rewrite with authority", {"authority": "foo.example.com", "prefixRewrite": "/"}, ""),
    (
        "uri and prefix_rewrite mutually exclusive",
        {"uri": "/old", "prefixRewrite": "/new"},
        "redirect may only specify one of uri or prefix_rewrite",
    ),
    (
        "a scheme neither http nor https",
        {"scheme": "ftp"},
        'invalid redirect scheme, must be "http" or "https"',
    ),
    ("derivePort alone", {"derivePort": "FROM_REQUEST_PORT"}, ""),
]


@pytest.mark.parametrize(
    ("name", "redirect", "error"), REDIRECT_ROWS, ids=[r[0] for r in REDIRECT_ROWS]
)
def test_validate_http_redirect(name: str, redirect: dict[str, Any], error: str) -> None:
    check_row(http_vs({"redirect": redirect}), error)


def _b64(size: int) -> str:
    return base64.b64encode(b"a" * size).decode()


# TestValidateHTTPDirectResponse: (name, directResponse, error, warning).
DIRECT_RESPONSE_ROWS: list[tuple[str, dict[str, Any], str, str]] = [
    ("status 200", {"status": 200}, "", ""),
    ("status 100", {"status": 199}, "greater than or equal to 200", ""),
    ("status 600", {"status": 601}, "less than or equal to 599", ""),
    ("with string body", {"status": 200, "body": {"string": "hello"}}, "", ""),
    (
        "with string body over 100kb",
        {"status": 200, "body": {"string": "a" * (101 * 1024)}},
        "",
        "large direct_responses may impact control plane performance",
    ),
    (
        "with string body over 1mb",
        {"status": 200, "body": {"string": "a" * (2 * 1024 * 1024)}},
        "must be less than 1MB",
        "",
    ),
    ("with bytes body", {"status": 200, "body": {"bytes": _b64(5)}}, "", ""),
    (
        "with bytes body over 100kb",
        {"status": 200, "body": {"bytes": _b64(100 * 1024 + 1)}},
        "",
        "large direct_responses",
    ),
    (
        "with bytes body over 1mb",
        {"status": 200, "body": {"bytes": _b64(1024 * 1024 + 1)}},
        "must be less than 1MB",
        "",
    ),
    (
        "bytes that are not base64",
        {"status": 200, "body": {"bytes": "not base64!"}},
        "bytes must be base64",
        "",
    ),
]


@pytest.mark.parametrize(
    ("name", "response", "error", "warning"),
    DIRECT_RESPONSE_ROWS,
    ids=[r[0] for r in DIRECT_RESPONSE_ROWS],
)
def test_validate_http_direct_response(
    name: str, response: dict[str, Any], error: str, warning: str
) -> None:
    check_row(http_vs({"directResponse": response}), error, warning)
