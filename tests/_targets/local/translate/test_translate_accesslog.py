"""Which access logs Istio gives a proxy: mesh config, Telemetry levels and their precedence,
client and server side."""

from __future__ import annotations

import dataclasses
from typing import Any

import pytest

from pytest_meshgate._cases.model.meshconfig import MeshConfig
from pytest_meshgate._cases.model.resources import parse_resource
from pytest_meshgate._targets.accesslog import ISTIO_TEXT_FORMAT
from pytest_meshgate._targets.local.translate.accesslog import (
    istio_access_logs,
    provider_problems,
    telemetry_problems,
    with_access_logs,
)
from pytest_meshgate._targets.local.translate.sidecar.inbound import translate_inbound
from pytest_meshgate._targets.local.world import (
    GatewayProxy,
    InboundPort,
    InboundWorkload,
    MeshIdentity,
    ServicePortInfo,
    World,
)


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


@pytest.mark.parametrize(
    ("mode", "client", "server"),
    [(None, 1, 1), ("CLIENT", 1, 0), ("SERVER", 0, 1), ("CLIENT_AND_SERVER", 1, 1)],
)
def test_match_mode_picks_the_listener_class(mode: str | None, client: int, server: int) -> None:
    """``matchWorkloadMode``: SERVER is the inbound listeners' mode (TestAccessLogsMode)."""
    entry: dict[str, Any] = {"providers": ENVOY}
    if mode is not None:
        entry["match"] = {"mode": mode}
    here = world(telemetry("logs", "default", accessLogging=[entry]))
    assert len(istio_access_logs(here, proxy(), "CLIENT")) == client
    assert len(istio_access_logs(here, proxy(), "SERVER")) == server


def test_a_server_mode_override_leaves_the_client_side_alone() -> None:
    """A workload's SERVER-mode disable overrides the namespace's log for that mode only."""
    namespace = telemetry("ns", "default", accessLogging=[{"providers": ENVOY}])
    workload = telemetry(
        "quiet",
        "default",
        selector={"matchLabels": {"app": "reviews"}},
        accessLogging=[{"providers": ENVOY, "match": {"mode": "SERVER"}, "disabled": True}],
    )
    here = world(namespace, workload)
    assert istio_access_logs(here, proxy(app="reviews"), "SERVER") == ()
    assert len(istio_access_logs(here, proxy(app="reviews"), "CLIENT")) == 1
    assert len(istio_access_logs(here, proxy(app="ratings"), "SERVER")) == 1


def test_the_mesh_file_logs_in_either_mode() -> None:
    here = world(access_log_file="/dev/stdout")
    assert istio_access_logs(here, proxy(), "SERVER") == istio_access_logs(here, proxy())


def test_inbound_listeners_log_to_their_pods_container_log() -> None:
    """Each pod's inbound HTTP and TCP listeners carry its SERVER-mode loggers, writing
    to its own container log; the pod's labels pick the Telemetry."""
    only_reviews = telemetry(
        "logs",
        "default",
        selector={"matchLabels": {"app": "reviews"}},
        accessLogging=[{"providers": ENVOY, "match": {"mode": "SERVER"}}],
    )
    identity = MeshIdentity("spiffe://cluster.local/ns/default/sa/x", "/c", "/k", "/r")
    ports = (
        InboundPort(ServicePortInfo("http", 9080, 9080, "HTTP"), ("127.0.0.1", 1), ("::1", 2)),
        InboundPort(ServicePortInfo("tcp", 9090, 9090, "TCP"), ("127.0.0.1", 3), ("::1", 4)),
    )
    pods = tuple(
        InboundWorkload(f"{app}-v1-abc", "default", {"app": app}, identity, ports)
        for app in ("reviews", "ratings")
    )
    config = translate_inbound(world(only_reviews), pods, "/run/inbound/harness.log")

    def paths(listener: dict[str, Any]) -> list[str]:
        chain = listener["filter_chains"][0]
        loggers = chain["filters"][-1]["typed_config"]["access_log"]
        return [str(x["typed_config"]["path"]) for x in loggers]

    by_name = {str(x["name"]): paths(x) for x in config.listeners}
    own = "/run/inbound/pods/reviews-v1-abc.default/container.log"
    assert own in by_name["reviews-v1-abc.default_9080"]
    assert own in by_name["reviews-v1-abc.default_9090"]
    for name in ("ratings-v1-abc.default_9080", "ratings-v1-abc.default_9090"):
        assert not any("container.log" in p for p in by_name[name])


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


def mesh(**config: Any) -> MeshConfig:
    return MeshConfig.model_validate(config)


