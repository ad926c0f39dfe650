"""Istio's standard metrics of a local proxy, counted from what its Envoy logged.

The local Envoys have no Istio stats filter; each writes a stats log instead
(``translate.stats``: one JSON line per HTTP request and per TCP connection,
with the stream-info values that filter reads). This module counts those
lines into Prometheus samples as istio/proxy's
``source/extensions/filters/http/istio_stats/istio_stats.cc`` assigns them for
a client-side reporter (every local proxy is a gateway or a client sidecar's
outbound side: ``reporter="source"``):

- source_*: the proxy's own workload (its node metadata in Istio);
  source_principal is the upstream TLS connection's local URI SAN.
- destination_*: the chosen endpoint's ``istio.workload`` metadata (Istio's
  client-side fallback when no peer metadata was exchanged, which needs a
  sidecar at the backend; the local echoes have none), the upstream peer
  certificate's URI SAN (destination_principal, and the namespace it names);
  destination_app and destination_version are ``unknown`` (the endpoint
  encoding has neither); destination_service from the cluster's ``istio``
  metadata, else the Host header at sidecars (gateways disable that fallback).
- connection_security_policy is ``unknown``, as a client reporter always says.

Telemetry ``metrics`` overrides apply as the filter applies them: a dropped
metric is not counted; a removed tag is left out; an upserted tag is the
value of its CEL expression over the logged request attributes (cel-python),
``unknown`` when evaluation fails, as in Envoy.
"""

from __future__ import annotations

import json
import logging
import re
from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..._cases.model.metrics import HISTOGRAM_METRICS, ISTIO_LABELS
from ..._exchange.records import SeriesKey
from ..metrics import DEFAULT_BUCKETS, format_bound, series_key
from .translate.common import canonical_name, canonical_revision
from .translate.peer import PeerIdentity, decode_peer
from .translate.stats import CLUSTER_ID, MetricsConfig

__all__ = [
    "ProxyIdentity",
    "SampleCache",
    "count_samples",
    "read_samples",
    "unsupported_expression",
]

log = logging.getLogger(__name__)

_UNKNOWN = "unknown"
_PASSTHROUGH_NAMES = (
    "BlackHoleCluster",
    "PassthroughCluster",
    "InboundPassthroughClusterIpv4",
    "InboundPassthroughClusterIpv6",
)


@dataclass(frozen=True)
class ProxyIdentity:
    """What Istio's stats filter reads from the proxy's own node metadata."""

    workload: str
    namespace: str
    labels: Mapping[str, str]
    gateway: bool  # gateways turn the Host header fallback off (disableHostHeaderFallback)

    @property
    def canonical_name(self) -> str:
        return canonical_name(self.labels, self.workload)

    @property
    def canonical_revision(self) -> str:
        return canonical_revision(self.labels) or "latest"


def _value(record: Mapping[str, Any], key: str) -> str:
    value = record.get(key)
    return "" if value is None or value == "-" else str(value)


def _number(record: Mapping[str, Any], key: str) -> int | None:
    try:
        return int(str(record.get(key)))
    except ValueError:
        return None


def _spiffe_namespace(san: str) -> str:
    match = re.search(r"/ns/([^/]+)/", san)
    return match.group(1) if match else ""


def _destination_service(record: Mapping[str, Any], identity: ProxyIdentity) -> tuple[str, str]:
    """``populatePeerInfo``'s destination service host and name."""
    host = name = ""
    if not identity.gateway:
        host = name = _value(record, "authority")
    route = _value(record, "route_name")
    cluster = _value(record, "upstream_cluster")
    if route == "block_all":
        name = "BlackHoleCluster"
    elif route == "allow_any":
        name = "PassthroughCluster"
    elif cluster in _PASSTHROUGH_NAMES:
        name = cluster
    else:
        metadata = record.get("cluster_metadata")
        services = metadata.get("services") if isinstance(metadata, dict) else None
        if isinstance(services, list) and services and isinstance(services[0], dict):
            service = services[0]
            if "host" in service:
                host = str(service["host"])
            name = str(service["name"]) if "name" in service else host.split(".", 1)[0]
    return host, name


