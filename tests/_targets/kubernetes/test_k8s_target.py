"""The kubernetes target's client-side logic against a fake API server (k8s_fakeapi.py).

The real ``kubernetes`` client library talks HTTP to an in-memory imitation
of the API server that makes every Deployment available and every Pod ready
at once. What this proves: the requests we make (create or replace, merge
patches, deletes, waits), their order, cleanup of everything a case created,
the CoreDNS edit and its removal, nodePort allocation retrying a taken port,
and how an echo-basic answer is read (version from the pod name, namespaces
mapped back). What it does not prove: anything about a real API server,
Istio, echo-basic or CoreDNS; no cluster ran.
"""

from __future__ import annotations

import json
import os
import tempfile
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from k8s_fakeapi import FakeAPI, kubeconfig_for, serve
from k8s_standins import StandIns

from pytest_meshgate._cases.loader import LoadedCase, load_case_file
from pytest_meshgate._cases.model.expect import Expect
from pytest_meshgate._judge.expectations import judge
from pytest_meshgate._judge.verdicts import Consistency
from pytest_meshgate._targets.kubernetes import providers
from pytest_meshgate._targets.kubernetes.adapters.base import AdapterOptions
from pytest_meshgate._targets.kubernetes.adapters.istio import IstioAdapter
from pytest_meshgate._targets.kubernetes.kube import Kube, k8s
from pytest_meshgate._targets.kubernetes.providers import ClusterHandle, ClusterProvider
from pytest_meshgate._targets.kubernetes.target import ClusterSettings, KubernetesTarget

pytest.importorskip("kubernetes")

HERE = Path(__file__).parent
COREFILE = ".:53 {\n    errors\n    kubernetes cluster.local in-addr.arpa ip6.arpa\n    reload\n}\n"


@pytest.fixture
def api(tmp_path: Path) -> Iterator[FakeAPI]:
    with serve() as fake:
        yield fake


def seed_cluster(api: FakeAPI) -> None:
    """What Istio (demo profile) and kind would have left in the cluster."""
    for name in ("istiod", "istio-ingressgateway", "istio-egressgateway"):
        api.put(f"/apis/apps/v1/namespaces/istio-system/deployments/{name}",
                {"metadata": {"name": name, "namespace": "istio-system"}, "spec": {"replicas": 1}})  # fmt: skip
    for name in ("istio-ingressgateway", "istio-egressgateway"):
        api.put(
            f"/api/v1/namespaces/istio-system/services/{name}",
            {"metadata": {"name": name, "namespace": "istio-system"},
             "spec": {"type": "LoadBalancer", "clusterIP": "10.0.0.9",
                      "ports": [{"name": "status-port", "port": 15021},
                                {"name": "http2", "port": 80}, {"name": "https", "port": 443}]}},
        )  # fmt: skip
    api.put("/api/v1/namespaces/kube-system/configmaps/coredns",
            {"metadata": {"name": "coredns", "namespace": "kube-system"}, "data": {"Corefile": COREFILE}})  # fmt: skip
    api.put("/apis/apps/v1/namespaces/kube-system/deployments/coredns",
            {"metadata": {"name": "coredns", "namespace": "kube-system"}, "spec": {"replicas": 2}})  # fmt: skip


class FakeProvider(ClusterProvider):
    name = "kind"

    def __init__(self, handle: ClusterHandle) -> None:
        self.handle = handle
        self.released = 0

    def acquire(self) -> ClusterHandle:
        return self.handle

    def release(self) -> None:
        self.released += 1


@pytest.fixture
def echo_basic() -> Iterator[tuple[tuple[str, int], dict[str, str]]]:
    """A loopback HTTP server answering like echo-basic: no version, the pod's real namespace."""
    identity = {"namespace": "", "pod": "reviews-v2-7d9f5c6b8-x2x7q", "service": "reviews"}

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            body = json.dumps({
                "path": self.path, "host": self.headers["Host"], "method": "GET",
                "proto": "HTTP/1.1", "headers": {k: [v] for k, v in self.headers.items()},
                **identity,
            }).encode()  # fmt: skip
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield ("127.0.0.1", server.server_address[1]), identity
    server.shutdown()
    server.server_close()


def rich_case() -> LoadedCase:
    return load_case_file(HERE / "cases" / "rich.yaml").cases[0]


