"""Filesystem xDS: the files an Envoy watches, and one whole configuration pushed through them.

Envoy reads a ``path_config_source`` file as a ``DiscoveryResponse`` and reads
it again whenever a file is moved into its ``watched_directory`` (Envoy's
``source/common/config/watched_directory.cc`` watches for ``MovedTo`` only;
``source/extensions/config_subscription/filesystem/filesystem_subscription_impl.cc``
reloads). So every file is written beside its destination and renamed into
place, and an update is confirmed, or found rejected, through admin stats.
"""

from __future__ import annotations

import contextlib
import copy
import hashlib
import json
import os
import re
import tempfile
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

from .admin import POLL_S, AdminClient

__all__ = [
    "Snapshot",
    "UpdateNotConfirmed",
    "UpdateRejected",
    "XdsFiles",
    "json_bytes",
    "write_atomically",
]

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


def json_bytes(payload: Any) -> bytes:
    # JSON, never YAML: Envoy parses a file as YAML when its name ends in .yaml or .yml
    # (MessageUtil::loadFromFile, source/common/protobuf/utility.cc), and YAML 1.1 turns
    # an unquoted `yes` into a boolean.
    return json.dumps(payload, separators=(",", ":"), allow_nan=False).encode()


def write_atomically(path: Path, data: bytes) -> None:
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


def _walk_rds_users(node: Any) -> Iterator[dict[str, Any]]:
    """Every HCM config (the dict holding an ``rds`` block) anywhere in a listener."""
    if isinstance(node, dict):
        rds = node.get("rds")
        if isinstance(rds, dict) and "route_config_name" in rds:
            yield node
        for value in node.values():
            yield from _walk_rds_users(value)
    elif isinstance(node, list):
        for item in node:
            yield from _walk_rds_users(item)


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


class UpdateRejected(Exception):
    """A subscription's rejected/failure counter moved; ``reason`` is Envoy's log line."""

    def __init__(self, what: str, reason: str) -> None:
        super().__init__(what)
        self.what = what
        self.reason = reason


class UpdateNotConfirmed(Exception):
    """The stats did not show the pushed version in time."""


class Snapshot:
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
        return json_bytes({"version_info": self.version, "resources": self.clusters})

    def lds_payload(self) -> bytes:
        return json_bytes({"version_info": self.version, "resources": self.listeners})

    def rds_payload(self, route: Mapping[str, Any]) -> bytes:
        return json_bytes({"version_info": self.version, "resources": [route]})


