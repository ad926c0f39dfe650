"""Istio's standard metrics counted from stats-log records, as istio_stats.cc labels them.

Records here are what the local Envoys write (translate.stats); the cases in
cases/metrics.yaml run the same counting on real Envoy output.
"""

from __future__ import annotations

import json
from pathlib import Path

from pytest_meshgate._targets.local.stats import (
    ProxyIdentity,
    SampleCache,
    count_samples,
    read_samples,
    unsupported_expression,
)
from pytest_meshgate._targets.local.translate.stats import MetricsConfig

GATEWAY = ProxyIdentity(
    "istio-ingressgateway",
    "istio-system",
    {"app": "istio-ingressgateway", "istio": "ingressgateway"},
    gateway=True,
)
SIDECAR = ProxyIdentity("sleep", "default", {"app": "sleep"}, gateway=False)

ROUTED = {
    "kind": "http",
    "response_code": 200,
    "response_flags": "-",
    "grpc_status": None,
    "content_type": None,
    "authority": "app.example.com",
    "path": "/reviews?x=1",
    "method": "GET",
    "route_name": "default/reviews.http[0]",
    "upstream_cluster": "outbound|9080||reviews.default.svc.cluster.local",
    "cluster_metadata": {
        "services": [
            {"host": "reviews.default.svc.cluster.local", "name": "reviews", "namespace": "default"}
        ]
    },
    "endpoint_workload": "reviews-v1;default;reviews;v1;Kubernetes",
    "upstream_peer_san": None,
    "upstream_local_san": None,
    "duration": 7,
    "wire_bytes_received": 120,
    "wire_bytes_sent": 700,
    "header:x-user": "alice",
}


def _series(samples: dict, name: str) -> list[tuple[dict[str, str], float]]:
    return [(dict(labels), v) for (n, labels), v in samples.items() if n == name]


def test_a_gateway_reports_as_the_source_with_the_endpoint_as_destination() -> None:
    samples = count_samples([ROUTED], GATEWAY, MetricsConfig())
    [(labels, value)] = _series(samples, "istio_requests_total")
    assert value == 1
    assert labels["reporter"] == "source"
    assert labels["source_workload"] == "istio-ingressgateway"
    assert labels["source_canonical_service"] == "istio-ingressgateway"
    assert labels["source_canonical_revision"] == "latest"
    assert labels["source_principal"] == "unknown"
    assert labels["destination_workload"] == "reviews-v1"
    assert labels["destination_service"] == "reviews.default.svc.cluster.local"
    assert labels["destination_service_name"] == "reviews"
    assert labels["destination_service_namespace"] == "default"
    assert labels["destination_canonical_revision"] == "v1"
    assert labels["destination_app"] == "unknown"
    assert labels["request_protocol"] == "http"
    assert labels["response_code"] == "200"
    assert labels["grpc_response_status"] == ""
    assert labels["connection_security_policy"] == "unknown"
    buckets = {
        lab["le"]: v for lab, v in _series(samples, "istio_request_duration_milliseconds_bucket")
    }
    assert buckets["5"] == 0 and buckets["10"] == 1 and buckets["+Inf"] == 1
    assert _series(samples, "istio_response_bytes_sum")[0][1] == 700


def test_gateways_do_not_fall_back_to_the_host_header_sidecars_do() -> None:
    no_route = {**ROUTED, "response_code": 404, "response_flags": "NR", "route_name": None,
                "upstream_cluster": None, "cluster_metadata": None, "endpoint_workload": None}  # fmt: skip
    [(at_gateway, _)] = _series(
        count_samples([no_route], GATEWAY, MetricsConfig()), "istio_requests_total"
    )
    assert at_gateway["destination_service"] == "unknown"
    assert at_gateway["destination_service_name"] == "unknown"
    passthrough = {**no_route, "response_code": 200, "response_flags": "-",
                   "upstream_cluster": "PassthroughCluster", "authority": "httpbin.org"}  # fmt: skip
    [(at_sidecar, _)] = _series(
        count_samples([passthrough], SIDECAR, MetricsConfig()), "istio_requests_total"
    )
    assert at_sidecar["destination_service"] == "httpbin.org"
    assert at_sidecar["destination_service_name"] == "PassthroughCluster"
    assert at_sidecar["source_app"] == "sleep" and at_sidecar["source_version"] == ""


