"""Run directories carry their owner; a killed run's directory, keys and all, goes at the next start."""

from __future__ import annotations

import os
import signal
import stat
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from pytest_meshgate._targets.rundirs import (
    make_run_directory,
    owner_alive,
    process_start,
    prune_orphans,
)

pytest_plugins = ["pytester"]

KIND = "meshgate-test"


def child_making_a_directory(parent: Path, *, exit_after: bool) -> subprocess.Popen[bytes]:
    """A Python process that makes a run directory in ``parent``, says so, and exits or waits."""
    code = textwrap.dedent(
        f"""
        import os, sys
        from pathlib import Path
        from pytest_meshgate._targets.rundirs import make_run_directory
        path = make_run_directory({KIND!r}, Path({str(parent)!r}))
        (path / "key.pem").write_text("-----BEGIN PRIVATE KEY-----")
        print(path, flush=True)
        if {exit_after!r}:
            os._exit(0)
        sys.stdin.read()
        """
    )
    return subprocess.Popen(
        [sys.executable, "-c", code], stdin=subprocess.PIPE, stdout=subprocess.PIPE
    )


def test_the_directory_is_private_and_named_after_its_owner(tmp_path: Path) -> None:
    path = make_run_directory(KIND, tmp_path)
    assert stat.S_IMODE(path.stat().st_mode) == 0o700
    assert path.name.startswith(f"{KIND}-{os.getpid()}-{process_start(os.getpid())}-")
    assert process_start(os.getpid()) != "0"  # Linux: the start time is known
    assert owner_alive(os.getpid(), process_start(os.getpid()))


def first_line(child: subprocess.Popen[bytes]) -> Path:
    assert child.stdout is not None
    return Path(child.stdout.readline().decode().strip())


def test_a_dead_owners_directory_is_pruned_and_a_live_ones_kept(tmp_path: Path) -> None:
    with child_making_a_directory(tmp_path, exit_after=True) as gone:
        orphan = first_line(gone)
    assert (orphan / "key.pem").exists()  # its owner exited without cleaning up
    with child_making_a_directory(tmp_path, exit_after=False) as alive:
        living = first_line(alive)
        assert not orphan.exists()  # the next run directory made pruned it
        mine = make_run_directory(KIND, tmp_path)
        assert living.exists() and mine.exists()  # a live owner's stays
        alive.communicate(b"")
    assert prune_orphans(KIND, tmp_path) == [living]


def test_a_killed_but_unreaped_owner_is_gone(tmp_path: Path) -> None:
    with child_making_a_directory(tmp_path, exit_after=False) as child:
        path = first_line(child)
        child.kill()
        # Until it is reaped the child is a zombie: its PID still answers kill(pid, 0).
        deadline = time.monotonic() + 60  # a guard against hanging, not a speed goal
        stat_file = Path(f"/proc/{child.pid}/stat")
        while stat_file.read_text().rpartition(")")[2].split()[0] != "Z":
            assert time.monotonic() < deadline
            time.sleep(0.01)
        assert prune_orphans(KIND, tmp_path) == [path]


def test_a_reused_pid_is_not_the_owner(tmp_path: Path) -> None:
    # Our own PID with another start time: the process that made it is gone.
    stale = tmp_path / f"{KIND}-{os.getpid()}-1-abc123"
    stale.mkdir()
    assert prune_orphans(KIND, tmp_path) == [stale]


def test_only_our_own_real_directories_are_touched(tmp_path: Path) -> None:
    victim = tmp_path / "victim"
    victim.mkdir()
    (victim / "precious").write_text("x")
    (tmp_path / f"{KIND}-999999999-1-link").symlink_to(victim)
    (tmp_path / f"{KIND}-not-a-pid").mkdir()
    (tmp_path / "meshgate-other-999999999-1-x").mkdir()
    assert prune_orphans(KIND, tmp_path) == []
    assert (victim / "precious").exists()


