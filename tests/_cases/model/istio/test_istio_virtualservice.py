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
