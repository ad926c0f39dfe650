"""Manifests as ``kubectl get -o yaml`` prints them: Lists unwrapped, server-set fields dropped.

A paste from a cluster carries what the API server wrote, not the user:
``metadata.managedFields``, ``resourceVersion``, ``uid``, ``generation``,
``selfLink``, ``deletionTimestamp``, ``deletionGracePeriodSeconds``
(``k8s.io/apimachinery/pkg/apis/meta/v1/types.go`` ObjectMeta, the fields
documented "Populated by the system. Read-only.") and the top-level
``status`` (written by controllers through the status subresource). They are
removed before validation, so they are neither errors nor applied on a
cluster. ``creationTimestamp`` is kept: Istio orders objects by it
(``pilot/pkg/model/config.go`` ``sortConfigByCreationTime``), and a paste's
timestamps are the order the cluster really saw.

``kind: List`` (``apiVersion: v1``, ``items: [...]``), as ``kubectl get -o
yaml`` prints several objects, becomes its items in place, their positions
kept so errors point into the list.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from .._errors import Problem
from .yamlpos import Mark, Positions, format_key_path

__all__ = ["SERVER_SET_METADATA", "unwrap_lists", "without_server_fields"]

SERVER_SET_METADATA = (
    "managedFields",
    "resourceVersion",
    "uid",
    "generation",
    "selfLink",
    "deletionTimestamp",
    "deletionGracePeriodSeconds",
)


def without_server_fields(resource: Mapping[str, Any]) -> dict[str, Any]:
    """``resource`` without what the API server sets (a copy; the input is left alone)."""
    out = {k: v for k, v in resource.items() if k != "status"}
    metadata = out.get("metadata")
    if isinstance(metadata, Mapping):
        out["metadata"] = {k: v for k, v in metadata.items() if k not in SERVER_SET_METADATA}
    return out


def _is_list(entry: object) -> bool:
    return (
        isinstance(entry, Mapping)
        and entry.get("apiVersion") == "v1"
        and entry.get("kind") == "List"
    )


def unwrap_lists(
    data: dict[str, Any], positions: Positions, problems: list[Problem], fallback: Mark
) -> dict[str, Any]:
    """``spec.resources`` with each ``kind: List`` replaced by its items, server fields dropped.

    ``positions`` is rewritten in place: an item's marks move from
    ``spec.resources[i].items[j]`` to its new index, so later resources shift.
    """
    spec = data.get("spec")
    if not isinstance(spec, dict) or not isinstance(spec.get("resources"), list):
        return data
    entries: list[Any] = spec["resources"]
    original = positions.subtree(("spec", "resources"))
    resources: list[Any] = []
    moved = Positions()

    def keep(entry: Any, at: tuple[str | int, ...]) -> None:
        moved.graft((len(resources),), original.subtree(at))
        moved.values[(len(resources),)] = original.values.get(at) or fallback
        resources.append(without_server_fields(entry) if isinstance(entry, Mapping) else entry)

    def fail(at: tuple[str | int, ...], message: str) -> None:
        mark = original.locate(at) or fallback
        problems.append(mark.problem(format_key_path(("spec", "resources", *at)), message))

    for i, entry in enumerate(entries):
        if not _is_list(entry):
            keep(entry, (i,))
            continue
        items = entry.get("items")
        if not isinstance(items, list):
            fail((i, "items"), "a List holds its objects under items: a list of manifests")
            continue
        extra = sorted(
            str(k) for k in entry if k not in ("apiVersion", "kind", "items", "metadata")
        )
        if extra:
            fail((i, extra[0]), "unknown key of a List (apiVersion, kind, metadata, items)")
            continue
        for j, item in enumerate(items):
            if not isinstance(item, Mapping):
                fail((i, "items", j), "a List item must be a manifest (a mapping)")
            elif _is_list(item):
                fail((i, "items", j, "kind"), "a List inside a List is not unwrapped")
            else:
                keep(item, (i, "items", j))
    for table in (positions.keys, positions.values):
        for key_path in [k for k in table if k[:2] == ("spec", "resources") and len(k) > 2]:
            del table[key_path]
    positions.graft(("spec", "resources"), moved)
    return {**data, "spec": {**spec, "resources": resources}}
