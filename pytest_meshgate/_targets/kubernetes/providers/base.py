"""The provider interface: a handle on an acquired cluster, and the locks its users share.

A provider acquires a cluster for this process and releases it, deleting only
what the run created. Processes of one run (pytest-xdist workers) coordinate
through file locks on this machine and through a run id they all share.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import sys
import tempfile
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

__all__ = ["ClusterHandle", "ClusterProvider", "cluster_lock_dir", "file_lock", "run_id"]


@dataclass
class ClusterHandle:
    """A cluster ready for the kubernetes client, and how its gateways are reached."""

    name: str
    kubeconfig: Path | None  # None: the client's default (KUBECONFIG, ~/.kube/config)
    context: str | None
    kubectl: Path | None = None
    # NodePort -> (host, port) reachable from this machine; empty: not kind.
    host_ports: dict[int, tuple[str, int]] = field(default_factory=dict)
    created: bool = False  # by this run

    def tool_args(self, helm: bool = False) -> list[str]:
        """``--kubeconfig``/``--context`` flags for kubectl and istioctl (helm: --kube-context)."""
        args: list[str] = []
        if self.kubeconfig is not None:
            args += ["--kubeconfig", str(self.kubeconfig)]
        if self.context is not None:
            args += ["--kube-context" if helm else "--context", self.context]
        return args


class ClusterProvider:
    """Acquire a cluster for this process; release it (deleting only what the run created)."""

    name: str

    def preflight(self) -> None:
        """Raise ``TargetUnavailable`` in milliseconds if this machine cannot get a cluster."""

    def acquire(self) -> ClusterHandle:
        raise NotImplementedError

    def release(self) -> None:
        """Give the cluster back; idempotent."""


@contextlib.contextmanager
def file_lock(path: Path) -> Iterator[None]:
    """An exclusive lock between processes on this machine (xdist workers)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a+") as handle:
        if sys.platform == "win32":  # pragma: no cover - kind on Windows
            import msvcrt

            msvcrt.locking(handle.fileno(), msvcrt.LK_LOCK, 1)
            try:
                yield
            finally:
                msvcrt.locking(handle.fileno(), msvcrt.LK_UNLCK, 1)
        else:
            import fcntl

            fcntl.flock(handle.fileno(), fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(handle.fileno(), fcntl.LOCK_UN)


def run_id() -> str:
    """Shared by the xdist workers of one run (their controller sets it), else per process."""
    global _RUN_ID
    if _RUN_ID is None:
        _RUN_ID = os.environ.get("PYTEST_XDIST_TESTRUNUID") or uuid.uuid4().hex
    return _RUN_ID


_RUN_ID: str | None = None


def cluster_lock_dir(cluster: ClusterHandle) -> Path:
    """Per cluster, shared by every process that runs against it (xdist workers, runs).

    It holds only lock files and this run's install marker, no keys; it
    outlives a run on purpose, as a lock must, and the target drops stale
    markers.
    """
    key = hashlib.sha1(f"{cluster.kubeconfig}|{cluster.context}".encode()).hexdigest()[:12]
    return Path(tempfile.gettempdir()) / f"meshgate-cluster-{key}"
