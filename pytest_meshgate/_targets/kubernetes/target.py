"""The ``kind`` and ``cluster`` targets: a case deployed with the kubernetes client.

Session: acquire the cluster (provider), install the implementation once per
cluster (adapter; skipped on a reused cluster with the same install
fingerprint), wait for it, and on kind make the default gateways NodePort
Services on the ports kind maps to the host.

Per case: render (``manifests.py``), apply, wait for readiness, point
external names at their echo Services (CoreDNS), then send. Teardown deletes
the case's namespaces and the objects it put into shared namespaces, and
waits until they are gone. A deployment that fails dumps pods, logs, events
and the gateway's routes and clusters into the error before cleaning up.

Cases on one cluster are serialised by a lease (a file lock) even under
xdist: the gateways are shared, and two cases binding ``app.example.com`` at
once would race on the same Istio ingress gateway. Each case still gets its
own namespaces; xdist speeds up the rest of a run, not the checks.
"""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import itertools
import json
import os
import re
import tempfile
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any
from urllib.parse import urlsplit

import pytest

from ..._cases.loader import LoadedCase
from ..._cases.model.request import Request
from ..._cases.model.workloads import DEFAULT_GATEWAYS, GatewayWorkload
from ..._errors import TargetError, TargetUnavailable
from ..._exchange.client import HTTPClient
from ..._exchange.records import Exchange
from ..._judge.verdicts import Consistency
from ..._options import is_yes
from ..base import Deployment, Target
from .adapters import AdapterOptions, Implementation, load_implementation
from .manifests import (
    CLIENT_IMAGE,
    ECHO_IMAGE,
    NamespacePlan,
    RenderSettings,
    coredns_rewrite_block,
    k8s_name,
    render_case,
    rewrite_host,
    rewrite_url,
    service_namespace,
    version_from_pod,
)
from .providers import (
    CUSTOM_NODE_PORTS,
    GATEWAY_NODE_PORTS,
    ClusterHandle,
    ClusterProvider,
    ExistingClusterProvider,
    ExistingSettings,
    KindProvider,
    KindSettings,
    file_lock,
    run_id,
)

__all__ = ["ClusterSettings", "KubernetesTarget", "build_target", "preflight"]

INSTALL_TIMEOUT = 600.0
READY_TIMEOUT = 300.0  # NamespacesMustBeReady
DELETE_TIMEOUT = 120.0
MARKER_MAX_AGE = 86400.0  # seconds an install marker of another run is kept


@dataclass(frozen=True)
class ClusterSettings:
    echo_image: str = ECHO_IMAGE
    client_image: str = CLIENT_IMAGE
    gateway_address: str | None = None
    coredns: bool = True  # may edit kube-system/coredns for external services


def build_parts(
    target: str, values: Mapping[str, str | None]
) -> tuple[ClusterProvider, Implementation, ClusterSettings]:
    """Provider, adapter and settings from option values (no I/O; raises TargetUnavailable)."""
    provider: ClusterProvider
    if target == "kind":
        provider = KindProvider(
            KindSettings(
                cluster_name=values.get("kind-cluster-name") or "meshgate",
                keep=is_yes(values.get("kind-keep")),
                node_image=values.get("kind-image"),
                kind_bin=values.get("kind-bin"),
                kubectl_bin=values.get("kind-kubectl-bin"),
                download=is_yes(values.get("kind-download")),
            )
        )
    else:
        provider = ExistingClusterProvider(
            ExistingSettings(kubeconfig=values.get("kubeconfig"), context=values.get("context"))
        )
    adapter = load_implementation(
        values.get("implementation") or "istio", AdapterOptions(dict(values), target)
    )
    dns = values.get("external-dns") or ("coredns" if target == "kind" else "none")
    if dns not in ("coredns", "none"):
        raise TargetUnavailable(f"meshgate: --meshgate-external-dns={dns}: not coredns or none")
    settings = ClusterSettings(
        echo_image=values.get("echo-image") or ECHO_IMAGE,
        client_image=values.get("client-image") or CLIENT_IMAGE,
        gateway_address=values.get("gateway-address"),
        coredns=dns == "coredns",
    )
    return provider, adapter, settings


