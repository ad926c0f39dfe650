"""Sidecar analyzer: selectors that match no pod, and Sidecars that claim the same pods.

As Istio's ``pkg/config/analysis/analyzers/sidecar/selector.go``
(SelectorAnalyzer), without its ambient-mode part (cases have no ambient
namespaces).
"""

from __future__ import annotations

from .cluster import Cluster, Instance, label_selector, selects
from .messages import (
    CONFLICTING_SIDECAR_WORKLOAD_SELECTORS,
    MULTIPLE_SIDECARS_WITHOUT_WORKLOAD_SELECTORS,
    REFERENCED_RESOURCE_NOT_FOUND,
)

__all__ = ["sidecar_selectors"]


def sidecar_selectors(cluster: Cluster) -> None:
    """A workload selector matching no pod of its namespace (IST0101); two Sidecars
    selecting one pod (IST0110); two without a selector in one namespace (IST0111)."""
    by_pod: dict[tuple[str, str], list[Instance]] = {}
    unselective: dict[str, list[Instance]] = {}
    for sidecar in cluster.instances("Sidecar"):
        selector = sidecar.spec.workload_selector
        labels = selector.labels if selector is not None else {}
        if not labels:
            unselective.setdefault(sidecar.namespace, []).append(sidecar)
            continue
        found = False
        for pod in cluster.pods:
            if pod.namespace == sidecar.namespace and selects(labels, pod.labels):
                found = True
                by_pod.setdefault((pod.namespace, pod.name), []).append(sidecar)
        if not found:
            printed = label_selector(labels)
            first = sorted(labels)[0]
            cluster.report(
                REFERENCED_RESOURCE_NOT_FOUND,
                sidecar,
                "selector",
                printed,
                at=("spec", "workloadSelector", "labels", first),
            )

    for (namespace, pod_name), sidecars in sorted(by_pod.items()):
        if len(sidecars) < 2:
            continue
        names = sorted(s.name for s in sidecars)
        for sidecar in sidecars:
            cluster.report(
                CONFLICTING_SIDECAR_WORKLOAD_SELECTORS,
                sidecar,
                names,
                namespace,
                pod_name,
                at=("metadata", "name"),
            )

    for namespace, sidecars in sorted(unselective.items()):
        if len(sidecars) < 2:
            continue
        names = sorted(s.name for s in sidecars)
        for sidecar in sidecars:
            cluster.report(MULTIPLE_SIDECARS_WITHOUT_WORKLOAD_SELECTORS, sidecar, names, namespace)
