"""End to end through pytester: near-miss case files, real Kubernetes manifests in cases."""

from __future__ import annotations

import pytest

pytest_plugins = ["pytester"]

TYPO_CASE = """apiVersion: {api_version}
kind: {kind}
metadata: {{name: {name}}}
spec:
  services: [{{name: web, ports: [{{name: http, port: 80}}]}}]
  checks:
  - name: root
    request: {{url: "http://web/", from: c}}
"""

PLAIN_YAML = {
    "istio": "apiVersion: networking.istio.io/v1\nkind: Gateway\nmetadata: {name: g}\nspec: {}\n",
    "deployment": "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: d}\n",
    "route": "apiVersion: gateway.networking.k8s.io/v1\nkind: HTTPRoute\nmetadata: {name: r}\n",
    "ci": "name: ci\non: push\njobs: {}\n",
}


def test_a_misspelt_case_file_is_an_error_and_plain_yaml_stays_ignored(
    pytester: pytest.Pytester,
) -> None:
    pytester.makefile(
        ".yaml",
        group=TYPO_CASE.format(api_version="meshgate.de/v1alpha1", kind="Case", name="a"),
        version=TYPO_CASE.format(api_version="meshgate.dev/v1alpa1", kind="Case", name="b"),
        dashed=TYPO_CASE.format(api_version="mesh-gate.dev/v1alpha1", kind="Case", name="c"),
        kind=TYPO_CASE.format(api_version="meshgate.dev/v1alpha1", kind="Cases", name="d"),
        **PLAIN_YAML,
    )
    result = pytester.runpytest("--collect-only", "-q", "--meshgate-envoy=/nonexistent/envoy")
    out = result.stdout.str()
    result.stdout.fnmatch_lines_random(
        [
            "group.yaml:1:13: apiVersion: unknown apiVersion 'meshgate.de/v1alpha1'"
            " (did you mean meshgate.dev/v1alpha1?)",
            "version.yaml:1:13: apiVersion: unknown apiVersion 'meshgate.dev/v1alpa1'"
            " (did you mean meshgate.dev/v1alpha1?)",
            "dashed.yaml:1:13: apiVersion: unknown apiVersion 'mesh-gate.dev/v1alpha1'"
            " (did you mean meshgate.dev/v1alpha1?)",
            "kind.yaml:2:7: kind: unknown kind 'Cases' (did you mean Case?)",
        ]
    )
    for name in PLAIN_YAML:
        assert f"{name}.yaml" not in out
    result.stdout.fnmatch_lines(["*4 tests collected*"])
