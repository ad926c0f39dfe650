"""VirtualService HTTP routes -> Envoy routes, as Istio's ``pilot/pkg/networking/core/route/``.

``route.py`` builds route configurations, virtual hosts and route entries;
``match.py`` translates matches; ``policy.py`` the per-route policies.
"""

from __future__ import annotations

from .policy import DEFAULT_RETRY_POLICY, retry_policy
from .route import MAX_DIRECT_RESPONSE_BODY, build_route_config, routes_for_virtual_service

__all__ = [
    "DEFAULT_RETRY_POLICY",
    "MAX_DIRECT_RESPONSE_BODY",
    "build_route_config",
    "retry_policy",
    "routes_for_virtual_service",
]