def _server_labels(record: Mapping[str, Any]) -> dict[str, str]:
    """The tags of a server-side reporter (an inbound sidecar: ``reporter="destination"``).

    destination_* are the pod's own node metadata and its inbound cluster's
    ``istio.services`` (the Service of the port, ``buildClusterMetadata``);
    source_* the peer metadata the caller exchanged, else ``unknown`` (the
    revision ``latest``) with the namespace of the peer certificate
    (istio/proxy testdata ``tcp_server_connection_open_without_mx``).
    """
    labels = record.get("pod_labels")
    own = PeerIdentity(
        _value(record, "pod"),
        _value(record, "pod_namespace"),
        _value(record, "pod_workload"),
        {str(k): str(v) for k, v in labels.items()} if isinstance(labels, dict) else {},
    )
    peer = decode_peer(_value(record, "peer_metadata"))
    peer_san = _value(record, "downstream_peer_san")
    local_san = _value(record, "downstream_local_san")
    service = _value(record, "pod_service")
    mutual = bool(_value(record, "downstream_tls")) and bool(peer_san)
    tags = {
        "reporter": "destination",
        "source_workload": _UNKNOWN,
        "source_canonical_service": _UNKNOWN,
        "source_canonical_revision": "latest",
        "source_workload_namespace": _spiffe_namespace(peer_san) or _UNKNOWN,
        "source_principal": peer_san or _UNKNOWN,
        "source_app": _UNKNOWN,
        "source_version": _UNKNOWN,
        "source_cluster": _UNKNOWN,
        **_workload_tags("destination", own),
        "destination_principal": local_san or _UNKNOWN,
        "destination_service": f"{service}.{own.namespace}.svc.cluster.local",
        "destination_service_name": service or _UNKNOWN,
        "destination_service_namespace": own.namespace or _UNKNOWN,
        "connection_security_policy": "mutual_tls" if mutual else "none",
    }
    if peer is not None:
        tags.update(_workload_tags("source", peer))
    return tags


def _workload_tags(side: str, workload: PeerIdentity) -> dict[str, str]:
    """The ``source_*`` or ``destination_*`` tags of one workload's node metadata
    (its own, or a peer's that the metadata exchange carried)."""
    return {
        f"{side}_workload": workload.workload or _UNKNOWN,
        f"{side}_workload_namespace": workload.namespace or _UNKNOWN,
        f"{side}_app": workload.labels.get("app") or _UNKNOWN,
        f"{side}_version": workload.labels.get("version") or _UNKNOWN,
        f"{side}_canonical_service": workload.canonical_name,
        f"{side}_canonical_revision": workload.canonical_revision,
        f"{side}_cluster": workload.cluster or _UNKNOWN,
    }


def _labels(record: Mapping[str, Any], identity: ProxyIdentity) -> dict[str, str]:
    """The tags of a client-side reporter (``populatePeerInfo``, ClientSidecar); those
    of a server-side one for an inbound sidecar's line (it names its ``pod``)."""
    if "pod" in record:
        return _server_labels(record)
    peer = _value(record, "endpoint_workload").split(";")
    peer += [""] * (5 - len(peer))
    peer_workload, peer_ns, peer_canonical, peer_revision, peer_cluster = peer[:5]
    peer_san = _value(record, "upstream_peer_san")
    local_san = _value(record, "upstream_local_san")
    peer_namespace = _spiffe_namespace(peer_san) or peer_ns
    host, name = _destination_service(record, identity)
    tags = {
        "reporter": "source",
        "source_workload": identity.workload,
        "source_canonical_service": identity.canonical_name,
        "source_canonical_revision": identity.canonical_revision,
        "source_workload_namespace": identity.namespace,
        "source_principal": local_san or _UNKNOWN,
        "source_app": identity.labels.get("app", ""),
        "source_version": identity.labels.get("version", ""),
        "source_cluster": CLUSTER_ID,
        "destination_workload": peer_workload or _UNKNOWN,
        "destination_workload_namespace": peer_namespace or _UNKNOWN,
        "destination_principal": peer_san or _UNKNOWN,
        "destination_app": _UNKNOWN,
        "destination_version": _UNKNOWN,
        "destination_service": host or _UNKNOWN,
        "destination_canonical_service": peer_canonical or _UNKNOWN,
        "destination_canonical_revision": peer_revision or "latest",
        "destination_service_name": name or _UNKNOWN,
        "destination_service_namespace": peer_namespace or _UNKNOWN,
        "destination_cluster": peer_cluster or _UNKNOWN,
        "connection_security_policy": _UNKNOWN,  # a client reporter always says so
    }
    exchanged = decode_peer(_value(record, "upstream_peer_metadata"))
    if exchanged is not None:
        # The backend's sidecar answered with its pod's metadata (translate.peer).
        tags.update(_workload_tags("destination", exchanged))
        # The peer certificate's namespace still wins over the exchanged one.
        tags["destination_workload_namespace"] = peer_namespace or exchanged.namespace
    return tags


