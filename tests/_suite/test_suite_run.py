"""End-to-end tests of failure messages: istioctl analyze findings and the target's
deployment warnings in every failing check of a case, on the real local target."""

from __future__ import annotations

from pathlib import Path

import pytest

from pytest_meshgate._cases.analysis import Finding
from pytest_meshgate._suite.run import case_appendix

pytest_plugins = ["pytester"]

TYPO = """
apiVersion: meshgate.dev/v1alpha1
kind: Case
metadata: {name: typo}
spec:
  services: [{name: reviews, ports: [{name: http, port: 9080}]}]
  resources:
  - apiVersion: networking.istio.io/v1
    kind: Gateway
    metadata: {name: app-gateway}
    spec:
      selector: {istio: ingressgateway}
      servers:
      - port: {number: 80, name: http, protocol: HTTP}
        hosts: [app.example.com]
  - apiVersion: networking.istio.io/v1
    kind: VirtualService
    metadata: {name: reviews}
    spec:
      hosts: [app.example.com]
      gateways: [app-gatway]
      http:
      - route: [{destination: {host: reviews}}]
  checks:
  - name: routed to reviews
    request: {url: "http://app.example.com/"}
    expect: {backend: reviews}
  - name: unknown host is 404
    request: {url: "http://other.example.com/"}
    expect: {status: 404}
  - name: judged statistically
    request: {url: "http://app.example.com/", count: 40}
    expect: {split: {reviews: 100}}
"""

MISSING_SECRET = """
apiVersion: meshgate.dev/v1alpha1
kind: Case
metadata: {name: missing-secret}
spec:
  services: [{name: reviews, ports: [{name: http, port: 9080}]}]
  resources:
  - apiVersion: networking.istio.io/v1
    kind: Gateway
    metadata: {name: app-gateway}
    spec:
      selector: {istio: ingressgateway}
      servers:
      - port: {number: 443, name: https, protocol: HTTPS}
        tls: {mode: SIMPLE, credentialName: missing-credential}
        hosts: [app.example.com]
  - apiVersion: networking.istio.io/v1
    kind: VirtualService
    metadata: {name: reviews}
    spec:
      hosts: [app.example.com]
      gateways: [app-gateway]
      http:
      - route: [{destination: {host: reviews}}]
  checks:
  - name: first
    request: {url: "https://app.example.com/first"}
  - name: second
    request: {url: "https://app.example.com/second"}
"""


def test_a_failing_check_names_the_findings_of_its_case(pytester: pytest.Pytester) -> None:
    pytester.makefile(".yaml", typo=TYPO)
    result = pytester.inline_run("-p", "no:cacheprovider", "--meshgate-consistency-timeout=300ms")
    passed, _, failed = result.listoutcomes()
    assert [r.nodeid.rsplit("::", 1)[-1] for r in passed] == ["unknown host is 404"]
    assert len(failed) == 2  # a check judged until consistent, and a statistical one
    for report in failed:
        message = str(report.longrepr)
        assert "istioctl analyze findings (this may be why):" in message
        assert (
            "  Error [IST0101] (VirtualService default/reviews typo.yaml:20) Referenced gateway "
            'not found: "app-gatway"'
        ) in message
        assert "Warning [IST0132] (VirtualService default/reviews typo.yaml:20)" in message
        # The findings close the story, after what was sent and got.
        assert message.index("got") < message.index("istioctl analyze findings")


def test_deployment_warnings_appear_in_every_failing_check(pytester: pytest.Pytester) -> None:
    pytester.makefile(".yaml", tls=MISSING_SECRET)
    result = pytester.inline_run("-p", "no:cacheprovider", "--meshgate-consistency-timeout=300ms")
    _, _, failed = result.listoutcomes()
    assert len(failed) == 2
    warning = (
        "  istio-ingressgateway: gateway default/app-gateway server on port 443 (hosts "
        "app.example.com): no filter chain: secret istio-system/missing-credential not found"
    )
    for report in failed:  # the second check did not deploy the case, and still says so
        message = str(report.longrepr)
        assert "target warnings while deploying the case:\n" + warning in message, message
        assert 'Referenced credentialName not found: "missing-credential"' in message


def test_case_appendix_sections() -> None:
    finding = Finding("IST0101", "Error", "m", "Gateway", "default/g", Path("/c.yaml"), 4)
    assert case_appendix((), ()) == ""
    assert case_appendix(("gw: dropped",), (finding,)) == (
        "target warnings while deploying the case:\n"
        "  gw: dropped\n"
        "\n"
        "istioctl analyze findings (this may be why):\n"
        "  Error [IST0101] (Gateway default/g /c.yaml:4) m"
    )
