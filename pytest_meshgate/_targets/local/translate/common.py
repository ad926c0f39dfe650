"""Shared pieces of the translation: the result type, errors, ordering, visibility."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import timezone
from typing import Any, TypeVar

from ...._cases.model.istio import IstioResource
from ...._errors import TargetError
from ..world import World

__all__ = [
    "HCM_TYPE",
    "EnvoyConfig",
    "Json",
    "UnsupportedFeature",
    "by_creation",
    "canonical_name",
    "canonical_revision",
    "envoy_duration",
    "exported_to",
    "labels_match",
    "resources_of",
]

Json = dict[str, Any]
R = TypeVar("R", bound=IstioResource)

LISTENER_TYPE = "type.googleapis.com/envoy.config.listener.v3.Listener"
CLUSTER_TYPE = "type.googleapis.com/envoy.config.cluster.v3.Cluster"
ROUTE_TYPE = "type.googleapis.com/envoy.config.route.v3.RouteConfiguration"
_API = "type.googleapis.com/envoy.extensions"
HCM_TYPE = (
    "type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3"
    ".HttpConnectionManager"
)


class UnsupportedFeature(TargetError):
    """The case uses an Istio field the local translation does not implement yet.

    Raised instead of ignoring the field: a silently dropped fault or mirror
    would make a check pass or fail for the wrong reason.
    """

    def __init__(self, resource: IstioResource, field_path: str, detail: str = "") -> None:
        self.resource_key = f"{resource.kind} {resource.key}"
        self.field_path = field_path
        message = f"{self.resource_key}: {field_path} is not supported by the local target yet"
        if detail:
            message += f" ({detail})"
        super().__init__(message)


@dataclass(frozen=True)
class EnvoyConfig:
    """Envoy v3 resources as JSON-able dicts, each with its ``@type``, sorted by name."""

    listeners: list[Json] = field(default_factory=list)
    clusters: list[Json] = field(default_factory=list)
    routes: list[Json] = field(default_factory=list)


def envoy_duration(seconds: float) -> str:
    """Seconds -> protobuf JSON duration (``1.5`` -> ``"1.500s"``, ``0`` -> ``"0s"``)."""
    nanos = round(seconds * 1e9)
    whole, frac = divmod(nanos, 10**9)
    if frac == 0:
        return f"{whole}s"
    return f"{whole}.{frac:09d}".rstrip("0") + "s"


# Resources without an explicit creationTimestamp count as created together
# "now" (after any explicit, past timestamp), as one `kubectl apply` creates
# them within the same second: Kubernetes stores creationTimestamp in whole
# seconds, so Istio then orders them by name and namespace, not file order.
_IMPLICIT_EPOCH = 10**11


def by_creation(resources: list[tuple[int, R]]) -> list[R]:
    """Istio's config order: creationTimestamp, then name, then namespace.

    ``model/config.go`` ``configCompareByCreationTime``: "If creation time is
    the same, ... pick an arbitrary but consistent ordering based on name and
    namespace". ``resources`` carry their index in ``World.resources``, which
    only keeps the sort stable.
    """

    def key(item: tuple[int, R]) -> tuple[float, str, str]:
        _, res = item
        ts = res.metadata.creation_timestamp
        if ts is None:
            when = float(_IMPLICIT_EPOCH)
        else:
            if ts.tzinfo is None:
                ts = ts.replace(tzinfo=timezone.utc)
            when = float(int(ts.timestamp()))  # whole seconds, as Kubernetes stores it
        return (when, res.metadata.name, res.metadata.namespace)

    return [res for _, res in sorted(resources, key=key)]


def resources_of(world: World, kind: type[R]) -> list[R]:
    """The world's resources of one kind, in Istio's creation order."""
    return by_creation([(i, r) for i, r in enumerate(world.resources) if isinstance(r, kind)])


def exported_to(export_to: list[str], own_namespace: str, namespace: str) -> bool:
    """``exportTo`` visibility: empty or ``*`` = everyone, ``.`` = own namespace, ``~`` = none."""
    if not export_to:
        return True
    for entry in export_to:
        if entry == "*":
            return True
        if entry == "." and namespace == own_namespace:
            return True
        if entry == namespace:
            return True
    return False


def labels_match(labels: Mapping[str, str], selector: Mapping[str, str]) -> bool:
    """Every selector label is set to the same value (``labels.Instance.SubsetOf``)."""
    return all(labels.get(k) == v for k, v in selector.items())


def canonical_name(labels: Mapping[str, str], workload: str) -> str:
    """``kubelabels.CanonicalService``'s name: the canonical-name label, else
    ``app.kubernetes.io/name``, else ``app``, else the workload's name."""
    return (
        labels.get("service.istio.io/canonical-name")
        or labels.get("app.kubernetes.io/name")
        or labels.get("app")
        or workload
    )


def canonical_revision(labels: Mapping[str, str]) -> str:
    """``kubelabels.CanonicalService``'s revision: the canonical-revision label, else
    ``app.kubernetes.io/version``, else ``version``; empty when none (Istio says
    ``latest`` then)."""
    return (
        labels.get("service.istio.io/canonical-revision")
        or labels.get("app.kubernetes.io/version")
        or labels.get("version")
        or ""
    )