# The Envoy attributes (envoy docs "Attributes") a tag expression may read here.
_ATTRIBUTES = {
    "request": {"host", "path", "url_path", "method", "headers", "id"},
    "response": {"code", "grpc_status"},
    "connection": {"requested_server_name"},
    "upstream": {"address"},
    "xds": {"cluster_name", "route_name"},
}
_ENVOY_ROOTS = {
    *_ATTRIBUTES,
    "source",
    "destination",
    "node",
    "filter_state",
    "metadata",
    "upstream_peer",
    "downstream_peer",
}
_STRING_LITERAL = re.compile(r"'(?:[^'\\]|\\.)*'|\"(?:[^\"\\]|\\.)*\"")
_SELECTION = re.compile(r"\b([a-z_]+)\s*\.\s*([a-z_]+)")


def unsupported_expression(expression: str) -> str | None:
    """Why a tag override expression cannot be evaluated here, or None."""
    code = _STRING_LITERAL.sub("''", expression)
    for root, attribute in _SELECTION.findall(code):
        if root in _ENVOY_ROOTS and attribute not in _ATTRIBUTES.get(root, set()):
            return (
                f"tag override expression {expression!r} reads {root}.{attribute}, which "
                "the local proxies do not log"
            )
    bare = {m.group(1) for m in re.finditer(r"\b([a-z_]+)\b(?!\s*[.(])", code)}
    if bare & {"node", "filter_state", "metadata", "upstream_peer", "downstream_peer"}:
        return f"tag override expression {expression!r} reads node or peer metadata"
    return None


def _activation(record: Mapping[str, Any]) -> dict[str, Any]:
    from celpy.adapter import json_to_cel

    path = _value(record, "path")
    headers = {k[len("header:") :]: v for k, v in record.items() if k.startswith("header:")}
    request: dict[str, Any] = {
        "host": _value(record, "authority"),
        "path": path,
        "url_path": path.split("?", 1)[0],
        "method": _value(record, "method"),
        "id": _value(record, "request_id"),
        "headers": {k: str(v) for k, v in headers.items() if v not in (None, "-")},
    }
    response: dict[str, Any] = {"code": _number(record, "response_code") or 0}
    grpc = _number(record, "grpc_status")
    if grpc is not None:
        response["grpc_status"] = grpc
    return {
        "request": json_to_cel(request),
        "response": json_to_cel(response),
        "connection": json_to_cel(
            {"requested_server_name": _value(record, "requested_server_name")}
        ),
        "upstream": json_to_cel({"address": _value(record, "upstream_host")}),
        "xds": json_to_cel(
            {
                "cluster_name": _value(record, "upstream_cluster"),
                "route_name": _value(record, "route_name"),
            }
        ),
    }


class _Expressions:
    """Compiled tag expressions; None for one that does not parse (Envoy logs and skips it)."""

    def __init__(self, expressions: Iterable[str]) -> None:
        import celpy
        from celpy.celparser import CELParseError

        self._env = celpy.Environment()
        self._programs: dict[str, Any] = {}
        for expression in expressions:
            try:
                self._programs[expression] = self._env.program(self._env.compile(expression))
            except CELParseError:
                log.warning("metric tag expression does not parse: %r", expression)
                self._programs[expression] = None

    def parses(self, expression: str) -> bool:
        return self._programs.get(expression) is not None

    def value(self, expression: str, activation: Mapping[str, Any]) -> str:
        program = self._programs.get(expression)
        if program is None:
            return _UNKNOWN
        try:
            result = program.evaluate(dict(activation))
        except Exception:  # cel-python raises its evaluation errors
            return _UNKNOWN
        if isinstance(result, Exception):
            return _UNKNOWN
        if isinstance(result, bool):
            return "true" if result else "false"
        return str(result)


def _override(
    metric: str,
    tags: dict[str, str],
    config: MetricsConfig,
    expressions: _Expressions,
    record: Mapping[str, Any],
) -> dict[str, str]:
    """``MetricOverrides::overrideTags``: standard tags replaced or dropped in place,
    others added."""
    overrides = config.tags.get(metric)
    if not overrides:
        return tags
    activation = _activation(record)
    out = dict(tags)
    for tag, expression in sorted(overrides.items()):
        standard = tag in ISTIO_LABELS
        if expression is None or (standard and not expressions.parses(expression)):
            out.pop(tag, None)  # REMOVE, or a standard tag whose expression failed to parse
            continue
        if not standard and not expressions.parses(expression):
            continue
        if standard and tag not in tags:
            continue  # an override of a tag this metric does not carry
        out[tag] = expressions.value(expression, activation)
    return out


