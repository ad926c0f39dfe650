"""The Sidecar resource that scopes a client sidecar: outbound policy and egress imports.

Istio's ``pilot/pkg/model/sidecar.go`` (``SidecarScope``): which Sidecar applies
to a proxy, the services and VirtualServices its ``egress`` hosts import, and
the ``outboundTrafficPolicy`` that decides where unknown destinations go.
"""

from __future__ import annotations

from collections.abc import Sequence

from ....._cases.model.istio import Sidecar
from ...world import GatewayProxy, World
from ..common import UnsupportedFeature, resources_of
from ..hosts import host_matches

__all__ = [
    "BLACKHOLE_CLUSTER",
    "PASSTHROUGH_CLUSTER",
    "egress_imports",
    "imported",
    "outbound_traffic_policy",
]

# Where traffic for no known service goes: ``ALLOW_ANY`` passes it through to its
# original destination, ``REGISTRY_ONLY`` drops it (util.PassthroughCluster/BlackHoleCluster).
PASSTHROUGH_CLUSTER = "PassthroughCluster"
BLACKHOLE_CLUSTER = "BlackHoleCluster"


def _selects(sidecar: Sidecar, labels: dict[str, str]) -> bool:
    selector = sidecar.spec.workload_selector
    if selector is None:
        return False
    return all(labels.get(k) == v for k, v in selector.labels.items())


def _sidecar_for(world: World, proxy: GatewayProxy) -> Sidecar | None:
    """``SidecarScope`` choice: a selecting Sidecar in the proxy's namespace, then the
    namespace's selector-less one, then the root namespace's selector-less one."""
    sidecars = resources_of(world, Sidecar)
    labels = dict(proxy.labels)
    own = [s for s in sidecars if s.metadata.namespace == proxy.namespace]
    for candidates in (
        [s for s in own if _selects(s, labels)],
        [s for s in own if s.spec.workload_selector is None],
        [
            s
            for s in sidecars
            if s.metadata.namespace == world.root_namespace and s.spec.workload_selector is None
        ],
    ):
        if candidates:
            return candidates[0]
    return None


def outbound_traffic_policy(world: World, proxy: GatewayProxy) -> str:
    """``ALLOW_ANY`` (Istio's default) or ``REGISTRY_ONLY``, from the proxy's Sidecar."""
    sidecar = _sidecar_for(world, proxy)
    if sidecar is None:
        return "ALLOW_ANY"
    spec = sidecar.spec
    if spec.ingress:
        raise UnsupportedFeature(sidecar, "spec.ingress")
    if spec.inbound_connection_pool is not None:
        raise UnsupportedFeature(sidecar, "spec.inboundConnectionPool")
    for i, egress in enumerate(spec.egress):
        if egress.port is not None or egress.bind or egress.capture_mode:
            raise UnsupportedFeature(sidecar, f"spec.egress[{i}]", "only hosts, no port")
    if len(spec.egress) > 1:
        raise UnsupportedFeature(sidecar, "spec.egress", "more than one egress listener")
    policy = spec.outbound_traffic_policy
    if policy is None:
        return "ALLOW_ANY"
    if policy.egress_proxy is not None:
        raise UnsupportedFeature(sidecar, "spec.outboundTrafficPolicy.egressProxy")
    return policy.mode


def egress_imports(world: World, proxy: GatewayProxy) -> list[tuple[str, str]] | None:
    """The Sidecar's ``egress[0].hosts`` as (namespace, host) pairs; None: import everything.

    ``./h`` is the proxy's namespace, ``*/h`` any namespace, ``~/h`` nothing;
    a bare ``h`` is ``*/h`` (``sidecar.go`` ``ParseHosts``, egress listener hosts).
    """
    sidecar = _sidecar_for(world, proxy)
    if sidecar is None or not sidecar.spec.egress:
        return None
    imports: list[tuple[str, str]] = []
    for entry in sidecar.spec.egress[0].hosts:
        namespace, _, host = entry.rpartition("/")
        namespace = namespace or "*"
        if namespace == ".":
            namespace = proxy.namespace
        if namespace != "~":
            imports.append((namespace, host.lower()))
    return imports


def imported(imports: list[tuple[str, str]] | None, namespace: str, hosts: Sequence[str]) -> bool:
    """A service or VirtualService (its namespace, its hosts) is visible through the imports."""
    if imports is None:
        return True
    return any(
        ns in ("*", namespace) and (pattern == "*" or any(host_matches(pattern, h) for h in hosts))
        for ns, pattern in imports
    )
