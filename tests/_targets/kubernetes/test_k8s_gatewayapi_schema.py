"""Every Gateway API object rendered for every case validates against the v1.6.0 CRD schemas.

The schemas are the CRDs' ``openAPIV3Schema`` of the experimental channel at
tag v1.6.0 of kubernetes-sigs/gateway-api (what the Istio adapter installs),
read from its mirror when it is on this machine (skipped otherwise: upstream
files are not committed here), made strict as structural schemas are (a
field no ``properties`` names is unknown, as the API server prunes or, under
strict field validation, refuses it). Rendered for kind with Istio and with
Envoy Gateway, so namespace mapping, the class renaming and backend names
are checked as the API server would see them. Not evaluated: the CRDs' CEL
rules (``x-kubernetes-validations``), which the case model checks at
collection (docs/gateway-api.md).
"""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from pytest_meshgate._cases.loader import load_case_file
from pytest_meshgate._targets.kubernetes.adapters.gatewayapi_crds import GATEWAY_API_VERSION
from pytest_meshgate._targets.kubernetes.gatewayapi import is_gateway_api
from pytest_meshgate._targets.kubernetes.render import case_files, render_loaded

jsonschema = pytest.importorskip("jsonschema")

MIRROR = Path("/work/.mirror/kubernetes-sigs+gateway-api/repo")
CASES = Path(__file__).parents[3] / "cases"


def _strict(schema: Any) -> Any:
    """A structural schema as the API server applies it: unknown fields are errors."""
    if isinstance(schema, list):
        return [_strict(s) for s in schema]
    if not isinstance(schema, dict):
        return schema
    out = {k: _strict(v) for k, v in schema.items() if k != "x-kubernetes-validations"}
    if (
        "properties" in out
        and "additionalProperties" not in out
        and not out.get("x-kubernetes-preserve-unknown-fields")
    ):
        out["additionalProperties"] = False
    return out


def _schemas() -> dict[tuple[str, str], Any]:
    if not MIRROR.is_dir():
        pytest.skip("the kubernetes-sigs/gateway-api mirror is not on this machine")
    folder = f"{GATEWAY_API_VERSION}:config/crd/experimental/"
    names = subprocess.run(["git", "-C", str(MIRROR), "ls-tree", "--name-only", folder],
                           capture_output=True, text=True, check=True).stdout.split()  # fmt: skip
    schemas: dict[tuple[str, str], Any] = {}
    for name in names:
        if not name.startswith("gateway.networking.k8s.io_"):
            continue
        text = subprocess.run(["git", "-C", str(MIRROR), "show", folder + name],
                              capture_output=True, text=True, check=True).stdout  # fmt: skip
        for doc in yaml.safe_load_all(text):
            if not isinstance(doc, dict) or doc.get("kind") != "CustomResourceDefinition":
                continue
            spec = doc["spec"]
            for version in spec["versions"]:
                schema = dict(version["schema"]["openAPIV3Schema"])
                # metadata is the API server's ObjectMeta, checked by kubernetes-validate's kin.
                schema["properties"] = {**schema["properties"], "metadata": {"type": "object"}}
                key = (f"{spec['group']}/{version['name']}", spec["names"]["kind"])
                schemas[key] = _strict(schema)
    return schemas


@pytest.mark.parametrize("implementation", ["istio", "envoy-gateway"])
def test_rendered_gateway_api_objects_are_valid_v1_6_0_objects(implementation: str) -> None:
    schemas = _schemas()
    problems: list[str] = []
    checked: set[tuple[str, str]] = set()
    for path in case_files([CASES]):
        for loaded in load_case_file(path).cases:
            values = {"implementation": implementation, "istio-profile": "demo"}
            for obj in render_loaded(loaded, "kind", values):
                if not is_gateway_api(obj):
                    continue
                key = (obj["apiVersion"], obj["kind"])
                assert key in schemas, key
                checked.add(key)
                validator = jsonschema.Draft7Validator(schemas[key])
                for error in validator.iter_errors(obj):
                    where = ".".join(str(p) for p in error.absolute_path)
                    problems.append(f"{loaded.case.name}: {obj['kind']} {where}: {error.message}")
    assert problems == []
    kinds = {kind for _, kind in checked}
    assert {"Gateway", "HTTPRoute", "GRPCRoute", "TLSRoute", "TCPRoute", "ReferenceGrant"} <= kinds
