"""The command-line tools a cluster target runs: running them, finding them, the container engine.

kind, kubectl, istioctl, helm and docker are run as argv lists, never through
a shell; a binary comes from an option, ``PATH``, or a pinned download already
in the cache (``releases.py``). Whether a container engine answers is asked in
milliseconds, before kind would hang on it.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
from collections.abc import Mapping, Sequence
from pathlib import Path
from urllib.parse import urlsplit

from ...._errors import TargetError, TargetUnavailable
from .releases import default_cache_dir, pinned_name

__all__ = ["docker_engine_problem", "resolve_binary", "run_tool"]

_TOOL_OUTPUT_TAIL = 2000


def run_tool(
    argv: Sequence[str],
    *,
    env: Mapping[str, str] | None = None,
    timeout: float = 600,
    input_text: str | None = None,
) -> str:
    """Run a CLI (kind, kubectl, istioctl, helm, docker) and return its stdout.

    Never through a shell, so an argument reaches the tool as given, with no
    quoting to get wrong; a failure is a ``TargetError`` with the command and
    the tail of its output.
    """
    full_env = {**os.environ, **(env or {})}
    try:
        done = subprocess.run(
            list(argv),
            env=full_env,
            capture_output=True,
            text=True,
            timeout=timeout,
            input=input_text,
            check=False,
        )
    except FileNotFoundError:
        raise TargetUnavailable(f"meshgate: {argv[0]} not found") from None
    except subprocess.TimeoutExpired:
        raise TargetError(f"meshgate: `{' '.join(argv)}` took longer than {timeout:.0f}s") from None
    if done.returncode != 0:
        output = (done.stderr or done.stdout or "").strip()[-_TOOL_OUTPUT_TAIL:]
        raise TargetError(
            f"meshgate: `{' '.join(argv)}` failed with exit status {done.returncode}:\n{output}"
        )
    return done.stdout


def resolve_binary(tool: str, option: str | None, cache_dir: Path | None = None) -> Path | None:
    """``option`` if given, else ``tool`` on PATH, else a pinned download already cached."""
    if option:
        path = Path(option).expanduser()
        return path if path.is_file() and os.access(path, os.X_OK) else None
    found = shutil.which(tool)
    if found:
        return Path(found)
    if tool in ("kind", "kubectl"):
        cached = (cache_dir or default_cache_dir()) / pinned_name(tool)
        if cached.is_file():
            return cached
    return None


def docker_engine_problem(env: Mapping[str, str] | None = None, timeout: float = 2.0) -> str | None:
    """None if a container engine answers; else what was tried, for the one-line error.

    Speaks the Docker API's ``/_ping`` on ``DOCKER_HOST`` (unix or tcp), with a
    short timeout, so a missing engine costs milliseconds, not a hang.
    """
    env = os.environ if env is None else env
    if env.get("KIND_EXPERIMENTAL_PROVIDER", "docker") != "docker":
        provider = env["KIND_EXPERIMENTAL_PROVIDER"]
        return None if shutil.which(provider) else f"{provider} (KIND_EXPERIMENTAL_PROVIDER)"
    host = env.get("DOCKER_HOST") or "unix:///var/run/docker.sock"
    parts = urlsplit(host)
    try:
        if parts.scheme == "unix":
            sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            sock.settimeout(timeout)
            try:
                sock.connect(parts.path)
            except OSError:
                sock.close()
                raise
        elif parts.scheme == "tcp":
            sock = socket.create_connection((parts.hostname or "", parts.port or 2375), timeout)
        else:
            return f"none answers at {host} (unsupported DOCKER_HOST scheme)"
        with sock:
            sock.sendall(b"GET /_ping HTTP/1.0\r\nHost: docker\r\n\r\n")
            reply = sock.recv(64)
    except OSError as exc:
        reason = exc.strerror or type(exc).__name__
        return f"none answers at {host} ({reason})"
    if b" 200 " not in reply:
        return f"{host} answered, but not as a Docker engine"
    return None
