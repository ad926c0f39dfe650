"""Which access logs Istio gives a proxy: mesh config, Telemetry levels and their precedence."""

from __future__ import annotations

from typing import Any

from pytest_meshgate._cases.model.meshconfig import MeshConfig
from pytest_meshgate._cases.model.resources import parse_resource
from pytest_meshgate._targets.local.translate.accesslog import (
    istio_access_logs,
    telemetry_problems,
    with_access_logs,
)
from pytest_meshgate._targets.local.world import GatewayProxy, World


def proxy(namespace: str = "default", **labels: str) -> GatewayProxy:
    return GatewayProxy(
        name="p",
        namespace=namespace,
        labels=labels or {"app": "sleep"},
        service_ports=(),
        bind=lambda port: ("127.0.0.1", port),
        log_dir="/logs",
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


def world(*resources: Any, **mesh: Any) -> World:
    return World(resources=resources, services=(), mesh_config=MeshConfig(**mesh) if mesh else None)


ENVOY = [{"name": "envoy"}]


def test_no_access_log_by_default_and_the_mesh_file_when_set() -> None:
    assert istio_access_logs(world(), proxy()) == ()
    (log,) = istio_access_logs(world(access_log_file="/dev/stdout"), proxy())
    assert log.path == "/dev/stdout"
    assert log.log_format.encoding == "TEXT"
    assert log.expression is None
    config = log.envoy(proxy())
    assert config["typed_config"]["path"] == "/logs/container.log"
    assert config["typed_config"]["log_format"]["text_format_source"]["inline_string"].startswith(
        "[%START_TIME%]"
    )
    (json_log,) = istio_access_logs(
        world(access_log_file="/var/log/a.log", access_log_encoding="JSON"), proxy()
    )
    assert json_log.file_on_disk(proxy()) == "/logs/files/var_log_a.log"
    assert "json_format" in json_log.envoy(proxy())["typed_config"]["log_format"]


def test_the_root_telemetry_enables_and_its_filter_becomes_envoys_cel_filter() -> None:
    root = telemetry(
        "mesh",
        "istio-system",
        accessLogging=[{"providers": ENVOY, "filter": {"expression": "response.code >= 400"}}],
    )
    (log,) = istio_access_logs(world(root), proxy())
    assert log.expression == "response.code >= 400"
    cel = log.envoy(proxy())["filter"]["extension_filter"]
    assert cel["name"] == "envoy.access_loggers.extension_filters.cel"
    assert cel["typed_config"]["expression"] == "response.code >= 400"
    assert with_access_logs(world(root), proxy()).access_logs == (log.envoy(proxy()),)


def test_namespace_overrides_root_and_workload_overrides_namespace() -> None:
    root = telemetry("mesh", "istio-system", accessLogging=[{"providers": ENVOY}])
    quiet = telemetry("quiet", "default", accessLogging=[{"disabled": True}])
    chatty = telemetry(
        "chatty",
        "default",
        selector={"matchLabels": {"app": "chatty"}},
        accessLogging=[{"providers": ENVOY, "disabled": False}],
    )
    resources = world(root, quiet, chatty)
    assert istio_access_logs(resources, proxy()) == ()  # app=sleep: the namespace's "disabled"
    assert len(istio_access_logs(resources, proxy(app="chatty"))) == 1
    assert len(istio_access_logs(resources, proxy("other"))) == 1  # only the root applies
    # The Telemetry API, once it applies, overrides the mesh config's file.
    assert istio_access_logs(world(root, quiet, access_log_file="/dev/stdout"), proxy()) == ()


def test_the_oldest_namespace_wide_telemetry_is_the_one() -> None:
    first = telemetry("a", "default", accessLogging=[{"disabled": True}])
    second = telemetry("b", "default", accessLogging=[{"providers": ENVOY}])
    root = telemetry("mesh", "istio-system", accessLogging=[{"providers": ENVOY}])
    assert istio_access_logs(world(root, first, second), proxy()) == ()


def test_server_mode_entries_do_not_apply_to_gateways_and_outbound_sidecars() -> None:
    root = telemetry(
        "mesh", "istio-system", accessLogging=[{"providers": ENVOY, "match": {"mode": "SERVER"}}]
    )
    assert istio_access_logs(world(root), proxy()) == ()
    client = telemetry(
        "mesh", "istio-system", accessLogging=[{"providers": ENVOY, "match": {"mode": "CLIENT"}}]
    )
    assert len(istio_access_logs(world(client), proxy())) == 1


def test_targetrefs_attach_only_to_their_gateway_api_gateway() -> None:
    ref = telemetry(
        "gw",
        "default",
        targetRefs=[{"group": "gateway.networking.k8s.io", "kind": "Gateway", "name": "edge"}],
        accessLogging=[{"providers": ENVOY}],
    )
    edge = proxy(**{"gateway.networking.k8s.io/gateway-name": "edge"})
    other = proxy(**{"gateway.networking.k8s.io/gateway-name": "other"})
    assert len(istio_access_logs(world(ref), edge)) == 1
    assert istio_access_logs(world(ref), other) == ()
    assert istio_access_logs(world(ref), proxy()) == ()


def test_an_unknown_provider_is_ignored_and_the_mesh_config_applies_again() -> None:
    otel = telemetry("mesh", "istio-system", accessLogging=[{"providers": [{"name": "otel"}]}])
    assert istio_access_logs(world(otel), proxy()) == ()
    (log,) = istio_access_logs(world(otel, access_log_file="/dev/stdout"), proxy())
    assert log.path == "/dev/stdout"


def test_tracing_and_a_reporting_interval_are_reasons_to_skip() -> None:
    both = telemetry(
        "mesh",
        "istio-system",
        metrics=[{"providers": [{"name": "prometheus"}], "reportingInterval": "10s"}],
        tracing=[{"randomSamplingPercentage": 10}],
    )
    problems = telemetry_problems([both])
    assert problems == [
        "Telemetry istio-system/mesh: spec.tracing is not honoured (no tracing provider "
        "runs locally; accessLogging and metrics are)",
        "Telemetry istio-system/mesh: metrics reportingInterval is not honoured (the local "
        "proxies count a TCP connection when it closes)",
    ]
    overrides = telemetry(
        "mesh", "istio-system", metrics=[{"overrides": [{"match": {"metric": "REQUEST_COUNT"}}]}]
    )
    assert telemetry_problems([overrides]) == []
    assert (
        telemetry_problems([telemetry("x", "default", accessLogging=[{"providers": ENVOY}])]) == []
    )
