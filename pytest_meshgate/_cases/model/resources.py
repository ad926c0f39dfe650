"""The resource registry: the model of each manifest ``spec.resources`` may hold.

One table for the loader (which model validates a manifest), the schema
(one definition per kind and version) and the targets (``api`` tells Istio
config from Gateway API resources): ``(apiVersion, kind) -> model``.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel

from . import gatewayapi, istio
from .apps import (
    KubernetesDeployment,
    KubernetesService,
    KubernetesServiceAccount,
    KubernetesStatefulSet,
)
from .base import KeyPath
from .kubernetes import KubernetesConfigMap, KubernetesNamespace

__all__ = [
    "ResourceType",
    "UnsupportedResource",
    "cluster_scoped",
    "parse_resource",
    "reference_problems",
    "resource_model",
    "resource_types",
]


class UnsupportedResource(ValueError):
    """A manifest whose apiVersion/kind this suite does not model."""


@dataclass(frozen=True)
class ResourceType:
    """One kind in one served version, and the model that validates it."""

    api: str  # "istio", "gateway-api" or "kubernetes"
    api_version: str  # e.g. "gateway.networking.k8s.io/v1", "v1"
    kind: str
    model: type[BaseModel]


def _build() -> dict[tuple[str, str], ResourceType]:
    table: dict[tuple[str, str], ResourceType] = {}
    for kind, model in istio.resource_models().items():
        for api_version in istio.API_VERSIONS:
            table[(api_version, kind)] = ResourceType("istio", api_version, kind, model)
    for api_version in istio.TELEMETRY_API_VERSIONS:
        table[(api_version, "Telemetry")] = ResourceType(
            "istio", api_version, "Telemetry", istio.Telemetry
        )
    for api_version in istio.SECURITY_API_VERSIONS:
        for kind, security_model in (
            ("AuthorizationPolicy", istio.AuthorizationPolicy),
            ("RequestAuthentication", istio.RequestAuthentication),
        ):
            table[(api_version, kind)] = ResourceType("istio", api_version, kind, security_model)
        table[(api_version, "PeerAuthentication")] = ResourceType(
            "istio", api_version, "PeerAuthentication", istio.PeerAuthentication
        )
    for (kind, version), gw_model in gatewayapi.MODELS.items():
        api_version = f"{gatewayapi.GATEWAY_GROUP}/{version}"
        table[(api_version, kind)] = ResourceType("gateway-api", api_version, kind, gw_model)
    table[("v1", "Namespace")] = ResourceType("kubernetes", "v1", "Namespace", KubernetesNamespace)
    table[("v1", "ConfigMap")] = ResourceType("kubernetes", "v1", "ConfigMap", KubernetesConfigMap)
    # An application's own manifests: the echo answers in its place (_cases/appworkloads.py).
    table[("v1", "Service")] = ResourceType("kubernetes", "v1", "Service", KubernetesService)
    table[("v1", "ServiceAccount")] = ResourceType(
        "kubernetes", "v1", "ServiceAccount", KubernetesServiceAccount
    )
    table[("apps/v1", "Deployment")] = ResourceType(
        "kubernetes", "apps/v1", "Deployment", KubernetesDeployment
    )
    table[("apps/v1", "StatefulSet")] = ResourceType(
        "kubernetes", "apps/v1", "StatefulSet", KubernetesStatefulSet
    )
    return table


_TYPES = _build()


def resource_types() -> tuple[ResourceType, ...]:
    """Every (apiVersion, kind) the suite models, in registration order."""
    return tuple(_TYPES.values())


def resource_model(api_version: Any, kind: Any) -> type[BaseModel] | None:
    entry = _TYPES.get((api_version, kind)) if isinstance(api_version, str) else None
    return entry.model if entry is not None else None


def cluster_scoped(api_version: Any, kind: Any) -> bool:
    """Whether the kind is cluster-scoped (Namespace, GatewayClass): its objects have no
    ``metadata.namespace``, as Kubernetes stores them."""
    model = resource_model(api_version, kind)
    return model is not None and issubclass(
        model, (gatewayapi.ClusterGatewayAPIResource, KubernetesNamespace)
    )


# Other ways to run pods: the echo cannot stand in for what they promise (identity, order, nodes).
_WORKLOAD_KINDS = frozenset(
    {"Pod", "DaemonSet", "ReplicaSet", "ReplicationController", "Job", "CronJob"}
)


def _supported() -> str:
    by_group: dict[str, dict[str, list[str]]] = {}
    for entry in _TYPES.values():
        group, _, version = entry.api_version.rpartition("/")
        by_group.setdefault(group or "core", {}).setdefault(entry.kind, []).append(version)
    parts = []
    for group, kinds in by_group.items():
        listed = ", ".join(f"{kind} ({'/'.join(versions)})" for kind, versions in kinds.items())
        parts.append(f"{group}: {listed}")
    return "; ".join(parts)


def parse_resource(data: Mapping[str, Any]) -> Any:
    """Validate one manifest into the model of its apiVersion and kind.

    The model is picked first, so a ``pydantic.ValidationError`` carries
    locations relative to the manifest root with no union tags.

    Raises:
        UnsupportedResource: no model for this apiVersion and kind (the
            message says which versions of the kind are served, if any).
    """
    api_version = data.get("apiVersion") if isinstance(data, Mapping) else None
    kind = data.get("kind") if isinstance(data, Mapping) else None
    model = resource_model(api_version, kind)
    if model is None and kind in _WORKLOAD_KINDS:
        raise UnsupportedResource(
            f"{kind} cannot be honoured: the echo stands in for an application's pods only as "
            "a Deployment or StatefulSet (apps/v1) behind a Service (v1); declare it in "
            "spec.services instead"
        )
    if model is None:
        served = sorted(e.api_version for e in _TYPES.values() if e.kind == kind)
        if served:
            raise UnsupportedResource(
                f"{kind} is not served as apiVersion {api_version!r}; served: {', '.join(served)}"
            )
        raise UnsupportedResource(
            f"unsupported resource apiVersion={api_version!r} kind={kind!r}; supported kinds: "
            f"{_supported()}"
        )
    return model.model_validate(dict(data))


def reference_problems(case: Any, resources: Sequence[Any]) -> Iterator[tuple[KeyPath, str]]:
    """Names in a case's checks that must refer to one of its resources.

    ``request.gateway: <namespace>/<name>`` names a Gateway API Gateway;
    ``expect.conditions[].resource`` a Gateway API resource (or the default
    GatewayClass ``istio``).
    """
    gateways = sorted(r.key for r in resources if isinstance(r, gatewayapi.KubernetesGateway))
    known = {"GatewayClass/istio"} | {
        f"{r.kind}/{r.key}"
        for r in resources
        if isinstance(r, (gatewayapi.GatewayAPIResource, gatewayapi.ClusterGatewayAPIResource))
    }
    for i, check in enumerate(case.spec.checks):
        for j, want in enumerate(check.expect.conditions or ()):
            if want.resource not in known:
                yield (
                    ("spec", "checks", i, "expect", "conditions", j, "resource"),
                    f"unknown resource '{want.resource}' (Gateway API resources of the case: "
                    f"{', '.join(sorted(known))})",
                )
        name = check.request.gateway if check.request is not None else None
        if name is None or "/" not in name:
            continue
        if name not in gateways:
            listed = ", ".join(gateways) or "none in spec.resources"
            yield (
                ("spec", "checks", i, "request", "gateway"),
                f"unknown Gateway '{name}' (Gateway API Gateways: {listed})",
            )
