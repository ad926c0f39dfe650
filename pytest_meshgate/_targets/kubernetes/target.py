"""The ``kind`` and ``cluster`` targets' session: one cluster, its implementation, its gateways.

Session: acquire the cluster (provider), install the implementation once per
cluster (adapter; skipped on a reused cluster with the same install
fingerprint), wait for it, and on kind make the default gateways NodePort
Services on the ports kind maps to the host.

Per case: skip what the implementation or target cannot do, render the case
(``manifests.py``) and hand it to a ``KubernetesDeployment``
(``deployment.py``), which applies, waits, sends and tears down; if starting
it fails, its state dump goes into the error before cleanup. Where this
machine reaches a gateway (a kind host port, ``--meshgate-gateway-address``,
a load-balancer address or a node's NodePort) is the session's to say.
"""

from __future__ import annotations

import contextlib
import itertools
import os
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest

from ..._cases.loader import LoadedCase
from ..._cases.model.workloads import GatewayWorkload
from ..._errors import TargetError
from ..._exchange.client import HTTPClient
from ..._judge.verdicts import Consistency
from ..base import Deployment, Target
from ..secrets import SecretStore
from .adapters import Implementation
from .deployment import READY_TIMEOUT, KubernetesDeployment
from .manifests import CLIENT_IMAGE, ECHO_IMAGE, RenderSettings, render_case
from .namespaces import NamespacePlan
from .providers import (
    GATEWAY_NODE_PORTS,
    ClusterHandle,
    ClusterProvider,
    cluster_lock_dir,
    file_lock,
    run_id,
)

__all__ = ["ClusterSettings", "KubernetesTarget", "render_settings"]

MARKER_MAX_AGE = 86400.0  # seconds an install marker of another run is kept


# Kinds whose root-namespace objects act mesh-wide, and the capability that would take.
_MESH_WIDE_KINDS = {
    "Telemetry": "mesh-wide-telemetry",
    "PeerAuthentication": "mesh-wide-peer-authentication",
}