# ------------------------------------------------------------ a real run, killed

SLOW_TLS_CASE = """
apiVersion: meshgate.dev/v1alpha1
kind: Case
metadata: {name: slow-tls}
spec:
  services:
  - name: app
    ports: [{name: http, port: 8080}]
  secrets:
  - {name: app-credential, namespace: istio-system, type: server, hosts: [app.example.com]}
  resources:
  - apiVersion: networking.istio.io/v1
    kind: Gateway
    metadata: {name: gw}
    spec:
      selector: {istio: ingressgateway}
      servers:
      - port: {number: 443, name: https, protocol: HTTPS}
        tls: {mode: SIMPLE, credentialName: app-credential}
        hosts: [app.example.com]
  - apiVersion: networking.istio.io/v1
    kind: VirtualService
    metadata: {name: app}
    spec:
      hosts: [app.example.com]
      gateways: [gw]
      http:
      - route: [{destination: {host: app}}]
  checks:
  - name: slow
    request: {url: "https://app.example.com/?delay=600s"}
"""


def _envoys_under(directory: Path) -> list[int]:
    pids = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode()
                state = (entry / "stat").read_text().rpartition(")")[2].split()[0]
            except OSError:
                continue
            if str(directory) in cmdline and "envoy" in cmdline and state != "Z":
                pids.append(int(entry.name))
    return pids


def _files_holding_keys(directory: Path) -> list[Path]:
    found = []
    for path in directory.rglob("*"):
        try:
            if path.is_file() and b"PRIVATE KEY" in path.read_bytes():
                found.append(path)
        except OSError:
            continue
    return found


def test_sigkill_leaves_the_directory_until_the_next_run_starts(
    pytester: pytest.Pytester, tmp_path: Path
) -> None:
    pytester.makefile(".yaml", slow=SLOW_TLS_CASE)
    scratch = tmp_path / "tmp"
    scratch.mkdir()
    env = {**os.environ, "TMPDIR": str(scratch)}
    command = [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", str(pytester.path)]
    patient = ["--meshgate-request-timeout=900s", "--meshgate-consistency-timeout=900s"]
    killed = subprocess.Popen(
        [*command, *patient],
        cwd=pytester.path,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    try:
        # Wait (a hang guard, no speed goal) until the gateway's TLS key is on disk
        # in the run directory and its Envoy runs: the run is under way.
        deadline = time.monotonic() + 120
        while True:
            assert killed.poll() is None, killed.stdout.read() if killed.stdout else ""
            directories = list(scratch.glob("meshgate-local-*"))
            if directories and _files_holding_keys(directories[0]) and _envoys_under(scratch):
                break
            assert time.monotonic() < deadline, "the run never got under way"
            time.sleep(0.1)
        (left,) = directories
        assert left.name.startswith(f"meshgate-local-{killed.pid}-")
        killed.send_signal(signal.SIGKILL)
        killed.wait()
    finally:
        if killed.poll() is None:
            killed.kill()
            killed.wait()
        if killed.stdout:
            killed.stdout.close()
    # Nothing ran its clean-up: the directory and its keys are still there...
    assert left.is_dir() and _files_holding_keys(left)
    # ...but its Envoys die with pytest (PR_SET_PDEATHSIG, envoy/process.py).
    deadline = time.monotonic() + 60
    while _envoys_under(scratch):
        assert time.monotonic() < deadline, "the killed run's Envoys outlived it"
        time.sleep(0.05)

    fast = SLOW_TLS_CASE.replace("?delay=600s", "")
    (pytester.path / "slow.yaml").write_text(fast)
    second = subprocess.run(
        command, cwd=pytester.path, env=env, capture_output=True, text=True, timeout=300
    )
    assert "1 passed" in second.stdout, second.stdout + second.stderr
    assert not left.exists()
    assert list(scratch.iterdir()) == []  # and the second run removed its own
