"""One case on a cluster, deployed by the kubernetes target against a fake API server.

The real ``kubernetes`` client library talks HTTP to an in-memory imitation
of the API server (k8s_fakeapi.py) that makes every Deployment available and
every Pod ready at once. What this proves: the requests we make (create or
replace, merge patches, deletes, waits), cleanup of everything a case
created, the CoreDNS edit and its removal, nodePort allocation retrying a
taken port, how an echo-basic answer is read (version from the pod name,
namespaces mapped back), and the state dump of a failed readiness wait. What
it does not prove: anything about a real API server, Istio, echo-basic or
CoreDNS; no cluster ran.
"""

from __future__ import annotations

from typing import Any

import pytest
from k8s_fakeapi import FakeAPI
from k8s_fakecluster import COREFILE, FakeProvider, rich_case
from k8s_standins import StandIns

from pytest_meshgate._cases.model.expect import Expect
from pytest_meshgate._judge.expectations import judge
from pytest_meshgate._targets.kubernetes.target import KubernetesTarget

pytest.importorskip("kubernetes")


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
    monkeypatch.setattr("pytest_meshgate._targets.kubernetes.deployment.READY_TIMEOUT", 0.2)
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
