"""The object around every Gateway API resource, and the versions each kind is served in."""

from __future__ import annotations

from typing import Any

from ..base import StrictModel
from ..kubernetes import ClusterObjectMeta, ObjectMeta
from .shared import GATEWAY_GROUP

__all__ = [
    "GATEWAY_API_CHANNEL",
    "GATEWAY_API_VERSION",
    "SERVED_VERSIONS",
    "ClusterGatewayAPIResource",
    "GatewayAPIResource",
]

# The release whose CRDs and conformance tests the models and cases follow,
# and its channel (a few experimental fields are accepted too: see the docs).
GATEWAY_API_VERSION = "v1.6.1"
GATEWAY_API_CHANNEL = "standard"

# What the CRDs of Gateway API v1.6 serve (config/crd/experimental/*.yaml
# `served: true`; the standard channel serves TLSRoute and TCPRoute in v1
# only). Newest first: the first is the storage version the docs use.
SERVED_VERSIONS: dict[str, tuple[str, ...]] = {
    "GatewayClass": ("v1", "v1beta1"),
    "Gateway": ("v1", "v1beta1"),
    "HTTPRoute": ("v1", "v1beta1"),
    "GRPCRoute": ("v1",),
    "ReferenceGrant": ("v1", "v1beta1"),
    "TLSRoute": ("v1", "v1alpha3", "v1alpha2"),
    "TCPRoute": ("v1", "v1alpha2"),
    "BackendTLSPolicy": ("v1", "v1alpha3"),
    "ListenerSet": ("v1",),
}


def api_versions(kind: str) -> tuple[str, ...]:
    return tuple(f"{GATEWAY_GROUP}/{v}" for v in SERVED_VERSIONS[kind])


class GatewayAPIResource(StrictModel):
    """A namespaced Gateway API object: ``apiVersion``, ``kind``, ``metadata``, ``spec``."""

    api_version: str
    kind: str
    metadata: ObjectMeta
    spec: Any

    @property
    def name(self) -> str:
        return self.metadata.name

    @property
    def namespace(self) -> str:
        return self.metadata.namespace

    @property
    def key(self) -> str:
        """``namespace/name``."""
        return f"{self.metadata.namespace}/{self.metadata.name}"

    @property
    def version(self) -> str:
        return self.api_version.rsplit("/", 1)[-1]


class ClusterGatewayAPIResource(StrictModel):
    """A cluster-scoped Gateway API object (GatewayClass)."""

    api_version: str
    kind: str
    metadata: ClusterObjectMeta
    spec: Any

    @property
    def name(self) -> str:
        return self.metadata.name

    @property
    def namespace(self) -> str:
        return ""

    @property
    def key(self) -> str:
        return self.metadata.name
