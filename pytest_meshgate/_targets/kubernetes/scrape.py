"""A proxy's Istio standard metrics on a cluster: its pods' ``:15090/stats/prometheus``.

Every Istio proxy (sidecar or gateway) serves Envoy's Prometheus exposition,
with the ``istio_*`` families its stats filter records, on port 15090
(``prometheus.io/port: "15090"``, the port Istio's own Prometheus scrapes).
The harness reads it through the API server's pod proxy subresource
(``GET /api/v1/namespaces/<ns>/pods/<pod>:15090/proxy/stats/prometheus``),
so no port-forward process is left behind; a proxy's replicas are summed,
as a query over the workload would.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ..._exchange.records import MetricSnapshot, SeriesKey
from ..metrics import parse_exposition

__all__ = ["PROMETHEUS_PATH", "PROMETHEUS_PORT", "proxy_metrics"]

PROMETHEUS_PORT = 15090
PROMETHEUS_PATH = "stats/prometheus"


def proxy_metrics(
    kube: Any,
    proxy: str,
    namespace: str,
    labels: Mapping[str, str] | None = None,
    pod_name: str | None = None,
) -> MetricSnapshot:
    """The summed ``istio_*`` samples of the proxy's running pods (by ``labels``, or the
    one pod ``pod_name``), or why there are none."""
    running = kube.running_pods(namespace, labels, pod_name)
    if not running:
        return MetricSnapshot.unavailable(proxy, f"no running pod of it in {namespace}")
    total: dict[SeriesKey, float] = {}
    for pod in running:
        name = pod["metadata"]["name"]
        try:
            text = kube.pod_proxy_get(namespace, name, PROMETHEUS_PORT, PROMETHEUS_PATH)
        except Exception as exc:  # the API server's or the pod's refusal, said in the verdict
            return MetricSnapshot.unavailable(
                proxy, f"GET {name}:{PROMETHEUS_PORT}/{PROMETHEUS_PATH}: {exc}"
            )
        for key, value in parse_exposition(text).items():
            total[key] = total.get(key, 0.0) + value
    return MetricSnapshot(proxy, total)
