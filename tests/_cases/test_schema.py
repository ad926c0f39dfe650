"""The committed JSON Schema matches the model, is valid draft-07 and accepts every case."""

from __future__ import annotations

import json
from pathlib import Path

import jsonschema
import pytest

import pytest_meshgate
from pytest_meshgate._cases.schema import case_schema, case_schema_json
from pytest_meshgate._cases.yamlpos import load_documents, looks_like_case_file

ROOT = Path(__file__).resolve().parents[2]
COMMITTED = ROOT / "schema" / "case.schema.json"
# The copy inside the package (the wheel ships it) and the one published for this version.
SHIPPED = Path(pytest_meshgate.__file__).parent / "schema" / "case.schema.json"
PUBLISHED = ROOT / "schema" / f"v{pytest_meshgate.__version__}" / "case.schema.json"
CASE_FILES = sorted(p for p in (ROOT / "cases").rglob("*.y*ml") if looks_like_case_file(p))


@pytest.mark.parametrize("copy", [COMMITTED, SHIPPED, PUBLISHED], ids=lambda p: p.parent.name)
def test_committed_schema_matches_the_model(copy: Path) -> None:
    assert copy.read_text(encoding="utf-8") == case_schema_json(), (
        f"{copy} is stale: run `make schema` and commit it"
    )


def test_schema_is_valid_draft7() -> None:
    schema = json.loads(COMMITTED.read_text(encoding="utf-8"))
    assert schema["$schema"] == "http://json-schema.org/draft-07/schema#"
    jsonschema.Draft7Validator.check_schema(schema)


@pytest.mark.parametrize("path", CASE_FILES, ids=lambda p: str(p.relative_to(ROOT)))
def test_every_case_file_validates_and_carries_the_modeline(path: Path) -> None:
    validator = jsonschema.Draft7Validator(case_schema())
    for document in load_documents(path):
        errors = sorted(validator.iter_errors(document.data), key=str)
        assert not errors, f"{path}: {errors[0].message} at {list(errors[0].absolute_path)}"
    first_line = path.read_text(encoding="utf-8").splitlines()[0]
    assert first_line.startswith("# yaml-language-server: $schema="), first_line
    schema_ref = first_line.split("$schema=", 1)[1].strip()
    assert (path.parent / schema_ref).resolve() == COMMITTED


def _case_with(resource: dict[str, object]) -> dict[str, object]:
    return {
        "apiVersion": "meshgate.dev/v1alpha1",
        "kind": "Case",
        "metadata": {"name": "schema-probe"},
        "spec": {
            "resources": [resource],
            "checks": [{"name": "c", "request": {"url": "http://a/"}}],
        },
    }


def test_schema_checks_manifests_by_kind_as_an_editor_would() -> None:
    validator = jsonschema.Draft7Validator(case_schema())
    virtual_service = {
        "apiVersion": "networking.istio.io/v1",
        "kind": "VirtualService",
        "metadata": {"name": "vs"},
        "spec": {"hosts": ["a"], "http": [{"route": [{"destination": {"host": "b"}}]}]},
    }
    assert not list(validator.iter_errors(_case_with(virtual_service)))
    virtual_service["spec"]["http"][0]["route"][0]["destination"]["prot"] = 3  # type: ignore[index]
    errors = list(validator.iter_errors(_case_with(virtual_service)))
    assert any("'prot' was unexpected" in e.message for e in errors), [e.message for e in errors]
    unknown_kind = {**virtual_service, "kind": "VirtualServis"}
    assert list(validator.iter_errors(_case_with(unknown_kind)))
    assert not list(validator.iter_errors(_case_with({"include": "x.yaml"})))
