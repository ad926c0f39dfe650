"""End-to-end tests of collection warnings: replaced objects and --meshgate-analyze findings."""

from __future__ import annotations

import pytest

pytest_plugins = ["pytester"]

REPEATED = """
apiVersion: meshgate.dev/v1alpha1
kind: Case
metadata: {name: repeated}
spec:
  services: [{name: reviews, ports: [{name: http, port: 9080}], versions: [v1, v2]}]
  resources:
  - apiVersion: networking.istio.io/v1
    kind: VirtualService
    metadata: {name: reviews}
    spec:
      hosts: [reviews]
      http:
      - route: [{destination: {host: reviews}}]
  - apiVersion: networking.istio.io/v1
    kind: VirtualService
    metadata: {name: reviews}
    spec:
      hosts: [reviews]
      http:
      - route: [{destination: {host: reviews}}]
  checks:
  - {name: one, request: {url: "http://a.example.com/"}}
---
apiVersion: meshgate.dev/v1alpha1
kind: Case
metadata: {name: plain}
spec:
  checks:
  - {name: two, request: {url: "http://a.example.com/"}}
"""

FINDINGS = """
apiVersion: meshgate.dev/v1alpha1
kind: Case
metadata: {name: findings}
spec:
  services: [{name: reviews, ports: [{name: http, port: 9080}]}]
  resources:
  - apiVersion: networking.istio.io/v1
    kind: VirtualService
    metadata: {name: reviews}
    spec:
      hosts: [app.example.com]
      gateways: [no-such-gateway]
      http:
      - route: [{destination: {host: reviews}}]
  checks:
  - {name: one, request: {url: "http://app.example.com/"}}
"""


def test_a_replaced_object_is_a_warning_naming_both_places(pytester: pytest.Pytester) -> None:
    pytester.makefile(".yaml", cases=REPEATED)
    result = pytester.runpytest("--collect-only", "-q", "-p", "no:cacheprovider")
    assert result.ret == 0
    result.stdout.fnmatch_lines(
        [
            "*cases.yaml:14: ReplacedResourceWarning: VirtualService default/reviews defined "
            "again at cases.yaml:14 replaces its definition at cases.yaml:7, *",
            "*2 tests collected*",
        ]
    )


def test_a_refused_replacement_warning_makes_only_that_case_an_error(
    pytester: pytest.Pytester,
) -> None:
    pytester.makefile(".yaml", cases=REPEATED)
    result = pytester.runpytest(
        "--collect-only",
        "-q",
        "-p",
        "no:cacheprovider",
        "-W",
        "error::pytest_meshgate.ReplacedResourceWarning",
    )
    # The other case of the file is still collected; this one is an invalid case at that line.
    result.stdout.fnmatch_lines(
        [
            "cases.yaml::repeated",
            "cases.yaml::plain::two",
            "*meshgate: invalid case documents*",
            "cases.yaml:14:5: VirtualService default/reviews defined again at cases.yaml:14 *",
        ]
    )


def test_silenced_by_category(pytester: pytest.Pytester) -> None:
    pytester.makefile(".yaml", cases=REPEATED)
    result = pytester.runpytest(
        "--collect-only",
        "-q",
        "-p",
        "no:cacheprovider",
        "-W",
        "ignore::pytest_meshgate.MeshgateWarning",
    )
    assert "ReplacedResourceWarning" not in result.stdout.str()
    result.stdout.fnmatch_lines(["*2 tests collected*"])