def preflight(target: str, values: Mapping[str, str | None]) -> None:
    """Everything that can be checked in milliseconds, before any test runs."""
    provider, adapter, _ = build_parts(target, values)
    provider.preflight()
    adapter.preflight()


def build_target(
    target: str,
    values: Mapping[str, str | None],
    consistency: Consistency,
    request_timeout: float,
) -> KubernetesTarget:
    provider, adapter, settings = build_parts(target, values)
    return KubernetesTarget(
        target,
        provider,
        adapter,
        settings,
        consistency,
        request_timeout,
    )


class KubernetesTarget(Target):
    """Cases on a Kubernetes cluster; see the module docstring."""

    def __init__(
        self,
        name: str,
        provider: ClusterProvider,
        adapter: Implementation,
        settings: ClusterSettings,
        consistency: Consistency,
        request_timeout: float = 10.0,
    ) -> None:
        super().__init__()
        self.name = name
        self.provider = provider
        self.adapter = adapter
        self.settings = settings
        self.consistency = consistency
        self.request_timeout = request_timeout
        self.capabilities = frozenset({"http", "statistics"}) | adapter.capabilities()
        self.client = HTTPClient(timeout=request_timeout)
        self.cluster: ClusterHandle | None = None
        self.kube: Any = None
        self._counter = itertools.count(1)
        self._broken: str | None = None

    # ------------------------------------------------------------ session

    def ensure_cluster(self) -> None:
        """Acquire the cluster, install the implementation, expose the gateways (once)."""
        if self.cluster is not None:
            return
        if self._broken is not None:
            # The cluster could not be had once; every later case fails at
            # once with the same message instead of creating it again.
            raise TargetError(f"{self._broken} (failed earlier in this session)")
        try:
            self._acquire_cluster()
        except TargetError as exc:
            self._broken = str(exc)
            raise

    def _acquire_cluster(self) -> None:
        self.provider.preflight()
        self.adapter.preflight()
        cluster = self.provider.acquire()
        try:
            from .kube import k8s

            api_client = k8s("kubernetes.config").new_client_from_config(
                config_file=str(cluster.kubeconfig) if cluster.kubeconfig else None,
                context=cluster.context,
            )
            from .kube import Kube

            kube = Kube(api_client)
            with self._cluster_lock(cluster):
                self._install_once(cluster)
            self.adapter.wait_ready(cluster, kube, READY_TIMEOUT)
            if cluster.host_ports:
                for short, workload in self.adapter.gateways().items():
                    wanted = {
                        port: [node_port]
                        for (name, port), node_port in GATEWAY_NODE_PORTS.items()
                        if name == short
                    }
                    kube.expose_node_ports(workload.namespace, workload.name, wanted)
        except BaseException:
            self.provider.release()
            raise
        self.cluster, self.kube = cluster, kube

    def _lock_dir(self, cluster: ClusterHandle) -> Path:
        """Per cluster, shared by every process that runs against it (xdist workers, runs).

        It holds only lock files and this run's install marker, no keys; it
        outlives a run on purpose, as a lock must, and stale markers go (below).
        """
        key = hashlib.sha1(f"{cluster.kubeconfig}|{cluster.context}".encode()).hexdigest()[:12]
        return Path(tempfile.gettempdir()) / f"meshgate-cluster-{key}"

    @contextlib.contextmanager
    def _cluster_lock(self, cluster: ClusterHandle) -> Iterator[None]:
        with file_lock(self._lock_dir(cluster) / "install.lock"):
            yield

    def _install_once(self, cluster: ClusterHandle) -> None:
        # The fingerprint lives in the cluster (a ConfigMap would need the
        # API before install); a marker file per cluster+run is enough to keep
        # xdist workers from installing N times.
        marker = self._lock_dir(cluster) / f"installed-{run_id()}"
        fingerprint = self.adapter.fingerprint()
        if marker.is_file() and marker.read_text() == fingerprint:
            return
        self.adapter.install(cluster)
        marker.write_text(fingerprint)
        # Markers of earlier runs would pile up, one per run: drop those a day old.
        stale = time.time() - MARKER_MAX_AGE
        for old in marker.parent.glob("installed-*"):
            with contextlib.suppress(OSError):
                if old != marker and old.stat().st_mtime < stale:
                    old.unlink()

    def release(self) -> None:
        self.client.close()
        if self.cluster is not None:
            self.cluster = None
            self.provider.release()

    # ------------------------------------------------------------ deploying

    def deploy(self, loaded: LoadedCase) -> Deployment:
        self._skip_unsupported(loaded)
        self.ensure_cluster()
        assert self.cluster is not None
        case = loaded.case
        plan = NamespacePlan.for_case(
            case,
            f"{run_id()}/{os.getpid()}/{case.name}/{next(self._counter)}",
            system=frozenset({self.adapter.system_namespace, "kube-system"}),
        )
        from .material import TrustmeMaterial

        settings = RenderSettings(
            echo_image=self.settings.echo_image,
            client_image=self.settings.client_image,
            mesh_labels=self.adapter.mesh_namespace_labels(),
            outside_labels=self.adapter.outside_namespace_labels(),
            case_labels={
                "meshgate.dev/case": case.name,
                "meshgate.dev/run": run_id()[:63],
            },
            gateway_manifests=self.adapter.gateway_manifests,
        )
        objects = render_case(case, plan, settings, TrustmeMaterial(case))
        deployment = KubernetesDeployment(self, loaded, plan, objects)
        try:
            deployment.start()
        except BaseException as exc:
            dump = ""
            if isinstance(exc, TargetError):
                dump = deployment.dump()
            deployment.teardown()
            if dump:
                raise TargetError(f"{exc}\n\nstate before cleanup:\n{dump}") from None
            raise
        return deployment

    def _skip_unsupported(self, loaded: LoadedCase) -> None:
        """Skip (never fail) what this implementation or target cannot do."""
        spec = loaded.case.spec
        missing = self.missing_gateways(loaded)
        gateway_checks = [c for c in spec.checks if c.request.from_ is None]
        if (
            missing
            and all((c.request.gateway or "ingress") in missing for c in gateway_checks)
            and (len(gateway_checks) == len(spec.checks))
        ):
            # No check of the case could run; checks of mixed cases are
            # skipped one by one in send().
            pytest.skip(self.gateway_skip_reason(missing))
        features = self.adapter.supported_features()
        if features is not None:
            unsupported = sorted(set(loaded.case.metadata.features) - features)
            if unsupported:
                pytest.skip(f"not supported by {self.adapter.name}: {', '.join(unsupported)}")
        if any(s.replicas > 1 or s.misbehaving for s in spec.services):
            # echo-basic pods cannot be told to misbehave, and one Deployment per
            # version does not name its replicas yet: never judge a case half-built.
            pytest.skip(f"target '{self.name}' lacks capability replicas (services[].replicas)")
        if any(s.external for s in spec.services) and not self.settings.coredns:
            pytest.skip(
                f"target '{self.name}' lacks capability external-services "
                "(--meshgate-external-dns=coredns lets meshgate add CoreDNS rewrites)"
            )
        if any(s.addresses for s in spec.services):
            # A DNS rewrite cannot make 203.0.113.10 lead to a pod.
            pytest.skip(f"target '{self.name}' lacks capability external-addresses")

    def missing_gateways(self, loaded: LoadedCase) -> set[str]:
        spec = loaded.case.spec
        available = set(self.adapter.gateways()) | {g.name for g in spec.gateways}
        used = {c.request.gateway or "ingress" for c in spec.checks if c.request.from_ is None}
        return used - available

    def gateway_skip_reason(self, missing: set[str]) -> str:
        profile = getattr(self.adapter, "profile", "")
        return (
            f"not supported by {self.adapter.name}"
            + (f" profile {profile}" if profile else "")
            + f": no {', '.join(sorted(missing))} gateway"
        )

    def gateway_address(self, workload: GatewayWorkload, service_port: int, node_port: int | None
                        ) -> tuple[str, int]:  # fmt: skip
        """Where this machine reaches ``workload`` on ``service_port``."""
        assert self.cluster is not None
        if self.cluster.host_ports:
            if node_port is None or node_port not in self.cluster.host_ports:
                raise TargetError(
                    f"meshgate: gateway {workload.name} port {service_port} is not mapped to "
                    "the host (kind maps only the gateway ports meshgate exposes: 80 and 443)"
                )
            return self.cluster.host_ports[node_port]
        if self.settings.gateway_address:
            return self.settings.gateway_address, service_port
        live = self.kube.get("v1", "Service", workload.name, workload.namespace) or {}
        ingress = ((live.get("status") or {}).get("loadBalancer") or {}).get("ingress") or []
        if ingress:
            return str(ingress[0].get("ip") or ingress[0].get("hostname")), service_port
        for port in (live.get("spec") or {}).get("ports", []):
            if port.get("port") == service_port and port.get("nodePort"):
                return self._node_address(), int(port["nodePort"])
        raise TargetError(
            f"meshgate: gateway {workload.namespace}/{workload.name} has no load-balancer "
            f"address and no nodePort for port {service_port}; pass "
            "--meshgate-gateway-address=HOST (e.g. a port-forward or tunnel address)"
        )

    def _node_address(self) -> str:
        for node in self.kube.list("v1", "Node", None):
            addresses = (node.get("status") or {}).get("addresses") or []
            for kind in ("ExternalIP", "InternalIP"):
                for address in addresses:
                    if address.get("type") == kind:
                        return str(address["address"])
        raise TargetError("meshgate: no node has an address to reach a NodePort on")


