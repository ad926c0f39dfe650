"""End to end through pytester: CUSTOM authorization skipped with its reason, tokens never
shown in failure output, and refused security keys located at collection."""

from __future__ import annotations

import pytest

pytest_plugins = ["pytester"]

BASE = """
apiVersion: meshgate.dev/v1alpha1
kind: Case
metadata: {{name: {name}}}
spec:
  services:
  - name: web
    ports: [{{name: http, port: 8080}}]
  {spec}
  resources:
  - apiVersion: networking.istio.io/v1
    kind: Gateway
    metadata: {{name: web}}
    spec:
      selector: {{istio: ingressgateway}}
      servers:
      - port: {{number: 80, name: http, protocol: HTTP}}
        hosts: [web.example.com]
  - apiVersion: networking.istio.io/v1
    kind: VirtualService
    metadata: {{name: web}}
    spec:
      hosts: [web.example.com]
      gateways: [web]
      http: [{{route: [{{destination: {{host: web}}}}]}}]
  {extra}
  checks:
  - name: sent
    request: {{url: "http://web.example.com/x"{request}}}
    expect: {expect}
"""


def case(name: str = "sec", spec: str = "", extra: str = "", request: str = "",
         expect: str = "{status: 200}") -> str:  # fmt: skip
    return BASE.format(name=name, spec=spec, extra=extra, request=request, expect=expect)


CUSTOM = """- apiVersion: security.istio.io/v1
    kind: AuthorizationPolicy
    metadata: {name: ext-authz, namespace: istio-system}
    spec:
      action: CUSTOM
      provider: {name: opa}
      rules: [{}]"""

REQUIRE_JWT = """- apiVersion: security.istio.io/v1
    kind: RequestAuthentication
    metadata: {name: jwt, namespace: istio-system}
    spec:
      jwtRules: [{issuer: i@example.com, jwks: "${jwks:main}"}]"""


def test_custom_authorization_skips_the_case_with_the_reason(pytester: pytest.Pytester) -> None:
    pytester.makefile(".yaml", sec=case(extra=CUSTOM))
    result = pytester.runpytest("-p", "no:cacheprovider", "-rs")
    result.assert_outcomes(skipped=1)
    result.stdout.fnmatch_lines(
        ["*AuthorizationPolicy istio-system/ext-authz: spec.action is not supported*CUSTOM*"]
    )


def test_a_failing_check_never_shows_the_token(pytester: pytest.Pytester) -> None:
    pytester.makefile(
        ".yaml",
        sec=case(
            spec="jwtKeys: [{name: main}]",
            extra=REQUIRE_JWT,
            request=", jwt: {key: main, issuer: i@example.com}",
            expect="{status: 418}",
        ),
    )
    result = pytester.runpytest("-p", "no:cacheprovider", "--tb=long")
    result.assert_outcomes(failed=1)
    text = result.stdout.str()
    assert "Authorization: Bearer <jwt redacted>" in text
    assert "Bearer ey" not in text and ".eyJ" not in text


def test_refused_security_keys_are_located_errors(pytester: pytest.Pytester) -> None:
    pytester.makefile(
        ".yaml",
        a=case(name="a", spec="meshConfig: {defaultConfig: {concurrency: 2}}"),
        b=case(
            name="b",
            spec="gateways: [{name: edge, labels: {istio: edge}, "
            "annotations: {sidecar.istio.io/inject: 'false'}}]",
        ),
        c=case(name="c", request=", jwt: {key: missing, issuer: i}"),
        d=case(name="d", extra=REQUIRE_JWT.replace("${jwks:main}", "not json")),
    )
    result = pytester.runpytest("-p", "no:cacheprovider")
    result.assert_outcomes(errors=4)
    result.stdout.fnmatch_lines_random(
        [
            "*a.yaml:*concurrency*",
            "*b.yaml:*annotation 'sidecar.istio.io/inject' is not honoured by the harness*",
            "*c.yaml:*jwt key 'missing' is not in spec.jwtKeys*",
            "*d.yaml:*jwtRules?0?.jwks: jwks parse error*",
        ]
    )


def test_a_failed_jwks_fetch_is_told_at_the_end_of_the_failure(pytester: pytest.Pytester) -> None:
    served = "http://keys.example.com:8080/jwks"
    pytester.makefile(
        ".yaml",
        sec=case(
            spec=f"jwtKeys: [{{name: main, jwksUri: '{served}'}}]",
            extra=REQUIRE_JWT.replace('jwks: "${jwks:main}"', f"jwksUri: '{served}-moved'"),
            request=", jwt: {key: main, issuer: i@example.com}",
        ),
    )
    result = pytester.runpytest("-p", "no:cacheprovider")
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(
        [
            "*status: expected 200, got 401*",
            "*istiod: JWKS fetch failed for issuer i@example.com "
            f"({served}-moved): status 404*JWT requests will be rejected",
        ]
    )
