"""The ``kind`` provider: a cluster created for the run through pytest-kind, owned carefully.

``KindProvider`` wraps pytest-kind's ``KindCluster`` (``pytest_kind/cluster.py``)
but never lets it download: it is always handed a kind and a kubectl binary we
resolved ourselves (an option, ``PATH``, or our own pinned, architecture-aware
download with its published SHA-256 checked, only when asked; the pins are in
``releases.py``). The cluster gets a config with ``extraPortMappings`` from
host ports to the gateways' NodePorts.

Ownership. pytest-kind's own ``kind_cluster`` fixture (``pytest_kind/plugin.py``)
deletes the cluster at the end of the session unless ``--keep-cluster``, also
one that existed before the run (``KindCluster.create`` reuses it), and under
pytest-xdist every worker creates and deletes on its own. Here instead:

- A cluster that existed before the run is reused and never deleted.
- A cluster this run created is deleted at the end unless
  ``--meshgate-kind-keep=yes``; a kept cluster is reused (and again not
  deleted) by later runs.
- Under pytest-xdist every worker acquires the cluster behind a file lock in
  ``.pytest-kind/<name>/``; the first creates it, the last one out of the run
  that created it deletes it.
"""

from __future__ import annotations

import importlib
import json
import os
import subprocess
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from ...._errors import TargetError, TargetUnavailable
from .base import ClusterHandle, ClusterProvider, file_lock, run_id
from .releases import (
    KIND_NODE_IMAGE,
    KIND_VERSION,
    KUBECTL_VERSION,
    default_cache_dir,
    download_pinned,
    platform_tag,
)
from .tools import docker_engine_problem, resolve_binary, run_tool

__all__ = [
    "CUSTOM_NODE_PORTS",
    "GATEWAY_NODE_PORTS",
    "NODE_PORT_POOL",
    "KindProvider",
    "KindSettings",
    "kind_config",
]

# NodePorts reachable from the host through kind's extraPortMappings
# (host 127.0.0.1:<port> -> node <port>). The default gateways have fixed
# slots; gateways a case declares take free ones from the rest, the API
# server arbitrating (a taken nodePort is refused, the next is tried).
NODE_PORT_POOL: tuple[int, ...] = tuple(range(30080, 30100))
GATEWAY_NODE_PORTS: Mapping[tuple[str, int], int] = {
    ("ingress", 80): 30080,
    ("ingress", 443): 30081,
    ("egress", 80): 30082,
    ("egress", 443): 30083,
}
CUSTOM_NODE_PORTS: tuple[int, ...] = NODE_PORT_POOL[4:]


def kind_config(
    node_ports: Sequence[int] = NODE_PORT_POOL, listen_address: str = "127.0.0.1"
) -> dict[str, Any]:
    """The kind cluster config: one node, host ports mapped 1:1 to gateway NodePorts.

    Bound to loopback by default: the gateways of a test cluster need not be
    reachable from the network.
    """
    return {
        "kind": "Cluster",
        "apiVersion": "kind.x-k8s.io/v1alpha4",
        "nodes": [
            {
                "role": "control-plane",
                "extraPortMappings": [
                    {
                        "containerPort": port,
                        "hostPort": port,
                        "listenAddress": listen_address,
                        "protocol": "TCP",
                    }
                    for port in node_ports
                ],
            }
        ],
    }


@dataclass
class KindSettings:
    cluster_name: str = "meshgate"
    keep: bool = False
    node_image: str | None = None  # default: KIND_NODE_IMAGE
    kind_bin: str | None = None
    kubectl_bin: str | None = None
    download: bool = False
    workdir: Path = field(default_factory=lambda: Path(".pytest-kind"))
    cache_dir: Path = field(default_factory=default_cache_dir)


