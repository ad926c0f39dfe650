"""Resources as ``kubectl apply`` of a case's documents, in order, would leave them.

A case lists manifests the way a user applies files one after the other
(Istio's request-routing task applies ``virtual-service-all-v1.yaml``, then
``virtual-service-reviews-test-v2.yaml``, which redefines VirtualService
``reviews``). An object is identified as the API server identifies it: API
group (not version: ``networking.istio.io/v1`` and ``v1beta1`` are the same
object), kind, namespace and name. A later definition replaces the earlier one
whole, since Istio's resources are custom resources, which ``kubectl apply``
merges as JSON merge patches whose lists replace, and the manifests of one
applier own every field they set.

The replaced object stays an update of the same object: it keeps the first
definition's ``creationTimestamp`` (the API server ignores a changed one on
update, ``staging/src/k8s.io/apiserver/pkg/registry/rest/update.go``
``BeforeUpdate``: "ignore changes to timestamp") and so its place in Istio's
creation order, and it keeps its place in the resource list.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from .._errors import display_path
from .yamlpos import KeyPath, Mark

__all__ = ["Applied", "Replacement", "apply_in_order"]


@dataclass(frozen=True)
class Replacement:
    """One object defined again: where its earlier and its later definition are."""

    kind: str
    key: str  # namespace/name
    earlier: Mark
    later: Mark
    # The later definition set a creationTimestamp of its own, which does not apply.
    ignored_timestamp: bool = False

    def message(self) -> str:
        """What happened, naming both places (file:line of each)."""
        earlier = f"{display_path(self.earlier.path)}:{self.earlier.line}"
        later = f"{display_path(self.later.path)}:{self.later.line}"
        text = (
            f"{self.kind} {self.key} defined again at {later} replaces its definition at "
            f"{earlier}, as applying the documents in order would; the object keeps "
            "that definition's creationTimestamp"
        )
        if self.ignored_timestamp:
            text += " (the creationTimestamp given again is ignored, as on an update)"
        return text


@dataclass(frozen=True)
class Applied:
    """The objects the documents leave, each with the key path of its live definition."""

    resources: tuple[Any, ...]
    paths: tuple[KeyPath, ...]
    replacements: tuple[Replacement, ...]


def apply_in_order(
    resources: Sequence[Any], paths: Sequence[KeyPath], locate: Callable[[KeyPath], Mark]
) -> Applied:
    """``resources`` (Istio models, in document order, defined at ``paths``) as applied.

    ``locate`` gives the mark of a key path, for the replacement messages.
    """
    live: list[Any] = []
    live_paths: list[KeyPath] = []
    slots: dict[tuple[str, str, str, str], int] = {}
    replacements: list[Replacement] = []
    for resource, path in zip(resources, paths, strict=True):
        identity = _identity(resource)
        slot = slots.get(identity)
        if slot is None:
            slots[identity] = len(live)
            live.append(resource)
            live_paths.append(path)
            continue
        earlier = live[slot]
        kept = earlier.metadata.creation_timestamp
        given = resource.metadata.creation_timestamp
        replacements.append(
            Replacement(
                kind=resource.kind,
                key=resource.key,
                earlier=locate(live_paths[slot]),
                later=locate(path),
                ignored_timestamp=given is not None and given != kept,
            )
        )
        metadata = resource.metadata.model_copy(update={"creation_timestamp": kept})
        live[slot] = resource.model_copy(update={"metadata": metadata})
        live_paths[slot] = path
    return Applied(tuple(live), tuple(live_paths), tuple(replacements))


def _identity(resource: Any) -> tuple[str, str, str, str]:
    group = str(resource.api_version).rpartition("/")[0]  # "" for the core group ("v1")
    # ``resource.namespace`` is "" for a cluster-scoped object (Namespace,
    # GatewayClass), whose metadata has no namespace, as in Kubernetes.
    return (group, str(resource.kind), str(resource.namespace), str(resource.metadata.name))