@dataclass(frozen=True)
class ClusterSettings:
    echo_image: str = ECHO_IMAGE
    client_image: str = CLIENT_IMAGE
    gateway_address: str | None = None
    coredns: bool = True  # may edit kube-system/coredns for external services


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
        # tls, http2 and grpc: from this machine to a gateway, the shared HTTP and
        # gRPC clients'; from a client pod, TLS through the in-pod sender (HTTP/1.1
        # only). The echo pods speak HTTP/2 and gRPC with h2 from a ConfigMap.
        self.capabilities = frozenset({"http", "statistics", "tls", "http2", "grpc"})
        self.capabilities |= adapter.capabilities()
        if adapter.gateway_class() is not None:
            # Gateway API status, read back from the API server (gatewayapi.read_status).
            self.capabilities |= {"status"}
        self.client = HTTPClient(timeout=request_timeout)
        self.cluster: ClusterHandle | None = None
        self.kube: Any = None
        self._bulk: Any = None
        self._grpc: Any = None
        self._secret_store: SecretStore | None = None
        self._counter = itertools.count(1)
        self._broken: str | None = None

    @property
    def bulk(self) -> Any:
        """The bulk sender of statistical checks to gateways, made on first use."""
        if self._bulk is None:
            from ..._exchange.bulk import BulkSender

            self._bulk = BulkSender(timeout=self.request_timeout)
        return self._bulk

    @property
    def grpc(self) -> Any:
        """The gRPC client of gRPC checks to gateways, made on first use."""
        if self._grpc is None:
            from ..._exchange.grpc import GrpcClient

            self._grpc = GrpcClient(timeout=self.request_timeout)
        return self._grpc

    @property
    def secret_store(self) -> SecretStore:
        """Private files of client keys (0600 in a 0700 directory) and the default CA."""
        if self._secret_store is None:
            self._secret_store = SecretStore()
        return self._secret_store

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
            self.adapter.attach(kube)
            with self._cluster_lock(cluster):
                self._install_once(cluster, kube.cluster_uid())
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

    @contextlib.contextmanager
    def _cluster_lock(self, cluster: ClusterHandle) -> Iterator[None]:
        with file_lock(cluster_lock_dir(cluster) / "install.lock"):
            yield

    def _install_once(self, cluster: ClusterHandle, cluster_uid: str) -> None:
        # A marker file per cluster+run keeps xdist workers from installing N
        # times. It names the cluster by kube-system's uid, which a cluster
        # created anew under the same name and kubeconfig (mid-run, by
        # someone else) does not share: that one is installed again.
        marker = cluster_lock_dir(cluster) / f"installed-{run_id()}"
        fingerprint = f"{self.adapter.fingerprint()} cluster={cluster_uid}"
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
        if self._bulk is not None:
            self._bulk.close()
        if self._secret_store is not None:
            self._secret_store.close()
        if self.cluster is not None:
            self.cluster = None
            self.provider.release()

    # ------------------------------------------------------------ deploying

    def deploy(self, loaded: LoadedCase) -> Deployment:
        self._skip_unsupported(loaded)
        self.ensure_cluster()
        # Once the cluster runs, its Istio version (istiod's image) decides the features,
        # and whether the Gateway API CRDs are served.
        self._skip_unsupported_features(loaded)
        self._skip_without_gateway_api(loaded)
        assert self.cluster is not None
        case = loaded.case
        plan = NamespacePlan.for_case(
            case,
            f"{run_id()}/{os.getpid()}/{case.name}/{next(self._counter)}",
            system=frozenset({self.adapter.system_namespace, "kube-system"}),
        )
        from .material import TrustmeMaterial

        settings = render_settings(self.adapter, self.settings, case.name, run_id())
        # The case's JWT keys, per deployment as on the local target: their public sets
        # go into its RequestAuthentications, its tokens are minted with them (jwtrules.py).
        material = TrustmeMaterial(case, self.secret_store.default_ca)
        objects = render_case(case, plan, settings, material)
        deployment = KubernetesDeployment(
            self, loaded, plan, objects, material.secrets, jwt_keys=material.jwt_keys
        )
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
        kinds = {
            (str(r.get("apiVersion") or "").rpartition("/")[0], str(r.get("kind")))
            for r in spec.resources
        }
        why = self.adapter.unsupported_resources(kinds)
        if why is not None:
            pytest.skip(f"not supported by {self.adapter.describe()}: {why}")
        missing = self.missing_gateways(loaded)
        gateway_checks = [c.request for c in spec.checks if c.request and c.request.from_ is None]
        if (
            missing
            and all((r.gateway or "ingress") in missing for r in gateway_checks)
            and (len(gateway_checks) == len(spec.checks))
        ):
            # No check of the case could run; checks of mixed cases are
            # skipped one by one in send().
            pytest.skip(self.gateway_skip_reason(missing))
        self._skip_unsupported_features(loaded)
        if self.adapter.gateway_class() is None and any(
            g == "gateway.networking.k8s.io" for g, _ in kinds
        ):
            pytest.skip(f"not supported by {self.adapter.describe()}: no Gateway API")
        if any(s.external for s in spec.services) and not self.settings.coredns:
            pytest.skip(
                f"target '{self.name}' lacks capability external-services "
                "(--meshgate-external-dns=coredns lets meshgate add CoreDNS rewrites)"
            )
        if any(s.addresses for s in spec.services):
            # A DNS rewrite cannot make 203.0.113.10 lead to a pod.
            pytest.skip(f"target '{self.name}' lacks capability external-addresses")
        if "mesh_config" in spec.model_fields_set:
            # Istio is installed once per session; a case's mesh config would have to
            # edit the istio ConfigMap for that case alone, which is not done yet. A
            # case whose mesh config is the installed one's runs.
            from .podlogs import mesh_config_difference

            installed = self.adapter.installed_mesh_config()
            difference = (
                "the installed mesh config is not known"
                if installed is None
                else mesh_config_difference(spec.mesh_config, installed)
            )
            if difference is not None:
                pytest.skip(
                    f"target '{self.name}' lacks capability mesh-config (spec.meshConfig: "
                    f"{difference})"
                )
        pinned = [f"{c.name} ({c.pod_ip})" for c in spec.clients if c.pod_ip is not None]
        if pinned:
            # The cluster's network assigns pod IPs; a policy naming the declared one
            # would name no pod there, so its allowed client would be denied.
            pytest.skip(
                f"target '{self.name}' lacks capability client-pod-ip (spec.clients podIP: "
                f"{', '.join(pinned)}): a cluster assigns pod IPs itself"
            )
        # A Telemetry or PeerAuthentication in the root namespace acts on every proxy
        # of the cluster (metrics and logs, mutual TLS), beyond the case's own
        # namespaces, where other cases run beside it. One in a case's namespace is
        # applied as written and acts there only.
        for kind, capability in _MESH_WIDE_KINDS.items():
            if any(
                getattr(r, "kind", None) == kind and r.namespace == "istio-system"
                for r in loaded.resources
            ):
                pytest.skip(
                    f"target '{self.name}' lacks capability {capability} "
                    f"(a {kind} in the root namespace istio-system)"
                )

    def _skip_without_gateway_api(self, loaded: LoadedCase) -> None:
        from .gatewayapi import is_gateway_api

        if not any(is_gateway_api(r) for r in loaded.case.spec.resources):
            return
        why = self.adapter.gateway_api_unavailable()
        if why is not None:
            pytest.skip(f"not supported by {self.adapter.describe()}: {why}")

    def _skip_unsupported_features(self, loaded: LoadedCase) -> None:
        features = self.adapter.supported_features()
        if features is not None:
            unsupported = sorted(set(loaded.case.metadata.features) - features)
            if unsupported:
                pytest.skip(f"not supported by {self.adapter.describe()}: {', '.join(unsupported)}")

    def missing_gateways(self, loaded: LoadedCase) -> set[str]:
        spec = loaded.case.spec
        available = set(self.adapter.gateways()) | {g.name for g in spec.gateways}
        if self.adapter.gateway_class() is not None:
            # Gateway API Gateways of the case's class (``istio``: the implementation's).
            from .adapters.base import CASE_GATEWAY_CLASS

            available |= {
                f"{r.get('metadata', {}).get('namespace') or 'default'}/{r['metadata']['name']}"
                for r in spec.resources
                if r.get("kind") == "Gateway"
                and str(r.get("apiVersion", "")).startswith("gateway.networking.k8s.io/")
                and (r.get("spec") or {}).get("gatewayClassName") == CASE_GATEWAY_CLASS
            }
        used = {
            c.request.gateway or "ingress"
            for c in spec.checks
            if c.request is not None and c.request.from_ is None
        }
        return used - available

    def gateway_skip_reason(self, missing: set[str]) -> str:
        profile = getattr(self.adapter, "profile", "")
        api = sorted(m for m in missing if "/" in m)
        own = sorted(m for m in missing if "/" not in m)
        parts = [f"no {', '.join(own)} gateway"] if own else []
        if api:
            # As the local target: a Gateway of another class (or none) gets no workload.
            parts.append(f"no Gateway {', '.join(api)} of class istio")
        return (
            f"not supported by {self.adapter.name}"
            + (f" profile {profile}" if profile else "")
            + f": {'; '.join(parts)}"
        )

    def gateway_address(self, workload: GatewayWorkload, service_port: int, node_port: int | None
                        ) -> tuple[str, int]:  # fmt: skip
        """Where this machine reaches ``workload`` on ``service_port``."""
        assert self.cluster is not None
        if self.cluster.host_ports:
            if node_port is None or node_port not in self.cluster.host_ports:
                raise TargetError(
                    f"meshgate: gateway {workload.name} port {service_port} is not mapped to "
                    f"the host (kind maps NodePorts {min(self.cluster.host_ports)}-"
                    f"{max(self.cluster.host_ports)}; this port has none)"
                )
            return self.cluster.host_ports[node_port]
        if self.settings.gateway_address:
            return self.settings.gateway_address, service_port
        if node_port is not None:
            return self._node_address(), node_port  # a case's own NodePort Service
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


def render_settings(
    adapter: Implementation, settings: ClusterSettings, case_name: str, run: str
) -> RenderSettings:
    """What decides a case's objects on this target (also what ``render`` uses)."""
    gateway_class = adapter.gateway_class()
    return RenderSettings(
        echo_image=settings.echo_image,
        client_image=settings.client_image,
        mesh_labels=adapter.mesh_namespace_labels(),
        outside_labels=adapter.outside_namespace_labels(),
        case_labels={"meshgate.dev/case": case_name, "meshgate.dev/run": run[:63]},
        gateway_manifests=adapter.gateway_manifests,
        gateways=adapter.gateways(),
        gateway_class=gateway_class.name if gateway_class is not None else None,
        gateway_labels=adapter.gateway_api_labels(),
    )
