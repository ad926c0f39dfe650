"""Misspelt meshgate apiVersions and kinds: recognised as case files, reported as typos."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from pytest_meshgate._cases.loader import load_case_file
from pytest_meshgate._cases.nearmiss import api_version_hint, is_case_api_version, kind_hint
from pytest_meshgate._cases.yamlpos import looks_like_case_file

NEAR_MISSES = [
    "meshgate.dev/v1alpa1",
    "meshgate.dev/v1",
    "meshgate.de/v1alpha1",
    "mesh-gate.dev/v1alpha1",
    "meshgat.dev/v1alpha1",
    "mehsgate.dev/v1alpha1",
    "MeshGate.dev/v1alpha1",
    "meshgate.io/v1alpha1",
    "meshgate/v1alpha1",
]

# API groups a test directory may well hold: never case files.
OTHER_GROUPS = [
    "v1",
    "apps/v1",
    "batch/v1",
    "policy/v1",
    "networking.istio.io/v1",
    "security.istio.io/v1",
    "telemetry.istio.io/v1alpha1",
    "extensions.istio.io/v1alpha1",
    "install.istio.io/v1alpha1",
    "gateway.networking.k8s.io/v1",
    "networking.k8s.io/v1",
    "rbac.authorization.k8s.io/v1",
    "gateway.envoyproxy.io/v1alpha1",
    "getambassador.io/v3alpha1",
    "cert-manager.io/v1",
    "kustomize.config.k8s.io/v1beta1",
    "monitoring.coreos.com/v1",
    "serving.knative.dev/v1",
    "tekton.dev/v1",
    "gateway.dev/v1",
    "mesh.dev/v1",
    "mesh.gate.io/v1",
    "meshery.io/v1alpha1",
    "conformance.meshgate.dev/v1alpha1",  # our own conformance reports
]


@pytest.mark.parametrize("api_version", NEAR_MISSES)
def test_a_misspelt_meshgate_api_version_is_a_case_api_version(api_version: str) -> None:
    assert is_case_api_version(api_version)
    hint = api_version_hint(api_version)
    assert hint is not None and hint.endswith("(did you mean meshgate.dev/v1alpha1?)")


@pytest.mark.parametrize("api_version", OTHER_GROUPS)
def test_other_api_groups_are_not_near_misses(api_version: str) -> None:
    assert not is_case_api_version(api_version)
    assert api_version_hint(api_version) is None


def test_the_right_api_version_needs_no_hint() -> None:
    assert is_case_api_version("meshgate.dev/v1alpha1")
    assert api_version_hint("meshgate.dev/v1alpha1") is None
    assert not is_case_api_version(None) and not is_case_api_version("  ")


@pytest.mark.parametrize("kind", ["case", "Cases", "Csae", "CASE", "Cas"])
def test_a_misspelt_kind_gets_case_suggested(kind: str) -> None:
    assert kind_hint(kind) == f"unknown kind {kind!r} (did you mean Case?)"


def test_a_kind_far_from_case_is_named_without_a_guess() -> None:
    assert kind_hint("VirtualService") == (
        "unknown kind 'VirtualService': a meshgate.dev/v1alpha1 document is a Case"
    )


@pytest.mark.parametrize("api_version", NEAR_MISSES)
def test_a_file_with_a_near_miss_is_collected(
    write: Callable[[str, str], Path], api_version: str
) -> None:
    assert looks_like_case_file(write("f.yaml", f"apiVersion: {api_version}\nkind: Case\n"))


@pytest.mark.parametrize("api_version", OTHER_GROUPS)
def test_plain_manifests_stay_ignored(write: Callable[[str, str], Path], api_version: str) -> None:
    text = f"apiVersion: {api_version}\nkind: Thing\nmetadata: {{name: x}}\n"
    assert not looks_like_case_file(write("f.yaml", text))


CASE_BODY = """kind: {kind}
metadata: {{name: typo}}
spec:
  services: [{{name: web, ports: [{{name: http, port: 80}}]}}]
  checks:
  - name: root
    request: {{url: "http://web/"}}
"""


@pytest.mark.parametrize(
    ("api_version", "kind", "key", "line", "column", "message"),
    [
        (
            "meshgate.de/v1alpha1",
            "Case",
            "apiVersion",
            1,
            13,
            "unknown apiVersion 'meshgate.de/v1alpha1' (did you mean meshgate.dev/v1alpha1?)",
        ),
        (
            "'meshgate.dev/v1alpa1'",
            "Case",
            "apiVersion",
            1,
            13,
            "unknown apiVersion 'meshgate.dev/v1alpa1' (did you mean meshgate.dev/v1alpha1?)",
        ),
        ("meshgate.dev/v1alpha1", "case", "kind", 2, 7, "unknown kind 'case' (did you mean Case?)"),
    ],
)
def test_the_typo_is_an_error_at_its_line(
    write: Callable[[str, str], Path],
    api_version: str,
    kind: str,
    key: str,
    line: int,
    column: int,
    message: str,
) -> None:
    path = write("typo.yaml", f"apiVersion: {api_version}\n" + CASE_BODY.format(kind=kind))
    loaded = load_case_file(path)
    assert loaded.cases == []
    (invalid,) = loaded.invalid
    (problem,) = invalid.error.problems
    assert (problem.line, problem.column, problem.key_path, problem.message) == (
        line,
        column,
        key,
        message,
    )