class XdsFiles:
    """One Envoy's xDS directory and the ordered update through it.

    Layout of ``root``::

        cds/cds.json        CDS DiscoveryResponse
        lds/lds.json        LDS DiscoveryResponse
        rds/<name>.json     one RouteConfiguration per file, for an HCM whose ``rds``
                            names its ``config_source`` (``rds_config_source``); any
                            other HCM gets its route configuration inline in LDS

    ``admin`` reads the stats that confirm an update, ``check_alive`` raises
    once Envoy has exited, and ``log_path`` is where Envoy writes why it
    refused one.
    """

    def __init__(
        self, root: Path, admin: AdminClient, check_alive: Callable[[], None], log_path: Path
    ) -> None:
        self.root = root
        # One watched directory per type: a rename reloads every subscription watching
        # its directory, so in a shared one a CDS push would re-read a rejected lds.json
        # and be blamed for it (or rescue it, depending on which watch fires first).
        self.cds_dir = root / "cds"
        self.lds_dir = root / "lds"
        self.rds_dir = root / "rds"
        self._admin = admin
        self._check_alive = check_alive
        self._log_path = log_path

    @property
    def cds_path(self) -> Path:
        return self.cds_dir / "cds.json"

    @property
    def lds_path(self) -> Path:
        return self.lds_dir / "lds.json"

    def make_directories(self) -> None:
        for directory in (self.cds_dir, self.lds_dir, self.rds_dir):
            directory.mkdir(parents=True, exist_ok=True)

    def write_initial(self, empty: Snapshot) -> None:
        """The files the subscriptions read at start-up, so they must exist first."""
        write_atomically(self.cds_path, empty.cds_payload())
        write_atomically(self.lds_path, empty.lds_payload())

    def dynamic_resources(self) -> dict[str, Any]:
        """The bootstrap's ``dynamic_resources``: CDS and LDS from their watched files."""
        return {
            "cds_config": self._config_source(self.cds_path, self.cds_dir),
            "lds_config": self._config_source(self.lds_path, self.lds_dir),
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
        gets its own file.
        """
        return self._config_source(self.rds_dir / _route_file_name(route_config_name), self.rds_dir)

    def snapshot(
        self,
        clusters: Sequence[Mapping[str, Any]],
        listeners: Sequence[Mapping[str, Any]],
        routes: Sequence[Mapping[str, Any]],
    ) -> Snapshot:
        """A checked, unversioned snapshot of copies of the resources, touching no file.

        Every ``rds`` block that has a ``route_config_name`` but no
        ``config_source`` is replaced by that route configuration inline (see
        the comment below), so translators name routes as Istio's RDS does; one
        with a ``config_source`` (``rds_config_source``) keeps its RDS file.
        """
        _resource_names(clusters, "cluster")
        _resource_names(listeners, "listener")
        route_names = _resource_names(routes, "route configuration")
        snapshot = Snapshot(
            version="",
            clusters=_with_type(clusters, _CLUSTER_TYPE),
            listeners=_with_type(listeners, _LISTENER_TYPE),
            routes=dict(zip(route_names, _with_type(routes, _ROUTE_TYPE), strict=True)),
        )
        for listener in snapshot.listeners:
            if "socket_address" in listener.get("address", {}):
                # Envoy's default (SO_REUSEPORT) lets a second Envoy bind a port the first
                # holds and share its connections without a word: another lane's, another
                # run's. Off, that port is refused loudly ("Address already in use").
                listener.setdefault("enable_reuse_port", False)
        referenced = []
        for hcm in list(_walk_rds_users(snapshot.listeners)):
            name = hcm["rds"]["route_config_name"]
            if name not in snapshot.routes:
                raise ValueError(
                    f"a listener uses route configuration {name!r}, which is not among the routes"
                )
            if "config_source" in hcm["rds"]:
                referenced.append(name)  # an RDS subscription asked for by name: its file
                continue
            # Inline rather than a filesystem RDS subscription: Envoy gives each
            # subscription an inotify instance of its own, and the kernel allows 128
            # per user (fs.inotify.max_user_instances) for every Envoy of every lane
            # and run on the machine; two subscriptions per Envoy (CDS, LDS) instead
            # of two plus one per route configuration. Envoy routes the same either
            # way, once validate_clusters keeps RDS's default (false: a route to an
            # unknown cluster answers 503 at request time, as Istio's do, instead of
            # refusing the whole table).
            route = {k: v for k, v in snapshot.routes[name].items() if k != "@type"}
            route.setdefault("validate_clusters", False)
            del hcm["rds"]
            hcm["route_config"] = route
        snapshot.referenced = sorted(set(referenced))
        for payload in (snapshot.clusters, snapshot.listeners, snapshot.routes):
            json_bytes(payload)  # fail on non-JSON data before touching any file
        return snapshot

    def push(self, snapshot: Snapshot, timeout: float) -> None:
        """Write ``snapshot`` in order and wait until Envoy serves it.

        The order is the Envoy docs' "xDS REST and gRPC protocol" (section
        "Eventual consistency considerations", ``api/xds_protocol.rst``): CDS
        first, and listeners only once their clusters are known. Unlike that
        page (RDS after LDS), the route files are written before lds.json,
        since a new listener's filesystem RDS subscription reads its file at
        once. Raises ``UpdateRejected`` when a rejected/failure counter moves,
        ``UpdateNotConfirmed`` when ``timeout`` passes first.
        """
        deadline = time.monotonic() + timeout
        log_offset = self._log_size()
        baseline = {
            k: v for k, v in self._admin.stats(_STATS_FILTER).items() if _BAD_COUNTER.search(k)
        }
        version = snapshot.version

        write_atomically(self.cds_path, snapshot.cds_payload())

        def clusters_done(stats: Mapping[str, Any]) -> str | None:
            current = stats.get("cluster_manager.cds.version_text")
            return None if current == version else f"cds version is {current!r}, not {version!r}"

        self._wait(clusters_done, baseline, log_offset, deadline, "clusters")

        # Routes before listeners: a new listener's RDS subscription reads its file at once.
        # Only those an explicit RDS subscription reads; the others travel inline in LDS.
        for name in snapshot.referenced:
            route = snapshot.routes[name]
            write_atomically(self.rds_dir / _route_file_name(name), snapshot.rds_payload(route))
        write_atomically(self.lds_path, snapshot.lds_payload())

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
            self._check_alive()
            stats = self._admin.stats(_STATS_FILTER)
            moved = sorted(
                name
                for name, value in stats.items()
                if _BAD_COUNTER.search(name) and value > baseline.get(name, 0)
            )
            if moved:
                raise UpdateRejected(f"{what}: {', '.join(moved)}", self._reason(log_offset))
            pending = done(stats)
            if pending is None:
                return
            if time.monotonic() > deadline:
                raise UpdateNotConfirmed(f"{what}: {pending}")
            time.sleep(POLL_S)

    def _log_size(self) -> int:
        try:
            return self._log_path.stat().st_size
        except OSError:
            return 0

    def _reason(self, offset: int) -> str:
        # Envoy writes the reason to its log right before bumping the counter; a short
        # grace period covers the write not having reached the file yet.
        deadline = time.monotonic() + 0.2
        lines: list[str] = []
        while True:
            try:
                with open(self._log_path, "rb") as fh:
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
        return "\n".join(lines[-10:]) or f"(no reason in {self._log_path})"