class KindProvider(ClusterProvider):
    """A kind cluster through pytest-kind's ``KindCluster``; see the module docstring."""

    name = "kind"

    def __init__(self, settings: KindSettings) -> None:
        self.settings = settings
        self.dir = settings.workdir / settings.cluster_name
        self._handle: ClusterHandle | None = None
        self._kind: Path | None = None
        self._kubectl: Path | None = None

    # -- preflight

    def preflight(self) -> None:
        try:
            importlib.import_module("pytest_kind")
            importlib.import_module("kubernetes")
        except ImportError:
            raise TargetUnavailable(
                "meshgate: the kind target needs pytest-kind and kubernetes: "
                "pip install 'pytest-meshgate[kind]' (or use --meshgate-target=local)"
            ) from None
        self._kind = self._binary("kind", self.settings.kind_bin)
        self._kubectl = self._binary("kubectl", self.settings.kubectl_bin)
        problem = docker_engine_problem()
        if problem is not None:
            raise TargetUnavailable(
                f"meshgate: the kind target needs a Docker engine: {problem} "
                "(install Docker or use --meshgate-target=local)"
            )

    def _binary(self, tool: str, option: str | None) -> Path:
        if self.settings.download and not option:
            # Asked for the pins: they win over whatever PATH has (GitHub's runners
            # bring their own kind and kubectl, of other versions).
            return download_pinned(tool, self.settings.cache_dir)
        found = resolve_binary(tool, option, self.settings.cache_dir)
        if found is not None:
            return found
        if option:
            raise TargetUnavailable(
                f"meshgate: --meshgate-kind-{'bin' if tool == 'kind' else 'kubectl-bin'}="
                f"{option} is not an executable file"
            )
        version = KIND_VERSION if tool == "kind" else KUBECTL_VERSION
        how = (
            "https://kind.sigs.k8s.io/docs/user/quick-start/#installation"
            if tool == "kind"
            else "https://kubernetes.io/docs/tasks/tools/"
        )
        flag = "--meshgate-kind-bin" if tool == "kind" else "--meshgate-kind-kubectl-bin"
        raise TargetUnavailable(
            f"meshgate: the kind target needs {tool} ({version} pinned): none on PATH; "
            f"install it ({how}), pass {flag}=PATH, or --meshgate-kind-download=yes "
            f"to fetch the pinned {version} for {'/'.join(platform_tag())}"
        )

    # -- acquire / release

    @property
    def kubeconfig(self) -> Path:
        return self.dir / "kubeconfig"

    @property
    def _state_path(self) -> Path:
        return self.dir / "meshgate-state.json"

    def _read_state(self) -> dict[str, Any]:
        try:
            state = json.loads(self._state_path.read_text())
        except (OSError, ValueError):
            return {}
        return state if isinstance(state, dict) else {}

    def _write_state(self, state: dict[str, Any]) -> None:
        self._state_path.write_text(json.dumps(state, indent=2, sort_keys=True))

    def _existing_clusters(self) -> list[str]:
        assert self._kind is not None
        return run_tool([str(self._kind), "get", "clusters"], timeout=60).split()

    def acquire(self) -> ClusterHandle:
        if self._handle is not None:
            return self._handle
        if self._kind is None or self._kubectl is None:
            self.preflight()
        assert self._kind is not None and self._kubectl is not None
        kind_cluster_class = importlib.import_module("pytest_kind").KindCluster

        name = self.settings.cluster_name
        self.dir.mkdir(parents=True, exist_ok=True)
        with file_lock(self.dir / "meshgate.lock"):
            state = self._read_state()
            exists = name in self._existing_clusters()
            if exists and state.get("created_by_run") != run_id():
                # Someone else's cluster (or one kept by an earlier run): reuse,
                # never delete. It must have our port mappings to be usable.
                state = {"created_by_run": None, "users": 0, "kept": state.get("kept", False)}
                kubeconfig = run_tool([str(self._kind), "get", "kubeconfig", f"--name={name}"])
                self.kubeconfig.write_text(kubeconfig)
                self.kubeconfig.chmod(0o600)
                self._check_port_mappings()
            config_path = self.dir / "kind-config.yaml"
            config_path.write_text(yaml.safe_dump(kind_config(), sort_keys=False))
            cluster = kind_cluster_class(
                name,
                kubeconfig=self.kubeconfig,
                image=self.settings.node_image or KIND_NODE_IMAGE,
                kind_path=self._kind,
                kubectl_path=self._kubectl,
            )
            if not exists:
                # KindCluster.create lists clusters and creates ours with the config.
                try:
                    cluster.create(config_file=config_path)
                except subprocess.CalledProcessError as exc:
                    raise TargetError(
                        f"meshgate: `kind create cluster --name={name}` failed with exit status "
                        f"{exc.returncode}; its output is above"
                    ) from None
                state = {"created_by_run": run_id(), "users": 0, "kept": self.settings.keep}
            state["users"] = int(state.get("users", 0)) + 1
            self._write_state(state)
        self._handle = ClusterHandle(
            name=name,
            kubeconfig=self.kubeconfig,
            context=f"kind-{name}",
            kubectl=self._kubectl,
            host_ports={port: ("127.0.0.1", port) for port in NODE_PORT_POOL},
            created=state["created_by_run"] == run_id(),
        )
        return self._handle

    def _check_port_mappings(self) -> None:
        engine = os.environ.get("KIND_EXPERIMENTAL_PROVIDER", "docker")
        node = f"{self.settings.cluster_name}-control-plane"
        out = run_tool([engine, "port", node], timeout=30)
        mapped = {int(line.split("/", 1)[0]) for line in out.splitlines() if "/" in line}
        missing = sorted(set(NODE_PORT_POOL) - mapped)
        if missing:
            raise TargetUnavailable(
                f"meshgate: kind cluster '{self.settings.cluster_name}' exists but lacks the port "
                f"mappings meshgate needs (node ports {missing[0]}-{missing[-1]}); meshgate never "
                "deletes a cluster it did not create: delete it yourself (kind delete cluster "
                f"--name={self.settings.cluster_name}) or pick another --meshgate-kind-cluster-name"
            )

    def release(self) -> None:
        if self._handle is None:
            return
        handle, self._handle = self._handle, None
        with file_lock(self.dir / "meshgate.lock"):
            state = self._read_state()
            state["users"] = max(0, int(state.get("users", 1)) - 1)
            ours = state.get("created_by_run") == run_id()
            if state["users"] == 0 and ours and not self.settings.keep:
                assert self._kind is not None
                run_tool(
                    [
                        str(self._kind),
                        "delete",
                        "cluster",
                        f"--name={handle.name}",
                        f"--kubeconfig={self.kubeconfig}",
                    ],
                    timeout=300,
                )
                self._state_path.unlink(missing_ok=True)
            else:
                if ours and self.settings.keep:
                    state["kept"] = True
                self._write_state(state)