@pytest.fixture
def target(
    api: FakeAPI,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    echo_basic: tuple[tuple[str, int], dict[str, str]],
) -> Iterator[tuple[KubernetesTarget, FakeProvider, StandIns]]:
    seed_cluster(api)
    kubeconfig = tmp_path / "kubeconfig"
    kubeconfig.write_text(kubeconfig_for(api.url))
    standins = StandIns(tmp_path / "standins")
    for key, value in standins.env().items():
        monkeypatch.setenv(key, value)
    monkeypatch.setattr(providers, "_RUN_ID", f"run-{tmp_path.name}")
    monkeypatch.setattr("pytest_meshgate._targets.kubernetes.kube.POLL_INTERVAL", 0.01)
    address, _ = echo_basic
    handle = ClusterHandle("fake", kubeconfig, "fake", host_ports={30080: address})
    provider = FakeProvider(handle)
    adapter = IstioAdapter(AdapterOptions({"istio-profile": "demo"}, "kind"))
    target = KubernetesTarget("kind", provider, adapter, ClusterSettings(), Consistency(1, 1))
    yield target, provider, standins
    target.close()


def test_session_installs_once_waits_and_exposes_the_gateways_on_kind_node_ports(
    target: tuple[KubernetesTarget, FakeProvider, StandIns], api: FakeAPI
) -> None:
    kubernetes_target, _, standins = target
    kubernetes_target.ensure_cluster()
    kubernetes_target.ensure_cluster()
    assert standins.calls() == [
        ["istioctl", "install", "-y", "--set", "profile=demo",
         "--kubeconfig", str(kubernetes_target.cluster.kubeconfig), "--context", "fake"]  # type: ignore[union-attr]
    ]  # fmt: skip
    ingress = api.objects["/api/v1/namespaces/istio-system/services/istio-ingressgateway"]
    assert ingress["spec"]["type"] == "NodePort"
    assert [(p["port"], p.get("nodePort")) for p in ingress["spec"]["ports"]] == [
        (15021, None), (80, 30080), (443, 30081)
    ]  # fmt: skip
    egress = api.objects["/api/v1/namespaces/istio-system/services/istio-egressgateway"]
    assert [p.get("nodePort") for p in egress["spec"]["ports"]] == [None, 30082, 30083]


def test_install_markers_of_runs_a_day_old_are_pruned(
    target: tuple[KubernetesTarget, FakeProvider, StandIns],
) -> None:
    kubernetes_target, provider, _ = target
    lock_dir = kubernetes_target._lock_dir(provider.handle)
    assert lock_dir.is_relative_to(tempfile.gettempdir())  # the test's, not /tmp
    lock_dir.mkdir(parents=True)
    stale, recent = lock_dir / "installed-old-run", lock_dir / "installed-other-run"
    stale.write_text("x")
    recent.write_text("x")
    two_days_ago = time.time() - 2 * 86400
    os.utime(stale, (two_days_ago, two_days_ago))
    kubernetes_target.ensure_cluster()
    markers = sorted(p.name for p in lock_dir.glob("installed-*"))
    assert "installed-old-run" not in markers and "installed-other-run" in markers
    assert len(markers) == 2  # the other run's and this run's own


def test_a_case_is_applied_answered_and_cleaned_up_completely(
    target: tuple[KubernetesTarget, FakeProvider, StandIns],
    api: FakeAPI,
    echo_basic: tuple[tuple[str, int], dict[str, str]],
) -> None:
    kubernetes_target, provider, _ = target
    api.taken_node_ports.add(30084)  # another worker's gateway has it
    loaded = rich_case()
    before = set(api.objects)
    deployment = kubernetes_target.activate(loaded)
    plan = deployment.plan  # type: ignore[attr-defined]

    created = set(api.objects) - before
    kinds = sorted({path.split("/")[-2] for path in created})
    assert kinds == ["deployments", "gateways", "namespaces", "pods", "secrets",
                     "serviceentries", "services", "virtualservices"]  # fmt: skip
    namespaces = sorted(
        p.rsplit("/", 1)[1] for p in created if "/namespaces/" in p and p.count("/") == 4
    )
    assert namespaces == sorted(plan.owned)
    # Istio resources went through the custom-object endpoints of their group.
    assert (
        f"/apis/networking.istio.io/v1/namespaces/{plan.map('default')}/virtualservices/reviews"
        in created
    )
    # The custom gateway got the next free host-mapped nodePort after the taken one.
    gateway = api.objects["/api/v1/namespaces/istio-system/services/private-gateway"]
    assert [p["nodePort"] for p in gateway["spec"]["ports"]] == [30085, 30086]
    corefile = api.objects["/api/v1/namespaces/kube-system/configmaps/coredns"]["data"]["Corefile"]
    assert f"api-example-com.{plan.external}.svc.cluster.local." in corefile
    restarted = api.objects["/apis/apps/v1/namespaces/kube-system/deployments/coredns"]
    assert "meshgate.dev/restarted-at" in restarted["spec"]["template"]["metadata"]["annotations"]

    # A gateway check: echo-basic reports no version and the cluster namespace.
    _, identity = echo_basic
    identity["namespace"] = plan.map("default")
    exchange = deployment.send(loaded.case.spec.checks[0].request)
    echo = exchange.response.echo  # type: ignore[union-attr]
    assert echo is not None
    assert (echo["version"], echo["namespace"]) == ("v2", "default")
    expect = Expect.model_validate(
        {"backend": {"service": "reviews", "version": "v2", "namespace": "default"}}
    )
    assert judge(expect, exchange) == []
    assert exchange.request.entry == "gateway istio-ingressgateway port 80"

    kubernetes_target.deactivate()
    assert set(api.objects) == before, sorted(set(api.objects) - before)
    assert (
        api.objects["/api/v1/namespaces/kube-system/configmaps/coredns"]["data"]["Corefile"]
        == COREFILE
    )
    deletes = [path for method, path in api.writes() if method == "DELETE"]
    assert "/api/v1/namespaces/istio-system/secrets/app-credential" in deletes
    assert provider.released == 0  # the cluster outlives cases


