"""VirtualService validation: Istio's tables (validation_test.go TestValidateVirtualService;
virtualservice_test.go TestValidateChainingVirtualService), TLS and TCP routes,
the unreachable-rule warnings, and the measured false passes."""

from __future__ import annotations

from typing import Any

import pytest
from validating import check_row, outcome, route, virtual_service

D = {"destination": {"host": "foo.baz"}}
HTTP = [{"route": [D]}]
DELEGATE = {"delegate": {"name": "test", "namespace": "test"}}
SNI = "outbound_.15010_._.istiod.istio-system.svc.cluster.local"

# TestValidateVirtualService: (name, spec, error, warning).
VS_ROWS: list[tuple[str, dict[str, Any], str, str]] = [
    ("simple", {"hosts": ["foo.bar"], "http": HTTP}, "", ""),
    (
        "allow sni based domains",
        {
            "hosts": [SNI],
            "gateways": ["ns1/gateway"],
            "tls": [
                {
                    "match": [{"sniHosts": [SNI]}],
                    "route": [{"destination": {"host": "istio.istio-system.svc.cluster.local"}}],
                }
            ],
        },
        "",
        "",
    ),
    (
        "duplicate hosts",
        {"hosts": ["*.foo.bar", "*.bar"], "http": HTTP},
        "duplicate hosts in virtual service: *.foo.bar & *.bar",
        "",
    ),
    (
        "with no destination",
        {"hosts": ["foo.bar"], "http": [{"route": [{}]}]},
        "missing required key 'destination'",
        "",
    ),
    (
        "destination without host",
        {"hosts": ["foo.bar"], "http": [{"route": [{"destination": {}}]}]},
        "missing required key 'host'",
        "",
    ),
    ("delegate with no hosts", {"http": HTTP}, "", ""),
    ("bad host", {"hosts": ["foo.ba!r"], "http": HTTP}, 'domain name "ba!r" invalid', ""),
    (
        "no tcp or http routing",
        {"hosts": ["foo.bar"]},
        "http, tcp or tls must be provided in virtual service",
        "",
    ),
    (
        "bad gateway",
        {"hosts": ["foo.bar"], "gateways": ["b@dgateway"], "http": HTTP},
        'domain name "b@dgateway" invalid',
        "",
    ),
    (
        "FQDN for gateway",
        {"hosts": ["foo.bar"], "gateways": ["gateway.example.com"], "http": HTTP},
        "",
        'using legacy gatewayName format "gateway.example.com"; prefer the <namespace>/<name> format: "example/gateway"',
    ),
    (
        "namespace/name for gateway",
        {"hosts": ["foo.bar"], "gateways": ["ns1/gateway"], "http": HTTP},
        "",
        "",
    ),
    (
        "namespace/* for gateway",
        {"hosts": ["foo.bar"], "gateways": ["ns1/*"], "http": HTTP},
        'invalid value for gateway name: "*"',
        "",
    ),
    (
        "*/name for gateway",
        {"hosts": ["foo.bar"], "gateways": ["*/gateway"], "http": HTTP},
        'invalid value for namespace: "*"',
        "",
    ),
    (
        "wildcard for mesh gateway",
        {"hosts": ["*"], "http": HTTP},
        "wildcard host * is not allowed for virtual services bound to the mesh gateway",
        "",
    ),
    (
        "wildcard for non-mesh gateway",
        {"hosts": ["*"], "gateways": ["somegateway"], "http": HTTP},
        "",
        "",
    ),
    (
        "missing tcp route",
        {"hosts": ["foo.bar"], "tcp": [{"match": [{"port": 999}]}]},
        "TCP route is required",
        "",
    ),
    (
        "missing tls route",
        {"hosts": ["foo.bar"], "tls": [{"match": [{"port": 999, "sniHosts": ["foo.bar"]}]}]},
        "TLS route is required",
        "",
    ),
    (
        "deprecated mirror",
        {
            "hosts": ["foo.bar"],
            "gateways": ["ns1/gateway"],
            "http": [{"mirrorPercent": 5, "route": [D]}],
        },
        "",
        'using deprecated setting "mirrorPercent"',
    ),
    (
        "set authority",
        {
            "hosts": ["foo.bar"],
            "http": [{"headers": {"request": {"set": {":authority": "foo"}}}, "route": [D]}],
        },
        "",
        "",
    ),
    (
        "set authority in destination",
        {
            "hosts": ["foo.bar"],
            "http": [{"route": [{**D, "headers": {"request": {"set": {":authority": "foo"}}}}]}],
        },
        "",
        "",
    ),
    (
        "set authority in rewrite and header",
        {
            "hosts": ["foo.bar"],
            "http": [
                {
                    "headers": {"request": {"set": {":authority": "foo"}}},
                    "rewrite": {"authority": "bar"},
                    "route": [D],
                }
            ],
        },
        "authority header cannot be set multiple times",
        "",
    ),
    (
        "non-method-get",
        {
            "hosts": ["foo.bar"],
            "http": [
                {
                    "route": [D],
                    "match": [
                        {"uri": {"prefix": "/api/v1/product"}},
                        {"uri": {"prefix": "/api/v1/products"}, "method": {"exact": "GET"}},
                    ],
                }
            ],
        },
        "",
        "virtualService rule #0 match #1 of prefix /api/v1/products is not used (duplicate/overlapping match in rule #0 of prefix /api/v1/product on #0)",
    ),
    (
        "uri-with-prefix-exact",
        {
            "hosts": ["foo.bar"],
            "http": [
                {
                    "route": [D],
                    "match": [
                        {"uri": {"prefix": "/"}},
                        {"uri": {"exact": "/"}, "method": {"exact": "GET"}},
                    ],
                }
            ],
        },
        "",
        "",
    ),
    (
        "jwt claim route without gateway",
        {
            "hosts": ["foo.bar"],
            "gateways": ["mesh"],
            "http": [
                {
                    "route": [D],
                    "match": [
                        {
                            "uri": {"prefix": "/"},
                            "headers": {"@request.auth.claims.foo": {"exact": "bar"}},
                        }
                    ],
                }
            ],
        },
        "JWT claim based routing (key: @request.auth.claims.foo) is only supported for gateway, found no gateways: [mesh]",
        "",
    ),
    (
        "ip address as sni host",
        {
            "hosts": ["foo.bar"],
            "tls": [{"route": [D], "match": [{"port": 999, "sniHosts": ["1.1.1.1"]}]}],
        },
        "",
        'using an IP address ("1.1.1.1") goes against SNI spec',
    ),
    (
        "invalid wildcard as sni host",
        {
            "hosts": ["foo.bar"],
            "tls": [{"route": [D], "match": [{"port": 999, "sniHosts": ["foo.*.com"]}]}],
        },
        '(label "*" invalid)',
        "",
    ),
    (
        "an SNI host outside the hosts",
        {
            "hosts": ["foo.bar"],
            "gateways": ["gw"],
            "tls": [{"route": [D], "match": [{"sniHosts": ["other.bar"]}]}],
        },
        'SNI host "other.bar" is not a compatible subset of any of the virtual service hosts: [foo.bar]',
        "",
    ),
    (
        "a bad destination subnet",
        {
            "hosts": ["foo.bar"],
            "tcp": [{"route": [D], "match": [{"destinationSubnets": ["10.0.0.0/33"]}]}],
        },
        "10.0.0.0/33 is not a valid CIDR block",
        "",
    ),
    (
        "an exportTo of ~",
        {"hosts": ["foo.bar"], "http": HTTP, "exportTo": ["~"]},
        "exportTo ~ (none) is not allowed for Istio configuration objects",
        "",
    ),
]


