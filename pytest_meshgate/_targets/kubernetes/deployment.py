"""One case on a cluster: apply in phases, wait, point external names, send, dump, tear down.

The session target (``target.py``) renders the case (``manifests.py``); a
``KubernetesDeployment`` applies the objects phase by phase
(``manifests.apply_phases``): namespaces, Secrets and ConfigMaps, then the
CoreDNS rewrite for external names (waited for until CoreDNS has rolled out,
so no pod or proxy ever resolves them before), Services, Deployments and
Pods (waited for), gateway ports the case needs beyond those kind maps, and
last the Istio objects, a second apart where their creationTimestamps differ
(the API server stamps them itself, in whole seconds, and Istio orders by
it). Then it waits until the gateways and sidecars carry the case's
VirtualServices, so that a negative check cannot pass on the previous
configuration. Requests go to a gateway from this machine (plain or TLS,
one by one or many at once through the bulk sender), or are the in-pod
sender run in a client pod through the exec API. Teardown deletes the
case's namespaces and the objects it put into shared namespaces, and waits
until they are gone. A deployment that fails dumps pods, logs, events and
the implementation's view (logs of gateways and control plane, listeners,
routes, clusters, analysis).

Cases on one cluster are serialised by a lease (a file lock) even under
xdist: the gateways are shared, and two cases binding ``app.example.com`` at
once would race on the same Istio ingress gateway.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import time
from typing import Any, Protocol
from urllib.parse import urlsplit

import pytest

from ..._cases.loader import LoadedCase
from ..._cases.model.request import Request
from ..._cases.model.workloads import DEFAULT_GATEWAYS, GatewayWorkload
from ..._errors import TargetError
from ..._exchange.client import HTTPClient
from ..._exchange.records import AccessLogLine, ClientTLS, Credential, Exchange, MetricSnapshot
from ..._exchange.status import ObjectStatus
from ..base import Deployment
from ..jwtkeys import CaseJwtKeys
from ..secrets import CaseSecrets, SecretStore
from .adapters import Implementation
from .coredns import coredns_rewrite_block, insert_coredns_block, remove_coredns_block
from .exposure import expose_case_ports
from .jwtrules import skip_reason, unreproducible_issuers
from .manifests import apply_phases
from .namespaces import NamespacePlan, k8s_name, rewrite_host, rewrite_url, service_namespace
from .providers import ClusterHandle, cluster_lock_dir, file_lock
from .sync import expected_routes
from .transport import ClusterTransport

__all__ = ["DELETE_TIMEOUT", "READY_TIMEOUT", "ClusterSession", "KubernetesDeployment"]

# Gateway API's NamespacesMustBeReady timeout (conformance/utils/config/timeout.go).
READY_TIMEOUT = 300.0
DELETE_TIMEOUT = 120.0
SYNC_TIMEOUT = 60.0
# Between objects whose creationTimestamps must differ: the API server's whole second.
STAMP_GAP = 1.05
_CORE_KINDS = frozenset({"Namespace", "Secret", "ConfigMap", "Service", "Deployment", "Pod"})


class ClusterSession(Protocol):
    """What a deployment uses of the session target that made it (``KubernetesTarget``)."""

    @property
    def cluster(self) -> ClusterHandle | None: ...

    @property
    def kube(self) -> Any: ...

    @property
    def adapter(self) -> Implementation: ...

    @property
    def client(self) -> HTTPClient: ...

    @property
    def bulk(self) -> Any: ...

    @property
    def grpc(self) -> Any: ...

    @property
    def secret_store(self) -> SecretStore: ...

    @property
    def request_timeout(self) -> float: ...

    @property
    def name(self) -> str: ...

    def missing_gateways(self, loaded: LoadedCase) -> set[str]: ...

    def gateway_skip_reason(self, missing: set[str]) -> str: ...

    def gateway_address(
        self, workload: GatewayWorkload, service_port: int, node_port: int | None
    ) -> tuple[str, int]: ...


class KubernetesDeployment(Deployment):
    """One case on a cluster: its objects, DNS rewrites, gateways and clients."""

    def __init__(
        self,
        target: ClusterSession,
        loaded: LoadedCase,
        plan: NamespacePlan,
        objects: list[dict[str, Any]],
        secrets: CaseSecrets | None = None,
        sleep: Any = time.sleep,
        jwt_keys: CaseJwtKeys | None = None,
    ) -> None:
        self.target = target
        self.loaded = loaded
        self.plan = plan
        self.objects = objects
        self.secrets = secrets
        self.sleep = sleep
        self.node_ports: dict[tuple[str, int], int] = {}  # (gateway short name, port) -> nodePort
        self.stamps: list[str] = []  # the server's creationTimestamp of each custom object
        self.sync_note = ""
        self._applied: list[dict[str, Any]] = []
        self._dns_marker: str | None = None
        self._lease_cm: Any = None
        self._torn_down = False
        self._services = {s.name: s for s in loaded.case.spec.services}
        self._gateway_workloads: dict[str, GatewayWorkload] = {}  # Gateway API, by ns/name
        self.transport = ClusterTransport(self)
        # The keys whose public sets the objects carry (material.py): tokens are minted
        # with them per attempt, as on the local target, and never stored.
        self.jwt_keys = jwt_keys if jwt_keys is not None else CaseJwtKeys.generate(loaded.case)
        self._unreproducible = unreproducible_issuers(
            loaded.case.spec.resources, self.jwt_keys.served_at
        )

    @property
    def kube(self) -> Any:
        return self.target.kube

    # ------------------------------------------------------------ start

    def start(self) -> None:
        cluster = self.target.cluster
        assert cluster is not None
        self._lease_cm = file_lock(cluster_lock_dir(cluster) / "case.lock")
        self._lease_cm.__enter__()
        workloads_done = False
        previous_stamp: str | None = None
        for phase in apply_phases(self.objects):
            kinds = {o["kind"] for o in phase}
            if not kinds & _CORE_KINDS:
                if not workloads_done:
                    self._wait_workloads()
                    workloads_done = True
                previous_stamp = self._apply_custom_phase(phase, previous_stamp)
                continue
            if kinds & {"Service", "Deployment", "Pod"}:
                self._point_external_names()
            for obj in phase:
                self._apply(obj)
        if not workloads_done:
            self._wait_workloads()
        self._wait_gateway_api()
        self._wait_synced()

    def _apply(self, obj: dict[str, Any]) -> dict[str, Any]:
        from .kube import FieldsRejected

        try:
            stored: dict[str, Any] = self.kube.apply(obj)
        except FieldsRejected as exc:
            pytest.skip(
                f"not supported by {self.target.adapter.describe()}: the API server does not "
                f"know {', '.join(exc.fields) or 'a field'} of {obj['kind']} "
                f"{obj['metadata']['name']} ({exc})"
            )
        self._applied.append(obj)
        return stored

    def _apply_custom_phase(self, phase: list[dict[str, Any]], previous: str | None) -> str | None:
        """Apply one creation-time phase; a second after the last, stamped later than it."""
        stamp: str | None = None
        for index, obj in enumerate(phase):
            if index == 0 and previous is not None:
                self.sleep(STAMP_GAP)
            stored = self._apply(obj)
            stamp = str((stored.get("metadata") or {}).get("creationTimestamp") or "")
            if index == 0 and previous is not None and stamp and stamp <= previous:
                # The server's clock has not moved on (clock steps): try once more.
                self.kube.delete(obj)
                self.kube.wait_gone([obj], DELETE_TIMEOUT)
                self.sleep(STAMP_GAP)
                stored = self.kube.apply(obj)
                stamp = str((stored.get("metadata") or {}).get("creationTimestamp") or "")
                if stamp <= previous:
                    raise TargetError(
                        f"meshgate: {obj['kind']} {obj['metadata']['name']} got creationTimestamp "
                        f"{stamp}, not after {previous}: Istio would not order it as the case says"
                    )
            self.stamps.append(stamp)
        return stamp or previous

    def _wait_workloads(self) -> None:
        self._point_external_names()
        self.kube.wait_ready(self._applied, READY_TIMEOUT)
        self._expose_gateways()

    def _expose_gateways(self) -> None:
        cluster = self.target.cluster
        assert cluster is not None
        self.node_ports.update(expose_case_ports(self, cluster))

    def _point_external_names(self) -> None:
        if self._dns_marker is not None:
            return
        externals = [s for s in self.loaded.case.spec.services if s.external]
        if not externals:
            self._dns_marker = ""
            return
        rewrites = {
            s.name: f"{k8s_name(s.name)}.{service_namespace(s, self.plan)}.svc.cluster.local"
            for s in externals
        }
        marker = self.plan.prefix
        block = coredns_rewrite_block(marker, rewrites)
        self._dns_marker = marker
        self.kube.edit_corefile(lambda corefile: insert_coredns_block(corefile, block))
        from .kube import wait_deployments_available

        # Rolled out, not merely available: old CoreDNS pods answer without the rewrite.
        wait_deployments_available(self.kube, [("kube-system", "coredns")], READY_TIMEOUT)

    def _wait_gateway_api(self) -> None:
        """Gateway API objects reconciled, the Gateways checks enter ready and reachable.

        What is not reached in time is a note for failure messages
        (``gatewayapi.wait_reconciled``); a Gateway whose Service never
        appears fails the checks sent through it, naming it.
        """
        from .gatewayapi import checked_gateways, is_gateway_api, wait_reconciled

        gateway_class = self.target.adapter.gateway_class()
        if gateway_class is None or not any(is_gateway_api(o) for o in self._applied):
            return
        entered = [
            (self.plan.map(ref.split("/", 1)[0]), ref.split("/", 1)[1])
            for ref in checked_gateways(self.loaded.case)
            if ref not in self.target.missing_gateways(self.loaded)
        ]
        notes = [
            wait_reconciled(self.kube, self._applied, gateway_class, entered, READY_TIMEOUT,
                            self.sleep)
        ]  # fmt: skip
        for namespace, name in entered:
            notes.append(self._gateway_pods_ready(f"{self.plan.unmap(namespace)}/{name}"))
        self.sync_note = "\n".join(n for n in notes if n)
        cluster = self.target.cluster
        if cluster is not None and cluster.host_ports:
            self._expose_gateway_api_ports()

    def _gateway_pods_ready(self, ref: str) -> str:
        """Wait for the Service of Gateway ``ref`` and its ready pods; a note if not in time."""
        from .kube import POLL_INTERVAL, pods_ready

        deadline = time.monotonic() + READY_TIMEOUT
        while True:
            workload = self._gateway_api_workload(ref, required=False)
            if workload is not None:
                selector = ",".join(f"{k}={v}" for k, v in sorted(workload.labels.items()))
                listed = self.kube.list("v1", "Pod", workload.namespace, selector)
                # Each read on its own, as wait_ready reads the case's pods.
                pods = [
                    self.kube.get("v1", "Pod", p["metadata"]["name"], workload.namespace) or {}
                    for p in listed
                ]
                service = self.kube.get("v1", "Service", workload.name, workload.namespace)
                if service is not None and pods and pods_ready(pods):
                    return ""
            if time.monotonic() >= deadline:
                return f"Gateway {ref}: no Service with ready pods after {READY_TIMEOUT:.0f}s"
            self.sleep(POLL_INTERVAL)

    def _expose_gateway_api_ports(self) -> None:
        """kind: the listener ports checks enter by, NodePorts of the pool mapped to the host."""
        from .providers import CUSTOM_NODE_PORTS

        wanted: dict[str, set[int]] = {}
        for check in self.loaded.case.spec.checks:
            request = check.request
            if request is None or not request.gateway or "/" not in request.gateway:
                continue
            if request.gateway in self.target.missing_gateways(self.loaded):
                continue
            wanted.setdefault(request.gateway, set()).add(gateway_port(request))
        for ref, ports in sorted(wanted.items()):
            workload = self._gateway_api_workload(ref, required=False)
            if workload is None or not self.kube.get(
                "v1", "Service", workload.name, workload.namespace
            ):
                continue  # noted by the readiness wait; sending says so again
            taken = set(self.node_ports.values())
            pool = [p for p in CUSTOM_NODE_PORTS if p not in taken]
            assigned = self.kube.expose_node_ports(
                workload.namespace, workload.name, {p: pool for p in sorted(ports)}, keep_type=True
            )
            for port, node_port in assigned.items():
                self.node_ports[(ref, port)] = node_port

    def _gateway_api_workload(self, ref: str, required: bool = True) -> GatewayWorkload | None:
        """The Service and pod labels of Gateway ``ref`` (``namespace/name``, case namespace)."""
        namespace, _, name = ref.partition("/")
        cached = self._gateway_workloads.get(ref)
        if cached is None:
            cached = self.target.adapter.gateway_api_workload(self.plan.map(namespace), name)
            if cached is not None:
                self._gateway_workloads[ref] = cached
        if cached is None and required:
            raise TargetError(
                f"meshgate: {self.target.adapter.describe()} runs no Service for Gateway {ref} "
                f"(cluster namespace {self.plan.map(namespace)})"
            )
        return cached

    def status(self) -> list[ObjectStatus]:
        """The Gateway API status the implementation wrote, read back from the API server."""
        from .gatewayapi import read_status

        gateway_class = self.target.adapter.gateway_class()
        if gateway_class is None:
            return []
        return read_status(self.kube, self._applied, self.plan, gateway_class)

    def _wait_synced(self) -> None:
        cluster = self.target.cluster
        assert cluster is not None
        wanted = expected_routes(self.loaded.case, self.plan, self._workloads_by_proxy())
        if wanted:
            self.sync_note = self.target.adapter.wait_synced(cluster, wanted, SYNC_TIMEOUT)

    def _workloads_by_proxy(self) -> dict[str, tuple[str, dict[str, str]]]:
        """Proxy -> (``<namespace>:<istioctl target>``, its pod labels)."""
        spec = self.loaded.case.spec
        requests = [c.request for c in spec.checks if c.request is not None]
        used = {r.gateway or "ingress" for r in requests if r.from_ is None}
        proxies: dict[str, tuple[str, dict[str, str]]] = {}
        for short in sorted(used - self.target.missing_gateways(self.loaded)):
            if "/" in short:
                continue  # a Gateway API Gateway: waited for by its status (_wait_gateway_api)
            workload = self.workload(short)
            proxies[short] = (f"{workload.namespace}:deploy/{workload.name}", workload.labels)
        for client in spec.clients:
            if any(r.from_ == client.name for r in requests):
                namespace = self.plan.map(client.namespace)
                proxies[client.name] = (f"{namespace}:{client.name}", client.pod_labels)
        return proxies

    # ------------------------------------------------------------ requests

    def workload(self, short: str) -> GatewayWorkload:
        if "/" in short:
            found = self._gateway_api_workload(short)
            assert found is not None
            return found
        for workload in self.loaded.case.spec.gateways:
            if workload.name == short:
                return workload.model_copy(update={"namespace": self.plan.map(workload.namespace)})
        return self.target.adapter.gateways().get(short) or DEFAULT_GATEWAYS[short]

    def _proxy_pods(self, proxy: str) -> tuple[str, dict[str, str] | None, str | None]:
        """Where a proxy's pods are: (namespace, their labels, or the one pod's name). A
        service's are its echo pods (their ``istio-proxy`` sidecars)."""
        service = self.loaded.case.spec.service_proxy(proxy)
        if service is not None:
            return service_namespace(service, self.plan), {"app": k8s_name(service.name)}, None
        for client in self.loaded.case.spec.clients:
            if client.name == proxy:
                return self.plan.map(client.namespace), None, client.name
        workload = self.workload(proxy)
        return workload.namespace, dict(workload.labels), None

    def metrics(self, proxy: str) -> MetricSnapshot:
        """The proxy's ``istio_*`` samples from its pods' :15090 (``scrape``); a service's
        are its echo pods' sidecars' (the ``istio-proxy`` container serves 15090)."""
        from .scrape import proxy_metrics

        namespace, labels, pod_name = self._proxy_pods(proxy)
        return proxy_metrics(self.kube, proxy, namespace, labels=labels, pod_name=pod_name)

    def access_log(self, proxy: str, exchange: Exchange, expect_line: bool) -> AccessLogLine:
        """The request's line in the ``istio-proxy`` container log of the proxy's pods
        (``podlogs``); a skip where the installed mesh would not log as the case means."""
        from ..._cases.model.meshconfig import MeshConfig
        from ..accesslog import LogFormat
        from .podlogs import mesh_config_difference, proxy_access_log

        installed = self.target.adapter.installed_mesh_config()
        if not isinstance(installed, MeshConfig):
            pytest.skip(f"target '{self.target.name}' lacks capability access-log")
        difference = mesh_config_difference(self.loaded.case.spec.mesh_config, installed)
        if difference is not None:
            pytest.skip(
                f"target '{self.target.name}' lacks capability access-log for this case: "
                f"the installed mesh logs otherwise ({difference})"
            )
        log_format = LogFormat.from_mesh(installed.access_log_encoding, installed.access_log_format)
        namespace, labels, pod_name = self._proxy_pods(proxy)
        return proxy_access_log(
            self.kube, proxy, namespace, labels, pod_name, exchange, expect_line, log_format
        )

    def send(self, request: Request) -> Exchange:
        return self.send_many(request, 1)[0]

    def send_many(self, request: Request, count: int, concurrency: int = 1) -> list[Exchange]:
        """``count`` attempts (one minted token for the batch, if the check asks for one)."""
        why = skip_reason(request, self._unreproducible, self.target.name)
        if why is not None:
            pytest.skip(why)
        request = self.jwt_keys.with_token(request)
        if request.from_ is not None:
            exchanges = self.transport.from_client(request, count, concurrency)
        else:
            short = request.gateway or "ingress"
            if short in self.target.missing_gateways(self.loaded):
                pytest.skip(self.target.gateway_skip_reason({short}))
            exchanges = self.transport.to_gateway(request, count, concurrency)
        return [self._annotate(e) for e in exchanges]

    def credentials(self) -> dict[str, Credential]:
        return self.secrets.credentials() if self.secrets is not None else {}

    def ca_pem(self, name: str = "default") -> bytes:
        if self.secrets is None:
            pem: bytes = self.target.secret_store.default_ca.cert_pem.bytes()
            return pem
        return self.secrets.ca_pem(name)

    def gateway_address(self, port: int, gateway: str | None = None) -> tuple[str, int]:
        return self.transport.gateway_address(port, gateway or "ingress")

    def client_tls(self, request: Request) -> ClientTLS | None:
        if not request.url.startswith("https:"):
            return None
        from .clients import client_tls

        assert self.secrets is not None, "TLS needs the case's secrets"
        return client_tls(request, self.secrets, self.target.secret_store, self.plan.prefix)

    def mapped_url(self, request: Request) -> str:
        return rewrite_url(request.url, self.plan, list(self._services))

    def mapped_host_header(self, request: Request) -> Request:
        services = list(self._services)
        headers = {
            k: (rewrite_host(v, self.plan, services) if k.lower() == "host" else v)
            for k, v in request.headers.items()
        }
        return request.model_copy(update={"headers": headers})

    def _annotate(self, exchange: Exchange) -> Exchange:
        """Give the judge the case's names back: the Host the echo saw, the issuing CA."""
        if exchange.tls is not None and exchange.tls.peer_issuer and self.secrets is not None:
            from .clients import ca_subjects

            exchange.extra["issuer_ca"] = ca_subjects(self.secrets).get(exchange.tls.peer_issuer)
        response = exchange.response
        echo = response.echo if response is not None else None
        if response is None or echo is None:
            return exchange
        echo["host"] = _unmap_host(str(echo.get("host", "")), self.plan)
        if response.grpc is not None:
            return (
                exchange  # the echo's facts are the reply's (changed above); the body is protobuf
            )
        body = json.dumps(echo).encode()
        exchange.extra["echo_annotated"] = "host unmapped to the case's namespaces"
        return dataclasses.replace(exchange, response=dataclasses.replace(response, body=body))

    # ------------------------------------------------------------ diagnostics

    def dump(self) -> str:
        cluster = self.target.cluster
        parts: list[str] = []
        if self.sync_note:
            parts.append(self.sync_note)
        with contextlib.suppress(Exception):
            parts.append(self.kube.dump_namespaces(self.plan.owned))
        if cluster is not None:
            used = {
                c.request.gateway or "ingress"
                for c in self.loaded.case.spec.checks
                if c.request is not None
            }
            for short in sorted(used - self.target.missing_gateways(self.loaded)):
                with contextlib.suppress(Exception):
                    parts.append(self.target.adapter.dump(cluster, self.workload(short)))
            with contextlib.suppress(Exception):
                parts.append(self.target.adapter.analyze(cluster, self.plan.owned))
        return "\n\n".join(p for p in parts if p)

    def explain(self, exchange: Exchange) -> str:
        """On a failed check: the gateway's view, pods, logs, events."""
        cluster = self.target.cluster
        if cluster is None:
            return ""
        parts: list[str] = [self.sync_note] if self.sync_note else []
        short = exchange.extra.get("gateway")
        if short:
            parts.append(self.target.adapter.dump(cluster, self.workload(short)))
        with contextlib.suppress(Exception):
            parts.append(self.kube.dump_namespaces(self.plan.owned, log_lines=10))
        return "\n\n".join(p for p in parts if p)

    # ------------------------------------------------------------ teardown

    def teardown(self) -> None:
        if self._torn_down:
            return
        self._torn_down = True
        try:
            if self._dns_marker:
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


def gateway_port(request: Request) -> int:
    parts = urlsplit(request.url)
    return parts.port or (443 if parts.scheme == "https" else 80)