def test_mesh_tls_names_both_principals_and_the_peer_namespace_comes_from_its_san() -> None:
    mtls = {**ROUTED, "upstream_peer_san": "spiffe://cluster.local/ns/istio-system/sa/egress",
            "upstream_local_san": "spiffe://cluster.local/ns/default/sa/sleep"}  # fmt: skip
    [(labels, _)] = _series(count_samples([mtls], SIDECAR, MetricsConfig()), "istio_requests_total")
    assert labels["source_principal"] == "spiffe://cluster.local/ns/default/sa/sleep"
    assert labels["destination_principal"] == "spiffe://cluster.local/ns/istio-system/sa/egress"
    assert labels["destination_workload_namespace"] == "istio-system"
    assert labels["destination_service_namespace"] == "istio-system"


def test_grpc_is_its_own_protocol_with_its_status() -> None:
    grpc = {**ROUTED, "content_type": "application/grpc", "grpc_status": 5}
    [(labels, _)] = _series(count_samples([grpc], GATEWAY, MetricsConfig()), "istio_requests_total")
    assert labels["request_protocol"] == "grpc"
    assert labels["grpc_response_status"] == "5"


def test_a_tcp_connection_counts_open_close_and_bytes_once_it_closes() -> None:
    tcp = {"kind": "tcp", "response_flags": "UF", "upstream_cluster": ROUTED["upstream_cluster"],
           "cluster_metadata": ROUTED["cluster_metadata"], "endpoint_workload": None,
           "wire_bytes_received": 40, "wire_bytes_sent": 0}  # fmt: skip
    samples = count_samples([tcp, tcp], GATEWAY, MetricsConfig())
    [(labels, opened)] = _series(samples, "istio_tcp_connections_opened_total")
    assert opened == 2
    assert labels["request_protocol"] == "tcp" and labels["response_flags"] == "UF"
    assert "response_code" not in labels
    assert labels["destination_workload"] == "unknown"
    assert _series(samples, "istio_tcp_connections_closed_total")[0][1] == 2
    assert _series(samples, "istio_tcp_received_bytes_total")[0][1] == 80
    assert _series(samples, "istio_requests_total") == []


def test_overrides_drop_metrics_remove_and_upsert_tags() -> None:
    config = MetricsConfig(
        dropped=frozenset({"request_duration_milliseconds"}),
        tags={
            "requests_total": {
                "request_protocol": None,
                "request_host": "request.host",
                "user": "request.headers['x-user']",
                "missing": "request.headers['x-none']",
                "response_code": "string(response.code + 1)",
                "broken": "request.(",
            }
        },
    )
    samples = count_samples([ROUTED], GATEWAY, config)
    assert _series(samples, "istio_request_duration_milliseconds_count") == []
    [(labels, _)] = _series(samples, "istio_requests_total")
    assert "request_protocol" not in labels
    assert labels["request_host"] == "app.example.com"
    assert labels["user"] == "alice"
    assert labels["missing"] == "unknown"  # an evaluation error, as in Envoy
    assert labels["response_code"] == "201"
    assert "broken" not in labels  # a non-standard tag whose expression does not parse
    [(bytes_labels, _)] = _series(samples, "istio_request_bytes_count")
    assert bytes_labels["request_protocol"] == "http"  # the override is for requests_total only
    assert count_samples([ROUTED], GATEWAY, MetricsConfig(enabled=False)) == {}


def test_expressions_over_attributes_the_proxies_do_not_log_are_named() -> None:
    assert unsupported_expression("request.host") is None
    assert unsupported_expression("request.headers['x'] + 'source.address'") is None
    problem = unsupported_expression("string(destination.port)")
    assert problem is not None and "destination.port" in problem
    assert unsupported_expression("node.metadata['X']") is not None


def test_the_log_is_read_incrementally_and_a_half_written_line_waits(tmp_path: Path) -> None:
    log = tmp_path / "stats.log"
    log.write_text(json.dumps(ROUTED) + "\n" + '{"kind": "ht')
    cache = SampleCache()
    first = read_samples(log, GATEWAY, MetricsConfig(), cache)
    assert _series(first, "istio_requests_total")[0][1] == 1
    with log.open("a") as handle:
        handle.write('tp"}\n' + json.dumps(ROUTED) + "\n")
    second = read_samples(log, GATEWAY, MetricsConfig(), cache)
    routed = [
        v for lab, v in _series(second, "istio_requests_total") if lab["response_code"] == "200"
    ]
    assert routed == [2]
    # Another config counts the whole log again, under its own rules.
    dropped = MetricsConfig(dropped=frozenset({"requests_total"}))
    assert _series(read_samples(log, GATEWAY, dropped, cache), "istio_requests_total") == []


