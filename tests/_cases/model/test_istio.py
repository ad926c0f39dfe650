"""The Istio resource models: field names, strictness, oneOfs, error locations."""

from __future__ import annotations

from typing import Any

import pydantic
import pytest

from pytest_meshgate._cases.model.base import validation_problems
from pytest_meshgate._cases.model.istio import (
    DestinationRule,
    Gateway,
    ServiceEntry,
    Sidecar,
    UnsupportedResource,
    VirtualService,
    parse_resource,
)


def vs(spec: dict[str, Any], api: str = "networking.istio.io/v1") -> dict[str, Any]:
    return {"apiVersion": api, "kind": "VirtualService", "metadata": {"name": "v"}, "spec": spec}


@pytest.mark.parametrize(
    "api",
    ["networking.istio.io/v1", "networking.istio.io/v1beta1", "networking.istio.io/v1alpha3"],
)
def test_all_api_versions_parse(api: str) -> None:
    res = parse_resource(
        vs({"hosts": ["a"], "http": [{"route": [{"destination": {"host": "b"}}]}]}, api)
    )
    assert isinstance(res, VirtualService)
    assert res.api_version == api
    assert res.metadata.namespace == "default"
    assert res.key == "default/v"


def test_gateway_fields_camel_case() -> None:
    res = parse_resource(
        {
            "apiVersion": "networking.istio.io/v1",
            "kind": "Gateway",
            "metadata": {"name": "gw", "namespace": "istio-system", "labels": {"a": "b"}},
            "spec": {
                "selector": {"istio": "ingressgateway"},
                "servers": [
                    {
                        "port": {
                            "number": 443,
                            "name": "https",
                            "protocol": "HTTPS",
                            "targetPort": 8443,
                        },
                        "hosts": ["./a.example.com"],
                        "tls": {
                            "mode": "MUTUAL",
                            "credentialName": "cred",
                            "minProtocolVersion": "TLSV1_2",
                            "cipherSuites": ["ECDHE-RSA-AES128-GCM-SHA256"],
                            "subjectAltNames": ["client.example.com"],
                        },
                    },
                    {
                        "port": {"number": 80, "name": "http", "protocol": "HTTP"},
                        "hosts": ["*"],
                        "tls": {"httpsRedirect": True},
                    },
                ],
            },
        }
    )
    assert isinstance(res, Gateway)
    server = res.spec.servers[0]
    assert server.port.target_port == 8443
    assert server.tls is not None and server.tls.credential_name == "cred"
    assert server.tls.min_protocol_version == "TLSV1_2"
    redirect = res.spec.servers[1].tls
    assert redirect is not None and redirect.https_redirect


def test_virtual_service_http_fields() -> None:
    res = parse_resource(
        vs(
            {
                "hosts": ["reviews"],
                "gateways": ["gw", "mesh"],
                "exportTo": ["."],
                "http": [
                    {
                        "name": "r",
                        "match": [
                            {
                                "uri": {"prefix": "/a"},
                                "headers": {"end-user": {"exact": "jason"}},
                                "withoutHeaders": {"x": {"regex": "*"}},
                                "queryParams": {"q": {"exact": "1"}},
                                "ignoreUriCase": True,
                                "sourceLabels": {"app": "x"},
                                "port": 80,
                            }
                        ],
                        "route": [
                            {
                                "destination": {
                                    "host": "b",
                                    "subset": "v1",
                                    "port": {"number": 9080},
                                },
                                "weight": 100,
                                "headers": {"request": {"set": {"a": "1"}, "remove": ["b"]}},
                            }
                        ],
                        "timeout": "1.5s",
                        "retries": {"attempts": 3, "perTryTimeout": "2s", "retryOn": "5xx,503"},
                        "rewrite": {"uriRegexRewrite": {"match": "^/a(.*)", "rewrite": "/b\\1"}},
                        "fault": {"delay": {"fixedDelay": "7s", "percentage": {"value": 100}}},
                        "mirrorPercentage": {"value": 50.0},
                        "corsPolicy": {"allowOrigins": [{"exact": "x"}], "maxAge": "24h"},
                    }
                ],
            }
        )
    )
    assert isinstance(res, VirtualService)
    http = res.spec.http[0]
    assert http.timeout == 1.5
    assert http.retries is not None and http.retries.per_try_timeout == 2.0
    assert http.match[0].without_headers["x"].regex == "*"
    assert http.match[0].ignore_uri_case
    assert http.route[0].destination.port is not None
    assert http.fault is not None and http.fault.delay is not None
    assert http.fault.delay.fixed_delay == 7.0
    assert res.spec.export_to == ["."]