class KubernetesDeployment(Deployment):
    """One case on a cluster: its objects, DNS rewrites, gateways and clients."""

    def __init__(
        self,
        target: KubernetesTarget,
        loaded: LoadedCase,
        plan: NamespacePlan,
        objects: list[dict[str, Any]],
    ) -> None:
        self.target = target
        self.loaded = loaded
        self.plan = plan
        self.objects = objects
        self.node_ports: dict[tuple[str, int], int] = {}  # (gateway short name, port) -> nodePort
        self._applied: list[dict[str, Any]] = []
        self._dns_marker: str | None = None
        self._lease: IO[str] | None = None
        self._lease_cm: Any = None
        self._torn_down = False
        self._services = {s.name: s for s in loaded.case.spec.services}

    @property
    def kube(self) -> Any:
        return self.target.kube

    def start(self) -> None:
        cluster = self.target.cluster
        assert cluster is not None
        self._lease_cm = file_lock(self.target._lock_dir(cluster) / "case.lock")
        self._lease_cm.__enter__()
        for obj in self.objects:
            self.kube.apply(obj)
            self._applied.append(obj)
        self.kube.wait_ready(self.objects, READY_TIMEOUT)
        self._expose_custom_gateways()
        self._point_external_names()

    def _expose_custom_gateways(self) -> None:
        cluster = self.target.cluster
        assert cluster is not None
        for workload in self.loaded.case.spec.gateways:
            namespace = self.plan.map(workload.namespace)
            if not cluster.host_ports:
                continue
            wanted = {p.port: list(CUSTOM_NODE_PORTS) for p in workload.ports}
            assigned = self.kube.expose_node_ports(namespace, workload.name, wanted)
            for port, node_port in assigned.items():
                self.node_ports[(workload.name, port)] = node_port

    def _point_external_names(self) -> None:
        externals = [s for s in self.loaded.case.spec.services if s.external]
        if not externals:
            return
        rewrites = {
            s.name: f"{k8s_name(s.name)}.{service_namespace(s, self.plan)}.svc.cluster.local"
            for s in externals
        }
        marker = self.plan.prefix
        block = coredns_rewrite_block(marker, rewrites)
        self._dns_marker = marker

        def add(corefile: str) -> str:
            return insert_coredns_block(corefile, block)

        self.kube.edit_corefile(add)
        from .kube import wait_deployments_available

        wait_deployments_available(self.kube, [("kube-system", "coredns")], READY_TIMEOUT)

    # ------------------------------------------------------------ requests

    def _workload(self, short: str) -> GatewayWorkload:
        for workload in self.loaded.case.spec.gateways:
            if workload.name == short:
                return workload.model_copy(update={"namespace": self.plan.map(workload.namespace)})
        return self.target.adapter.gateways().get(short) or DEFAULT_GATEWAYS[short]

    def send(self, request: Request) -> Exchange:
        if request.from_ is not None:
            exchange = self._send_from_client(request)
        else:
            short = request.gateway or "ingress"
            if short in self.target.missing_gateways(self.loaded):
                pytest.skip(self.target.gateway_skip_reason({short}))
            workload = self._workload(short)
            parts = urlsplit(request.url)
            port = parts.port or (443 if parts.scheme == "https" else 80)
            node_port = self.node_ports.get((short, port)) or GATEWAY_NODE_PORTS.get((short, port))
            address = self.target.gateway_address(workload, port, node_port)
            entry = f"gateway {workload.name} port {port}"
            exchange = self.target.client.send(request, address, entry, timeout=request.timeout)
            exchange.extra.update(gateway=short, service_port=port)
        return self._annotate(exchange)

    def _send_from_client(self, request: Request) -> Exchange:
        from .clients import curl_command, parse_curl_output

        client = next(c for c in self.loaded.case.spec.clients if c.name == request.from_)
        namespace = self.plan.map(client.namespace)
        services = list(self._services)
        url = rewrite_url(request.url, self.plan, services)
        headers = {
            k: (rewrite_host(v, self.plan, services) if k.lower() == "host" else v)
            for k, v in request.headers.items()
        }
        timeout = request.timeout or self.target.request_timeout
        command = curl_command(
            request.model_copy(update={"headers": headers}),
            url,
            f"client {namespace}/{client.name} (curl by exec)",
            timeout,
        )
        stdout, stderr, code = exec_in_pod(
            self.kube.api_client, namespace, client.name, "client", command.argv, timeout + 15
        )
        exchange = parse_curl_output(command.sent, stdout, stderr, code)
        exchange.extra.update(client=client.name)
        return exchange

    def _annotate(self, exchange: Exchange) -> Exchange:
        """Give echo-basic's answer what the judge reads: version, case namespaces and hosts."""
        response = exchange.response
        echo = response.echo if response is not None else None
        if response is None or echo is None:
            return exchange
        service = self._services.get(str(echo.get("service")))
        if service is not None and "version" not in echo:
            echo["version"] = version_from_pod(str(echo.get("pod", "")), service)
        namespace = str(echo.get("namespace", ""))
        if namespace == self.plan.external and service is not None:
            echo["namespace"] = service.namespace
        else:
            echo["namespace"] = self.plan.unmap(namespace)
        host = str(echo.get("host", ""))
        echo["host"] = _unmap_host(host, self.plan)
        body = json.dumps(echo).encode()
        exchange.extra["echo_annotated"] = "version from pod name; namespace and host unmapped"
        return dataclasses.replace(exchange, response=dataclasses.replace(response, body=body))

    # ------------------------------------------------------------ diagnostics

    def dump(self) -> str:
        cluster = self.target.cluster
        parts: list[str] = []
        with contextlib.suppress(Exception):
            parts.append(self.kube.dump_namespaces(self.plan.owned))
        if cluster is not None:
            used = {c.request.gateway or "ingress" for c in self.loaded.case.spec.checks}
            for short in sorted(used):
                with contextlib.suppress(Exception):
                    parts.append(self.target.adapter.dump(cluster, self._workload(short)))
        return "\n\n".join(p for p in parts if p)

    def explain(self, exchange: Exchange) -> str:
        """On a failed check: the gateway's routes and clusters, pods, logs, events."""
        cluster = self.target.cluster
        if cluster is None:
            return ""
        parts: list[str] = []
        short = exchange.extra.get("gateway")
        if short:
            parts.append(self.target.adapter.dump(cluster, self._workload(short)))
        with contextlib.suppress(Exception):
            parts.append(self.kube.dump_namespaces(self.plan.owned, log_lines=10))
        return "\n\n".join(p for p in parts if p)

    # ------------------------------------------------------------ teardown

    def teardown(self) -> None:
        if self._torn_down:
            return
        self._torn_down = True
        try:
            if self._dns_marker is not None:
                marker = self._dns_marker
                with contextlib.suppress(Exception):
                    self.kube.edit_corefile(lambda text: remove_coredns_block(text, marker))
            owned = set(self.plan.owned)
            # Objects in namespaces we do not own (istio-system) go one by one;
            # the rest go with their namespace.
            singles = [
                o
                for o in self._applied
                if o["kind"] != "Namespace" and o["metadata"].get("namespace") not in owned
            ]
            namespaces = [o for o in self._applied if o["kind"] == "Namespace"]
            for obj in [*singles, *namespaces]:
                self.kube.delete(obj)
            self.kube.wait_gone([*singles, *namespaces], DELETE_TIMEOUT)
        finally:
            if self._lease_cm is not None:
                self._lease_cm.__exit__(None, None, None)
                self._lease_cm = None


