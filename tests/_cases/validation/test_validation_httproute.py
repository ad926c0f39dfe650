"""HTTP route validation: Istio's tables (validation_test.go TestValidateHTTPRoute,
TestValidateDestination, TestValidateRouteDestination; virtualservice_test.go
TestValidateRootHTTPRoute, TestValidateDelegateHTTPRoute) and the measured false passes."""

from __future__ import annotations

from typing import Any

import pytest
from validating import check_row, http_vs, outcome, route, virtual_service

D = {"destination": {"host": "foo.baz"}}
DELEGATE = {"delegate": {"name": "test", "namespace": "test"}}


def ops(**operations: Any) -> dict[str, Any]:
    return {"headers": operations}


# TestValidateHTTPRoute: (name, route, error part or "" for valid).
HTTP_ROUTE_ROWS: list[tuple[str, dict[str, Any], str]] = [
    ("empty", {}, "HTTP route, redirect or direct_response is required"),
    ("simple", {"route": [D]}, ""),
    ("no destination", {"route": [{}]}, "missing required key 'destination'"),
    (
        "weighted",
        {"route": [{**D, "weight": 25}, {"destination": {"host": "foo.baz.east"}, "weight": 75}]},
        "",
    ),
    ("total weight > 100", {"route": [{**D, "weight": 550}, {**D, "weight": 500}]}, ""),
    ("total weight < 100", {"route": [{**D, "weight": 49}, {**D, "weight": 50}]}, ""),
    ("simple redirect", {"redirect": {"uri": "/lerp", "authority": "foo.biz"}}, ""),
    (
        "prefix_rewrite redirect with prefix URI match",
        {"match": [{"uri": {"prefix": "/foo"}}], "redirect": {"prefixRewrite": "/bar"}},
        "",
    ),
    (
        "prefix_rewrite redirect with exact URI match is invalid",
        {"match": [{"uri": {"exact": "/foo"}}], "redirect": {"prefixRewrite": "/bar"}},
        "redirect prefix_rewrite requires all URI matches to use prefix match type",
    ),
    (
        "prefix_rewrite redirect with regex URI match is invalid",
        {"match": [{"uri": {"regex": "/foo.*"}}], "redirect": {"prefixRewrite": "/bar"}},
        "prefix_rewrite requires all URI matches",
    ),
    (
        "prefix_rewrite redirect with no URI match (wildcard) is valid",
        {
            "match": [{"headers": {"x-foo": {"exact": "bar"}}}],
            "redirect": {"prefixRewrite": "/bar"},
        },
        "",
    ),
    (
        "conflicting redirect and route",
        {"route": [D], "redirect": {"uri": "/lerp", "authority": "foo.biz"}},
        "HTTP route cannot contain both route and redirect",
    ),
    (
        "valid headers",
        {
            "route": [
                {
                    **D,
                    **ops(
                        request={"add": {"name": ""}, "set": {"name": ""}, "remove": ["name"]},
                        response={"add": {"name": ""}, "set": {"name": ""}, "remove": ["name"]},
                    ),
                }
            ]
        },
        "",
    ),
    (
        "empty header name - request add",
        {"route": [{**D, **ops(request={"add": {"": "v"}})}]},
        "header name cannot be empty",
    ),
    (
        "empty header name - request set",
        {"route": [{**D, **ops(request={"set": {"": "v"}})}]},
        "header name cannot be empty",
    ),
    (
        "empty header name - request remove",
        {"route": [{**D, **ops(request={"remove": [""]})}]},
        "header name cannot be empty",
    ),
    (
        "empty header name - response add",
        {"route": [{**D, **ops(response={"add": {"": "v"}})}]},
        "header name cannot be empty",
    ),
    (
        "empty header name - response set",
        {"route": [{**D, **ops(response={"set": {"": "v"}})}]},
        "header name cannot be empty",
    ),
    (
        "empty header name - response remove",
        {"route": [{**D, **ops(response={"remove": [""]})}]},
        "header name cannot be empty",
    ),
    (
        "envoy escaped % set",
        {"route": [{**D, **ops(response={"set": {"i-love-istio": "100%%"}})}]},
        "",
    ),
    ("envoy variable set", {"route": [{**D, **ops(response={"set": {"name": "%HOSTNAME%"}})}]}, ""),
    (
        "envoy unescaped % set",
        {"route": [{**D, **ops(response={"set": {"name": "abcd%oijasodifj"}})}]},
        "Un-terminated variable expression",
    ),
    (
        "envoy escaped % add",
        {"route": [{**D, **ops(response={"add": {"i": "100%% and more"}})}]},
        "",
    ),
    (
        "envoy variable add",
        {"route": [{**D, **ops(response={"add": {"name": "hello %HOSTNAME%"}})}]},
        "",
    ),
    (
        "envoy unescaped % add",
        {"route": [{**D, **ops(response={"add": {"name": "abcd%oijasodifj"}})}]},
        "header value configuration",
    ),
    ("null header match", {"route": [D], "match": [{"headers": {"header": None}}]}, "header"),
    (
        "empty prefix header match",
        {"route": [D], "match": [{"headers": {"emptyprefix": {"prefix": ""}}}]},
        '"headers": prefix string match should not be empty',
    ),
    ("nil match", {"route": [D]}, ""),
    ("invalid mirror percent", {"route": [D], "mirrorPercent": 101}, "less than or equal to 100"),
    (
        "invalid mirror percentage",
        {"route": [D], "mirrorPercentage": {"value": 101}},
        "less than or equal to 100",
    ),
    ("valid mirror percentage", {"route": [D], "mirrorPercentage": {"value": 1}}, ""),
    (
        "negative mirror percentage",
        {"route": [D], "mirrorPercentage": {"value": -1}},
        "greater than or equal to 0",
    ),
    (
        "mirrors without destination",
        {"route": [D], "mirrors": [{}]},
        "missing required key 'destination'",
    ),
    (
        "mirrors valid mirror percentage",
        {
            "route": [D],
            "mirrors": [{**D, "percentage": {"value": 1}}, {**D, "percentage": {"value": 50}}],
        },
        "",
    ),
    (
        "conflicting mirror and mirrors",
        {"route": [D], "mirror": {"host": "foo.baz"}, "mirrors": [D]},
        "HTTP route cannot contain both mirror and mirrors",
    ),
]