def test_destination_rule_service_entry_sidecar() -> None:
    dr = parse_resource(
        {
            "apiVersion": "networking.istio.io/v1beta1",
            "kind": "DestinationRule",
            "metadata": {"name": "d"},
            "spec": {
                "host": "reviews",
                "trafficPolicy": {
                    "connectionPool": {
                        "tcp": {"maxConnections": 1},
                        "http": {"http1MaxPendingRequests": 1},
                    },
                    "outlierDetection": {
                        "consecutive5xxErrors": 1,
                        "interval": "1s",
                        "baseEjectionTime": "3m",
                    },
                    "loadBalancer": {"simple": "ROUND_ROBIN"},
                    "portLevelSettings": [{"port": {"number": 80}, "tls": {"mode": "SIMPLE"}}],
                },
                "subsets": [{"name": "v1", "labels": {"version": "v1"}}],
            },
        }
    )
    assert isinstance(dr, DestinationRule)
    tp = dr.spec.traffic_policy
    assert tp is not None and tp.outlier_detection is not None
    assert tp.outlier_detection.consecutive5xx_errors == 1
    assert tp.outlier_detection.base_ejection_time == 180.0
    se = parse_resource(
        {
            "apiVersion": "networking.istio.io/v1alpha3",
            "kind": "ServiceEntry",
            "metadata": {"name": "s"},
            "spec": {
                "hosts": ["edition.cnn.com"],
                "ports": [{"number": 80, "name": "http", "protocol": "HTTP", "targetPort": 443}],
                "resolution": "DNS",
                "location": "MESH_EXTERNAL",
            },
        }
    )
    assert isinstance(se, ServiceEntry)
    assert se.spec.ports[0].target_port == 443
    sc = parse_resource(
        {
            "apiVersion": "networking.istio.io/v1",
            "kind": "Sidecar",
            "metadata": {"name": "default", "namespace": "istio-system"},
            "spec": {
                "outboundTrafficPolicy": {"mode": "REGISTRY_ONLY"},
                "egress": [{"hosts": ["./*"]}],
            },
        }
    )
    assert isinstance(sc, Sidecar)
    assert sc.spec.outbound_traffic_policy is not None
    assert sc.spec.outbound_traffic_policy.mode == "REGISTRY_ONLY"


def _problems(data: dict[str, Any]) -> list[tuple[tuple[str | int, ...], str, bool]]:
    with pytest.raises(pydantic.ValidationError) as info:
        parse_resource(data)
    return validation_problems(info.value, data)


def test_unknown_key_located_from_root() -> None:
    data = vs(
        {"hosts": ["a"], "http": [{"route": [{"destination": {"host": "b", "subst": "v1"}}]}]}
    )
    problems = _problems(data)
    assert problems == [
        (("spec", "http", 0, "route", 0, "destination", "subst"), "unknown key", True)
    ]


def test_string_match_one_of() -> None:
    data = vs(
        {
            "hosts": ["a"],
            "http": [
                {
                    "match": [{"uri": {"prefix": "/", "exact": "/"}}],
                    "route": [{"destination": {"host": "b"}}],
                }
            ],
        }
    )
    problems = _problems(data)
    assert problems == [
        (("spec", "http", 0, "match", 0, "uri"), "set only one of exact, prefix or regex", False)
    ]
    # An empty match is valid (for headers it means "present"); an empty prefix is not.
    empty = vs(
        {
            "hosts": ["a"],
            "http": [
                {
                    "match": [{"uri": {}, "headers": {"x-debug": {}}}],
                    "route": [{"destination": {"host": "b"}}],
                }
            ],
        }
    )
    parse_resource(empty)  # valid
    empty_prefix = vs(
        {
            "hosts": ["a"],
            "http": [
                {"match": [{"uri": {"prefix": ""}}], "route": [{"destination": {"host": "b"}}]}
            ],
        }
    )
    assert _problems(empty_prefix) == [
        (("spec", "http", 0, "match", 0, "uri"), "prefix string match should not be empty", False)
    ]


def test_bad_duration_and_missing_name() -> None:
    data = vs(
        {"hosts": ["a"], "http": [{"timeout": "2", "route": [{"destination": {"host": "b"}}]}]}
    )
    data["metadata"] = {"namespace": "x"}
    problems = {p[0]: p[1] for p in _problems(data)}
    assert problems[("metadata",)] == "missing required key 'name'"
    assert "duration" in problems[("spec", "http", 0, "timeout")]


def test_route_rule_validation() -> None:
    no_action = vs({"hosts": ["a"], "http": [{"match": [{"uri": {"prefix": "/"}}]}]})
    assert "needs route" in _problems(no_action)[0][1]
    zero = vs(
        {
            "hosts": ["a"],
            "http": [{"route": [{"destination": {"host": "b"}}, {"destination": {"host": "c"}}]}],
        }
    )
    assert "weight is 0" in _problems(zero)[0][1]
    bad_code = vs({"hosts": ["a"], "http": [{"redirect": {"uri": "/x", "redirectCode": 200}}]})
    assert "3xx" in _problems(bad_code)[0][1]


def test_unsupported_resource() -> None:
    with pytest.raises(UnsupportedResource, match="Gateway") as info:
        parse_resource(
            {
                "apiVersion": "networking.istio.io/v1",
                "kind": "EnvoyFilter",
                "metadata": {"name": "x"},
            }
        )
    assert isinstance(info.value, ValueError)
    with pytest.raises(UnsupportedResource, match="VirtualService"):
        parse_resource({"apiVersion": "gateway.networking.k8s.io/v1", "kind": "Gateway"})


def test_models_are_frozen() -> None:
    res = parse_resource(
        vs({"hosts": ["a"], "http": [{"route": [{"destination": {"host": "b"}}]}]})
    )
    with pytest.raises(pydantic.ValidationError):
        res.metadata.name = "other"  # type: ignore[misc]


@pytest.mark.parametrize(
    ("rule", "message"),
    [
        (
            {"redirect": {"uri": "/a", "prefixRewrite": "/b"}},
            "only specify one of uri or prefixRewrite",
        ),
        ({"redirect": {"redirectCode": 302}}, "redirect must specify uri, prefixRewrite"),
        (
            {"match": [{"uri": {"exact": "/a"}}], "redirect": {"prefixRewrite": "/b"}},
            "requires every uri match to be a prefix match",
        ),
    ],
)
def test_redirect_validation_follows_istio(rule: dict[str, object], message: str) -> None:
    manifest = {
        "apiVersion": "networking.istio.io/v1",
        "kind": "VirtualService",
        "metadata": {"name": "vs"},
        "spec": {"hosts": ["a"], "http": [rule]},
    }
    with pytest.raises(pydantic.ValidationError, match=message):
        parse_resource(manifest)
