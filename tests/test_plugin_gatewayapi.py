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


WEBSOCKET_CASE = """
apiVersion: meshgate.dev/v1alpha1
kind: Case
metadata: {name: ws}
spec:
  services:
  - {name: chat, ports: [{name: ws, port: 8080, appProtocol: kubernetes.io/ws}]}
  resources:
  - apiVersion: gateway.networking.k8s.io/v1
    kind: Gateway
    metadata: {name: edge}
    spec:
      gatewayClassName: istio
      listeners: [{name: http, port: 8080, protocol: HTTP}]
  - apiVersion: gateway.networking.k8s.io/v1
    kind: HTTPRoute
    metadata: {name: chat}
    spec:
      parentRefs: [{name: edge}]
      rules:
      - filters:
        - type: CORS
          cors: {allowOrigins: ["https://*.example.com"], allowMethods: [GET]}
        backendRefs: [{name: chat, port: 8080}]
  checks:
  - name: echoed
    request:
      gateway: default/edge
      url: "http://chat.example.com:8080/ws"
      headers: {Origin: "https://app.example.com"}
      websocket: {messages: [{text: hello}, {binary: AAE=}]}
    expect:
      response: {headersOneOf: {access-control-allow-origin: ["*", "https://app.example.com"]}}
      websocket: {messages: [{text: hello}, {binary: AAE=}]}
  - name: preflight
    request:
      gateway: default/edge
      url: "http://chat.example.com:8080/ws"
      method: OPTIONS
      headers: {Origin: "https://app.example.com", Access-Control-Request-Method: GET}
    expect:
      response: {headers: {access-control-allow-methods: GET}, body: {equals: ""}}
"""


def test_a_websocket_and_a_cors_preflight_through_a_gateway(pytester: pytest.Pytester) -> None:
    pytester.makefile(".yaml", ws=WEBSOCKET_CASE)
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider")
    result.assert_outcomes(passed=2)


def test_websocket_and_header_choice_failures_explain_themselves(
    pytester: pytest.Pytester,
) -> None:
    wrong = WEBSOCKET_CASE.replace(
        'expect:\n      response: {headersOneOf: {access-control-allow-origin: ["*", "https://app.example.com"]}}\n'
        "      websocket: {messages: [{text: hello}, {binary: AAE=}]}",
        'expect:\n      response: {headersOneOf: {access-control-allow-origin: ["*"]}}\n'
        "      websocket: {messages: [{text: hello}, {text: bye}]}",
    )
    assert wrong != WEBSOCKET_CASE
    pytester.makefile(".yaml", ws=wrong)
    result = pytester.runpytest_subprocess(
        "-p", "no:cacheprovider", "--meshgate-consistency-timeout=300ms"
    )
    result.assert_outcomes(passed=1, failed=1)
    out = result.stdout.str()
    assert (
        "response.headersOneOf.access-control-allow-origin: expected one of ['*'], "
        "got 'https://app.example.com'" in out
    )
    assert "websocket.messages[1]: expected text 'bye', got binary b'\\x00\\x01'" in out
    assert "then WebSocket message: text 'hello'" in out
    assert "WebSocket message: binary b'\\x00\\x01'" in out
