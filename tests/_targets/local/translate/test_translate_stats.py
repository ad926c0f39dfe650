"""The stats filter's metrics config from Telemetry resources (``mergeMetrics``), and the
stats log and TCP access logs each proxy gets."""

from __future__ import annotations

import dataclasses
from typing import Any

from pytest_meshgate._cases.model.meshconfig import MeshConfig
from pytest_meshgate._cases.model.resources import parse_resource
from pytest_meshgate._targets.local.translate.stats import (
    MetricsConfig,
    attach_tcp_access_logs,
    header_attributes,
    istio_metrics_config,
    with_stats_log,
)
from pytest_meshgate._targets.local.world import GatewayProxy, World


def proxy(namespace: str = "default", **labels: str) -> GatewayProxy:
    return GatewayProxy(
        name="sleep",
        namespace=namespace,
        labels={"app": "sleep", **labels},
        service_ports=(),
        bind=lambda port: ("127.0.0.1", port),
        access_log_path="/run/meshgate/access.log",
        sidecar=True,
    )


def telemetry(name: str, namespace: str, **spec: Any) -> Any:
    return parse_resource(
        {
            "apiVersion": "telemetry.istio.io/v1",
            "kind": "Telemetry",
            "metadata": {"name": name, "namespace": namespace},
            "spec": spec,
        }
    )


def world(*resources: Any) -> World:
    return World(resources=resources, services=(), mesh_config=MeshConfig())


def test_prometheus_is_on_by_default_without_overrides() -> None:
    assert istio_metrics_config(world(), proxy()) == MetricsConfig()


def test_levels_merge_root_then_namespace_then_workload() -> None:
    root = telemetry(
        "mesh",
        "istio-system",
        metrics=[
            {
                "overrides": [
                    {"match": {"metric": "REQUEST_COUNT"}, "disabled": True},
                    {"tagOverrides": {"request_protocol": {"operation": "REMOVE"}}},
                ]
            }
        ],
    )
    namespace = telemetry(
        "ns",
        "default",
        metrics=[
            {
                "overrides": [
                    {
                        "match": {"metric": "REQUEST_COUNT"},
                        "disabled": False,
                        "tagOverrides": {"user": {"value": "request.headers['X-User']"}},
                    },
                    {"match": {"metric": "TCP_SENT_BYTES", "mode": "SERVER"}, "disabled": True},
                ]
            }
        ],
    )
    config = istio_metrics_config(world(root, namespace), proxy())
    assert config.enabled
    assert config.dropped == frozenset()  # re-enabled below; SERVER mode is not the client's
    assert config.tags["requests_total"] == {
        "request_protocol": None,
        "user": "request.headers['X-User']",
    }
    assert config.tags["tcp_sent_bytes_total"] == {"request_protocol": None}
    assert header_attributes(config.expressions()) == ("x-user",)
    # The same Telemetry at an inbound sidecar (SERVER mode, mergeMetrics's other mode).
    server = istio_metrics_config(world(root, namespace), proxy(), mode="SERVER")
    assert server.dropped == frozenset({"tcp_sent_bytes_total"})
    assert server.tags["requests_total"]["user"] == "request.headers['X-User']"


def test_all_metrics_disabled_or_another_provider_means_no_stats_filter() -> None:
    off = telemetry(
        "off",
        "default",
        metrics=[{"overrides": [{"match": {"metric": "ALL_METRICS"}, "disabled": True}]}],
    )
    assert not istio_metrics_config(world(off), proxy()).enabled
    elsewhere = telemetry("other", "default", metrics=[{"providers": [{"name": "stackdriver"}]}])
    assert not istio_metrics_config(world(elsewhere), proxy()).enabled
    selected = telemetry(
        "selected",
        "default",
        selector={"matchLabels": {"app": "other"}},
        metrics=[{"overrides": [{"disabled": True}]}],
    )
    assert istio_metrics_config(world(selected), proxy()).enabled  # selects another workload


def test_the_stats_log_goes_on_http_managers_and_tcp_proxies_beside_istios_logs() -> None:
    istio_log = {"name": "envoy.access_loggers.file", "typed_config": {"path": "/dev/stdout"}}
    headers = telemetry(
        "h",
        "default",
        metrics=[
            {"overrides": [{"tagOverrides": {"user": {"value": "request.headers['x-user']"}}}]}
        ],
    )
    logged = with_stats_log(world(headers), dataclasses.replace(proxy(), access_logs=(istio_log,)))
    http_log = logged.access_logs[-1]["typed_config"]
    assert http_log["path"] == "/run/meshgate/stats.log"
    assert http_log["log_format"]["json_format"]["header:x-user"] == "%REQ(X-USER)%"
    assert logged.access_logs[0] == istio_log
    listeners: list[Any] = [
        {
            "filter_chains": [
                {"filters": [{"name": "envoy.filters.network.tcp_proxy", "typed_config": {}}]}
            ],
            "default_filter_chain": {
                "filters": [
                    {"name": "envoy.filters.network.http_connection_manager", "typed_config": {}}
                ]
            },
        }
    ]
    attach_tcp_access_logs(listeners, logged)
    tcp_logs = listeners[0]["filter_chains"][0]["filters"][0]["typed_config"]["access_log"]
    assert tcp_logs[0] == istio_log
    assert tcp_logs[1]["typed_config"]["log_format"]["json_format"]["kind"] == "tcp"
    assert "access_log" not in listeners[0]["default_filter_chain"]["filters"][0]["typed_config"]


def test_the_mesh_default_metrics_providers_decide_without_telemetry() -> None:
    # Istio's installation sets defaultProviders.metrics [prometheus]; a mesh naming
    # none (or another provider) leaves the proxies without the stats filter.
    for providers, enabled in (([], False), (["stackdriver"], False), (["prometheus"], True)):
        config = MeshConfig.model_validate({"defaultProviders": {"metrics": providers}})
        mesh_world = dataclasses.replace(world(), mesh_config=config)
        assert istio_metrics_config(mesh_world, proxy()).enabled is enabled, providers
    # A Telemetry naming prometheus turns it on again where the default is off.
    named = telemetry("on", "default", metrics=[{"providers": [{"name": "prometheus"}]}])
    config = MeshConfig.model_validate({"defaultProviders": {"metrics": []}})
    assert istio_metrics_config(
        dataclasses.replace(world(named), mesh_config=config), proxy()
    ).enabled