@pytest.mark.parametrize(
    ("name", "rule", "error"), HTTP_ROUTE_ROWS, ids=[r[0] for r in HTTP_ROUTE_ROWS]
)
def test_validate_http_route(name: str, rule: dict[str, Any], error: str) -> None:
    check_row(http_vs(rule), error)


# TestValidateDestination and TestValidateRouteDestination (through an HTTP route).
DESTINATION_ROWS: list[tuple[str, dict[str, Any], str]] = [
    ("empty", {}, "missing required key 'host'"),
    ("simple", {"host": "foo.bar"}, ""),
    ("full", {"host": "foo.bar", "subset": "shiny", "port": {"number": 5000}}, ""),
    (
        "unnumbered-selector",
        {"host": "foo.bar", "subset": "shiny", "port": {}},
        "missing required key 'number'",
    ),
    ("wildcard dash", {"host": "*-foo.baz"}, ""),
    ("wildcard prefix", {"host": "*foo.baz"}, ""),
    ("wildcard", {"host": "*"}, "invalid destination host *"),
    ("bad wildcard", {"host": "foo.*"}, '(label "*" invalid)'),
    ("bad fqdn", {"host": "default/baz"}, "invalid"),
    (
        "a subset that is not a DNS label",
        {"host": "foo.bar", "subset": "v1.0"},
        "subset name is invalid: v1.0",
    ),
]


