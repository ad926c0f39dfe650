"""Gateway and GatewayClass: listener rules as the CRD's CEL has them."""

from __future__ import annotations

from typing import Any

import pydantic
import pytest

from pytest_meshgate._cases.model.base import validation_problems
from pytest_meshgate._cases.model.gatewayapi import KubernetesGateway, KubernetesGatewayClass
from pytest_meshgate._cases.model.resources import parse_resource


def gateway(*listeners: dict[str, Any], **spec: Any) -> dict[str, Any]:
    return {
        "apiVersion": "gateway.networking.k8s.io/v1",
        "kind": "Gateway",
        "metadata": {"name": "gw", "namespace": "infra"},
        "spec": {"gatewayClassName": "istio", "listeners": list(listeners), **spec},
    }


def problems(data: dict[str, Any]) -> dict[tuple[str | int, ...], str]:
    with pytest.raises(pydantic.ValidationError) as info:
        parse_resource(data)
    return {path: message for path, message, _ in validation_problems(info.value, data)}


HTTP = {"name": "http", "port": 80, "protocol": "HTTP"}
CERT = {"certificateRefs": [{"name": "cert"}]}


def test_listener_defaults() -> None:
    parsed = parse_resource(
        gateway(HTTP, {"name": "https", "port": 443, "protocol": "HTTPS", "tls": CERT})
    )
    assert isinstance(parsed, KubernetesGateway)
    http, https = parsed.spec.listeners
    assert http.allowed_routes.namespaces.from_ == "Same"
    assert https.tls is not None and https.tls.mode == "Terminate"
    assert https.tls.certificate_refs[0].kind == "Secret"
    assert parsed.listener("https") is https and parsed.listener("nope") is None


@pytest.mark.parametrize(
    ("listener", "message"),
    [
        ({**HTTP, "tls": CERT}, "tls must not be specified for protocols ['HTTP', 'TCP', 'UDP']"),
        ({"name": "t", "port": 443, "protocol": "TLS"}, "tls mode must be set for protocol TLS"),
        (
            {"name": "h", "port": 443, "protocol": "HTTPS", "tls": {"mode": "Passthrough"}},
            "tls mode must be Terminate for protocol HTTPS",
        ),
        (
            {"name": "t", "port": 9000, "protocol": "TCP", "hostname": "a.com"},
            "hostname must not be specified for protocols ['TCP', 'UDP']",
        ),
    ],
)
def test_listener_cel_rules(listener: dict[str, Any], message: str) -> None:
    assert problems(gateway(listener))[("spec", "listeners", 0)] == message


def test_terminate_needs_certificate_refs_or_options() -> None:
    found = problems(gateway({"name": "h", "port": 443, "protocol": "HTTPS", "tls": {}}))
    assert (
        found[("spec", "listeners", 0, "tls")]
        == "certificateRefs or options must be specified when mode is Terminate"
    )
    parse_resource(
        gateway({"name": "t", "port": 443, "protocol": "TLS", "tls": {"mode": "Passthrough"}})
    )


def test_listeners_are_distinct_and_bounded() -> None:
    found = problems(gateway(HTTP, {**HTTP, "port": 8080}))
    assert found[("spec", "listeners")] == "Listener name must be unique within the Gateway"
    found = problems(gateway(HTTP, {**HTTP, "name": "other"}))
    assert (
        found[("spec", "listeners")]
        == "Combination of port, protocol and hostname must be unique for each listener"
    )
    parse_resource(gateway(HTTP, {**HTTP, "name": "other", "hostname": "a.com"}))
    many = [{"name": f"l{i}", "port": 1000 + i, "protocol": "HTTP"} for i in range(65)]
    assert "at most 64 items" in problems(gateway(*many))[("spec", "listeners")]
    assert "at least 1 item" in problems(gateway())[("spec", "listeners")]


def test_listener_hostname_and_port() -> None:
    found = problems(gateway({**HTTP, "hostname": "a.com:80", "port": 0}))
    assert "(a hostname has no port)" in found[("spec", "listeners", 0, "hostname")]
    assert ("spec", "listeners", 0, "port") in found


def test_namespace_selector_operators() -> None:
    selector = {"matchExpressions": [{"key": "env", "operator": "In"}]}
    listener = {**HTTP, "allowedRoutes": {"namespaces": {"from": "Selector", "selector": selector}}}
    found = problems(gateway(listener))
    assert (
        "values: must be specified when `operator` is 'In' or 'NotIn'"
        in found[
            (
                "spec",
                "listeners",
                0,
                "allowedRoutes",
                "namespaces",
                "selector",
                "matchExpressions",
                0,
            )
        ]
    )


def test_gateway_class() -> None:
    data = {
        "apiVersion": "gateway.networking.k8s.io/v1beta1",
        "kind": "GatewayClass",
        "metadata": {"name": "istio"},
        "spec": {"controllerName": "istio.io/gateway-controller"},
    }
    parsed = parse_resource(data)
    assert isinstance(parsed, KubernetesGatewayClass) and parsed.key == "istio"
    bad = {**data, "spec": {"controllerName": "no-slash"}}
    assert ("spec", "controllerName") in problems(bad)
    assert ("metadata", "namespace") in problems(
        {**data, "metadata": {"name": "x", "namespace": "y"}}
    )
