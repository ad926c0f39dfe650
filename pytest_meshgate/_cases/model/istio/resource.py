"""The Kubernetes object around every Istio resource: apiVersion, kind, metadata, spec."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import Field

from ..base import StrictModel

__all__ = [
    "API_VERSIONS",
    "ApiVersion",
    "IstioResource",
    "Metadata",
]


API_VERSIONS = (
    "networking.istio.io/v1",
    "networking.istio.io/v1beta1",
    "networking.istio.io/v1alpha3",
)
ApiVersion = Literal[
    "networking.istio.io/v1",
    "networking.istio.io/v1beta1",
    "networking.istio.io/v1alpha3",
]


class Metadata(StrictModel):
    """The Kubernetes object metadata the translation cares about."""

    name: str = Field(min_length=1)
    namespace: str = "default"
    labels: dict[str, str] = Field(default_factory=dict)
    annotations: dict[str, str] = Field(default_factory=dict)
    creation_timestamp: datetime | None = None


class IstioResource(StrictModel):
    """One Istio object: ``apiVersion``, ``kind``, ``metadata``, ``spec``."""

    api_version: ApiVersion
    kind: str
    metadata: Metadata
    spec: Any

    @property
    def name(self) -> str:
        return self.metadata.name

    @property
    def namespace(self) -> str:
        return self.metadata.namespace

    @property
    def key(self) -> str:
        """``namespace/name``, the form Istio uses to refer to the object."""
        return f"{self.metadata.namespace}/{self.metadata.name}"
