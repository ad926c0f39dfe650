"""Istio's webhook rules for PeerAuthentication (``ValidatePeerAuthentication``).

``pkg/config/validation/validation.go``: port-level mTLS needs a selector, is
not empty when given, names ports 1..65535; the selector follows
``validateWorkloadSelector``.
"""

from __future__ import annotations

from ..model.istio import PeerAuthentication
from .common import validate_workload_selector
from .report import Report

__all__ = ["validate_peer_authentication"]


def validate_peer_authentication(policy: PeerAuthentication, r: Report) -> None:
    spec, s = policy.spec, r.at("spec")
    if not spec.has_selector and spec.port_level_mtls:
        s.error("mesh/namespace peer authentication cannot have port level mTLS", "portLevelMtls")
    if spec.port_level_mtls is not None and len(spec.port_level_mtls) == 0:
        s.error("port level mTLS, if defined, must have at least one element", "portLevelMtls")
    for port in spec.port_level_mtls or {}:
        if not 0 < port <= 65535:
            s.error("port must be in range 1..65535", "portLevelMtls", port)
    if spec.selector is not None:
        errors, warning = validate_workload_selector(spec.selector.match_labels)
        s.errors(errors, "selector", "matchLabels")
        s.warn(warning, "selector")
