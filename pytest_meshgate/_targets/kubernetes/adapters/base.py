"""The adapter interface: what the kind and cluster targets ask of one gateway implementation.

An adapter knows one gateway implementation on a cluster: how to install it,
when it is ready, which gateway workloads it runs and how clients reach them,
how pods join its mesh, and which features and capabilities it supports.
Vendors subclass ``Implementation`` and register it (``registry``).

Two kinds of gateways: the implementation's own workloads (``gateways``:
Istio's ingress and egress gateways, addressed by short names), and those
it deploys for Kubernetes Gateway API ``Gateway`` objects of its
GatewayClass (``gateway_class``, ``gateway_api_workload``), addressed as
``<namespace>/<name>``. An implementation may have either or both: Istio
has both, Envoy Gateway only the second.
"""

from __future__ import annotations

import abc
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from ...._cases.model.workloads import GatewayWorkload
from ..gatewayapi import CASE_GATEWAY_CLASS, GatewayClassInfo

if TYPE_CHECKING:
    from ..providers import ClusterHandle

__all__ = ["CASE_GATEWAY_CLASS", "AdapterOptions", "GatewayClassInfo", "Implementation"]


@dataclass(frozen=True)
class AdapterOptions:
    """The ``--meshgate-*`` values an adapter may read, plus where it runs."""

    values: Mapping[str, str | None] = field(default_factory=dict)  # option name -> value
    target: str = "kind"  # kind | cluster

    def get(self, name: str, default: str | None = None) -> str | None:
        value = self.values.get(name)
        return default if value in (None, "") else value


class Implementation(abc.ABC):
    """One gateway implementation on a cluster."""

    name: str
    system_namespace: str

    def __init__(self, options: AdapterOptions) -> None:
        self.options = options
        self.kube: Any = None  # the cluster's Kube, once the target has one (``attach``)

    def attach(self, kube: Any) -> None:
        """The session's API client, for diagnostics that read the cluster (logs)."""
        self.kube = kube

    def describe(self) -> str:
        """What skip messages call it: name, version, profile."""
        return self.name

    @abc.abstractmethod
    def preflight(self) -> None:
        """Raise ``TargetUnavailable`` at once if a tool the install needs is missing."""

    @abc.abstractmethod
    def install(self, cluster: ClusterHandle) -> None:
        """Install (idempotently) into ``cluster``; may be a no-op for pre-installed ones."""

    @abc.abstractmethod
    def wait_ready(self, cluster: ClusterHandle, api: Any, timeout: float) -> None:
        """Return when the control plane and gateways serve; ``api`` is a kubernetes ApiClient."""

    @abc.abstractmethod
    def gateways(self) -> dict[str, GatewayWorkload]:
        """The gateways it runs, by the short names requests use (``ingress``, ``egress``)."""

    @abc.abstractmethod
    def mesh_namespace_labels(self) -> dict[str, str]:
        """Labels that put a namespace's pods in the mesh (sidecar injection, ambient)."""

    def outside_namespace_labels(self) -> dict[str, str]:
        """Labels that keep a namespace out of the mesh (external services)."""
        return {}

    def supported_features(self) -> frozenset[str] | None:
        """Feature names from conformance/features.yaml it supports; None: all."""
        return None

    def unsupported_resources(self, kinds: set[tuple[str, str]]) -> str | None:
        """Why a case with these (apiVersion group, kind) resources cannot run here, or None."""
        return None

    def capabilities(self) -> frozenset[str]:
        """Target capabilities beyond the cluster target's own (see ``required_capabilities``)."""
        return frozenset()

    def installed_mesh_config(self) -> Any:
        """The access-log settings of the MeshConfig it installs (a ``MeshConfig``), or
        None when its proxies' access logs cannot be read (not Istio's sidecars)."""
        return None

    def gateway_manifests(self, workload: GatewayWorkload, namespace: str) -> list[dict[str, Any]]:
        """Objects that run a gateway a case declares in ``spec.gateways``."""
        return []

    # ------------------------------------------------------------ Gateway API

    def gateway_class(self) -> GatewayClassInfo | None:
        """Its GatewayClass; None: it does not implement the Gateway API."""
        return None

    def gateway_api_labels(self) -> dict[str, str]:
        """Labels a Gateway of its class needs to be reconciled (a control-plane revision)."""
        return {}

    def gateway_api_unavailable(self) -> str | None:
        """Why Gateway API cases cannot run on this cluster now (CRDs missing), or None.

        Asked after ``wait_ready``.
        """
        return None if self.gateway_class() is not None else f"{self.name} has no Gateway API"

    def gateway_api_workload(self, namespace: str, name: str) -> GatewayWorkload | None:
        """The Service (``name``, ``namespace``) and pod ``labels`` of Gateway ``namespace/name``.

        ``namespace`` is the cluster namespace. None while it does not exist
        yet (the controller makes it); ``self.kube`` may be read to find it.
        """
        return None

    def fingerprint(self) -> str:
        """What an install depends on; an unchanged one lets a reused cluster skip install."""
        return self.name

    def dump(self, cluster: ClusterHandle, gateway: GatewayWorkload) -> str:
        """The implementation's view of a gateway (logs, routes, clusters) for failure messages."""
        return ""

    def analyze(self, cluster: ClusterHandle, namespaces: list[str]) -> str:
        """The implementation's own analysis of the case's namespaces, for failure messages."""
        return ""

    def wait_synced(
        self, cluster: ClusterHandle, wanted: dict[str, list[str]], timeout: float
    ) -> str:
        """Wait until each proxy (``<namespace>:<target>``) carries the routes of ``wanted``.

        Returns '' when they do, else a note for failure messages; never raises.
        """
        return ""
