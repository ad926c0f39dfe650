"""The Sidecar resource: a workload's listeners and the hosts it reaches.

Fields as in ``networking/v1alpha3/sidecar.proto`` (istio/api).
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from ..base import StrictModel
from .common import Destination, LabelSelector
from .destinationrule import ConnectionPoolSettings
from .gateway import ServerTLSSettings
from .resource import IstioResource

__all__ = [
    "IstioEgressListener",
    "IstioIngressListener",
    "OutboundTrafficPolicy",
    "Sidecar",
    "SidecarPort",
    "SidecarSpec",
]


class SidecarPort(StrictModel):
    number: int = Field(ge=0, le=65535)
    protocol: str | None = None
    name: str | None = None
    target_port: int | None = None


class IstioIngressListener(StrictModel):
    port: SidecarPort
    bind: str | None = None
    capture_mode: Literal["DEFAULT", "IPTABLES", "NONE"] | None = None
    default_endpoint: str | None = None
    tls: ServerTLSSettings | None = None
    connection_pool: ConnectionPoolSettings | None = None


class IstioEgressListener(StrictModel):
    port: SidecarPort | None = None
    bind: str | None = None
    capture_mode: Literal["DEFAULT", "IPTABLES", "NONE"] | None = None
    hosts: list[str] = Field(min_length=1)


class OutboundTrafficPolicy(StrictModel):
    # The proto's zero value: a policy written without a mode is REGISTRY_ONLY (only an
    # absent policy falls back to the mesh's ALLOW_ANY).
    mode: Literal["REGISTRY_ONLY", "ALLOW_ANY"] = "REGISTRY_ONLY"
    egress_proxy: Destination | None = None


class SidecarSpec(StrictModel):
    workload_selector: LabelSelector | None = None
    ingress: list[IstioIngressListener] = Field(default_factory=list)
    egress: list[IstioEgressListener] = Field(default_factory=list)
    inbound_connection_pool: ConnectionPoolSettings | None = None
    outbound_traffic_policy: OutboundTrafficPolicy | None = None


class Sidecar(IstioResource):
    kind: Literal["Sidecar"]
    spec: SidecarSpec