def _unmap_host(host: str, plan: NamespacePlan) -> str:
    name, sep, port = host.partition(":")
    labels = name.split(".")
    if len(labels) >= 2:
        labels[1] = plan.unmap(labels[1])
    return ".".join(labels) + sep + port


def insert_coredns_block(corefile: str, block: str) -> str:
    """Put ``block`` first inside the ``.:53 {`` server block (rewrites run before kubernetes)."""
    match = re.search(r"^\.:53\s*\{\s*$", corefile, flags=re.MULTILINE)
    if match is None:
        raise TargetError("meshgate: the CoreDNS Corefile has no '.:53 {' server block to extend")
    if block in corefile:
        return corefile
    return corefile[: match.end()] + "\n" + block.rstrip("\n") + corefile[match.end() :]


def remove_coredns_block(corefile: str, marker: str) -> str:
    begin, end = re.escape(f"# meshgate begin {marker}"), re.escape(f"# meshgate end {marker}")
    pattern = rf"\n[ \t]*{begin}\n.*?{end}"
    return re.sub(pattern, "", corefile, flags=re.DOTALL)


def exec_in_pod(
    api_client: Any, namespace: str, pod: str, container: str, argv: list[str], timeout: float
) -> tuple[str, str, int]:
    """Run ``argv`` in a container through the exec API; (stdout, stderr, exit code)."""
    from .kube import k8s

    core = k8s("kubernetes.client").CoreV1Api(api_client)
    response = k8s("kubernetes.stream").stream(
        core.connect_get_namespaced_pod_exec,
        pod,
        namespace,
        container=container,
        command=argv,
        stderr=True,
        stdin=False,
        stdout=True,
        tty=False,
        _preload_content=False,
    )
    try:
        response.run_forever(timeout=timeout)
        stdout = response.read_stdout() or ""
        stderr = response.read_stderr() or ""
        code = response.returncode
    finally:
        response.close()
    return stdout, stderr, int(code if code is not None else -1)
