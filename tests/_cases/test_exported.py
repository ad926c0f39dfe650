"""kubectl get -o yaml output in spec.resources: server-set fields dropped, Lists unwrapped."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from pytest_meshgate._cases.exported import SERVER_SET_METADATA, without_server_fields
from pytest_meshgate._cases.loader import load_case_file

ROOT = Path(__file__).resolve().parents[2]
EXPORT = ROOT / "cases" / "manifests" / "kubectl" / "helloworld-routing.yaml"

CASE = """apiVersion: meshgate.dev/v1alpha1
kind: Case
metadata: {{name: pasted}}
spec:
  services: [{{name: web, ports: [{{name: http, port: 80}}]}}]
  resources:
{resources}
  checks:
  - name: root
    request: {{url: "http://a.example.com/"}}
"""

GATEWAY = """  - apiVersion: networking.istio.io/v1
    kind: Gateway
    metadata:
      name: g
      uid: 6f1d2c3e-8a4b-4c1d-9e2f-3a5b7c9d1e0f
      resourceVersion: "48213"
      generation: 3
      selfLink: /apis/networking.istio.io/v1/namespaces/default/gateways/g
      deletionGracePeriodSeconds: 30
      deletionTimestamp: "2025-03-04T10:20:00Z"
      creationTimestamp: "2025-03-04T10:15:02Z"
      managedFields: [{manager: kubectl, operation: Update}]
    spec:
      selector: {istio: ingressgateway}
      servers: [{port: {number: 80, name: http, protocol: HTTP}, hosts: [a.example.com]}]
    status: {observedGeneration: 3}
"""


def test_server_set_fields_are_removed_and_the_rest_kept() -> None:
    resource = {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": "a", "labels": {"x": "y"}, **dict.fromkeys(SERVER_SET_METADATA, 1)},
        "spec": {"ports": []},
        "status": {"loadBalancer": {}},
    }
    stripped = without_server_fields(resource)
    assert stripped == {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": "a", "labels": {"x": "y"}},
        "spec": {"ports": []},
    }
    assert "status" in resource  # the input is left alone


def test_a_pasted_object_loads_and_keeps_its_creation_timestamp(
    write: Callable[[str, str], Path],
) -> None:
    loaded = load_case_file(write("paste.yaml", CASE.format(resources=GATEWAY.rstrip("\n"))))
    assert loaded.invalid == []
    (gateway,) = loaded.cases[0].resources
    assert gateway.metadata.creation_timestamp.isoformat() == "2025-03-04T10:15:02+00:00"


def test_a_list_is_unwrapped_and_errors_point_into_it(write: Callable[[str, str], Path]) -> None:
    items = GATEWAY.replace("  - apiVersion", "    - apiVersion").replace("\n    ", "\n      ")
    broken = items.replace("kind: Gateway", "kind: Gateway\n      spex: {}", 1)
    text = "  - apiVersion: v1\n    kind: List\n    metadata: {resourceVersion: ''}\n    items:\n"
    path = write("list.yaml", CASE.format(resources=(text + broken).rstrip("\n")))
    (invalid,) = load_case_file(path).invalid
    (problem,) = invalid.error.problems
    assert (problem.key_path, problem.message) == (
        "spec.resources[0].spex",
        "unknown key (did you mean 'spec'?)",
    )
    assert problem.line == path.read_text().splitlines().index("      spex: {}") + 1

    path = write(
        "list.yaml",
        CASE.format(resources=(text + items + items.replace("name: g", "name: h")).rstrip("\n")),
    )
    (case,) = load_case_file(path).cases
    assert [r.name for r in case.resources] == ["g", "h"]
    assert (
        case.resource_mark(1, ("metadata", "name")).line
        == path.read_text().splitlines().index("        name: h") + 1
    )


def test_a_list_without_items_is_an_error(write: Callable[[str, str], Path]) -> None:
    text = "  - {apiVersion: v1, kind: List, items: {a: b}}"
    (invalid,) = load_case_file(write("bad.yaml", CASE.format(resources=text))).invalid
    (problem,) = invalid.error.problems
    assert problem.key_path == "spec.resources[0].items"
    assert "a list of manifests" in problem.message


def test_the_kubectl_export_fixture_loads_as_a_list_of_pasted_objects(
    write: Callable[[str, str], Path],
) -> None:
    # The fixture's objects do carry what the API server writes.
    text = EXPORT.read_text()
    for key in (
        "managedFields:",
        "resourceVersion:",
        "uid:",
        "generation:",
        "status:",
        "kind: List",
    ):
        assert key in text
    case_file = ROOT / "cases" / "istio-samples.yaml"
    loaded = load_case_file(case_file, root=ROOT)
    assert loaded.invalid == []
    (export,) = [c for c in loaded.cases if c.name == "helloworld-kubectl-export"]
    kinds = [(r.kind, r.name) for r in export.resources]
    assert ("Gateway", "helloworld-gateway") in kinds
    assert ("VirtualService", "helloworld") in kinds
    assert [s.name for s in export.case.spec.services] == ["helloworld"]
