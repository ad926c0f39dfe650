"""The GatewayClass resource: which controller implements the Gateways of a class.

Fields as in ``apis/v1/gatewayclass_types.go`` (kubernetes-sigs/gateway-api v1.6).
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from ..base import StrictModel
from .resource import ClusterGatewayAPIResource
from .shared import Group, Kind, NamespaceName, ObjectName

__all__ = ["GatewayClassSpec", "KubernetesGatewayClass", "ParametersReference"]


class ParametersReference(StrictModel):
    group: Group
    kind: Kind
    name: ObjectName
    namespace: NamespaceName | None = None


class GatewayClassSpec(StrictModel):
    controller_name: str = Field(
        min_length=1,
        max_length=253,
        pattern=r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*\/[A-Za-z0-9\/\-._~%!$&'()*+,;=:]+$",
    )
    parameters_ref: ParametersReference | None = None
    description: str | None = Field(default=None, max_length=64)


class KubernetesGatewayClass(ClusterGatewayAPIResource):
    """``gateway.networking.k8s.io`` GatewayClass (v1, v1beta1); cluster-scoped."""

    api_version: Literal["gateway.networking.k8s.io/v1", "gateway.networking.k8s.io/v1beta1"]
    kind: Literal["GatewayClass"]
    spec: GatewayClassSpec
