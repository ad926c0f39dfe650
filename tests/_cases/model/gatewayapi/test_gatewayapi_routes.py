"""GRPCRoute, TLSRoute, TCPRoute and ReferenceGrant: versions and their rules."""

from __future__ import annotations

import re
from typing import Any

import pydantic
import pytest

from pytest_meshgate._cases.model.base import validation_problems
from pytest_meshgate._cases.model.gatewayapi import (
    KubernetesGRPCRoute,
    KubernetesReferenceGrant,
    KubernetesTCPRouteV1Alpha2,
    KubernetesTLSRoute,
    KubernetesTLSRouteV1Alpha2,
)
from pytest_meshgate._cases.model.resources import UnsupportedResource, parse_resource

BACKEND = {"backendRefs": [{"name": "svc", "port": 443}]}


def res(kind: str, spec: dict[str, Any], version: str = "v1") -> dict[str, Any]:
    return {
        "apiVersion": f"gateway.networking.k8s.io/{version}",
        "kind": kind,
        "metadata": {"name": "r"},
        "spec": spec,
    }


def problems(data: dict[str, Any]) -> dict[tuple[str | int, ...], str]:
    with pytest.raises(pydantic.ValidationError) as info:
        parse_resource(data)
    return {path: message for path, message, _ in validation_problems(info.value, data)}


def test_grpc_method_matches() -> None:
    ok = parse_resource(
        res("GRPCRoute", {"rules": [{"matches": [{"method": {"service": "a.B"}}]}]})
    )
    assert isinstance(ok, KubernetesGRPCRoute)
    found = problems(res("GRPCRoute", {"rules": [{"matches": [{"method": {"type": "Exact"}}]}]}))
    assert found[("spec", "rules", 0, "matches", 0, "method")] == (
        "One or both of 'service' or 'method' must be specified"
    )
    found = problems(res("GRPCRoute", {"rules": [{"matches": [{"method": {"method": "a/b"}}]}]}))
    assert (
        "method must only contain valid characters"
        in found[("spec", "rules", 0, "matches", 0, "method")]
    )
    parse_resource(
        res(
            "GRPCRoute",
            {"rules": [{"matches": [{"method": {"type": "RegularExpression", "method": "a/b"}}]}]},
        )
    )
    found = problems(res("GRPCRoute", {"rules": [{"filters": [{"type": "URLRewrite"}]}]}))
    assert ("spec", "rules", 0, "filters", 0, "type") in found


def test_grpc_route_is_served_in_v1_only() -> None:
    with pytest.raises(
        UnsupportedResource, match=re.escape("served: gateway.networking.k8s.io/v1") + "$"
    ):
        parse_resource(res("GRPCRoute", {}, version="v1alpha2"))


def test_tls_route_v1_requires_hostnames_and_one_rule() -> None:
    assert (
        "missing required key 'hostnames'"
        in problems(res("TLSRoute", {"rules": [BACKEND]})).values()
    )
    found = problems(res("TLSRoute", {"hostnames": ["a.com"], "rules": [BACKEND, BACKEND]}))
    assert "at most 1 item" in found[("spec", "rules")]
    found = problems(res("TLSRoute", {"hostnames": ["10.0.0.1", "*.b.com"], "rules": [BACKEND]}))
    assert found == {("spec", "hostnames", 0): "Hostnames cannot contain an IP"}
    v1 = parse_resource(res("TLSRoute", {"hostnames": ["a.com"], "rules": [BACKEND]}))
    assert isinstance(v1, KubernetesTLSRoute)
    alpha3 = parse_resource(
        res("TLSRoute", {"hostnames": ["a.com"], "rules": [BACKEND]}, "v1alpha3")
    )
    assert isinstance(alpha3, KubernetesTLSRoute)


def test_tls_and_tcp_route_v1alpha2_allow_more_rules_with_unique_names() -> None:
    alpha2 = parse_resource(res("TLSRoute", {"rules": [BACKEND, BACKEND]}, "v1alpha2"))
    assert isinstance(alpha2, KubernetesTLSRouteV1Alpha2) and not alpha2.spec.hostnames
    tcp = parse_resource(res("TCPRoute", {"rules": [BACKEND, BACKEND]}, "v1alpha2"))
    assert isinstance(tcp, KubernetesTCPRouteV1Alpha2)
    named = [{**BACKEND, "name": "a"}, {**BACKEND, "name": "a"}]
    assert (
        problems(res("TCPRoute", {"rules": named}, "v1alpha2"))[("spec",)]
        == "Rule name must be unique within the route"
    )
    assert (
        "at most 1 item"
        in problems(res("TCPRoute", {"rules": [BACKEND, BACKEND]}))[("spec", "rules")]
    )
    assert (
        "at least 1 item"
        in problems(res("TCPRoute", {"rules": [{"backendRefs": []}]}))[
            ("spec", "rules", 0, "backendRefs")
        ]
    )


def test_reference_grant() -> None:
    grant = parse_resource(
        res(
            "ReferenceGrant",
            {
                "from": [
                    {"group": "gateway.networking.k8s.io", "kind": "HTTPRoute", "namespace": "a"}
                ],
                "to": [{"group": "", "kind": "Service"}],
            },
            "v1beta1",
        )
    )
    assert isinstance(grant, KubernetesReferenceGrant)
    assert grant.spec.from_[0].namespace == "a" and grant.spec.to[0].name is None
    found = problems(
        res("ReferenceGrant", {"from": [{"group": "", "kind": "HTTPRoute"}], "to": []})
    )
    assert found[("spec", "from", 0)] == "missing required key 'namespace'"
    assert "at least 1 item" in found[("spec", "to")]
