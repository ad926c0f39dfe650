"""The kubernetes target's session logic against a fake API server (k8s_fakeapi.py).

The real ``kubernetes`` client library talks HTTP to an in-memory imitation
of the API server that makes every Deployment available and every Pod ready
at once. What this proves: the implementation is installed once and waited
for, the default gateways get their kind NodePorts, stale install markers
go, a case needing a gateway the profile lacks is skipped, and a cluster
that cannot be had fails every later case at once. What it does not prove:
anything about a real API server or Istio; no cluster ran.
"""

from __future__ import annotations

import os
import tempfile
import time
from pathlib import Path

import pytest
from k8s_fakeapi import FakeAPI
from k8s_fakecluster import FakeProvider, rich_case
from k8s_standins import StandIns

from pytest_meshgate._cases.loader import load_case_file
from pytest_meshgate._targets.kubernetes.adapters.base import AdapterOptions
from pytest_meshgate._targets.kubernetes.adapters.istio import IstioAdapter
from pytest_meshgate._targets.kubernetes.providers.base import cluster_lock_dir
from pytest_meshgate._targets.kubernetes.target import KubernetesTarget

pytest.importorskip("kubernetes")

HERE = Path(__file__).parent


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
    assert ingress["status"] == {"loadBalancer": {}}  # istioctl's LoadBalancer, pending on kind
    assert [(p["port"], p.get("nodePort")) for p in ingress["spec"]["ports"]] == [
        (15021, None), (80, 30080), (443, 30081)
    ]  # fmt: skip
    egress = api.objects["/api/v1/namespaces/istio-system/services/istio-egressgateway"]
    assert [p.get("nodePort") for p in egress["spec"]["ports"]] == [None, 30082, 30083]


def test_install_markers_of_runs_a_day_old_are_pruned(
    target: tuple[KubernetesTarget, FakeProvider, StandIns],
) -> None:
    kubernetes_target, provider, _ = target
    lock_dir = cluster_lock_dir(provider.handle)
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


def test_a_cluster_created_anew_mid_run_is_installed_again(
    target: tuple[KubernetesTarget, FakeProvider, StandIns], api: FakeAPI
) -> None:
    from pytest_meshgate._judge.verdicts import Consistency
    from pytest_meshgate._targets.kubernetes.target import ClusterSettings

    kubernetes_target, provider, standins = target
    kubernetes_target.ensure_cluster()

    def installs() -> int:
        return sum(1 for c in standins.calls() if c[:2] == ["istioctl", "install"])

    assert installs() == 1
    # Another worker of the same run, same cluster: the marker says installed.
    second = KubernetesTarget(
        "kind", provider, kubernetes_target.adapter, ClusterSettings(), Consistency(1, 1)
    )
    second.ensure_cluster()
    assert installs() == 1
    # The cluster is deleted and created again under the same name (its kube-system is new).
    api.objects.pop("/api/v1/namespaces/kube-system")
    api.put("/api/v1/namespaces/kube-system", {"metadata": {"name": "kube-system"}})
    third = KubernetesTarget(
        "kind", provider, kubernetes_target.adapter, ClusterSettings(), Consistency(1, 1)
    )
    third.ensure_cluster()
    assert installs() == 2


def test_ambient_waits_for_ztunnel_and_istio_cni(
    target: tuple[KubernetesTarget, FakeProvider, StandIns],
    api: FakeAPI,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from pytest_meshgate._errors import TargetError

    kubernetes_target, _, _ = target
    kubernetes_target.adapter = IstioAdapter(AdapterOptions({"istio-profile": "ambient"}, "kind"))
    monkeypatch.setattr("pytest_meshgate._targets.kubernetes.target.READY_TIMEOUT", 0.2)
    with pytest.raises(
        TargetError, match=r"daemonsets not ready .*istio-system/ztunnel: not found"
    ):
        kubernetes_target.ensure_cluster()


def test_the_istio_version_is_read_from_the_running_istiod(
    target: tuple[KubernetesTarget, FakeProvider, StandIns],
) -> None:
    kubernetes_target, _, _ = target
    kubernetes_target.ensure_cluster()
    assert kubernetes_target.adapter.describe() == "istio 1.26.2 (profile demo)"


@pytest.mark.parametrize(
    ("case", "reason"),
    [
        ("access-log-json-encoding", "lacks capability mesh-config"),
        ("access-log-telemetry-filter", "lacks capability mesh-wide-telemetry"),
    ],
)
def test_mesh_config_and_telemetry_are_skips_on_clusters_not_ignored(
    target: tuple[KubernetesTarget, FakeProvider, StandIns], case: str, reason: str
) -> None:
    kubernetes_target, _, _ = target
    cases = load_case_file(HERE.parents[2] / "cases" / "access-logging.yaml").cases
    loaded = next(c for c in cases if c.name == case)
    with pytest.raises(pytest.skip.Exception, match=reason):
        kubernetes_target.activate(loaded)


def test_a_mesh_wide_peer_authentication_is_a_skip_on_clusters(
    target: tuple[KubernetesTarget, FakeProvider, StandIns],
) -> None:
    kubernetes_target, _, _ = target
    cases = load_case_file(HERE.parents[2] / "cases" / "peer-authentication.yaml").cases
    loaded = next(c for c in cases if c.name.endswith("workload-beats-namespace-beats-mesh"))
    with pytest.raises(pytest.skip.Exception, match="mesh-wide-peer-authentication"):
        kubernetes_target.activate(loaded)


def test_a_declared_client_pod_ip_is_a_skip_on_clusters(
    target: tuple[KubernetesTarget, FakeProvider, StandIns],
) -> None:
    kubernetes_target, _, _ = target
    cases = load_case_file(HERE.parents[2] / "cases" / "sidecar-authorization.yaml").cases
    loaded = next(c for c in cases if c.name == "sidecar-authz-source-ip")
    with pytest.raises(
        pytest.skip.Exception,
        match=r"lacks capability client-pod-ip \(spec.clients podIP: a-ns1 \(127.10.1.1\), "
        r"a-ns2 \(127.10.2.1\)\): a cluster assigns pod IPs itself",
    ):
        kubernetes_target.activate(loaded)
