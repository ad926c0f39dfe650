"""What the Gateway API conversion reads: the case's resources, Services, Secrets and Namespaces.

Istio's controller reads them as krt collections (``RouteContextInputs`` in
``pilot/pkg/config/kube/gateway/route_collections.go``); here they are one
frozen snapshot of the case. ReferenceGrants are looked up as
``gatewaycommon.ReferenceGrants`` does (``BackendAllowed``, ``SecretAllowed``).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import timezone
from functools import cached_property
from typing import Any, TypeVar

from ...._cases.model.gatewayapi import (
    KubernetesGateway,
    KubernetesGatewayClass,
    KubernetesGRPCRoute,
    KubernetesHTTPRoute,
    KubernetesListenerSet,
    KubernetesReferenceGrant,
    KubernetesTCPRoute,
    KubernetesTCPRouteV1Alpha2,
    KubernetesTLSRoute,
    KubernetesTLSRouteV1Alpha2,
)
from ...._cases.model.kubernetes import KubernetesNamespace
from ..world import DOMAIN_SUFFIX, MeshService

__all__ = [
    "DEFAULT_CLASS",
    "ISTIO_CONTROLLER",
    "NAMESPACE_NAME_LABEL",
    "ConversionInputs",
    "by_creation",
]

ISTIO_CONTROLLER = "istio.io/gateway-controller"  # features.ManagedGatewayController
DEFAULT_CLASS = "istio"  # the GatewayClass istiod creates (gatewaycommon.ClassInfos)
NAMESPACE_NAME_LABEL = "kubernetes.io/metadata.name"

T = TypeVar("T")

# Resources without creationTimestamp are created "together", after any explicit one
# (as ``translate.common.by_creation`` has it for Istio's own resources).
_IMPLICIT = 10.0**11


def by_creation(items: Iterable[T]) -> list[T]:
    """Istio's ``sortConfigByCreationTime``: timestamp, then namespace, then name.

    Unlike Istio's push context (name before namespace), the Gateway API
    conversion compares the namespace first (``conversion.go``).
    """

    def key(item: Any) -> tuple[float, str, str]:
        ts = item.metadata.creation_timestamp
        if ts is None:
            when = _IMPLICIT
        else:
            if ts.tzinfo is None:
                ts = ts.replace(tzinfo=timezone.utc)
            when = float(int(ts.timestamp()))  # whole seconds, as Kubernetes stores it
        return (when, getattr(item.metadata, "namespace", ""), item.metadata.name)

    return sorted(items, key=key)


@dataclass(frozen=True)
class ConversionInputs:
    """The case as the Gateway API controller sees it.

    ``services`` is the mesh registry (case Services, keyed by FQDN);
    ``secrets`` the Kubernetes Secrets by (namespace, name), ``config_maps``
    the ConfigMaps (manifests' and generated CAs'); ``extra_namespaces``
    namespaces that exist without a Namespace manifest (every namespace the
    case mentions: Kubernetes would have created them).
    """

    resources: Sequence[Any]
    services: Sequence[MeshService] = ()
    secrets: Mapping[tuple[str, str], Mapping[str, bytes]] = field(default_factory=dict, repr=False)
    config_maps: Mapping[tuple[str, str], Mapping[str, str]] = field(default_factory=dict)
    extra_namespaces: Sequence[str] = ()
    domain_suffix: str = DOMAIN_SUFFIX

    def of(self, *kinds: type[T]) -> list[T]:
        return [r for r in self.resources if isinstance(r, kinds)]

    @cached_property
    def gateways(self) -> list[KubernetesGateway]:
        return by_creation(self.of(KubernetesGateway))

    @cached_property
    def listener_sets(self) -> list[KubernetesListenerSet]:
        return by_creation(self.of(KubernetesListenerSet))

    @cached_property
    def http_routes(self) -> list[KubernetesHTTPRoute]:
        return by_creation(self.of(KubernetesHTTPRoute))

    @cached_property
    def grpc_routes(self) -> list[KubernetesGRPCRoute]:
        return by_creation(self.of(KubernetesGRPCRoute))

    @cached_property
    def tls_routes(self) -> list[KubernetesTLSRoute | KubernetesTLSRouteV1Alpha2]:
        return by_creation(self.of(KubernetesTLSRoute, KubernetesTLSRouteV1Alpha2))

    @cached_property
    def tcp_routes(self) -> list[KubernetesTCPRoute | KubernetesTCPRouteV1Alpha2]:
        return by_creation(self.of(KubernetesTCPRoute, KubernetesTCPRouteV1Alpha2))

    @cached_property
    def classes(self) -> dict[str, str]:
        """GatewayClass name -> controller; ``istio`` exists unless the case redefines it."""
        out = {DEFAULT_CLASS: ISTIO_CONTROLLER}
        for gc in self.of(KubernetesGatewayClass):
            out[gc.name] = gc.spec.controller_name
        return out

    @cached_property
    def namespace_labels(self) -> dict[str, dict[str, str]]:
        """Every namespace of the case, with its labels (the name label always set)."""
        out: dict[str, dict[str, str]] = {}
        for name in self.extra_namespaces:
            out[name] = {NAMESPACE_NAME_LABEL: name}
        for r in self.resources:
            ns = getattr(getattr(r, "metadata", None), "namespace", None)
            if isinstance(ns, str) and ns:
                out.setdefault(ns, {NAMESPACE_NAME_LABEL: ns})
        for service in self.services:
            out.setdefault(service.namespace, {NAMESPACE_NAME_LABEL: service.namespace})
        for namespace in self.of(KubernetesNamespace):
            out[namespace.name] = namespace.effective_labels
        return out

    @cached_property
    def _services_by_key(self) -> dict[str, MeshService]:
        suffix = f".svc.{self.domain_suffix}"
        out: dict[str, MeshService] = {}
        for service in self.services:
            if service.origin == "kubernetes" and service.hostname.endswith(suffix):
                name = service.hostname[: -len(suffix)].rsplit(".", 1)[0]
                out[f"{service.namespace}/{name}"] = service
        return out

    def service(self, namespace: str, name: str) -> MeshService | None:
        """The Kubernetes Service ``namespace/name``, if the case has it."""
        return self._services_by_key.get(f"{namespace}/{name}")

    @cached_property
    def _grants(self) -> list[KubernetesReferenceGrant]:
        return self.of(KubernetesReferenceGrant)

    def reference_allowed(
        self,
        from_group: str,
        from_kind: str,
        from_namespace: str,
        to_group: str,
        to_kind: str,
        to_name: str,
        to_namespace: str,
    ) -> bool:
        """A ReferenceGrant in ``to_namespace`` lets ``from_kind`` in ``from_namespace`` refer.

        ``gatewaycommon.ReferenceGrants``: a grant's ``to`` entry without a
        name admits every object of that group and kind.
        """
        for grant in self._grants:
            if grant.namespace != to_namespace:
                continue
            if not any(
                f.group == from_group and f.kind == from_kind and f.namespace == from_namespace
                for f in grant.spec.from_
            ):
                continue
            if any(
                t.group == to_group and t.kind == to_kind and (t.name is None or t.name == to_name)
                for t in grant.spec.to
            ):
                return True
        return False
