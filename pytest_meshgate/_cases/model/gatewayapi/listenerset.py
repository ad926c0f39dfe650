"""The ListenerSet resource: listeners another namespace adds to a Gateway that allows it.

Fields and CEL rules as ``apis/v1/listenerset_types.go`` and
``config/crd/standard/gateway.networking.k8s.io_listenersets.yaml``
(kubernetes-sigs/gateway-api v1.6; standard channel, served as v1).
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field, field_validator

from ..base import StrictModel
from .gateway import Listener
from .resource import GatewayAPIResource
from .shared import GATEWAY_GROUP, Group, Kind, NamespaceName, ObjectName

__all__ = [
    "KubernetesListenerSet",
    "ListenerEntry",
    "ListenerSetSpec",
    "ParentGatewayReference",
]


class ListenerEntry(Listener):
    """A ListenerSet listener: a Gateway listener's fields, its port required as well.

    The v1 CRD marks ``port`` ``+required`` (Minimum 1), so an API server refuses an
    entry without one. Istio's ``ListenerEntryPortNumber`` still defaults a port of 0
    to 80 or 443 (``pilot/pkg/config/kube/gatewaycommon/gateway_utils.go``), a path
    that only objects the API server never admits can take.
    """

    def as_listener(self) -> Listener:
        """``ConvertListenerSetToListener``: the same fields as a Gateway listener."""
        return Listener.model_construct(
            name=self.name,
            hostname=self.hostname,
            port=self.port,
            protocol=self.protocol,
            tls=self.tls,
            allowed_routes=self.allowed_routes,
        )


class ParentGatewayReference(StrictModel):
    group: Group = GATEWAY_GROUP
    kind: Kind = "Gateway"
    namespace: NamespaceName | None = None
    name: ObjectName


class ListenerSetSpec(StrictModel):
    parent_ref: ParentGatewayReference
    listeners: list[ListenerEntry] = Field(min_length=1, max_length=64)

    @field_validator("listeners")
    @classmethod
    def _distinct_listeners(cls, listeners: list[ListenerEntry]) -> list[ListenerEntry]:
        names = [x.name for x in listeners]
        if len(set(names)) != len(names):
            raise ValueError("Listener name must be unique within the Gateway")
        combos = [(x.port, x.protocol, x.hostname) for x in listeners]
        if len(set(combos)) != len(combos):
            raise ValueError(
                "Combination of port, protocol and hostname must be unique for each listener"
            )
        return listeners


class KubernetesListenerSet(GatewayAPIResource):
    """``gateway.networking.k8s.io`` ListenerSet (v1)."""

    api_version: Literal["gateway.networking.k8s.io/v1"]
    kind: Literal["ListenerSet"]
    spec: ListenerSetSpec

    def parent_key(self) -> str:
        """``ListenerSetParentKey``: ``namespace/name`` of the Gateway it names."""
        ref = self.spec.parent_ref
        return f"{ref.namespace or self.namespace}/{ref.name}"
