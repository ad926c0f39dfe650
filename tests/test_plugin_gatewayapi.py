"""End to end through pytester: a Gateway API case on the real Envoy, and how its failures read."""

from __future__ import annotations

import pytest

pytest_plugins = ["pytester"]

CASE = """
apiVersion: meshgate.dev/v1alpha1
kind: Case
metadata: {name: gateway-api}
spec:
  services:
  - {name: shop, ports: [{name: http, port: 8080}]}
  resources:
  - apiVersion: gateway.networking.k8s.io/v1
    kind: Gateway
    metadata: {name: edge}
    spec:
      gatewayClassName: istio
      listeners: [{name: http, port: 8080, protocol: HTTP, hostname: "*.example.com"}]
  - apiVersion: gateway.networking.k8s.io/v1
    kind: HTTPRoute
    metadata: {name: shop}
    spec:
      parentRefs: [{name: edge}]
      rules:
      - matches: [{path: {type: PathPrefix, value: /shop}}]
        backendRefs: [{name: shop, port: 8080}]
      - matches: [{path: {type: PathPrefix, value: /gone}}]
        backendRefs: [{name: nowhere, port: 8080}]
  checks:
  - name: routed
    request: {gateway: default/edge, url: "http://a.example.com:8080/shop/cart"}
    expect: {backend: shop, request: {path: /shop/cart}}
  - name: missing backend is 500
    request: {gateway: default/edge, url: "http://a.example.com:8080/gone"}
    expect:
      status: 500
      conditions:
      - {resource: HTTPRoute/default/shop, parent: default/edge, type: ResolvedRefs, status: "False", reason: BackendNotFound}
  - name: status only
    expect:
      conditions:
      - {resource: Gateway/default/edge, type: Programmed, status: "True", reason: Programmed}
      - {resource: Gateway/default/edge, listener: http, attachedRoutes: 1}
"""


def test_a_gateway_api_case_passes_on_envoy(pytester: pytest.Pytester) -> None:
    pytester.makefile(".yaml", gwapi=CASE)
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider")
    result.assert_outcomes(passed=3)


def test_failed_conditions_and_answers_explain_themselves(pytester: pytest.Pytester) -> None:
    wrong = CASE.replace("attachedRoutes: 1", "attachedRoutes: 2").replace(
        "path: /shop/cart}", "path: /cart}"
    )
    pytester.makefile(".yaml", gwapi=wrong)
    result = pytester.runpytest_subprocess(
        "-p", "no:cacheprovider", "--meshgate-consistency-timeout=300ms"
    )
    result.assert_outcomes(passed=1, failed=2)
    out = result.stdout.str()
    assert "conditions: Gateway/default/edge listener http: attachedRoutes=2 expected" in out
    assert "attachedRoutes is 1, not 2" in out
    # The answer's failure names the gateway the request went through.
    assert "check 'routed' of case 'gateway-api' failed" in out
    assert "access log of edge-istio" in out


def test_unknown_gateway_is_a_case_error(pytester: pytest.Pytester) -> None:
    pytester.makefile(
        ".yaml",
        gwapi=CASE.replace(
            'gateway: default/edge, url: "http://a.example.com:8080/gone',
            'gateway: default/nope, url: "http://a.example.com:8080/gone',
        ),
    )
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider")
    result.stdout.fnmatch_lines(["*default/nope*"])
    assert result.ret != 0
