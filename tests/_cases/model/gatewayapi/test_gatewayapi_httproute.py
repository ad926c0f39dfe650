"""HTTPRoute: the CRD's bounds, patterns and CEL rules, with the API server's messages."""

from __future__ import annotations

from typing import Any

import pydantic
import pytest

from pytest_meshgate._cases.model.base import validation_problems
from pytest_meshgate._cases.model.gatewayapi import KubernetesHTTPRoute
from pytest_meshgate._cases.model.resources import parse_resource


def route(spec: dict[str, Any], api: str = "gateway.networking.k8s.io/v1") -> dict[str, Any]:
    return {"apiVersion": api, "kind": "HTTPRoute", "metadata": {"name": "r"}, "spec": spec}


def problems(data: dict[str, Any]) -> dict[tuple[str | int, ...], str]:
    with pytest.raises(pydantic.ValidationError) as info:
        parse_resource(data)
    return {path: message for path, message, _ in validation_problems(info.value, data)}


def rule(**fields: Any) -> dict[str, Any]:
    return {"backendRefs": [{"name": "svc", "port": 8080}], **fields}


def test_defaults_as_the_crd_sets_them() -> None:
    parsed = parse_resource(route({"parentRefs": [{"name": "gw"}], "rules": [{}]}))
    assert isinstance(parsed, KubernetesHTTPRoute)
    parent = parsed.spec.parent_refs[0]
    assert (parent.group, parent.kind, parent.namespace) == (
        "gateway.networking.k8s.io",
        "Gateway",
        None,
    )
    match = parsed.spec.rules[0].matches[0]
    assert (match.path.type, match.path.value) == ("PathPrefix", "/")
    no_rules = parse_resource(route({}))
    assert no_rules.spec.rules[0].matches[0].path.value == "/"
    backend = parse_resource(route({"rules": [rule()]})).spec.rules[0].backend_refs[0]
    assert (backend.group, backend.kind, backend.weight) == ("", "Service", 1)


def test_v1beta1_is_served_with_the_same_schema() -> None:
    parsed = parse_resource(route({"rules": [rule()]}, api="gateway.networking.k8s.io/v1beta1"))
    assert parsed.version == "v1beta1"
    assert problems(route({"hostnames": ["a:1"]}, api="gateway.networking.k8s.io/v1beta1"))


def test_a_hostname_with_a_port_is_invalid() -> None:
    found = problems(route({"hostnames": ["app.example.com:8080", "*.ok.com", "a.*.com"]}))
    assert "(a hostname has no port)" in found[("spec", "hostnames", 0)]
    assert ("spec", "hostnames", 1) not in found
    assert "wildcard" in found[("spec", "hostnames", 2)]


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("foo", "value must be an absolute path and start with '/'"),
        ("/a//b", "must not contain '//'"),
        ("/a/./b", "must not contain '/./'"),
        ("/a%2fb", "must not contain '%2f'"),
        ("/a#b", "must not contain '#'"),
        ("/a/..", "must not end with '/..'"),
        ("/a b", "must only contain valid characters"),
    ],
)
def test_path_rules(value: str, message: str) -> None:
    found = problems(
        route({"rules": [rule(matches=[{"path": {"type": "Exact", "value": value}}])]})
    )
    assert message in found[("spec", "rules", 0, "matches", 0, "path")]


def test_regex_paths_are_not_checked_as_paths_but_types_are() -> None:
    parse_resource(
        route(
            {"rules": [rule(matches=[{"path": {"type": "RegularExpression", "value": "foo.*"}}])]}
        )
    )
    found = problems(route({"rules": [rule(matches=[{"path": {"type": "Glob", "value": "/"}}])]}))
    assert ("spec", "rules", 0, "matches", 0, "path", "type") in found


