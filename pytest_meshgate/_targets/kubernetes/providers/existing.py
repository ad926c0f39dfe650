"""The ``cluster`` provider: a cluster someone else runs, named by a kubeconfig and context.

``ExistingClusterProvider`` only reads the kubeconfig and, in preflight, opens
a TCP connection to the context's API server; it never creates or deletes a
cluster.
"""

from __future__ import annotations

import importlib
import os
import socket
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

import yaml

from ...._errors import TargetUnavailable
from .base import ClusterHandle, ClusterProvider

__all__ = ["ExistingClusterProvider", "ExistingSettings"]


@dataclass
class ExistingSettings:
    kubeconfig: str | None = None
    context: str | None = None


class ExistingClusterProvider(ClusterProvider):
    """A cluster from a kubeconfig and context; never created or deleted here."""

    name = "cluster"

    def __init__(self, settings: ExistingSettings) -> None:
        self.settings = settings

    def kubeconfig_path(self) -> Path:
        if self.settings.kubeconfig:
            return Path(self.settings.kubeconfig).expanduser()
        env = os.environ.get("KUBECONFIG")
        if env:
            return Path(env.split(os.pathsep)[0]).expanduser()
        return Path.home() / ".kube" / "config"

    def preflight(self) -> None:
        try:
            importlib.import_module("kubernetes")
        except ImportError:
            raise TargetUnavailable(
                "meshgate: the cluster target needs the kubernetes client: "
                "pip install 'pytest-meshgate[kind]' (or use --meshgate-target=local)"
            ) from None
        path = self.kubeconfig_path()
        if not path.is_file():
            raise TargetUnavailable(
                f"meshgate: the cluster target needs a kubeconfig: {path} does not exist "
                "(pass --meshgate-kubeconfig=PATH, set KUBECONFIG, or use --meshgate-target=local)"
            )
        try:
            config = yaml.safe_load(path.read_text()) or {}
        except (OSError, yaml.YAMLError) as exc:
            raise TargetUnavailable(f"meshgate: cannot read kubeconfig {path}: {exc}") from None
        context_name = self.settings.context or config.get("current-context")
        contexts = {c.get("name"): c.get("context", {}) for c in config.get("contexts") or []}
        if context_name not in contexts:
            known = ", ".join(sorted(str(n) for n in contexts)) or "none"
            raise TargetUnavailable(
                f"meshgate: kubeconfig {path} has no context {context_name!r} (contexts: {known}); "
                "pass --meshgate-context=NAME"
            )
        cluster_name = contexts[context_name].get("cluster")
        clusters = {c.get("name"): c.get("cluster", {}) for c in config.get("clusters") or []}
        server = str(clusters.get(cluster_name, {}).get("server", ""))
        parts = urlsplit(server)
        if not parts.hostname:
            raise TargetUnavailable(
                f"meshgate: context {context_name!r} in {path} names no cluster server"
            )
        port = parts.port or (443 if parts.scheme == "https" else 80)
        try:
            socket.create_connection((parts.hostname, port), timeout=3).close()
        except OSError as exc:
            reason = exc.strerror or type(exc).__name__
            raise TargetUnavailable(
                f"meshgate: the cluster of context {context_name!r} is unreachable: "
                f"{server} ({reason}); check the cluster or --meshgate-context"
            ) from None

    def acquire(self) -> ClusterHandle:
        return ClusterHandle(
            name=self.settings.context or "current-context",
            kubeconfig=self.kubeconfig_path(),
            context=self.settings.context,
        )
