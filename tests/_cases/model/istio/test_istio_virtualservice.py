"""The VirtualService model: HTTP route fields and Istio's route validation."""

from __future__ import annotations

from typing import Any

import pydantic
import pytest

from pytest_meshgate._cases.model.base import validation_problems
from pytest_meshgate._cases.model.istio import VirtualService, parse_resource


def vs(spec: dict[str, Any], api: str = "networking.istio.io/v1") -> dict[str, Any]:
    return {"apiVersion": api, "kind": "VirtualService", "metadata": {"name": "v"}, "spec": spec}


def _problems(data: dict[str, Any]) -> list[tuple[tuple[str | int, ...], str, bool]]:
    with pytest.raises(pydantic.ValidationError) as info:
        parse_resource(data)
    return validation_problems(info.value, data)


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


@pytest.mark.parametrize(
    "rule",
    [
        {"match": [{"uri": {"prefix": "/"}}]},
        {"route": [{"destination": {"host": "b"}}, {"destination": {"host": "c"}}]},
        {"redirect": {"uri": "/x", "redirectCode": 200}},
        {"redirect": {"uri": "/a", "prefixRewrite": "/b"}},
        {"redirect": {"redirectCode": 302}},
        {"match": [{"uri": {"exact": "/a"}}], "redirect": {"prefixRewrite": "/b"}},
        {"redirect": {"uri": "/x"}, "route": [{"destination": {"host": "b"}}]},
    ],
)
def test_the_model_leaves_istio_webhook_rules_to_validation(rule: dict[str, object]) -> None:
    """What Istio's webhook refuses here is _cases/validation's (in Istio's words, located)."""
    res = parse_resource(vs({"hosts": ["a"], "http": [rule]}))
    assert isinstance(res, VirtualService)


def test_redirect_port_and_derive_port_are_a_one_of() -> None:
    redirect = {"port": 8080, "derivePort": "FROM_REQUEST_PORT"}
    data = vs({"hosts": ["a"], "http": [{"redirect": redirect}]})
    assert _problems(data) == [
        (("spec", "http", 0, "redirect"), "set only one of port or derivePort", False)
    ]