def test_maximum_items() -> None:
    assert "at most 16 items" in problems(route({"rules": [rule()] * 17}))[("spec", "rules")]
    many = {"matches": [{"path": {"value": f"/{i}"}} for i in range(64)], **rule()}
    assert (
        "at most 64 items"
        in problems(route({"rules": [{**many, "matches": many["matches"] * 2}]}))[
            ("spec", "rules", 0, "matches")
        ]
    )
    total = problems(route({"rules": [many, many, many]}))
    assert (
        "the total number of matches across all rules in a route must be less than 128"
        in total[("spec",)]
    )
    assert (
        "at most 16 items"
        in problems(route({"hostnames": [f"h{i}.com" for i in range(17)]}))[("spec", "hostnames")]
    )
    assert (
        "at most 32 items"
        in problems(
            route({"parentRefs": [{"name": "g", "sectionName": f"s{i}"} for i in range(33)]})
        )[("spec", "parentRefs")]
    )


def test_filter_fields_follow_the_type() -> None:
    found = problems(
        route(
            {
                "rules": [
                    rule(filters=[{"type": "RequestHeaderModifier", "responseHeaderModifier": {}}])
                ]
            }
        )
    )
    assert found[("spec", "rules", 0, "filters", 0)] == (
        "filter.requestHeaderModifier must be specified for RequestHeaderModifier filter.type"
    )
    found = problems(
        route(
            {
                "rules": [
                    rule(
                        filters=[
                            {
                                "type": "RequestHeaderModifier",
                                "requestHeaderModifier": {},
                                "urlRewrite": {},
                            }
                        ]
                    )
                ]
            }
        )
    )
    assert found[("spec", "rules", 0, "filters", 0)] == (
        "filter.urlRewrite must be nil if the filter.type is not URLRewrite"
    )


def test_filter_list_rules() -> None:
    redirect = {"type": "RequestRedirect", "requestRedirect": {"scheme": "https"}}
    rewrite = {"type": "URLRewrite", "urlRewrite": {"hostname": "a.com"}}
    found = problems(route({"rules": [{"filters": [redirect, rewrite]}]}))
    assert (
        "May specify either httpRouteFilterRequestRedirect or httpRouteFilterRequestRewrite"
        in found[("spec", "rules", 0)]
    )
    found = problems(route({"rules": [{"filters": [rewrite, rewrite]}]}))
    assert found[("spec", "rules", 0)] == "URLRewrite filter cannot be repeated"
    found = problems(route({"rules": [rule(filters=[redirect])]}))
    assert (
        found[("spec", "rules", 0)]
        == "RequestRedirect filter must not be used together with backendRefs"
    )


def test_replace_prefix_match_needs_one_path_prefix_match() -> None:
    prefix = {"type": "ReplacePrefixMatch", "replacePrefixMatch": "/new"}
    rewrite = {"type": "URLRewrite", "urlRewrite": {"path": prefix}}
    parse_resource(route({"rules": [rule(filters=[rewrite])]}))  # the default match is a prefix
    found = problems(
        route(
            {
                "rules": [
                    rule(matches=[{"path": {"type": "Exact", "value": "/a"}}], filters=[rewrite])
                ]
            }
        )
    )
    assert found[("spec", "rules", 0)].startswith(
        "When using URLRewrite filter with path.replacePrefixMatch, exactly one PathPrefix match"
    )
    in_backend = rule(matches=[{"path": {"value": "/a"}}, {"path": {"value": "/b"}}])
    in_backend["backendRefs"][0]["filters"] = [rewrite]
    assert problems(route({"rules": [in_backend]}))[("spec", "rules", 0)].startswith(
        "Within backendRefs, when using URLRewrite filter"
    )
    mismatched = {"type": "ReplaceFullPath", "replacePrefixMatch": "/x"}
    found = problems(
        route(
            {"rules": [rule(filters=[{"type": "URLRewrite", "urlRewrite": {"path": mismatched}}])]}
        )
    )
    assert (
        "replaceFullPath must be specified when type is set to 'ReplaceFullPath'"
        in found[("spec", "rules", 0, "filters", 0, "urlRewrite", "path")]
    )