class _Counter:
    def __init__(self) -> None:
        self.samples: dict[SeriesKey, float] = defaultdict(float)

    def add(self, name: str, labels: Mapping[str, str], amount: float = 1) -> None:
        self.samples[series_key(name, labels)] += amount

    def observe(self, name: str, labels: Mapping[str, str], value: float) -> None:
        for bound in (*DEFAULT_BUCKETS, float("inf")):
            if value <= bound:
                self.add(f"{name}_bucket", {**labels, "le": format_bound(bound)})
            else:
                self.samples.setdefault(
                    series_key(f"{name}_bucket", {**labels, "le": format_bound(bound)}), 0.0
                )
        self.add(f"{name}_count", labels)
        self.add(f"{name}_sum", labels, value)


def count_samples(
    records: Iterable[Mapping[str, Any]], identity: ProxyIdentity, config: MetricsConfig
) -> dict[SeriesKey, float]:
    """The ``istio_*`` samples the stats filter would hold after these requests."""
    counter = _Counter()
    if not config.enabled:
        return {}
    expressions = _Expressions(config.expressions())

    def record_metric(metric: str, tags: dict[str, str], value: float, record: Any) -> None:
        if metric in config.dropped:
            return
        labels = _override(metric, tags, config, expressions, record)
        if f"istio_{metric}" in HISTOGRAM_METRICS:
            counter.observe(f"istio_{metric}", labels, value)
        else:
            counter.add(f"istio_{metric}", labels, value)

    for record in records:
        tags = _labels(record, identity)
        flags = _value(record, "response_flags") or "-"
        received = _number(record, "wire_bytes_received") or 0
        sent = _number(record, "wire_bytes_sent") or 0
        if record.get("kind") == "tcp":
            tags["request_protocol"] = "tcp"
            tags["response_flags"] = flags
            # Without metadata exchange the filter reports a connection once, at its close.
            record_metric("tcp_connections_opened_total", tags, 1, record)
            record_metric("tcp_sent_bytes_total", tags, sent, record)
            record_metric("tcp_received_bytes_total", tags, received, record)
            record_metric("tcp_connections_closed_total", tags, 1, record)
            continue
        grpc = _value(record, "content_type").startswith("application/grpc")
        tags["request_protocol"] = "grpc" if grpc else "http"
        tags["response_code"] = str(_number(record, "response_code") or 0)
        status = _number(record, "grpc_status")
        tags["grpc_response_status"] = str(status) if grpc and status is not None else ""
        tags["response_flags"] = flags
        record_metric("requests_total", tags, 1, record)
        duration = _number(record, "duration")
        if duration is not None:
            record_metric("request_duration_milliseconds", tags, duration, record)
        record_metric("request_bytes", tags, received, record)
        record_metric("response_bytes", tags, sent, record)
    return dict(counter.samples)


@dataclass
class SampleCache:
    """What a proxy's stats log counted to so far, so each reading parses only new lines."""

    config: MetricsConfig | None = None
    identity: ProxyIdentity | None = None
    offset: int = 0
    samples: dict[SeriesKey, float] = field(default_factory=dict)


def read_samples(
    path: Path,
    identity: ProxyIdentity,
    config: MetricsConfig,
    cache: SampleCache,
    select: Callable[[Mapping[str, Any]], bool] | None = None,
) -> dict[SeriesKey, float]:
    """The samples of everything the proxy logged to its stats log so far (of the
    lines ``select`` keeps: the inbound sidecars' log is shared by every pod)."""
    if cache.config != config or cache.identity != identity:
        cache.config, cache.identity, cache.offset, cache.samples = config, identity, 0, {}
    try:
        with path.open("rb") as handle:
            handle.seek(cache.offset)
            chunk = handle.read()
    except FileNotFoundError:
        return dict(cache.samples)
    end = chunk.rfind(b"\n") + 1  # whole lines only: Envoy may be writing the last
    records = []
    for line in chunk[:end].decode("utf-8", errors="replace").splitlines():
        try:
            record = json.loads(line)
        except ValueError:
            continue
        if isinstance(record, dict) and (select is None or select(record)):
            records.append(record)
    cache.offset += end
    for key, value in count_samples(records, identity, config).items():
        cache.samples[key] = cache.samples.get(key, 0.0) + value
    return dict(cache.samples)