@pytest.mark.parametrize(
    ("name", "destination", "error"), DESTINATION_ROWS, ids=[r[0] for r in DESTINATION_ROWS]
)
def test_validate_destination(name: str, destination: dict[str, Any], error: str) -> None:
    check_row(http_vs({"route": [{"destination": destination}]}), error)


def test_total_weight_zero_with_several_destinations_is_rejected() -> None:
    rule = {"route": [{**D, "weight": 0}, {"destination": {"host": "foo.baz.east"}, "weight": 0}]}
    assert outcome(http_vs(rule)).errors == ["spec.http[0].route: total destination weight = 0"]


# virtualservice_test.go TestValidateRootHTTPRoute (a route handing over to a delegate).
ROOT_ROWS: list[tuple[str, dict[str, Any], str]] = [
    ("simple", DELEGATE, ""),
    (
        "route and delegate conflict",
        {**DELEGATE, "route": [D]},
        "root HTTP route  must not specify route",
    ),
    (
        "redirect and delegate conflict",
        {**DELEGATE, "redirect": {"uri": "/lerp", "authority": "foo.biz"}},
        "must not specify redirect",
    ),
    (
        "prefix header match",
        {**DELEGATE, "match": [{"headers": {"header": {"prefix": "test"}}}]},
        "",
    ),
    (
        "empty prefix header match (delegate)",
        {**DELEGATE, "match": [{"headers": {"header": {"prefix": ""}}}]},
        "prefix string match should not be empty",
    ),
    ("exact header match", {**DELEGATE, "match": [{"headers": {"header": {"exact": "test"}}}]}, ""),
    ("regex header match", {**DELEGATE, "match": [{"headers": {"header": {"regex": "test"}}}]}, ""),
    ("regex uri match", {**DELEGATE, "match": [{"uri": {"regex": "test"}}]}, ""),
    ("prefix uri match", {**DELEGATE, "match": [{"uri": {"prefix": "test"}}]}, ""),
    ("exact uri match", {**DELEGATE, "match": [{"uri": {"exact": "test"}}]}, ""),
    (
        "prefix queryParams match",
        {**DELEGATE, "match": [{"queryParams": {"q": {"prefix": "test"}}}]},
        "",
    ),
    (
        "empty regex queryParams match",
        {**DELEGATE, "match": [{"queryParams": {"q": {"regex": ""}}}]},
        '"queryParams": regex string match should not be empty',
    ),
    ("prefix scheme match", {**DELEGATE, "match": [{"scheme": {"prefix": "test"}}]}, ""),
    (
        "empty prefix scheme match",
        {**DELEGATE, "match": [{"scheme": {"prefix": ""}}]},
        '"scheme": prefix string match should not be empty',
    ),
    ("empty prefix method match", {**DELEGATE, "match": [{"method": {"prefix": ""}}]}, '"method"'),
    (
        "empty prefix authority match",
        {**DELEGATE, "match": [{"authority": {"prefix": ""}}]},
        '"authority"',
    ),
    (
        "an empty uri prefix is valid (Envoy matches every path)",
        {**DELEGATE, "match": [{"uri": {"prefix": ""}}]},
        "",
    ),
]


@pytest.mark.parametrize(("name", "rule", "error"), ROOT_ROWS, ids=[r[0] for r in ROOT_ROWS])
def test_validate_root_http_route(name: str, rule: dict[str, Any], error: str) -> None:
    check_row(http_vs(rule), error)


# virtualservice_test.go TestValidateDelegateHTTPRoute (routes of a VirtualService without hosts).
DELEGATE_ROWS: list[tuple[str, dict[str, Any], str]] = [
    ("empty", {}, "HTTP route, redirect or direct_response is required"),
    ("simple", {"route": [D]}, ""),
    (
        "delegate route with delegate",
        {**DELEGATE, "route": [D]},
        "delegate HTTP route cannot contain delegate",
    ),
    ("delegate with redirect", {"redirect": {"uri": "/lerp", "authority": "foo.biz"}}, ""),
    (
        "withoutHeaders regex *",
        {"route": [D], "match": [{"withoutHeaders": {"x": {"regex": "*"}}}]},
        "",
    ),
]


