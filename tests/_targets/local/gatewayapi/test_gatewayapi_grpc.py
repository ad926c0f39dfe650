"""GRPCRoute -> Istio VirtualService routes, as Istio's conversion.go convertGRPCRoute does it."""

from __future__ import annotations

from typing import Any

import pytest
import yaml

from pytest_meshgate._cases.model.gatewayapi import GRPCRouteMatch
from pytest_meshgate._cases.model.istio import VirtualService
from pytest_meshgate._cases.model.resources import parse_resource
from pytest_meshgate._targets.local.gatewayapi import ConversionInputs, convert
from pytest_meshgate._targets.local.gatewayapi.grpc import grpc_uri_match
from pytest_meshgate._targets.local.world import Endpoint, MeshService, ServicePortInfo

SVC = "pkg.Svc"


@pytest.mark.parametrize(
    ("method", "expected"),
    [
        # createGRPCURIMatch: a call is POST /<service>/<method>.
        ({"service": SVC, "method": "Get"}, {"exact": "/pkg.Svc/Get"}),
        ({"service": SVC}, {"prefix": "/pkg.Svc/"}),
        ({"method": "Get"}, {"regex": "/[^/]+/Get"}),
        (
            {"type": "RegularExpression", "service": "pkg\\..*", "method": "G.t"},
            {"regex": "/pkg\\..*/G.t"},
        ),
        ({"type": "RegularExpression", "service": "pkg\\.Svc"}, {"regex": "/pkg\\.Svc/.+"}),
        ({"type": "RegularExpression", "method": "G.t"}, {"regex": "/[^/]+/G.t"}),
    ],
)
def test_method_matches_become_path_matches(
    method: dict[str, str], expected: dict[str, str]
) -> None:
    uri = grpc_uri_match(GRPCRouteMatch.model_validate({"method": method}))
    assert uri is not None
    assert uri.model_dump(exclude_none=True) == expected


def test_a_match_without_method_matches_any_path() -> None:
    assert (
        grpc_uri_match(GRPCRouteMatch.model_validate({"headers": [{"name": "a", "value": "b"}]}))
        is None
    )


GATEWAY = """
apiVersion: gateway.networking.k8s.io/v1
kind: Gateway
metadata: {name: gw, namespace: infra}
spec:
  gatewayClassName: istio
  listeners:
  - {name: http, port: 80, protocol: HTTP, hostname: grpc.example.com}
"""


def _service(name: str) -> MeshService:
    return MeshService(
        f"{name}.infra.svc.cluster.local",
        "infra",
        (ServicePortInfo("grpc", 8080, 3000, "HTTP2"),),
        (Endpoint({"app": name}, {8080: ("127.0.0.1", 30000)}, f"{name}-v1"),),
    )


def virtual_services(*manifests: str) -> tuple[list[VirtualService], Any]:
    resources = [parse_resource(yaml.safe_load(m)) for m in (GATEWAY, *manifests)]
    inputs = ConversionInputs(resources=resources, services=(_service("v1"), _service("v2")))
    conversion = convert(inputs)
    assert conversion.unsupported == []
    return [r for r in conversion.resources if isinstance(r, VirtualService)], conversion


def _routes(vs: VirtualService) -> list[dict[str, Any]]:
    return [
        route.model_dump(by_alias=True, exclude_none=True, exclude_defaults=True)
        for route in vs.spec.http
    ]


def test_rules_split_per_match_and_sort_by_gateway_api_precedence() -> None:
    (vs,), _ = virtual_services(
        """
apiVersion: gateway.networking.k8s.io/v1
kind: GRPCRoute
metadata: {name: r, namespace: infra}
spec:
  parentRefs: [{name: gw}]
  rules:
  - matches:
    - headers: [{name: version, value: two}]
    - method: {service: pkg.Svc}
    backendRefs: [{name: v2, port: 8080}]
  - matches:
    - method: {service: pkg.Svc, method: Get}
      headers: [{name: version, value: two}, {name: color, type: RegularExpression, value: "o.*"}]
    backendRefs: [{name: v1, port: 8080, weight: 3}, {name: v2, port: 8080, weight: 1}]
  - backendRefs: [{name: v1, port: 8080}]
"""
    )
    assert vs.spec.hosts == ["*"]  # no route hostnames; the listener's is the server's
    routes = _routes(vs)
    # Exact before prefix, then the header-only match, the catch-all last.
    assert [r.get("match") for r in routes] == [
        [
            {
                "uri": {"exact": "/pkg.Svc/Get"},
                "headers": {"version": {"exact": "two"}, "color": {"regex": "o.*"}},
            }
        ],
        [{"uri": {"prefix": "/pkg.Svc/"}}],
        [{"headers": {"version": {"exact": "two"}}}],
        None,
    ]
    assert [r["name"] for r in routes] == ["infra.r.1", "infra.r.0", "infra.r.0", "infra.r.2"]
    weighted = routes[0]["route"]
    assert [(d["destination"]["host"], d.get("weight")) for d in weighted] == [
        ("v1.infra.svc.cluster.local", 3),
        ("v2.infra.svc.cluster.local", 1),
    ]
    # A lone backend carries weight 0 (buildGRPCDestination).
    assert routes[3]["route"][0].get("weight") is None


