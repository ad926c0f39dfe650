"""Cluster providers behind one interface: ``kind`` (created for the run) and ``cluster``.

``KindProvider`` wraps pytest-kind's ``KindCluster`` but never lets it
download: it is always handed a kind and a kubectl binary we resolved
ourselves (an option, ``PATH``, or our own pinned, architecture-aware download
with its published SHA-256 checked, only when asked). The cluster gets a
config with ``extraPortMappings`` from host ports to the gateways' NodePorts.

Ownership (peers.md §2.1, pytest-kind's weak points 3 and 4):

- A cluster that existed before the run is reused and never deleted.
- A cluster this run created is deleted at the end unless
  ``--meshgate-kind-keep=yes``; a kept cluster is reused (and again not
  deleted) by later runs.
- Under pytest-xdist every worker acquires the cluster behind a file lock in
  ``.pytest-kind/<name>/``; the first creates it, the last one out of the run
  that created it deletes it.

``ExistingClusterProvider`` only reads a kubeconfig and context; it never
creates or deletes a cluster.
"""

from __future__ import annotations

import contextlib
import hashlib
import importlib
import json
import os
import platform
import shutil
import socket
import subprocess
import sys
import urllib.request
import uuid
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import yaml

from ..._errors import TargetError, TargetUnavailable

__all__ = [
    "GATEWAY_NODE_PORTS",
    "KIND_NODE_IMAGE",
    "KIND_VERSION",
    "KUBECTL_VERSION",
    "NODE_PORT_POOL",
    "ClusterHandle",
    "ClusterProvider",
    "ExistingClusterProvider",
    "KindProvider",
    "docker_engine_problem",
    "download_pinned",
    "kind_config",
    "platform_tag",
    "run_tool",
]

# Pins. Not exercised against a real download or cluster on the machine this
# was written on (no network, no Docker); CI (.github/workflows) uses the same.
KIND_VERSION = "v0.29.0"
KIND_NODE_IMAGE = "kindest/node:v1.33.1"
KUBECTL_VERSION = "v1.33.1"

# NodePorts reachable from the host through kind's extraPortMappings
# (host 127.0.0.1:<port> -> node <port>). The default gateways have fixed
# slots; gateways a case declares take free ones from the rest, the API
# server arbitrating (a taken nodePort is refused, the next is tried).
NODE_PORT_POOL: tuple[int, ...] = tuple(range(30080, 30090))
GATEWAY_NODE_PORTS: Mapping[tuple[str, int], int] = {
    ("ingress", 80): 30080,
    ("ingress", 443): 30081,
    ("egress", 80): 30082,
    ("egress", 443): 30083,
}
CUSTOM_NODE_PORTS: tuple[int, ...] = NODE_PORT_POOL[4:]

_TOOL_OUTPUT_TAIL = 2000


# --------------------------------------------------------------------- tools


def run_tool(
    argv: Sequence[str],
    *,
    env: Mapping[str, str] | None = None,
    timeout: float = 600,
    input_text: str | None = None,
) -> str:
    """Run a CLI (kind, kubectl, istioctl, helm, docker) and return its stdout.

    Never through a shell (no quoting bugs, peers.md §2.2); a failure is a
    ``TargetError`` with the command and the tail of its output.
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


def platform_tag() -> tuple[str, str]:
    """(os, arch) as kind and Kubernetes name their release files: linux/darwin, amd64/arm64."""
    system = platform.system().lower()
    machine = platform.machine().lower()
    arch = {"x86_64": "amd64", "amd64": "amd64", "aarch64": "arm64", "arm64": "arm64"}.get(
        machine, machine
    )
    return system, arch


def pinned_urls(tool: str, system: str, arch: str) -> tuple[str, str]:
    """The release URL of a pinned binary and of its published SHA-256 file."""
    if tool == "kind":
        url = (
            f"https://github.com/kubernetes-sigs/kind/releases/download/"
            f"{KIND_VERSION}/kind-{system}-{arch}"
        )
        return url, url + ".sha256sum"
    if tool == "kubectl":
        url = f"https://dl.k8s.io/release/{KUBECTL_VERSION}/bin/{system}/{arch}/kubectl"
        return url, url + ".sha256"
    raise ValueError(tool)


def pinned_name(tool: str) -> str:
    system, arch = platform_tag()
    version = KIND_VERSION if tool == "kind" else KUBECTL_VERSION
    return f"{tool}-{version}-{system}-{arch}"


def download_pinned(
    tool: str,
    cache_dir: Path,
    urls: tuple[str, str] | None = None,
    timeout: float = 120,
) -> Path:
    """Fetch the pinned ``tool`` for this OS/arch into ``cache_dir``, checking its SHA-256.

    The digest comes from the checksum file the project publishes next to the
    binary; a mismatch leaves nothing behind.
    """
    target = cache_dir / pinned_name(tool)
    if target.is_file():
        return target
    system, arch = platform_tag()
    url, sum_url = urls or pinned_urls(tool, system, arch)
    cache_dir.mkdir(parents=True, exist_ok=True)
    try:
        with urllib.request.urlopen(sum_url, timeout=timeout) as response:
            expected = response.read().decode().split()[0].lower()
        with urllib.request.urlopen(url, timeout=timeout) as response:
            blob = response.read()
    except OSError as exc:
        raise TargetUnavailable(f"meshgate: could not download {tool} from {url}: {exc}") from None
    digest = hashlib.sha256(blob).hexdigest()
    if digest != expected:
        raise TargetUnavailable(
            f"meshgate: {url} has SHA-256 {digest}, but {sum_url} says {expected}; not using it"
        )
    partial = target.with_suffix(".partial")
    partial.write_bytes(blob)
    partial.chmod(0o755)
    partial.replace(target)
    return target


def default_cache_dir() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "pytest-meshgate" / "bin"


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


# --------------------------------------------------------------------- kind config


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


# --------------------------------------------------------------------- handles


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


# --------------------------------------------------------------------- kind


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
        found = resolve_binary(tool, option, self.settings.cache_dir)
        if found is not None:
            return found
        if option:
            raise TargetUnavailable(
                f"meshgate: --meshgate-kind-{'bin' if tool == 'kind' else 'kubectl-bin'}="
                f"{option} is not an executable file"
            )
        if self.settings.download:
            return download_pinned(tool, self.settings.cache_dir)
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


# --------------------------------------------------------------------- existing cluster


@dataclass
class ExistingSettings:
    kubeconfig: str | None = None
    context: str | None = None


class ExistingClusterProvider(ClusterProvider):
    """A cluster from a kubeconfig and context; never created or deleted here."""

    name = "cluster"

    def __init__(self, settings: ExistingSettings) -> None:
        self.settings = settings
        self._server: str | None = None

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
        self._server = server

    def acquire(self) -> ClusterHandle:
        return ClusterHandle(
            name=self.settings.context or "current-context",
            kubeconfig=self.kubeconfig_path(),
            context=self.settings.context,
        )
