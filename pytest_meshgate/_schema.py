"""The JSON Schema of case files, generated from the case model (draft-07 for editors)."""

from __future__ import annotations

import json
from typing import Any

from ._model.case import Case

__all__ = ["SCHEMA_ID", "case_schema", "case_schema_json"]

SCHEMA_ID = "https://meshgate.dev/schema/v1alpha1/case.schema.json"


def case_schema() -> dict[str, Any]:
    """The schema of one case document.

    yaml-language-server validates with draft-07 semantics, so definitions go
    under ``definitions`` (pydantic emits 2020-12 ``$defs``) and the draft is
    stated explicitly.
    """
    schema = Case.model_json_schema(by_alias=True, ref_template="#/definitions/{model}")
    definitions = schema.pop("$defs", {})
    return {
        "$schema": "http://json-schema.org/draft-07/schema#",
        "$id": SCHEMA_ID,
        "title": "pytest-meshgate case (meshgate.dev/v1alpha1)",
        "description": "A gateway configuration, its echo workloads and the checks it must pass.",
        **schema,
        "definitions": definitions,
    }


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
