"""PeerAuthentication: the mutual TLS mode a workload's inbound port accepts, as Istio composes it.

``pilot/pkg/security/authn/policy_applier.go`` ``ComposePeerAuthentication``:
of the policies without selector the oldest in the root namespace is the
mesh's and the oldest in the workload's namespace the namespace's; of those
whose selector matches the workload (never in the root namespace) the oldest
is the workload's. Each level that sets a mode (not UNSET) overrides the one
before, starting from PERMISSIVE; the workload policy's ``portLevelMtls``
then overrides its port (UNSET there inherits the workload's result).

``BestEffortInferServiceMTLSMode`` (``pilot/pkg/model/push_context.go``) is
what a client may know of a Service: mesh and namespace policies only.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from ...._cases.model.istio import PeerAuthentication
from ..world import World
from .common import labels_match

__all__ = [
    "DISABLE",
    "PERMISSIVE",
    "STRICT",
    "MergedPeerAuthentication",
    "namespace_mtls_mode",
    "peer_authentication",
    "peer_authentications",
]

STRICT = "STRICT"
PERMISSIVE = "PERMISSIVE"
DISABLE = "DISABLE"


@dataclass(frozen=True)
class MergedPeerAuthentication:
    """``MergedPeerAuthentication``: the workload's mode and its port-level overrides."""

    mode: str = PERMISSIVE
    per_port: Mapping[int, str] = field(default_factory=dict)

    def mode_for_port(self, port: int) -> str:
        """``GetMutualTLSModeForPort``: ``port`` is the workload's (container) port."""
        return self.per_port.get(port, self.mode)


def peer_authentications(world: World) -> list[PeerAuthentication]:
    """The case's PeerAuthentications, in creation order (the world's order)."""
    return [r for r in world.resources if isinstance(r, PeerAuthentication)]


def _set(policy: PeerAuthentication | None) -> str | None:
    if policy is None or policy.spec.mtls is None or policy.spec.mtls.mode == "UNSET":
        return None
    return policy.spec.mtls.mode


def _first(policies: Sequence[PeerAuthentication]) -> PeerAuthentication | None:
    # The world lists resources in creation order: the first is the oldest.
    return policies[0] if policies else None


def peer_authentication(
    world: World, namespace: str, labels: Mapping[str, str]
) -> MergedPeerAuthentication:
    """The policy that applies to a workload in ``namespace`` with pod ``labels``."""
    root = world.root_namespace
    policies = peer_authentications(world)
    mesh = _first([p for p in policies if p.namespace == root and not p.spec.has_selector])
    in_namespace = [p for p in policies if p.namespace == namespace and p.namespace != root]
    ns_level = _first([p for p in in_namespace if not p.spec.has_selector])
    workload = _first(
        [
            p
            for p in in_namespace
            if p.spec.has_selector
            and p.spec.selector is not None
            and labels_match(labels, p.spec.selector.match_labels)
        ]
    )
    mode = PERMISSIVE
    for level in (mesh, ns_level, workload):
        mode = _set(level) or mode
    per_port: dict[int, str] = {}
    if workload is not None:
        for port, mtls in (workload.spec.port_level_mtls or {}).items():
            per_port[port] = mode if mtls.mode == "UNSET" else mtls.mode
    return MergedPeerAuthentication(mode, per_port)


def namespace_mtls_mode(world: World, namespace: str) -> str:
    """``GetNamespaceMutualTLSMode`` then PERMISSIVE: what a client infers for a Service."""
    return peer_authentication(world, namespace, {}).mode if namespace else PERMISSIVE
