"""The ServiceEntry resource: services the mesh does not discover itself.

Fields as in ``networking/v1alpha3/service_entry.proto`` and
``workload_entry.proto`` (istio/api).
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from ..base import StrictModel
from .common import LabelSelector
from .resource import IstioResource

__all__ = [
    "ServiceEntry",
    "ServiceEntrySpec",
    "ServicePort",
    "WorkloadEntry",
]


class ServicePort(StrictModel):
    number: int = Field(ge=1, le=65535)
    protocol: str | None = None
    name: str = Field(min_length=1)
    target_port: int | None = Field(default=None, ge=1, le=65535)


class WorkloadEntry(StrictModel):
    address: str | None = None
    ports: dict[str, int] = Field(default_factory=dict)
    labels: dict[str, str] = Field(default_factory=dict)
    network: str | None = None
    locality: str | None = None
    weight: int | None = None
    service_account: str | None = None


class ServiceEntrySpec(StrictModel):
    hosts: list[str] = Field(min_length=1)
    addresses: list[str] = Field(default_factory=list)
    ports: list[ServicePort] = Field(default_factory=list)
    location: Literal["MESH_EXTERNAL", "MESH_INTERNAL"] = "MESH_EXTERNAL"
    resolution: Literal["NONE", "STATIC", "DNS", "DNS_ROUND_ROBIN", "DYNAMIC_DNS"] = "NONE"
    endpoints: list[WorkloadEntry] = Field(default_factory=list)
    workload_selector: LabelSelector | None = None
    export_to: list[str] = Field(default_factory=list)
    subject_alt_names: list[str] = Field(default_factory=list)


class ServiceEntry(IstioResource):
    kind: Literal["ServiceEntry"]
    spec: ServiceEntrySpec