def test_redirect_status_codes_and_hostnames() -> None:
    redirect = (
        parse_resource(
            route({"rules": [{"filters": [{"type": "RequestRedirect", "requestRedirect": {}}]}]})
        )
        .spec.rules[0]
        .filters[0]
        .request_redirect
    )
    assert redirect.status_code == 302
    bad = {"type": "RequestRedirect", "requestRedirect": {"statusCode": 304, "hostname": "*.a.com"}}
    found = problems(route({"rules": [{"filters": [bad]}]}))
    assert ("spec", "rules", 0, "filters", 0, "requestRedirect", "statusCode") in found
    assert "no wildcard" in found[("spec", "rules", 0, "filters", 0, "requestRedirect", "hostname")]


def test_backend_refs_need_a_port_for_services_and_bounded_weights() -> None:
    found = problems(
        route(
            {
                "rules": [
                    {"backendRefs": [{"name": "svc"}, {"name": "b", "port": 1, "weight": 1000001}]}
                ]
            }
        )
    )
    assert found[("spec", "rules", 0, "backendRefs", 0)] == "Must have port for Service reference"
    assert ("spec", "rules", 0, "backendRefs", 1, "weight") in found
    parse_resource(
        route({"rules": [{"backendRefs": [{"name": "b", "kind": "Other", "group": "x.io"}]}]})
    )


def test_mirror_percent_or_fraction() -> None:
    mirror = {"backendRef": {"name": "m", "port": 80}, "percent": 10, "fraction": {"numerator": 1}}
    found = problems(
        route({"rules": [rule(filters=[{"type": "RequestMirror", "requestMirror": mirror}])]})
    )
    assert found[("spec", "rules", 0, "filters", 0, "requestMirror")] == (
        "Only one of percent or fraction may be specified in HTTPRequestMirrorFilter"
    )
    mirror = {
        "backendRef": {"name": "m", "port": 80},
        "fraction": {"numerator": 3, "denominator": 2},
    }
    found = problems(
        route({"rules": [rule(filters=[{"type": "RequestMirror", "requestMirror": mirror}])]})
    )
    assert (
        "numerator must be less than or equal to denominator"
        in found[("spec", "rules", 0, "filters", 0, "requestMirror", "fraction")]
    )


def test_timeouts() -> None:
    found = problems(route({"rules": [rule(timeouts={"request": "1s", "backendRequest": "2s"})]}))
    assert (
        found[("spec", "rules", 0, "timeouts")]
        == "backendRequest timeout cannot be longer than request timeout"
    )
    parse_resource(route({"rules": [rule(timeouts={"request": "0s", "backendRequest": "2s"})]}))
    found = problems(route({"rules": [rule(timeouts={"request": "1.5s"})]}))
    assert "GEP-2257" in found[("spec", "rules", 0, "timeouts", "request")]


def test_parent_refs_to_one_parent_need_distinct_section_names_or_ports() -> None:
    found = problems(route({"parentRefs": [{"name": "gw"}, {"name": "gw", "sectionName": "http"}]}))
    assert "sectionName or port must be specified" in found[("spec",)]
    found = problems(
        route(
            {"parentRefs": [{"name": "gw", "sectionName": "a"}, {"name": "gw", "sectionName": "a"}]}
        )
    )
    assert "sectionName or port must be unique" in found[("spec",)]
    parse_resource(
        route({"parentRefs": [{"name": "gw", "port": 80}, {"name": "gw", "port": 8080}]})
    )
    parse_resource(route({"parentRefs": [{"name": "gw"}, {"name": "gw", "namespace": "other"}]}))


def test_duplicate_header_matches_are_refused() -> None:
    headers = [{"name": "a", "value": "1"}, {"name": "a", "value": "2"}]
    found = problems(route({"rules": [rule(matches=[{"headers": headers}])]}))
    assert found[("spec", "rules", 0, "matches", 0)] == "duplicate header match 'a'"
