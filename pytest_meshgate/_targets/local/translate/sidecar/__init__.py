"""A client sidecar's outbound configuration (``translate_sidecar``), split as Istio builds it.

``outbound.py`` assembles listeners and clusters per port; ``httproute.py``
builds HTTP route configurations, ``filterchains.py`` TLS and TCP filter
chains; ``scope.py`` reads the Sidecar resource that scopes the proxy.
"""

from __future__ import annotations

from .httproute import service_domains
from .outbound import PROXY_PROTOCOL_FILTER, translate_sidecar
from .scope import BLACKHOLE_CLUSTER, PASSTHROUGH_CLUSTER, outbound_traffic_policy

__all__ = [
    "BLACKHOLE_CLUSTER",
    "PASSTHROUGH_CLUSTER",
    "PROXY_PROTOCOL_FILTER",
    "outbound_traffic_policy",
    "service_domains",
    "translate_sidecar",
]
