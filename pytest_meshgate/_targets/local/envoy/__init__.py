"""Real Envoy processes configured through filesystem xDS and confirmed through admin stats.

``process`` runs one Envoy; ``xds`` writes its configuration files in order
and detects rejections; ``admin`` reads its admin API; ``ports`` picks the
loopback ports its listeners bind.
"""

from __future__ import annotations

from .ports import allocate_port
from .process import ENVOY_FLAGS, EnvoyProcess, find_envoy_binary

__all__ = [
    "ENVOY_FLAGS",
    "EnvoyProcess",
    "allocate_port",
    "find_envoy_binary",
]