@pytest.mark.parametrize(("name", "spec", "error", "warning"), VS_ROWS, ids=[r[0] for r in VS_ROWS])
def test_validate_virtual_service(
    name: str, spec: dict[str, Any], error: str, warning: str
) -> None:
    check_row(virtual_service(spec), error, warning)


# virtualservice_test.go TestValidateChainingVirtualService.
CHAINING_ROWS: list[tuple[str, dict[str, Any], str]] = [
    ("root simple", {"hosts": ["foo.bar"], "gateways": ["test-gateway"], "http": [DELEGATE]}, ""),
    ("root applies to sidecar with delegate", {"hosts": ["foo.bar"], "http": [DELEGATE]}, ""),
    (
        "root with delegate and destination in one route",
        {"hosts": ["foo.bar"], "http": [{**DELEGATE, "route": [D]}]},
        "must not specify route",
    ),
    (
        "delegate with no destination",
        {"hosts": [], "http": [{}]},
        "HTTP route, redirect or direct_response is required",
    ),
    (
        "delegate with delegate",
        {"hosts": [], "http": [DELEGATE]},
        "delegate HTTP route cannot contain delegate",
    ),
    (
        "delegate with TCP route",
        {"hosts": [], "tcp": [{"route": [D]}]},
        "delegate virtual service must have no tcp route specified",
    ),
    (
        "delegate with gateway",
        {"hosts": [], "gateways": ["test"], "http": HTTP},
        "delegate virtual service must have no gateways specified",
    ),
    (
        "delegate with sourceNamespace",
        {"hosts": [], "http": [{"match": [{"sourceNamespace": "test"}], "route": [D]}]},
        "",
    ),
]


