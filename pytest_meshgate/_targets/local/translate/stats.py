"""What Istio's stats filter needs from a proxy: the Telemetry metrics config, Istio's
cluster and endpoint metadata, and the proxy's per-request stats log.

Upstream Envoy has no Istio stats filter (``istio.stats``, istio/proxy
``source/extensions/filters/http/istio_stats``). Each local proxy instead writes
one JSON line per HTTP request and per TCP connection (``stats.log`` beside its
harness log) with the values that filter reads from Envoy's stream info:
response code and flags, the upstream cluster and its ``istio`` metadata
(``services``), the chosen endpoint's ``istio.workload`` metadata, the upstream
TLS peer and local URI SANs, duration and wire bytes. ``_targets/local/stats``
turns those lines into the samples the filter would have counted.

The metrics config follows ``pilot/pkg/model/telemetry.go`` (``mergeMetrics``,
``generateStatsConfig``): Telemetry ``metrics`` of the root namespace, the
proxy's namespace and its workload, in that order; provider ``prometheus``
(the mesh's default metrics provider, as Istio's installation sets
``defaultProviders.metrics``; a case's ``spec.meshConfig`` may name others);
overrides for CLIENT mode (gateways and outbound sidecars report as clients) or
SERVER mode (inbound sidecars).
"""

from __future__ import annotations

import dataclasses
import os
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from ...._cases.model.istio import Telemetry
from ..world import Endpoint, GatewayProxy, MeshService, World
from .accesslog import WorkloadMode, applicable_telemetries
from .common import _API, Json, canonical_name, canonical_revision
from .peer import PEER_NAMESPACE

__all__ = [
    "CLUSTER_ID",
    "METRIC_ENUMS",
    "REQUEST_FIELDS",
    "STATS_LOG",
    "MetricsConfig",
    "attach_tcp_access_logs",
    "endpoint_metadata",
    "header_attributes",
    "istio_metrics_config",
    "service_metadata",
    "stats_log_path",
    "stats_logger",
    "with_stats_log",
]

STATS_LOG = "stats.log"
CLUSTER_ID = "Kubernetes"  # Istio's default clusterName
_PROMETHEUS = "prometheus"
_TCP_PROXY = "envoy.filters.network.tcp_proxy"

# MetricSelector.IstioMetric -> the filter's metric name (telemetry.go metricToPrometheusMetric).
METRIC_ENUMS: Mapping[str, str] = {
    "REQUEST_COUNT": "requests_total",
    "REQUEST_DURATION": "request_duration_milliseconds",
    "REQUEST_SIZE": "request_bytes",
    "RESPONSE_SIZE": "response_bytes",
    "TCP_OPENED_CONNECTIONS": "tcp_connections_opened_total",
    "TCP_CLOSED_CONNECTIONS": "tcp_connections_closed_total",
    "TCP_SENT_BYTES": "tcp_sent_bytes_total",
    "TCP_RECEIVED_BYTES": "tcp_received_bytes_total",
    "GRPC_REQUEST_MESSAGES": "request_messages_total",
    "GRPC_RESPONSE_MESSAGES": "response_messages_total",
}


@dataclass(frozen=True)
class MetricsConfig:
    """The stats filter's config for a proxy's client side.

    ``enabled`` false: no stats filter at all (metrics disabled, or no
    prometheus provider). ``dropped`` and ``tags`` are by the filter's metric
    name (``requests_total``); a tag maps to a CEL expression (UPSERT) or to
    None (REMOVE).
    """

    enabled: bool = True
    dropped: frozenset[str] = frozenset()
    tags: Mapping[str, Mapping[str, str | None]] = field(default_factory=dict)

    def expressions(self) -> list[str]:
        return sorted({e for tags in self.tags.values() for e in tags.values() if e})


def _provider_names(entry: object) -> list[str]:
    return [p.name for p in getattr(entry, "providers", [])]


