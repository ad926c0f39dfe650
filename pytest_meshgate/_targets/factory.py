"""Building the target the settings name, and the features it declares, without starting it."""

from __future__ import annotations

from .._judge.verdicts import Consistency
from .._options import Settings
from .base import Target

__all__ = ["CLUSTER_CONSISTENCY_TIMEOUT", "create_target", "declared_features", "preflight"]

# Clusters converge in seconds, not milliseconds: config travels from the API
# server through the control plane to every proxy (docs/kubernetes.md).
CLUSTER_CONSISTENCY_TIMEOUT = 60.0


def consistency_for(settings: Settings) -> Consistency:
    """The consistency budget: the options', else the target's own default."""
    default = Consistency()
    timeout = settings.consistency_timeout
    if timeout is None:
        timeout = default.timeout if settings.target == "local" else CLUSTER_CONSISTENCY_TIMEOUT
    return Consistency(timeout, settings.consecutive_successes or default.successes)


def create_target(settings: Settings) -> Target:
    """The target ``settings.target`` names, configured from the settings."""
    consistency = consistency_for(settings)
    if settings.target == "local":
        from .local import LocalTarget

        return LocalTarget(
            consistency=consistency,
            request_timeout=settings.request_timeout,
            envoy_binary=settings.envoy,
            envoy_log_level=settings.envoy_log_level,
        )
    from .kubernetes import build_target

    return build_target(
        settings.target, settings.values, consistency, request_timeout=settings.request_timeout
    )


def preflight(settings: Settings) -> None:
    """kind/cluster: raise ``TargetUnavailable`` at once when this machine cannot get a cluster."""
    if settings.target == "local":
        return
    from .kubernetes import preflight as kubernetes_preflight

    kubernetes_preflight(settings.target, settings.values)


def declared_features(settings: Settings) -> frozenset[str] | None:
    """The features the implementation behind the target declares; None: every feature.

    Read from the target class or the implementation adapter, never a running
    target: the xdist controller decides and reports without starting one,
    and declaring features must not need a cluster.
    """
    if settings.target == "local":
        from .local.features import SUPPORTED_FEATURES

        return SUPPORTED_FEATURES
    from .kubernetes.adapters import AdapterOptions, load_implementation

    adapter = load_implementation(
        settings.values.get("implementation") or "istio",
        AdapterOptions(settings.values, settings.target),
    )
    return adapter.supported_features()