JSON_PROVIDER = {
    "name": "json-log",
    "envoyFileAccessLog": {
        "path": "/var/log/json.log",
        "logFormat": {"labels": {"path": "%REQ(:PATH)%", "code": "%RESPONSE_CODE%"}},
    },
}


def test_default_providers_log_without_any_telemetry() -> None:
    # TestAccessLogsDefaultProvider: defaultProviders.accessLogging [envoy] alone logs.
    config = World(
        resources=(),
        services=(),
        mesh_config=mesh(defaultProviders={"accessLogging": ["envoy"]}, accessLogEncoding="JSON"),
    )
    (log,) = istio_access_logs(config, proxy())
    assert (log.path, log.log_format.encoding) == ("/dev/stdout", "JSON")  # the mesh's format
    # A namespace Telemetry disabling the default provider silences it.
    off = telemetry("quiet", "default", accessLogging=[{"disabled": True}])
    assert istio_access_logs(dataclasses.replace(config, resources=(off,)), proxy()) == ()
    assert len(istio_access_logs(dataclasses.replace(config, resources=(off,)), proxy("x"))) == 1
    # Disabled, the provider still counts as configured: the mesh's file log does not return.
    with_file = mesh(defaultProviders={"accessLogging": ["envoy"]}, accessLogFile="/dev/stdout")
    quiet = World(resources=(off,), services=(), mesh_config=with_file)
    assert istio_access_logs(quiet, proxy()) == ()


def test_an_extension_provider_writes_in_its_own_format() -> None:
    config = mesh(extensionProviders=[JSON_PROVIDER], accessLogEncoding="JSON")
    named = telemetry("mesh", "istio-system", accessLogging=[{"providers": [{"name": "JSON-LOG"}]}])
    (log,) = istio_access_logs(World(resources=(named,), services=(), mesh_config=config), proxy())
    assert log.path == "/var/log/json.log"
    assert log.log_format.encoding == "JSON"
    assert dict(log.log_format.json_format) == {"path": "%REQ(:PATH)%", "code": "%RESPONSE_CODE%"}
    text = mesh(
        extensionProviders=[
            {"name": "txt", "envoyFileAccessLog": {"logFormat": {"text": "%REQ(:PATH)%"}}},
            {"name": "plain", "envoyFileAccessLog": {}},
        ],
        defaultProviders={"accessLogging": ["txt", "plain"]},
        accessLogEncoding="JSON",
    )
    plain, txt = istio_access_logs(World(resources=(), services=(), mesh_config=text), proxy())
    assert (txt.path, txt.log_format.encoding, txt.log_format.text) == (
        "/dev/stdout",
        "TEXT",
        "%REQ(:PATH)%\n",
    )
    # Not the built-in provider: Istio's TEXT default, whatever the mesh's encoding.
    assert (plain.log_format.encoding, plain.log_format.text) == ("TEXT", ISTIO_TEXT_FORMAT)


def test_an_extension_provider_replaces_a_default_of_its_name() -> None:
    config = mesh(
        extensionProviders=[
            {"name": "envoy", "envoyFileAccessLog": {"path": "/dev/stderr"}},
            {"name": "prometheus", "prometheus": {}},
        ],
        defaultProviders={"accessLogging": ["envoy", "prometheus"]},
    )
    (log,) = istio_access_logs(World(resources=(), services=(), mesh_config=config), proxy())
    assert log.path == "/dev/stderr"  # prometheus writes no access log


def test_collector_providers_omit_empty_values_and_tracing_are_reasons_to_skip() -> None:
    config = mesh(
        extensionProviders=[
            {
                "name": "otel",
                "envoyOtelAls": {"service": "otel.obs.svc.cluster.local", "port": 4317},
            },
            {"name": "sparse", "envoyFileAccessLog": {"omitEmptyValues": True}},
            JSON_PROVIDER,
        ],
        defaultProviders={"accessLogging": ["sparse"], "tracing": ["zipkin"]},
    )
    uses = telemetry(
        "mesh",
        "istio-system",
        accessLogging=[{"providers": [{"name": "otel"}, {"name": "json-log"}]}],
    )
    assert provider_problems(config, [uses]) == [
        "meshConfig.defaultProviders.tracing is not honoured (no tracing provider runs locally)",
        "access-log provider 'sparse': omitEmptyValues is not honoured (the harness reads "
        "lines in Istio's formats with their '-' placeholders)",
        "access-log provider 'otel' (envoyOtelAls) sends logs to a collector, which the "
        "local target does not run (file access logs are honoured)",
    ]
    assert provider_problems(mesh(extensionProviders=[JSON_PROVIDER]), [uses]) == []