def istio_metrics_config(
    world: World, proxy: GatewayProxy, mode: WorkloadMode = "CLIENT"
) -> MetricsConfig:
    """``mergeMetrics`` for ``mode`` of ``proxy`` (``CLIENT``: a gateway or outbound
    sidecar; ``SERVER``: an inbound sidecar), with prometheus the default provider."""
    entries = [m for t in applicable_telemetries(world, proxy) for m in _metrics_of(t)]
    mesh = world.mesh
    defaults = list(mesh.default_providers.metrics)  # Istio's install: [prometheus]
    in_scope = defaults
    for entry in entries:
        names = _provider_names(entry)
        if names:
            in_scope = names
    if not any(name.lower() == _PROMETHEUS for name in in_scope):
        # Only prometheus is a metrics provider here (and by default in Istio).
        return MetricsConfig(enabled=False)
    parent = defaults
    all_disabled = False
    per_metric: dict[str, tuple[bool | None, dict[str, str | None]]] = {}
    for entry in entries:
        names = _provider_names(entry) or parent
        parent = names
        if not any(name.lower() == _PROMETHEUS for name in names if name in in_scope):
            continue
        for override in entry.overrides:
            if override is None:
                continue  # refused by validation
            match = override.match
            matched_mode = match.mode if match is not None else "CLIENT_AND_SERVER"
            if matched_mode not in ("CLIENT_AND_SERVER", mode):
                continue
            metric = match.metric if match is not None else None
            custom = match.custom_metric if match is not None else None
            if custom is None and metric in (None, "ALL_METRICS") and override.disabled:
                all_disabled = True
                continue
            all_disabled = False
            if custom is not None:
                matched = [custom]
            elif metric in (None, "ALL_METRICS"):
                matched = sorted(METRIC_ENUMS)
            else:
                matched = [metric]
            for name in matched:
                disabled, metric_tags = per_metric.get(name, (None, {}))
                if override.disabled is not None:
                    disabled = override.disabled
                for tag, tag_override in override.tag_overrides.items():
                    if tag_override is None:
                        continue
                    remove = tag_override.operation == "REMOVE"
                    metric_tags[tag] = None if remove else tag_override.value
                per_metric[name] = (disabled, metric_tags)
    if all_disabled:
        return MetricsConfig(enabled=False)
    dropped = frozenset(METRIC_ENUMS.get(n, n) for n, (d, _) in per_metric.items() if d)
    overrides: dict[str, Mapping[str, str | None]] = {
        METRIC_ENUMS.get(n, n): dict(t) for n, (_, t) in per_metric.items() if t
    }
    return MetricsConfig(True, dropped, overrides)


def _metrics_of(telemetry: Telemetry) -> list:  # type: ignore[type-arg]
    return list(telemetry.spec.metrics)


_HEADER_ATTRIBUTE = re.compile(r"request\.headers\s*\[\s*(['\"])([^'\"]+)\1\s*\]")


def header_attributes(expressions: Iterable[str]) -> tuple[str, ...]:
    """The request headers CEL expressions read (``request.headers['x-user']``)."""
    names = {m.group(2).lower() for e in expressions for m in _HEADER_ATTRIBUTE.finditer(e)}
    return tuple(sorted(names))


def service_metadata(service: MeshService) -> Json:
    """The ``istio`` cluster metadata of an outbound cluster (``buildServiceMetadata`` in
    ``cluster_builder.go``): the service the filter reports as destination_service."""
    name = service.hostname
    if service.origin == "kubernetes":
        name = service.hostname.split(".", 1)[0]
    return {
        "filter_metadata": {
            "istio": {
                "services": [
                    {"host": service.hostname, "name": name, "namespace": service.namespace}
                ]
            }
        }
    }


def endpoint_metadata(endpoint: Endpoint, namespace: str) -> Json | None:
    """``AppendLbEndpointMetadata``: ``workload;namespace;canonical name;revision;cluster``
    (``kubelabels.CanonicalService``; the default revision ``latest`` left out)."""
    if not endpoint.workload:
        return None
    canonical = canonical_name(endpoint.labels, endpoint.workload)
    revision = canonical_revision(endpoint.labels)
    value = f"{endpoint.workload};{namespace};{canonical};{revision};{CLUSTER_ID}"
    return {"filter_metadata": {"istio": {"workload": value}}}