@pytest.mark.parametrize(
    ("name", "rule", "error"), DELEGATE_ROWS, ids=[r[0] for r in DELEGATE_ROWS]
)
def test_validate_delegate_http_route(name: str, rule: dict[str, Any], error: str) -> None:
    check_row(virtual_service({"http": [rule]}), error)


# ------------------------------------------------------------------ the measured false passes


def test_a_rule_with_redirect_and_route_is_rejected_at_its_route() -> None:
    result = outcome(http_vs(route(redirect={"uri": "/x"})))
    assert result.errors == [
        "spec.http[0].route: HTTP route cannot contain both route and redirect"
    ]


def test_a_timeout_of_one_nanosecond_is_rejected() -> None:
    result = outcome(http_vs(route(timeout="1ns")))
    assert result.errors == ["spec.http[0].timeout: duration must be greater than 1ms"]


def test_a_header_name_with_a_space_is_rejected() -> None:
    rule = route(match=[{"headers": {"x user": {"exact": "a"}}}])
    assert outcome(http_vs(rule)).errors == [
        'spec.http[0].match[0].headers."x user": header name x user is not a valid header name'
    ]


def test_a_uri_regex_re2_refuses_is_rejected() -> None:
    rule = route(match=[{"uri": {"regex": "^/(?!admin).*"}}])
    (message,) = outcome(http_vs(rule)).errors
    assert message.startswith('spec.http[0].match[0].uri.regex: "uri": error parsing regexp')
    assert "invalid perl operator: (?!" in message


def test_header_and_query_regexes_are_checked_as_re2() -> None:
    rule = route(
        match=[{"headers": {"x": {"regex": "(a)\\1"}}, "queryParams": {"q": {"regex": "a{2,1}"}}}]
    )
    errors = outcome(http_vs(rule)).errors
    assert [e.split(":")[0] for e in errors] == [
        "spec.http[0].match[0].headers.x.regex",
        "spec.http[0].match[0].queryParams.q.regex",
    ]


def test_the_authority_is_rewritten_in_one_place_only() -> None:
    rule = route(rewrite={"authority": "bar"}, headers={"request": {"set": {":authority": "foo"}}})
    assert outcome(http_vs(rule)).errors == [
        "spec.http[0].headers.request.set.:authority: authority header cannot be set multiple times: "
        'have "bar", attempting to set "foo"'
    ]


def test_host_and_pseudo_headers_cannot_be_changed_in_responses() -> None:
    rule = route(headers={"response": {"set": {"Host": "x", ":status": "200"}}})
    assert outcome(http_vs(rule)).errors == [
        'spec.http[0].headers.response.set.Host: invalid header "Host": cannot set Host header',
        'spec.http[0].headers.response.set.:status: invalid header ":status": header cannot have ":" prefix',
    ]


def test_mirror_percent_is_deprecated() -> None:
    result = outcome(http_vs(route(mirror={"host": "m"}, mirrorPercent=5)))
    assert result.errors == []
    assert result.warnings == [
        'spec.http[0].mirrorPercent: using deprecated setting "mirrorPercent", use "mirrorPercentage" instead'
    ]


def test_a_source_namespace_must_be_a_dns_label() -> None:
    rule = route(match=[{"sourceNamespace": "Not_A_Label"}])
    assert outcome(http_vs(rule)).errors == [
        "spec.http[0].match[0].sourceNamespace: sourceNamespace match Not_A_Label is invalid"
    ]


def test_a_root_route_may_write_an_empty_route_list() -> None:
    # proto3 has no empty list: `route: []` is no route, so the root route is fine.
    assert outcome(http_vs({**DELEGATE, "route": []})).errors == []
