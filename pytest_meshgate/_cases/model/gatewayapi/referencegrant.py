"""The ReferenceGrant resource: which kinds in which namespaces may refer to objects here.

Fields as in ``apis/v1/referencegrant_types.go`` (kubernetes-sigs/gateway-api
v1.6; served as v1 and v1beta1).
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from ..base import StrictModel
from .resource import GatewayAPIResource
from .shared import Group, Kind, NamespaceName, ObjectName

__all__ = [
    "KubernetesReferenceGrant",
    "ReferenceGrantFrom",
    "ReferenceGrantSpec",
    "ReferenceGrantTo",
]


class ReferenceGrantFrom(StrictModel):
    group: Group
    kind: Kind
    namespace: NamespaceName


class ReferenceGrantTo(StrictModel):
    group: Group
    kind: Kind
    name: ObjectName | None = None


class ReferenceGrantSpec(StrictModel):
    from_: list[ReferenceGrantFrom] = Field(alias="from", min_length=1, max_length=16)
    to: list[ReferenceGrantTo] = Field(min_length=1, max_length=16)


class KubernetesReferenceGrant(GatewayAPIResource):
    """``gateway.networking.k8s.io`` ReferenceGrant (v1, v1beta1)."""

    api_version: Literal["gateway.networking.k8s.io/v1", "gateway.networking.k8s.io/v1beta1"]
    kind: Literal["ReferenceGrant"]
    spec: ReferenceGrantSpec