# An inbound sidecar's line (translate.sidecar.inbound): its pod named, the downstream
# connection's certificates, and the caller's exchanged metadata.
def _served(peer_metadata: str | None, mtls: bool = True, kind: str = "http") -> dict:
    from pytest_meshgate._targets.local.translate.peer import PeerIdentity, peer_headers

    record: dict = {
        "kind": kind,
        "response_code": 200,
        "response_flags": "-",
        "duration": 3,
        "wire_bytes_received": 80,
        "wire_bytes_sent": 300,
        "pod": "reviews-v3-abc",
        "pod_namespace": "default",
        "pod_workload": "reviews-v3",
        "pod_service": "reviews",
        "pod_labels": {"app": "reviews", "version": "v3"},
        "downstream_peer_san": (
            "spiffe://cluster.local/ns/istio-system/sa/istio-ingressgateway-service-account"
            if mtls
            else None
        ),
        "downstream_local_san": "spiffe://cluster.local/ns/default/sa/reviews" if mtls else None,
        "downstream_tls": "TLSv1.3" if mtls else None,
        "peer_metadata": None,
    }
    if peer_metadata == "gateway":
        gateway = PeerIdentity(
            "istio-ingressgateway-0",
            "istio-system",
            "istio-ingressgateway",
            {"app": "istio-ingressgateway", "istio": "ingressgateway"},
        )
        record["peer_metadata"] = peer_headers(gateway, "127.0.0.3", sidecar=False)[1]
    return record


def test_an_inbound_sidecar_reports_as_the_destination_with_the_exchanged_caller() -> None:
    samples = count_samples([_served("gateway")], SIDECAR, MetricsConfig())
    ((labels, value),) = _series(samples, "istio_requests_total")
    assert value == 1
    assert labels["reporter"] == "destination"
    assert labels["destination_workload"] == "reviews-v3"
    assert labels["destination_app"] == "reviews"
    assert labels["destination_version"] == "v3"
    assert labels["destination_canonical_revision"] == "v3"
    assert labels["destination_service"] == "reviews.default.svc.cluster.local"
    assert labels["destination_service_name"] == "reviews"
    assert labels["destination_principal"] == "spiffe://cluster.local/ns/default/sa/reviews"
    assert labels["source_workload"] == "istio-ingressgateway"
    assert labels["source_workload_namespace"] == "istio-system"
    assert labels["source_app"] == "istio-ingressgateway"
    assert labels["source_principal"].endswith("/sa/istio-ingressgateway-service-account")
    assert labels["connection_security_policy"] == "mutual_tls"


def test_without_exchange_the_caller_is_unknown_but_its_certificate_names_its_namespace() -> None:
    """istio/proxy testdata/metric/tcp_server_connection_open_without_mx.yaml.tmpl."""
    samples = count_samples([_served(None, kind="tcp")], SIDECAR, MetricsConfig())
    ((labels, _),) = _series(samples, "istio_tcp_connections_opened_total")
    assert labels["reporter"] == "destination"
    assert labels["source_workload"] == "unknown"
    assert labels["source_canonical_service"] == "unknown"
    assert labels["source_canonical_revision"] == "latest"
    assert labels["source_workload_namespace"] == "istio-system"
    assert labels["source_app"] == "unknown"
    assert labels["request_protocol"] == "tcp"
    assert labels["connection_security_policy"] == "mutual_tls"


def test_plaintext_at_the_inbound_sidecar_is_policy_none_without_principals() -> None:
    samples = count_samples([_served("gateway", mtls=False)], SIDECAR, MetricsConfig())
    ((labels, _),) = _series(samples, "istio_requests_total")
    assert labels["connection_security_policy"] == "none"
    assert labels["source_principal"] == "unknown"
    assert labels["destination_principal"] == "unknown"
    assert labels["source_workload"] == "istio-ingressgateway"  # the headers still carry it


def test_the_source_reporter_takes_the_exchanged_destination_over_the_endpoint() -> None:
    answered = dict(ROUTED, upstream_peer_metadata=_served("gateway")["peer_metadata"])
    samples = count_samples([answered], GATEWAY, MetricsConfig())
    ((labels, _),) = _series(samples, "istio_requests_total")
    assert labels["destination_workload"] == "istio-ingressgateway"
    assert labels["destination_app"] == "istio-ingressgateway"
    plain = count_samples([ROUTED], GATEWAY, MetricsConfig())
    ((labels, _),) = _series(plain, "istio_requests_total")
    assert (labels["destination_app"], labels["destination_version"]) == ("unknown", "unknown")
    assert labels["destination_workload"] == "reviews-v1"
