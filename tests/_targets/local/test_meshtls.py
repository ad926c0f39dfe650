"""Which cases run the inbound sidecars: those whose policies a service's sidecar enforces."""

from __future__ import annotations

from pathlib import Path

import pytest

from pytest_meshgate._cases.loader import load_case_file
from pytest_meshgate._targets.local.meshtls import mesh_tls_modelled

CASE = """
apiVersion: meshgate.dev/v1alpha1
kind: Case
metadata: {name: modelled}
spec:
  services:
  - {name: httpbin, namespace: foo, versions: [v1, v2], labels: {tier: web}, ports: [{name: http, port: 8000}]}
  resources:
  - apiVersion: security.istio.io/v1
    kind: %s
    metadata: {name: p, namespace: %s}
    spec: %s
  checks:
  - {name: a, request: {url: "http://httpbin.example.com/"}}
"""
JWT = '{jwtRules: [{issuer: a, jwksUri: "https://jwks.example.com/keys"}]%s}'


@pytest.mark.parametrize(
    ("kind", "namespace", "spec", "modelled"),
    [
        ("AuthorizationPolicy", "foo", "{}", True),  # namespace-wide
        ("AuthorizationPolicy", "istio-system", "{}", True),  # the root namespace's
        ("AuthorizationPolicy", "foo", "{selector: {matchLabels: {version: v2}}}", True),
        ("AuthorizationPolicy", "foo", "{selector: {matchLabels: {tier: web}}}", True),
        ("RequestAuthentication", "foo", JWT % "", True),
        # Only gateways: no service's sidecar would enforce them.
        ("AuthorizationPolicy", "bar", "{}", False),
        (
            "AuthorizationPolicy",
            "istio-system",
            "{selector: {matchLabels: {istio: ingressgateway}}}",
            False,
        ),
        ("AuthorizationPolicy", "foo", "{selector: {matchLabels: {version: v3}}}", False),
        ("RequestAuthentication", "foo", JWT % ", selector: {matchLabels: {app: other}}", False),
    ],
)
def test_a_policy_selecting_a_service_needs_its_inbound_sidecar(
    tmp_path: Path, kind: str, namespace: str, spec: str, modelled: bool
) -> None:
    path = tmp_path / "case.yaml"
    path.write_text(CASE % (kind, namespace, spec))
    result = load_case_file(path)
    assert not result.invalid, result.invalid[0].error.render()
    assert mesh_tls_modelled(result.cases[0]) is modelled


PLAIN = """
apiVersion: meshgate.dev/v1alpha1
kind: Case
metadata: {name: metrics}
spec:
  services:
  - {name: reviews, ports: [{name: http, port: 9080}]}
  checks:
  - name: a
    request: {url: "http://reviews.example.com/"}
    expect: %s
"""


@pytest.mark.parametrize(
    ("expect", "modelled"),
    [
        ("{metrics: [{proxy: ingress, name: istio_requests_total}]}", True),
        # A service's access log is its pods' inbound sidecars'; a gateway's is not.
        ("{accessLog: {proxy: reviews, logged: false}}", True),
        ("{accessLog: {proxy: reviews.default, logged: false}}", True),
        ("{accessLog: {proxy: ingress, logged: false}}", False),
        ("{status: 200}", False),
    ],
)
def test_a_check_with_metrics_needs_the_inbound_sidecars(
    tmp_path: Path, expect: str, modelled: bool
) -> None:
    """Principals, connection_security_policy, the destination reporter and peer
    metadata all come from the pod's sidecar."""
    path = tmp_path / "case.yaml"
    path.write_text(PLAIN % expect)
    result = load_case_file(path)
    assert not result.invalid, result.invalid[0].error.render()
    assert mesh_tls_modelled(result.cases[0]) is modelled
