"""Finding implementation adapters: the entry-point group ``meshgate.implementations``.

Vendors register theirs in their own package::

    [project.entry-points."meshgate.implementations"]
    acme = "acme_mesh.meshgate:AcmeAdapter"

The class is called with an :class:`AdapterOptions`; ``--meshgate-implementation``
picks it by entry-point name.
"""

from __future__ import annotations

from importlib.metadata import entry_points
from typing import Any

from ...._errors import TargetUnavailable
from .base import AdapterOptions, Implementation

__all__ = ["BUILT_IN", "ENTRY_POINT_GROUP", "load_implementation"]

ENTRY_POINT_GROUP = "meshgate.implementations"
BUILT_IN = ("istio", "envoy-gateway")


def load_implementation(name: str, options: AdapterOptions) -> Implementation:
    """The adapter registered as ``name`` in ``meshgate.implementations``.

    The built-in ``istio`` and ``envoy-gateway`` are found even when the
    package metadata is stale (an editable install that predates the entry point).
    """
    candidates = [ep for ep in entry_points(group=ENTRY_POINT_GROUP) if ep.name == name]
    factory: Any
    if candidates:
        factory = candidates[0].load()
    elif name == "istio":
        from .istio import IstioAdapter

        factory = IstioAdapter
    elif name == "envoy-gateway":
        from .envoygateway import EnvoyGatewayAdapter

        factory = EnvoyGatewayAdapter
    else:
        known = sorted({ep.name for ep in entry_points(group=ENTRY_POINT_GROUP)} | set(BUILT_IN))
        raise TargetUnavailable(
            f"meshgate: no implementation {name!r} (installed: {', '.join(known)}); "
            f"vendors register one in the entry-point group {ENTRY_POINT_GROUP!r}"
        )
    adapter = factory(options)
    if not isinstance(adapter, Implementation):
        raise TargetUnavailable(
            f"meshgate: implementation {name!r} ({factory!r}) is not a meshgate Implementation"
        )
    return adapter
