"""One case on a cluster, deployed by the kubernetes target against a fake API server.

The real ``kubernetes`` client library talks HTTP to an in-memory imitation
of the API server (k8s_fakeapi.py) that stamps creation times itself, rolls
Deployments out over time, keeps LoadBalancers pending and prunes (or, under
strict validation, refuses) fields a CRD schema lacks. What this proves: the
requests we make and their order (CoreDNS before any workload, Istio objects
last and a second apart by creation time), cleanup of everything a case
created, nodePort allocation retrying a taken port, the extra Service for a
gateway port kind does not map, a field the cluster's Istio lacks becoming a
skip that names it, the wait for the proxies' routes, and the state dump of
a failed readiness wait. What it does not prove: anything about a real API
server, Istio or CoreDNS; no cluster ran.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from k8s_fakeapi import FakeAPI
from k8s_fakecluster import COREFILE, FakeProvider, rich_case
from k8s_standins import StandIns

from pytest_meshgate._cases.loader import load_case_file
from pytest_meshgate._cases.model.expect import Expect
from pytest_meshgate._judge.expectations import judge
from pytest_meshgate._targets.echo import EchoIdentity, EchoServer
from pytest_meshgate._targets.kubernetes.target import KubernetesTarget

pytest.importorskip("kubernetes")

HERE = Path(__file__).parent


def test_a_case_is_applied_answered_and_cleaned_up_completely(
    target: tuple[KubernetesTarget, FakeProvider, StandIns],
    api: FakeAPI,
    gateway_echo: tuple[tuple[str, int], EchoServer],
) -> None:
    kubernetes_target, provider, _ = target
    _, echo = gateway_echo
    api.taken_node_ports.add(30084)  # another worker's gateway has it
    loaded = rich_case()
    before = set(api.objects)
    deployment = kubernetes_target.activate(loaded)
    plan = deployment.plan  # type: ignore[attr-defined]

    created = set(api.objects) - before
    kinds = sorted({path.split("/")[-2] for path in created})
    assert kinds == ["configmaps", "deployments", "gateways", "namespaces", "pods", "secrets",
                     "serviceentries", "services", "virtualservices"]  # fmt: skip
    namespaces = sorted(
        p.rsplit("/", 1)[1] for p in created if "/namespaces/" in p and p.count("/") == 4
    )
    assert namespaces == sorted(plan.owned)
    assert (
        f"/apis/networking.istio.io/v1/namespaces/{plan.map('default')}/virtualservices/reviews"
        in created
    )
    # The custom gateway got the next free host-mapped nodePort after the taken one.
    gateway = api.objects["/api/v1/namespaces/istio-system/services/private-gateway"]
    assert [p["nodePort"] for p in gateway["spec"]["ports"]] == [30085, 30086]
    corefile = api.objects["/api/v1/namespaces/kube-system/configmaps/coredns"]["data"]["Corefile"]
    assert f"api-example-com.{plan.external}.svc.cluster.local." in corefile
    coredns = api.objects["/apis/apps/v1/namespaces/kube-system/deployments/coredns"]
    assert "meshgate.dev/restarted-at" in coredns["spec"]["template"]["metadata"]["annotations"]
    # The rollout wait saw it through: updated, old replicas gone, all available.
    assert coredns["status"]["updatedReplicas"] == coredns["status"]["replicas"] == 2
    assert coredns["status"]["availableReplicas"] == 2

    # A gateway check, answered by the project's echo as the reviews pod.
    exchange = deployment.send(loaded.case.spec.checks[0].request)
    expect = Expect.model_validate(
        {"backend": {"service": "reviews", "version": "v2", "namespace": "default"}}
    )
    assert judge(expect, exchange) == []
    assert exchange.request.entry == "gateway istio-ingressgateway port 80"
    echo.clear_requests()
    many = deployment.send_many(loaded.case.spec.checks[0].request, 30, concurrency=5)
    assert len(many) == 30 and all(e.response is not None for e in many)
    # Five keep-alive connections, as a circuit breaker must see them: not 30 one after another.
    assert len({r.peer for r in echo.requests()}) == 5

    kubernetes_target.deactivate()
    assert set(api.objects) == before, sorted(set(api.objects) - before)
    assert (
        api.objects["/api/v1/namespaces/kube-system/configmaps/coredns"]["data"]["Corefile"]
        == COREFILE
    )
    deletes = [path for method, path in api.writes() if method == "DELETE"]
    assert "/api/v1/namespaces/istio-system/secrets/app-credential" in deletes
    assert provider.released == 0  # the cluster outlives cases


def _writes(api: FakeAPI) -> list[str]:
    return [path for method, path in api.writes() if method in ("POST", "PUT")]


def test_coredns_is_rewritten_before_any_workload_and_istio_objects_come_last(
    target: tuple[KubernetesTarget, FakeProvider, StandIns], api: FakeAPI
) -> None:
    kubernetes_target, _, _ = target
    kubernetes_target.activate(rich_case())
    writes = _writes(api)
    corefile = writes.index("/api/v1/namespaces/kube-system/configmaps/coredns")
    first_workload = min(
        i for i, p in enumerate(writes) if p.endswith(("/services", "/deployments", "/pods"))
    )
    first_istio = min(i for i, p in enumerate(writes) if "networking.istio.io" in p)
    assert corefile < first_workload < first_istio
    last_core = max(
        i for i, p in enumerate(writes) if "networking.istio.io" not in p and "coredns" not in p
    )
    assert last_core < first_istio


def test_istio_objects_get_server_timestamps_in_the_order_the_case_gives(
    target: tuple[KubernetesTarget, FakeProvider, StandIns], api: FakeAPI
) -> None:
    kubernetes_target, _, _ = target
    loaded = next(c for c in load_case_file(HERE / "cases" / "ordering.yaml").cases)
    deployment = kubernetes_target.activate(loaded)
    plan = deployment.plan  # type: ignore[attr-defined]

    def stamp(name: str) -> str:
        path = (
            f"/apis/networking.istio.io/v1/namespaces/{plan.map('default')}/virtualservices/{name}"
        )
        return str(api.objects[path]["metadata"]["creationTimestamp"])

    # The case: b-older 2024-01, then a-newer and c-same-time 2024-06, then unstamped z-plain.
    assert stamp("b-older") < stamp("a-newer") == stamp("c-same-time") < stamp("z-plain")
    # Istio sorts by (timestamp, name): the same order as the case's timestamps give.
    order = sorted(["a-newer", "b-older", "c-same-time", "z-plain"], key=lambda n: (stamp(n), n))
    assert order == ["b-older", "a-newer", "c-same-time", "z-plain"]


def test_a_field_the_clusters_istio_lacks_is_a_skip_naming_it_not_a_pruned_success(
    target: tuple[KubernetesTarget, FakeProvider, StandIns], api: FakeAPI
) -> None:
    kubernetes_target, _, _ = target
    # Istio 1.26's HTTPRedirect (manifests/charts/base/files/crd-all.gen.yaml): no prefixRewrite.
    redirect = {"properties": {k: {} for k in ("authority", "derivePort", "port", "redirectCode",
                                               "scheme", "uri")}}  # fmt: skip
    api.schemas[("networking.istio.io/v1", "VirtualService")] = {
        "properties": {"spec": {"properties": {
            "hosts": {}, "gateways": {}, "exportTo": {}, "tcp": {}, "tls": {},
            "http": {"items": {"x-kubernetes-preserve-unknown-fields": True}},
        }}}
    }  # fmt: skip
    api.schemas[("networking.istio.io/v1", "VirtualService")]["properties"]["spec"]["properties"][
        "http"
    ] = {"items": {"properties": {"match": {}, "route": {}, "redirect": redirect}}}
    loaded = load_case_file(HERE / "cases" / "prefix-rewrite.yaml").cases[0]
    with pytest.raises(pytest.skip.Exception) as info:
        kubernetes_target.activate(loaded)
    message = str(info.value)
    assert "spec.http[0].redirect.prefixRewrite" in message
    assert "not supported by istio" in message
    assert not [p for p in api.objects if "virtualservices" in p]  # nothing half-applied...
    assert not [p for p in api.objects if "/namespaces/mg-" in p]  # ... and all cleaned up


def test_a_gateway_port_kind_does_not_map_gets_a_case_service_onto_the_gateway_pods(
    target: tuple[KubernetesTarget, FakeProvider, StandIns], api: FakeAPI
) -> None:
    kubernetes_target, _, _ = target
    loaded = load_case_file(HERE / "cases" / "pod-port.yaml").cases[0]
    deployment = kubernetes_target.activate(loaded)
    plan = deployment.plan  # type: ignore[attr-defined]
    path = f"/api/v1/namespaces/istio-system/services/{plan.prefix}-ingress-ports"
    service = api.objects[path]
    assert service["spec"]["selector"] == {"app": "istio-ingressgateway", "istio": "ingressgateway"}
    assert [(p["port"], p["targetPort"], p["nodePort"]) for p in service["spec"]["ports"]] == [
        (9000, 9000, 30084)
    ]
    assert deployment.node_ports[("ingress", 9000)] == 30084  # type: ignore[attr-defined]
    kubernetes_target.deactivate()
    assert path not in api.objects


def test_the_wait_for_routes_asks_each_proxy_the_checks_use(
    target: tuple[KubernetesTarget, FakeProvider, StandIns],
) -> None:
    kubernetes_target, _, standins = target
    deployment = kubernetes_target.activate(rich_case())
    default = deployment.plan.map("default")  # type: ignore[attr-defined]
    routes = [c for c in standins.calls() if c[:3] == ["istioctl", "proxy-config", "routes"]]
    targets = {(c[3], c[5]) for c in routes}
    # The ingress gateway (the first check) and the sleep client's sidecar (the second).
    assert targets == {("deploy/istio-ingressgateway", "istio-system"), ("sleep", default)}
    # No route carried the VirtualService (the stand-in's dump is empty): noted, not failed;
    # the wait itself is adapters/test_istio_adapter.py's.
    note = deployment.sync_note  # type: ignore[attr-defined]
    assert "still lacked routes" in note
    assert f"/namespaces/{default}/virtual-service/reviews" in note


def test_a_failed_readiness_wait_dumps_state_and_cleans_up(
    target: tuple[KubernetesTarget, FakeProvider, StandIns],
    api: FakeAPI,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    kubernetes_target, _, _ = target
    from pytest_meshgate._errors import TargetError

    original = api._progress

    def never_ready(item: str, obj: dict[str, Any]) -> None:
        # Pods never get ready; Deployments roll out at their first read, so
        # the short timeout always expires in the pod wait, however slowly a
        # busy machine answers the reads (a rollout takes the fake 4 of them).
        if obj["kind"] == "Pod":
            return
        for _ in range(6 if obj["kind"] == "Deployment" else 1):
            original(item, obj)

    monkeypatch.setattr(api, "_progress", never_ready)
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
    assert "istioctl analyze --namespace mg-" in message
    # The gateway's and istiod's logs (the fake serves none, so each says why).
    assert "log of istio-system/istio-ingressgateway-6b7c8d9f-fghij main:" in message
    assert "log of istio-system/istiod-5c9f7d9b8-abcde main:" in message
    assert "istioctl proxy-config listeners of istio-ingressgateway" in message
    assert set(api.objects) == before


def test_tls_checks_from_outside_use_the_cases_certificates(
    target: tuple[KubernetesTarget, FakeProvider, StandIns],
    gateway_echo: tuple[tuple[str, int], EchoServer],
) -> None:
    """The gateway's 443 here is the echo serving the case's app-credential, as Istio would."""
    import ssl

    from pytest_meshgate._cases.model.request import Request
    from pytest_meshgate._exchange.tlskeys import load_key_pair

    kubernetes_target, _, _ = target
    _, echo = gateway_echo
    deployment = kubernetes_target.activate(rich_case())
    material = deployment.secrets.materials["app-credential"]  # type: ignore[attr-defined]
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    # The store keeps no files: the echo loads the case's key pair from memory, as the gateway.
    assert material.cert_pem is not None and material.key_pem is not None
    load_key_pair(context, material.cert_pem, material.key_pem)
    listener = echo.listen(EchoIdentity("reviews", "default", "v2"), ssl_context=context)
    assert kubernetes_target.cluster is not None
    kubernetes_target.cluster.host_ports[30081] = listener.address
    request = Request.model_validate({"url": "https://app.example.com/"})
    exchange = deployment.send(request)
    assert exchange.response is not None and exchange.response.status == 200
    assert exchange.tls is not None and exchange.tls.peer_sans == ("app.example.com",)
    assert exchange.extra["issuer_ca"] == "default"
    expect = Expect.model_validate(
        {
            "status": 200,
            "tls": {"peerCertificate": {"san": ["app.example.com"], "issuer": "default"}},
        }
    )
    assert judge(expect, exchange) == []
    # A CA the case does not trust for it: the client refuses the handshake.
    untrusted = Request.model_validate(
        {"url": "https://app.example.com/", "tls": {"ca": "partner-ca"}}
    )
    assert deployment.send(untrusted).connection == "tlsError"


NAMESPACED_TELEMETRY = """
apiVersion: meshgate.dev/v1alpha1
kind: Case
metadata: {name: quiet-metrics}
spec:
  services:
  - name: reviews
    ports: [{name: http, port: 9080}]
  clients: [{name: sleep, namespace: quiet}]
  resources:
  - apiVersion: telemetry.istio.io/v1
    kind: Telemetry
    metadata: {name: no-metrics, namespace: quiet}
    spec:
      metrics:
      - overrides:
        - match: {metric: ALL_METRICS}
          disabled: true
  checks:
  - name: not counted at the sidecar
    request: {from: sleep, url: "http://reviews.default:9080/"}
    expect:
      metrics:
      - {proxy: sleep, name: istio_requests_total, delta: 0}
"""


def test_a_telemetry_in_a_case_namespace_is_applied_there(
    target: tuple[KubernetesTarget, FakeProvider, StandIns], api: FakeAPI, tmp_path: Path
) -> None:
    # Only a Telemetry of the root namespace acts beyond the case (a skip, tested in
    # test_k8s_target.py); one in a case namespace is applied, mapped with its namespace.
    kubernetes_target, _, _ = target
    path = tmp_path / "telemetry.yaml"
    path.write_text(NAMESPACED_TELEMETRY, encoding="utf-8")
    (loaded,) = load_case_file(path).cases
    deployment = kubernetes_target.activate(loaded)
    plan = deployment.plan  # type: ignore[attr-defined]
    applied = api.objects[
        f"/apis/telemetry.istio.io/v1/namespaces/{plan.map('quiet')}/telemetries/no-metrics"
    ]
    assert applied["spec"]["metrics"][0]["overrides"][0]["disabled"] is True
    kubernetes_target.deactivate()
