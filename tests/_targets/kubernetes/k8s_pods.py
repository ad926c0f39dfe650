"""Running a rendered pod here, as a kubelet would: its files, its environment, its command.

``run_container`` takes a rendered Deployment (or Pod) and the objects of
its case, lays out the pod's working directory in a temporary directory
(each ConfigMap item and Secret key at the path its volume mount gives it,
relative to ``workingDir``), builds the container's environment (values and
the downward API's ``metadata.name``), expands ``$(VAR)`` in the arguments
as the kubelet does, and starts the container's command in that directory.
The one difference from the pod: ``python3`` is this interpreter, and the
process shares this machine's network (so two pods of one case cannot both
run at once on the same ports). ``stock=True`` runs it with ``-S``: no
site-packages, so only the standard library and what the pod's volumes hold
can be imported, as in the stock image.
"""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

__all__ = ["RunningContainer", "exec_in", "free_ports", "pod_spec", "run_container"]


def free_ports(count: int) -> list[int]:
    sockets = [socket.socket() for _ in range(count)]
    try:
        for sock in sockets:
            sock.bind(("127.0.0.1", 0))
        return [sock.getsockname()[1] for sock in sockets]
    finally:
        for sock in sockets:
            sock.close()


def pod_spec(obj: Mapping[str, Any]) -> Mapping[str, Any]:
    return obj["spec"]["template"]["spec"] if obj["kind"] == "Deployment" else obj["spec"]


@dataclass
class RunningContainer:
    process: subprocess.Popen[str]
    workdir: Path
    pod_name: str
    env: dict[str, str]
    argv: list[str]
    log: str = ""  # what it printed, once it has stopped

    def output(self) -> str:
        return self.log


def _find(objects: list[dict[str, Any]], kind: str, name: str, namespace: str) -> dict[str, Any]:
    for obj in objects:
        meta = obj["metadata"]
        if obj["kind"] == kind and meta["name"] == name and meta.get("namespace") == namespace:
            return obj
    raise AssertionError(f"no {kind} {namespace}/{name} among the rendered objects")


def lay_out(obj: Mapping[str, Any], objects: list[dict[str, Any]], root: Path) -> Path:
    """The container's working directory with its volumes' files in place."""
    spec = pod_spec(obj)
    container = spec["containers"][0]
    namespace = obj["metadata"]["namespace"]
    workdir = root / container["workingDir"].lstrip("/")
    volumes = {v["name"]: v for v in spec.get("volumes", [])}
    for mount in container.get("volumeMounts", []):
        volume = volumes[mount["name"]]
        target = root / mount["mountPath"].lstrip("/")
        target.mkdir(parents=True, exist_ok=True)
        if "configMap" in volume:
            data = _find(objects, "ConfigMap", volume["configMap"]["name"], namespace)["data"]
            items = volume["configMap"].get("items") or [{"key": k, "path": k} for k in data]
        else:
            data = _find(objects, "Secret", volume["secret"]["secretName"], namespace)["stringData"]
            items = [{"key": k, "path": k} for k in data]
        for item in items:
            path = target / item["path"]
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(data[item["key"]])
    workdir.mkdir(parents=True, exist_ok=True)
    return workdir


def _expand(text: str, env: Mapping[str, str]) -> str:
    # The kubelet's $(VAR) expansion; $$ escapes, unknown names stay as written.
    return re.sub(
        r"\$\$|\$\(([A-Za-z_][A-Za-z0-9_]*)\)",
        lambda m: "$" if m.group(0) == "$$" else env.get(m.group(1), m.group(0)),
        text,
    )


def _environment(container: Mapping[str, Any], pod_name: str) -> dict[str, str]:
    env = {"PATH": os.environ.get("PATH", "")}
    for var in container.get("env", []):
        if "value" in var:
            env[var["name"]] = _expand(var["value"], env)
        elif var["valueFrom"]["fieldRef"]["fieldPath"] == "metadata.name":
            env[var["name"]] = pod_name
        else:
            raise AssertionError(f"unsupported env source {var}")
    return env


def exec_in(
    obj: Mapping[str, Any],
    objects: list[dict[str, Any]],
    root: Path,
    argv: list[str],
    stdin: str,
    timeout: float = 120,
) -> subprocess.CompletedProcess[str]:
    """What the exec API runs in the pod's container: ``argv`` in its working directory.

    Without site-packages (``-S``), as in the stock image.
    """
    container = pod_spec(obj)["containers"][0]
    workdir = lay_out(obj, objects, root)
    env = _environment(container, obj["metadata"]["name"])
    assert argv[0] == "python3", argv
    return subprocess.run(
        [sys.executable, "-S", *argv[1:]], input=stdin, cwd=workdir, env=env,
        capture_output=True, text=True, timeout=timeout, check=False,
    )  # fmt: skip


@contextmanager
def run_container(
    obj: Mapping[str, Any],
    objects: list[dict[str, Any]],
    root: Path,
    pod_name: str,
    ready_port: int | None = None,
    stock: bool = False,
) -> Iterator[RunningContainer]:
    """Start the first container of ``obj``; wait for ``ready_port``; stop it with SIGTERM."""
    container = pod_spec(obj)["containers"][0]
    workdir = lay_out(obj, objects, root)
    env = _environment(container, pod_name)
    command = [_expand(c, env) for c in container["command"]]
    assert command[0] == "python3", command
    python = [sys.executable, "-S"] if stock else [sys.executable]
    argv = [*python, *command[1:], *(_expand(a, env) for a in container.get("args", []))]
    process = subprocess.Popen(
        argv, cwd=workdir, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )
    running = RunningContainer(process, workdir, pod_name, env, argv)
    try:
        if ready_port is not None:
            _wait_health(process, ready_port)
        yield running
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        if process.stdout is not None:
            running.log += process.stdout.read()
            process.stdout.close()


def _wait_health(process: subprocess.Popen[str], port: int) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if process.poll() is not None:
            out = process.stdout.read() if process.stdout else ""
            raise AssertionError(f"the echo exited {process.returncode}:\n{out}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1) as sock:
                sock.sendall(b"GET /health HTTP/1.1\r\nHost: probe\r\nConnection: close\r\n\r\n")
                if b" 200 " in sock.recv(100) and process.poll() is None:
                    return  # and still running: the answer was this echo's
        except OSError:
            time.sleep(0.05)
    raise AssertionError(f"nothing answered /health on port {port}")
