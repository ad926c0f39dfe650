"""Cluster providers behind one interface: ``kind`` (created for the run) and ``cluster``.

``base.py`` is the interface and the locks shared between processes,
``releases.py`` the pinned kind and kubectl releases, ``tools.py`` running and
finding the command-line tools, ``kind.py`` and ``existing.py`` the two
providers. This package re-exports what the target and the adapters use.
"""

from __future__ import annotations

from .base import ClusterHandle, ClusterProvider, cluster_lock_dir, file_lock, run_id
from .existing import ExistingClusterProvider, ExistingSettings
from .kind import (
    CUSTOM_NODE_PORTS,
    GATEWAY_NODE_PORTS,
    NODE_PORT_POOL,
    KindProvider,
    KindSettings,
    kind_config,
)
from .releases import (
    KIND_NODE_IMAGE,
    KIND_VERSION,
    KUBECTL_VERSION,
    download_pinned,
    platform_tag,
)
from .tools import docker_engine_problem, resolve_binary, run_tool

__all__ = [
    "CUSTOM_NODE_PORTS",
    "GATEWAY_NODE_PORTS",
    "KIND_NODE_IMAGE",
    "KIND_VERSION",
    "KUBECTL_VERSION",
    "NODE_PORT_POOL",
    "ClusterHandle",
    "ClusterProvider",
    "ExistingClusterProvider",
    "ExistingSettings",
    "KindProvider",
    "KindSettings",
    "cluster_lock_dir",
    "docker_engine_problem",
    "download_pinned",
    "file_lock",
    "kind_config",
    "platform_tag",
    "resolve_binary",
    "run_id",
    "run_tool",
]