@pytest.mark.parametrize(
    ("name", "spec", "error"), CHAINING_ROWS, ids=[r[0] for r in CHAINING_ROWS]
)
def test_validate_chaining_virtual_service(name: str, spec: dict[str, Any], error: str) -> None:
    check_row(virtual_service(spec), error)


# ------------------------------------------------------------------ unreachable rules


def test_a_rule_after_a_catch_all_is_not_used() -> None:
    spec = {"hosts": ["foo.bar"], "http": [route(), route(match=[{"uri": {"prefix": "/late"}}])]}
    assert outcome(virtual_service(spec)).warnings == [
        "spec.http[1]: virtualService rule #1 not used (route without matches defined before)"
    ]


def test_two_catch_alls_warn_the_second() -> None:
    spec = {"hosts": ["foo.bar"], "http": [route(), route(name="again")]}
    assert outcome(virtual_service(spec)).warnings == [
        'spec.http[1]: virtualService rule "again" not used (only the last rule can have no matches)'
    ]


def test_a_repeated_match_is_ineffective_and_its_rule_unused() -> None:
    match = [{"uri": {"exact": "/a"}, "name": "first"}]
    spec = {
        "hosts": ["foo.bar"],
        "http": [route(match=match), route(match=[{"uri": {"exact": "/a"}, "name": "second"}])],
    }
    assert outcome(virtual_service(spec)).warnings == [
        'spec.http[1].match[0]: virtualService rule #1 match "second" is not used (duplicate/overlapping match in rule #0)',
        "spec.http[1]: virtualService rule #1 not used (all matches used by prior rules)",
    ]


def test_a_narrower_prefix_after_a_broader_one_is_ineffective() -> None:
    spec = {
        "hosts": ["foo.bar"],
        "http": [
            route(match=[{"uri": {"prefix": "/api"}}]),
            route(match=[{"uri": {"prefix": "/api/v2"}}]),
        ],
    }
    assert outcome(virtual_service(spec)).warnings == [
        "spec.http[1].match[0]: virtualService rule #1 match #0 of prefix /api/v2 is not used "
        "(duplicate/overlapping match in rule #0 of prefix /api on #0)"
    ]


def test_a_narrower_prefix_with_its_own_header_is_reachable() -> None:
    spec = {
        "hosts": ["foo.bar"],
        "http": [
            route(match=[{"uri": {"prefix": "/api"}}]),
            route(match=[{"uri": {"prefix": "/api/v2"}, "headers": {"x": {"exact": "1"}}}]),
        ],
    }
    assert outcome(virtual_service(spec)).warnings == []


def test_tcp_rules_after_a_catch_all_are_unused() -> None:
    spec = {"hosts": ["foo.bar"], "tcp": [{"route": [D]}, {"match": [{"port": 1}], "route": [D]}]}
    assert outcome(virtual_service(spec)).warnings == [
        "spec.tcp[1]: virtualService rule #1 not used (route without matches defined before)"
    ]


# ------------------------------------------------------------------ the measured false passes


def test_a_virtual_service_without_hosts_bound_to_a_gateway_is_rejected() -> None:
    # Without hosts a VirtualService is a delegate (Istio no longer says "must have at
    # least one host"): it may not name gateways, TLS or TCP routes.
    spec = {"gateways": ["app-gateway"], "http": [route()]}
    assert outcome(virtual_service(spec)).errors == [
        "spec.gateways: delegate virtual service must have no gateways specified"
    ]


def test_a_host_with_a_wildcard_in_the_middle_is_rejected() -> None:
    result = outcome(
        virtual_service({"hosts": ["app.*.example.com"], "gateways": ["gw"], "http": [route()]})
    )
    assert result.errors == [
        'spec.hosts[0]: domain name "*.example.com" invalid (label "*" invalid)'
    ]


def test_istio_checks_only_the_gateway_names_up_to_the_first_short_one() -> None:
    # validateGatewayNames returns inside its loop: later names go unchecked, as in Istio.
    spec = {"hosts": ["foo.bar"], "gateways": ["gw", "b@d/x"], "http": [route()]}
    assert outcome(virtual_service(spec)).errors == []
    spec["gateways"] = ["b@d/x", "gw"]
    assert outcome(virtual_service(spec)).errors == [
        'spec.gateways[0]: invalid value for namespace: "b@d"'
    ]