def test_filters_and_weightless_rules() -> None:
    (vs,), conversion = virtual_services(
        """
apiVersion: gateway.networking.k8s.io/v1
kind: GRPCRoute
metadata: {name: r, namespace: infra}
spec:
  parentRefs: [{name: gw}]
  rules:
  - matches: [{method: {service: pkg.Svc, method: Get}}]
    filters:
    - type: RequestHeaderModifier
      requestHeaderModifier: {set: [{name: X-Set, value: "1"}], remove: [x-gone]}
    - type: ResponseHeaderModifier
      responseHeaderModifier: {add: [{name: X-Added, value: "2"}]}
    - type: RequestMirror
      requestMirror: {backendRef: {name: v2, port: 8080}, percent: 25}
    backendRefs: [{name: v1, port: 8080}]
  - matches: [{method: {service: pkg.Svc, method: Put}}]
    backendRefs: [{name: v1, port: 8080, weight: 0}]
"""
    )
    get, put = _routes(vs)
    assert get["headers"] == {
        "request": {"set": {"x-set": "1"}, "remove": ["x-gone"]},
        "response": {"add": {"x-added": "2"}},
    }
    (mirror,) = get["mirrors"]
    assert mirror["destination"]["host"] == "v2.infra.svc.cluster.local"
    assert mirror["percentage"] == {"value": 25.0}
    # No backend of positive weight: 500, as the spec asks of GRPCRoute.
    assert put["directResponse"] == {"status": 500} and "route" not in put
    (status,) = [s for s in conversion.status if s.resource == "GRPCRoute/infra/r"]
    assert {c.type: c.status for c in status.conditions} == {
        "Accepted": "True",
        "ResolvedRefs": "True",
    }


def test_grpc_and_http_routes_merge_on_one_parent_and_host() -> None:
    (vs,), _ = virtual_services(
        """
apiVersion: gateway.networking.k8s.io/v1
kind: GRPCRoute
metadata: {name: calls, namespace: infra}
spec:
  parentRefs: [{name: gw}]
  rules:
  - matches: [{method: {service: pkg.Svc}}]
    backendRefs: [{name: v1, port: 8080}]
""",
        """
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: {name: pages, namespace: infra}
spec:
  parentRefs: [{name: gw}]
  rules:
  - matches: [{path: {type: PathPrefix, value: /pages}}]
    backendRefs: [{name: v2, port: 8080}]
""",
    )
    # One VirtualService, sorted across both routes: the longer prefix /pkg.Svc/ first.
    assert [r["name"] for r in _routes(vs)] == ["infra.calls.0", "infra.pages.0"]
    annotation = vs.metadata.annotations["internal.istio.io/parents"]
    assert set(annotation.split(",")) == {"GRPCRoute/calls.infra", "HTTPRoute/pages.infra"}


def test_an_unsupported_filter_drops_the_whole_route() -> None:
    resources = [
        parse_resource(yaml.safe_load(m))
        for m in (
            GATEWAY,
            """
apiVersion: gateway.networking.k8s.io/v1
kind: GRPCRoute
metadata: {name: r, namespace: infra}
spec:
  parentRefs: [{name: gw}]
  rules:
  - backendRefs: [{name: v1, port: 8080}]
  - filters: [{type: ExtensionRef, extensionRef: {group: example.com, kind: Thing, name: t}}]
    backendRefs: [{name: v1, port: 8080}]
""",
        )
    ]
    conversion = convert(ConversionInputs(resources=resources, services=(_service("v1"),)))
    assert not [r for r in conversion.resources if isinstance(r, VirtualService)]
    (status,) = [s for s in conversion.status if s.resource == "GRPCRoute/infra/r"]
    resolved = next(c for c in status.conditions if c.type == "ResolvedRefs")
    assert (resolved.status, resolved.reason) == ("False", "InvalidFilter")
