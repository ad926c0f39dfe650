"""The JSON Schema of case files, generated from the case model (draft-07 for editors)."""

from __future__ import annotations

import json
from typing import Any

from pydantic import BaseModel
from pydantic.json_schema import JsonSchemaMode, models_json_schema

from .model.case import Case, Include

__all__ = [
    "SCHEMA_ID",
    "allowed_keys",
    "case_schema",
    "case_schema_json",
    "resource_schema",
]

SCHEMA_ID = "https://meshgate.dev/schema/v1alpha1/case.schema.json"


def case_schema() -> dict[str, Any]:
    """The schema of one case document, manifests under ``spec.resources`` included.

    yaml-language-server validates with draft-07 semantics, so definitions go
    under ``definitions`` (pydantic emits 2020-12 ``$defs``) and the draft is
    stated explicitly. Each manifest is checked against the model of its
    ``kind`` through ``if``/``then``, so an editor reports the misspelt key
    inside a VirtualService rather than "matches none of the alternatives".
    """
    from .model.resources import resource_types

    types = resource_types()
    unique_models = list(dict.fromkeys(t.model for t in types))
    models: list[tuple[type[BaseModel], JsonSchemaMode]] = [
        (Case, "validation"),
        (Include, "validation"),
        *((model, "validation") for model in unique_models),
    ]
    _, top = models_json_schema(models, by_alias=True, ref_template="#/definitions/{model}")
    top = _stable_names(top)
    definitions: dict[str, Any] = top["$defs"]
    root = definitions.pop("Case")
    spec_name = root["properties"]["spec"]["$ref"].rsplit("/", 1)[-1]
    resources = definitions[spec_name]["properties"]["resources"]
    resources["items"] = {
        "type": "object",
        "if": {"required": ["include"]},
        "then": {"$ref": "#/definitions/Include"},
        "else": {
            "required": ["apiVersion", "kind", "metadata"],
            "properties": {"kind": {"enum": sorted({t.kind for t in types})}},
            "allOf": [
                {
                    "if": {
                        "properties": {
                            "apiVersion": {"enum": versions},
                            "kind": {"const": kind},
                        },
                        "required": ["apiVersion", "kind"],
                    },
                    "then": {"$ref": f"#/definitions/{_definition_name(definitions, model)}"},
                }
                for (kind, model), versions in sorted(
                    _versions_by_model(types).items(), key=lambda item: (item[0][0], item[1])
                )
            ],
        },
    }
    return {
        "$schema": "http://json-schema.org/draft-07/schema#",
        "$id": SCHEMA_ID,
        "title": "pytest-meshgate case (meshgate.dev/v1alpha1)",
        "description": "A gateway configuration, its echo workloads and the checks it must pass.",
        **root,
        "definitions": definitions,
    }


# pydantic qualifies a clashing definition name by module path (two ServicePort
# models); published names must not move with the package layout, so each
# model's home is spelt as it was when the schema was first published.
_PUBLISHED_PREFIXES = {
    "pytest_meshgate___cases__model__workloads__": "pytest_meshgate___model__case__",
    "pytest_meshgate___cases__model__istio__serviceentry__": "pytest_meshgate___model__istio__",
}


def _stable_names(schema: dict[str, Any]) -> dict[str, Any]:
    text = json.dumps(schema)
    for module_prefix, published_prefix in _PUBLISHED_PREFIXES.items():
        text = text.replace(module_prefix, published_prefix)
    renamed: dict[str, Any] = json.loads(text)
    return renamed


def _versions_by_model(types: Any) -> dict[tuple[str, type[BaseModel]], list[str]]:
    """The apiVersions each (kind, model) validates, e.g. Gateway -> Istio's three versions."""
    out: dict[tuple[str, type[BaseModel]], list[str]] = {}
    for entry in types:
        out.setdefault((entry.kind, entry.model), []).append(entry.api_version)
    return {key: sorted(versions) for key, versions in out.items()}


def _definition_name(definitions: dict[str, Any], model: type[BaseModel]) -> str:
    """pydantic qualifies a definition's name only when two models share it."""
    if model.__name__ in definitions:
        return model.__name__
    return next(name for name in definitions if name.endswith(f"__{model.__name__}"))


def resource_schema(api_version: str, kind: str) -> dict[str, Any] | None:
    """The schema of one manifest kind (for "did you mean" hints on its keys)."""
    from .model.resources import resource_model

    model = resource_model(api_version, kind)
    if model is None:
        return None
    return model.model_json_schema(by_alias=True)


def case_schema_json() -> str:
    """The schema as committed at ``schema/case.schema.json``."""
    return json.dumps(case_schema(), indent=2, sort_keys=True) + "\n"


def allowed_keys(schema: dict[str, Any], key_path: tuple[str | int, ...]) -> list[str]:
    """The keys the schema allows in the mapping at ``key_path`` (for "did you mean")."""
    definitions = {**schema.get("definitions", {}), **schema.get("$defs", {})}
    nodes = [schema]
    for part in key_path:
        next_nodes: list[dict[str, Any]] = []
        for node in _expand(nodes, definitions):
            if isinstance(part, int):
                if isinstance(node.get("items"), dict):
                    next_nodes.append(node["items"])
            else:
                properties = node.get("properties", {})
                if part in properties:
                    next_nodes.append(properties[part])
                elif isinstance(node.get("additionalProperties"), dict):
                    next_nodes.append(node["additionalProperties"])
        nodes = next_nodes
    keys: set[str] = set()
    for node in _expand(nodes, definitions):
        keys.update(node.get("properties", {}))
    return sorted(keys)


def _expand(nodes: list[dict[str, Any]], definitions: dict[str, Any]) -> list[dict[str, Any]]:
    """Resolve ``$ref`` and flatten ``anyOf``/``oneOf``/``allOf`` into concrete nodes."""
    out: list[dict[str, Any]] = []
    stack = list(nodes)
    seen = 0
    while stack and seen < 1000:
        seen += 1
        node = stack.pop(0)
        if "$ref" in node:
            stack.append(definitions.get(node["$ref"].rsplit("/", 1)[-1], {}))
            continue
        branches = node.get("anyOf") or node.get("oneOf") or node.get("allOf")
        if branches:
            stack.extend(branches)
            continue
        out.append(node)
    return out
