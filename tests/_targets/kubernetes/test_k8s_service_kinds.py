"""Headless, ExternalName and selector Services as the kubernetes target renders them.

Rendering only (no cluster ran): the objects a cluster would get for
cases/service-kinds.yaml, validated as the API server of the pinned
Kubernetes would (strict schema plus ValidateService's rules). Whether
CoreDNS and Istio then answer as the local target does is shown only by a
run on a real cluster.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from pytest_meshgate._cases.loader import LoadedCase, load_case_file
from pytest_meshgate._targets.kubernetes.namespaces import NamespacePlan, rewrite_host
from pytest_meshgate._targets.kubernetes.render import render_loaded
from pytest_meshgate._targets.kubernetes.validation import validate_objects

CASES = Path(__file__).parents[3] / "cases" / "service-kinds.yaml"


def _case(name: str) -> LoadedCase:
    loaded = load_case_file(CASES)
    assert not loaded.invalid
    return next(c for c in loaded.cases if c.case.name == name)


def _objects(name: str) -> list[dict[str, Any]]:
    return render_loaded(_case(name), "kind", {"istio-profile": "default"})


def _service(objects: list[dict[str, Any]], name: str) -> dict[str, Any]:
    return next(o for o in objects if o["kind"] == "Service" and o["metadata"]["name"] == name)


def test_a_headless_service_has_no_cluster_ip_and_statefulset_style_pods() -> None:
    objects = _objects("headless-service-pods")
    assert _service(objects, "db")["spec"]["clusterIP"] == "None"
    pods = [
        o["spec"]["template"]
        for o in objects
        if o["kind"] == "Deployment" and o["metadata"]["name"].startswith("db-")
    ]
    assert [(p["spec"]["hostname"], p["spec"]["subdomain"]) for p in pods] == [
        ("db-0", "db"),
        ("db-1", "db"),
        ("db-2", "db"),
    ]
    # The echo reports the hostname as its pod, as the local target names it.
    args = [p["spec"]["containers"][0]["args"] for p in pods]
    assert [a[a.index("--pod") + 1] for a in args] == ["db-0", "db-1", "db-2"]
    assert validate_objects(objects).problems == []


def test_an_externalname_service_is_only_a_cname_into_the_mapped_namespace() -> None:
    objects = _objects("externalname-service-alias")
    alias = _service(objects, "b-ext-no-port")
    namespace = alias["metadata"]["namespace"]
    assert alias["spec"] == {
        "type": "ExternalName",
        "externalName": f"b.{namespace}.svc.cluster.local",
    }
    assert _service(objects, "b-ext-port")["spec"]["ports"] == [
        {"name": "http", "port": 80, "targetPort": 80}
    ]
    # No pods of its own.
    assert not [o for o in objects if o["metadata"]["name"].startswith("b-ext")
                and o["kind"] != "Service"]  # fmt: skip
    assert validate_objects(objects).problems == []


def test_a_selector_service_selects_the_rendered_pods_and_runs_none() -> None:
    objects = _objects("services-sharing-pods")
    admin = _service(objects, "web-admin")
    assert admin["spec"]["selector"] == {"app": "web"}
    assert admin["spec"]["ports"] == [{"name": "http", "port": 80, "targetPort": 9090}]
    assert _service(objects, "web-pods")["spec"]["clusterIP"] == "None"
    deployments = [o["metadata"]["name"] for o in objects if o["kind"] == "Deployment"]
    assert deployments == ["web-v1"]
    assert validate_objects(objects).problems == []


def test_a_pods_own_name_gets_its_namespace_mapped() -> None:
    plan = NamespacePlan(prefix="mg-1", mapping={"default": "mg-1-default"})
    assert rewrite_host("db-0.db.default.svc.cluster.local", plan) == (
        "db-0.db.mg-1-default.svc.cluster.local"
    )
    assert rewrite_host("db-0.db", plan, ["db"]) == "db-0.db"


@pytest.mark.parametrize(
    ("spec", "problem"),
    [
        ({"type": "ExternalName", "externalName": "Not_A_Host"}, "not a DNS-1123 subdomain"),
        (
            {"type": "ExternalName", "externalName": "a.example.com", "clusterIP": "10.0.0.1"},
            "may not be set for ExternalName",
        ),
        ({"selector": {"app": "x"}}, "spec.ports: Required value"),
    ],
)
def test_what_validateservice_refuses_is_a_problem(spec: dict[str, Any], problem: str) -> None:
    service = {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": "x", "namespace": "mg-1-default"},
        "spec": spec,
    }
    problems = validate_objects([service]).problems
    assert any(problem in p for p in problems), problems


def test_a_headless_service_without_ports_is_accepted() -> None:
    service = {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": "x", "namespace": "mg-1-default"},
        "spec": {"clusterIP": "None", "selector": {"app": "x"}},
    }
    assert validate_objects([service]).problems == []
