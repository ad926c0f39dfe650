"""Building the ``kind`` or ``cluster`` target from option values: provider, adapter, settings.

No I/O here: an option value that cannot work raises ``TargetUnavailable``
at once; ``preflight`` then asks the provider and the adapter what can be
checked in milliseconds, before any test runs.
"""

from __future__ import annotations

from collections.abc import Mapping

from ..._errors import TargetUnavailable
from ..._judge.verdicts import Consistency
from ..._options import is_yes
from .adapters import AdapterOptions, Implementation, load_implementation
from .echo_pod import CLIENT_IMAGE, ECHO_IMAGE
from .providers import (
    ClusterProvider,
    ExistingClusterProvider,
    ExistingSettings,
    KindProvider,
    KindSettings,
)
from .target import ClusterSettings, KubernetesTarget

__all__ = ["build_parts", "build_target", "preflight"]


def build_parts(
    target: str, values: Mapping[str, str | None]
) -> tuple[ClusterProvider, Implementation, ClusterSettings]:
    """Provider, adapter and settings from option values (no I/O; raises TargetUnavailable)."""
    provider: ClusterProvider
    if target == "kind":
        provider = KindProvider(
            KindSettings(
                cluster_name=values.get("kind-cluster-name") or "meshgate",
                keep=is_yes(values.get("kind-keep")),
                node_image=values.get("kind-image"),
                kind_bin=values.get("kind-bin"),
                kubectl_bin=values.get("kind-kubectl-bin"),
                download=is_yes(values.get("kind-download")),
            )
        )
    else:
        provider = ExistingClusterProvider(
            ExistingSettings(kubeconfig=values.get("kubeconfig"), context=values.get("context"))
        )
    adapter = load_implementation(
        values.get("implementation") or "istio", AdapterOptions(dict(values), target)
    )
    dns = values.get("external-dns") or ("coredns" if target == "kind" else "none")
    if dns not in ("coredns", "none"):
        raise TargetUnavailable(f"meshgate: --meshgate-external-dns={dns}: not coredns or none")
    settings = ClusterSettings(
        echo_image=values.get("echo-image") or ECHO_IMAGE,
        client_image=values.get("client-image") or CLIENT_IMAGE,
        gateway_address=values.get("gateway-address"),
        coredns=dns == "coredns",
    )
    return provider, adapter, settings


def preflight(target: str, values: Mapping[str, str | None]) -> None:
    """Everything that can be checked in milliseconds, before any test runs."""
    provider, adapter, _ = build_parts(target, values)
    provider.preflight()
    adapter.preflight()


def build_target(
    target: str,
    values: Mapping[str, str | None],
    consistency: Consistency,
    request_timeout: float,
) -> KubernetesTarget:
    provider, adapter, settings = build_parts(target, values)
    return KubernetesTarget(
        target,
        provider,
        adapter,
        settings,
        consistency,
        request_timeout,
    )