def test_a_gateway_the_profile_lacks_skips_the_check(
    target: tuple[KubernetesTarget, FakeProvider, StandIns],
) -> None:
    kubernetes_target, _, _ = target
    kubernetes_target.adapter = IstioAdapter(AdapterOptions({"istio-profile": "default"}, "kind"))
    loaded = load_case_file(HERE / "cases" / "egress.yaml").cases[0]
    with pytest.raises(
        pytest.skip.Exception, match="not supported by istio profile default: no egress gateway"
    ):
        kubernetes_target.activate(loaded)


def test_a_failed_readiness_wait_dumps_state_and_cleans_up(
    target: tuple[KubernetesTarget, FakeProvider, StandIns],
    api: FakeAPI,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    kubernetes_target, _, _ = target
    from pytest_meshgate._errors import TargetError

    original_save = api._save

    def never_ready(item: str, body: dict[str, Any], kind: tuple[str, str]) -> dict[str, Any]:
        obj = original_save(item, body, kind)
        if kind[1] == "Pod":
            obj["status"] = {
                "phase": "Pending",
                "conditions": [{"type": "Ready", "status": "False"}],
            }
        return obj

    monkeypatch.setattr(api, "_save", never_ready)
    monkeypatch.setattr("pytest_meshgate._targets.kubernetes.target.READY_TIMEOUT", 0.2)
    kubernetes_target.ensure_cluster()
    before = set(api.objects)
    with pytest.raises(TargetError) as info:
        kubernetes_target.activate(rich_case())
    message = str(info.value)
    assert "pods not ready after 0s" in message
    assert "state before cleanup:" in message
    assert "pod mg-" in message and "Pending, ready=False" in message
    assert "istioctl proxy-config routes of istio-ingressgateway" in message
    assert set(api.objects) == before


def test_kube_apply_replaces_with_the_live_resource_version_and_keeps_cluster_ip(
    api: FakeAPI, tmp_path: Path
) -> None:
    kubeconfig = tmp_path / "kubeconfig"
    kubeconfig.write_text(kubeconfig_for(api.url))
    kube = Kube(k8s("kubernetes.config").new_client_from_config(config_file=str(kubeconfig)))
    service = {"apiVersion": "v1", "kind": "Service",
               "metadata": {"name": "s", "namespace": "n"}, "spec": {"ports": [{"port": 80}]}}  # fmt: skip
    kube.apply(service)
    api.objects["/api/v1/namespaces/n/services/s"]["spec"]["clusterIP"] = "10.0.0.1"
    kube.apply({**service, "spec": {"ports": [{"port": 81}]}})
    live = api.objects["/api/v1/namespaces/n/services/s"]
    assert live["spec"] == {"ports": [{"port": 81}], "clusterIP": "10.0.0.1"}
    assert api.writes() == [
        ("POST", "/api/v1/namespaces/n/services"),
        ("POST", "/api/v1/namespaces/n/services"),  # 409: exists
        ("PUT", "/api/v1/namespaces/n/services/s"),
    ]


def test_a_cluster_that_cannot_be_had_fails_every_case_at_once_after_the_first(
    target: tuple[KubernetesTarget, FakeProvider, StandIns], monkeypatch: pytest.MonkeyPatch
) -> None:
    from pytest_meshgate._errors import TargetError

    kubernetes_target, provider, standins = target
    monkeypatch.setenv("STANDIN_FAIL", "istioctl install")
    with pytest.raises(TargetError, match=r"istioctl install -y .* failed with exit status 1"):
        kubernetes_target.activate(rich_case())
    calls = len(standins.calls())
    with pytest.raises(TargetError, match="failed earlier in this session"):
        kubernetes_target.activate(load_case_file(HERE / "cases" / "rich.yaml").cases[0])
    assert len(standins.calls()) == calls  # no second install attempt
    assert provider.released == 1  # the cluster was handed back on the failure
