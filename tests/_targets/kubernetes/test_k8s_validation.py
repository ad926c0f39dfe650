"""Every object rendered for every case in cases/ validates as Kubernetes 1.33 would check it.

Strictly (an unknown field is an error, as ``kubectl apply --validate=strict``)
against the OpenAPI schemas the ``kubernetes-validate`` package ships for
Kubernetes 1.33 (the pinned kind node's), plus the API server's rules beyond
the schema (names, label syntax, ConfigMap keys and size). What is left out,
and said: Istio's and Gateway API's objects, custom resources, for want of
their CRD schemas from a registry (docs/kubernetes.md). What it does not
prove: admission (Istio's webhook, quotas), or anything a running cluster
decides.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from pytest_meshgate._cases.loader import load_case_file
from pytest_meshgate._targets.kubernetes.render import case_files, render_loaded
from pytest_meshgate._targets.kubernetes.validation import validate_objects

pytest.importorskip("kubernetes_validate")

CASES = Path(__file__).parents[3] / "cases"
ISTIO_KINDS = {"networking.istio.io/v1/Gateway", "networking.istio.io/v1/VirtualService",
               "networking.istio.io/v1/DestinationRule", "networking.istio.io/v1/ServiceEntry",
               "networking.istio.io/v1/Sidecar", "telemetry.istio.io/v1/Telemetry",
               "security.istio.io/v1/AuthorizationPolicy",
               "security.istio.io/v1/RequestAuthentication"}  # fmt: skip
GATEWAY_API_KINDS = {f"gateway.networking.k8s.io/v1/{kind}" for kind in (
    "Gateway", "HTTPRoute", "GRPCRoute", "TLSRoute", "TCPRoute", "ReferenceGrant")}  # fmt: skip


@pytest.mark.parametrize(
    ("target", "values"),
    [
        ("kind", {"istio-profile": "default"}),
        ("kind", {"istio-profile": "demo", "istio-revision": "canary"}),
        ("kind", {"istio-profile": "ambient"}),
        ("cluster", {"istio-profile": "minimal"}),
    ],
)
def test_every_case_renders_to_objects_kubernetes_1_33_accepts(
    target: str, values: dict[str, Any]
) -> None:
    problems: list[str] = []
    unvalidated: set[str] = set()
    cases = validated = 0
    for path in case_files([CASES]):
        for loaded in load_case_file(path).cases:
            result = validate_objects(render_loaded(loaded, target, values))
            problems += [f"{loaded.case.name}: {p}" for p in result.problems]
            unvalidated |= set(result.unvalidated)
            validated += result.validated
            cases += 1
    assert cases > 100 and validated > 10 * cases / 2
    assert problems == []
    # Said, not hidden: only the CRDs' kinds, Istio's and Gateway API's, go
    # unvalidated (and some case uses each).
    # Gateway API cases also use the older served versions and GatewayClass.
    assert unvalidated >= ISTIO_KINDS | GATEWAY_API_KINDS
    assert {kind.split("/", 1)[0] for kind in unvalidated} == {
        "networking.istio.io",
        "telemetry.istio.io",
        "security.istio.io",
        "gateway.networking.k8s.io",
    }


def _deployment() -> dict[str, Any]:
    return {
        "apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": {"name": "echo-v1", "namespace": "mg-1-default", "labels": {"app": "echo"}},
        "spec": {"selector": {"matchLabels": {"app": "echo"}}, "template": {
            "metadata": {"labels": {"app": "echo"}},
            "spec": {"containers": [{"name": "echo", "image": "python:3.12-slim-bookworm"}]}}},
    }  # fmt: skip


def test_an_unknown_field_or_a_bad_name_is_a_problem_naming_it() -> None:
    good = _deployment()
    assert validate_objects([good]).problems == []
    typo = _deployment()
    typo["spec"]["template"]["spec"]["containers"][0]["workDir"] = "/srv"  # not workingDir
    [problem] = validate_objects([typo]).problems
    assert problem.startswith("Deployment mg-1-default/echo-v1: spec.template.spec.containers.0:")
    assert "'workDir'" in problem
    bad = _deployment()
    bad["metadata"]["name"] = "Echo_v1"
    bad["metadata"]["labels"]["x"] = "not ok!"
    problems = validate_objects([bad]).problems
    assert any("'Echo_v1' is not a DNS-1123 subdomain" in p for p in problems)
    assert any("metadata.labels.x: 'not ok!' is not a label value" in p for p in problems)
    service = {"apiVersion": "v1", "kind": "Service", "metadata": {"name": "9lives", "namespace": "n"},
               "spec": {"ports": [{"port": 80}, {"port": 81}]}}  # fmt: skip
    problems = validate_objects([service]).problems
    assert any("DNS-1035" in p for p in problems) and any("distinct names" in p for p in problems)
    configmap = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c", "namespace": "n"},
                 "data": {"a/b.py": "x" * (1024 * 1024)}}  # fmt: skip
    problems = validate_objects([configmap]).problems
    assert any("key 'a/b.py' is not a valid file name" in p for p in problems)
    assert any("over the API server's 1 MiB" in p for p in problems)