# The stream-info values istio_stats.cc reads on either side, as Envoy's access-log
# commands log them; each side adds what it reads of its peer (below, and the inbound
# sidecars' in translate/sidecar/inbound.py).
REQUEST_FIELDS: Mapping[str, str] = {
    "kind": "http",
    "response_code": "%RESPONSE_CODE%",
    "response_flags": "%RESPONSE_FLAGS%",
    "grpc_status": "%GRPC_STATUS_NUMBER%",
    "content_type": "%REQ(CONTENT-TYPE)%",
    "authority": "%REQ(:AUTHORITY)%",
    "path": "%REQ(:PATH)%",
    "method": "%REQ(:METHOD)%",
    "request_id": "%REQ(X-REQUEST-ID)%",
    "route_name": "%ROUTE_NAME%",
    "upstream_cluster": "%UPSTREAM_CLUSTER_RAW%",
    "upstream_host": "%UPSTREAM_HOST%",
    "requested_server_name": "%REQUESTED_SERVER_NAME%",
    "duration": "%DURATION%",
    "wire_bytes_received": "%DOWNSTREAM_WIRE_BYTES_RECEIVED%",
    "wire_bytes_sent": "%DOWNSTREAM_WIRE_BYTES_SENT%",
}
# A client-side reporter's: the upstream cluster's and endpoint's Istio metadata, the
# upstream certificates and the backend sidecar's exchanged metadata.
_HTTP_FIELDS: Mapping[str, str] = {
    **REQUEST_FIELDS,
    "cluster_metadata": "%CLUSTER_METADATA(istio)%",
    "endpoint_workload": "%UPSTREAM_METADATA(istio:workload)%",
    "upstream_peer_san": "%UPSTREAM_PEER_URI_SAN%",
    "upstream_local_san": "%UPSTREAM_LOCAL_URI_SAN%",
    # The backend sidecar's exchanged metadata (translate.peer), when it answered with it.
    "upstream_peer_metadata": f"%DYNAMIC_METADATA({PEER_NAMESPACE}:metadata)%",
}
_TCP_FIELDS: Mapping[str, str] = {
    **{k: v for k, v in _HTTP_FIELDS.items() if not v.startswith(("%REQ(", "%DYNAMIC_METADATA("))},
    "kind": "tcp",
    "upstream_local_address": "%UPSTREAM_LOCAL_ADDRESS%",
}


def stats_log_path(access_log_path: str) -> str:
    """A proxy's stats log: beside the harness's own access log (``LocalProxy.stats_log_path``)."""
    return os.path.join(os.path.dirname(access_log_path), STATS_LOG)


def stats_logger(path: str, fields: Mapping[str, str]) -> Json:
    """The file access logger that writes ``fields`` as one JSON line to ``path``."""
    return {
        "name": "envoy.access_loggers.file",
        "typed_config": {
            "@type": f"{_API}.access_loggers.file.v3.FileAccessLog",
            "path": path,
            "log_format": {"json_format": dict(fields), "json_format_options": {}},
        },
    }


def with_stats_log(world: World, proxy: GatewayProxy) -> GatewayProxy:
    """``proxy`` with its stats log on every HTTP connection manager and TCP proxy, and
    Istio's access logs on its TCP proxies too (``setTCPAccessLog``, the same loggers)."""
    config = istio_metrics_config(world, proxy)
    headers = header_attributes(config.expressions())
    http_fields = dict(_HTTP_FIELDS)
    for name in headers:
        http_fields[f"header:{name}"] = f"%REQ({name.upper()})%"
    path = stats_log_path(proxy.access_log_path)
    return dataclasses.replace(
        proxy,
        access_logs=(*proxy.access_logs, stats_logger(path, http_fields)),
        tcp_access_logs=(*proxy.access_logs, stats_logger(path, _TCP_FIELDS)),
    )


def attach_tcp_access_logs(listeners: list[Json], proxy: GatewayProxy) -> None:
    """Give every tcp_proxy filter of ``listeners`` the proxy's TCP access logs."""
    if not proxy.tcp_access_logs:
        return
    for listener in listeners:
        for chain in [*listener.get("filter_chains", []), listener.get("default_filter_chain")]:
            if not chain:
                continue
            for network_filter in chain.get("filters", []):
                if network_filter.get("name") == _TCP_PROXY:
                    network_filter["typed_config"]["access_log"] = [
                        dict(x) for x in proxy.tcp_access_logs
                    ]
