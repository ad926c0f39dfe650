"""Gateway API cases on the kind target, against the fake API server with a stand-in istiod.

A conformance case of cases/ (GRPCRoute exact method matching, its Gateway
in gateway-conformance-infra) is deployed by the kubernetes target through
the real ``kubernetes`` client into the fake API server
(k8s_fakeapi.py), where ``istio_controller`` (k8s_fakecluster.py) stands in
for istiod: a Gateway of class ``istio`` gets a Service ``<name>-istio`` and a
pod, and Istio-shaped status; routes get a parent status. The project's echo
(HTTP/1.1, HTTP/2 and gRPC) stands where kind maps the Gateway's NodePort.
What this proves: the objects and names a cluster gets, the wait for status
and readiness, the NodePort given to the listener port a check enters by,
a gRPC call sent there and judged, status read back and judged by the
case's own condition expectations, skips, and cleanup. What it does not:
anything Istio computes (routing, the conditions themselves); no cluster ran.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from k8s_fakeapi import FakeAPI, kubeconfig_for
from k8s_fakecluster import FakeProvider, istio_controller, seed_cluster
from k8s_standins import StandIns

from pytest_meshgate._cases.loader import LoadedCase, load_case_file
from pytest_meshgate._judge.conditions import judge_conditions
from pytest_meshgate._judge.expectations import judge
from pytest_meshgate._judge.verdicts import Consistency
from pytest_meshgate._targets.echo import EchoIdentity, EchoServer
from pytest_meshgate._targets.kubernetes.adapters.base import AdapterOptions
from pytest_meshgate._targets.kubernetes.adapters.istio import IstioAdapter
from pytest_meshgate._targets.kubernetes.providers import base as provider_base
from pytest_meshgate._targets.kubernetes.providers.base import ClusterHandle
from pytest_meshgate._targets.kubernetes.providers.kind import CUSTOM_NODE_PORTS
from pytest_meshgate._targets.kubernetes.target import ClusterSettings, KubernetesTarget

pytest.importorskip("kubernetes")

CASES = Path(__file__).parents[3] / "cases"
GW = "/apis/gateway.networking.k8s.io/v1"


def grpc_case(name: str = "grpcroute-exact-method-matching") -> LoadedCase:
    loaded = load_case_file(CASES / "gateway-api-grpc.yaml")
    return next(c for c in loaded.cases if c.case.name == name)


@pytest.fixture
def cluster(
    api: FakeAPI, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[tuple[KubernetesTarget, EchoServer]]:
    seed_cluster(api)
    kubeconfig = tmp_path / "kubeconfig"
    kubeconfig.write_text(kubeconfig_for(api.url))
    standins = StandIns(tmp_path / "standins")
    for key, value in standins.env().items():
        monkeypatch.setenv(key, value)
    monkeypatch.setattr(provider_base, "_RUN_ID", f"run-{tmp_path.name}")
    monkeypatch.setattr("pytest_meshgate._targets.kubernetes.kube.POLL_INTERVAL", 0.01)
    monkeypatch.setattr("pytest_meshgate._targets.kubernetes.deployment.SYNC_TIMEOUT", 0.2)
    monkeypatch.setattr("pytest_meshgate._targets.kubernetes.gatewayapi._POLL", 0.01)
    # Bounds the waits: nothing here takes a real pod's time to start.
    monkeypatch.setattr("pytest_meshgate._targets.kubernetes.deployment.READY_TIMEOUT", 2.0)
    identity = EchoIdentity(
        "grpc-infra-backend-v2", "gateway-conformance-infra", "v1", pod="grpc-infra-backend-v2-a"
    )
    with EchoServer() as echo:
        address = echo.listen(identity).address
        # Every NodePort of the pool leads to the echo, as kind would lead it to the Gateway.
        handle = ClusterHandle("fake", kubeconfig, "fake",
                               host_ports={p: address for p in CUSTOM_NODE_PORTS})  # fmt: skip
        adapter = IstioAdapter(AdapterOptions({"istio-profile": "demo"}, "kind"))
        target = KubernetesTarget(
            "kind", FakeProvider(handle), adapter, ClusterSettings(), Consistency(1, 1)
        )
        try:
            yield target, echo
        finally:
            target.close()


def test_a_grpcroute_conformance_case_runs_on_the_gateway_istio_deploys(
    api: FakeAPI, cluster: tuple[KubernetesTarget, EchoServer]
) -> None:
    target, _ = cluster
    api.controllers.append(istio_controller)
    loaded = grpc_case()
    assert {"grpc", "status"} <= target.capabilities
    before = set(api.objects)
    deployment: Any = target.activate(loaded)
    plan = deployment.plan
    infra = plan.map("gateway-conformance-infra")
    created = set(api.objects) - before
    gateway = api.objects[f"{GW}/namespaces/{infra}/gateways/same-namespace"]
    assert gateway["spec"]["gatewayClassName"] == "istio"
    assert f"{GW}/namespaces/{infra}/grpcroutes/exact-matching" in created
    # The echo pods speak gRPC (h2 from the ConfigMap); nothing was skipped as h2c.
    assert f"/api/v1/namespaces/{infra}/configmaps/meshgate-http2-src" in created
    # The listener port the checks enter by got a NodePort of the pool; type kept.
    service = api.objects[f"/api/v1/namespaces/{infra}/services/same-namespace-istio"]
    assert service["spec"]["type"] == "LoadBalancer"
    assert [p["nodePort"] for p in service["spec"]["ports"]] == [CUSTOM_NODE_PORTS[0]]
    assert deployment.sync_note == ""

    checks = {c.name: c for c in loaded.case.spec.checks}
    check = checks["1 EchoTwo should go to grpc-infra-backend-v2"]
    exchange = deployment.send(check.request)
    assert exchange.request.entry == "gateway same-namespace-istio port 80"
    assert judge(check.expect, exchange) == []

    status_check = checks["the Gateway and the route are accepted (GatewayAndRoutesMustBeAccepted)"]
    statuses = deployment.status()
    assert judge_conditions(status_check.expect.conditions, statuses) == []
    # Read back in the case's names: namespaces and the class.
    resources = {s.resource for s in statuses}
    assert "GatewayClass/istio" in resources
    assert "GRPCRoute/gateway-conformance-infra/exact-matching" in resources

    target.deactivate()
    assert not [p for p in api.objects if f"/namespaces/{infra}" in p]


def test_without_a_controller_the_wait_ends_in_a_note_and_the_send_names_the_gateway(
    api: FakeAPI, cluster: tuple[KubernetesTarget, EchoServer], monkeypatch: pytest.MonkeyPatch
) -> None:
    target, _ = cluster
    loaded = grpc_case()
    deployment: Any = target.activate(loaded)
    infra = deployment.plan.map("gateway-conformance-infra")
    assert f"Gateway {infra}/same-namespace: no status of generation 1 yet" in deployment.sync_note
    assert "no status for parent" in deployment.sync_note
    # The Gateway's Service has not appeared: Istio's naming is what is looked for.
    exchange_error = None
    try:
        deployment.send(loaded.case.spec.checks[0].request)
    except Exception as exc:  # TargetError from the address lookup
        exchange_error = str(exc)
    assert exchange_error is not None and "same-namespace-istio" in exchange_error


def test_gateway_api_cases_skip_on_a_cluster_without_the_crds_when_nothing_may_be_installed(
    api: FakeAPI, cluster: tuple[KubernetesTarget, EchoServer]
) -> None:
    target, _ = cluster
    for path in [p for p in api.objects if "/customresourcedefinitions/" in p]:
        del api.objects[path]
    target.adapter.mode = "none"  # type: ignore[attr-defined]
    with pytest.raises(pytest.skip.Exception) as info:
        target.activate(grpc_case())
    assert "the cluster lacks the Gateway API CRDs" in str(info.value)
    assert (
        "kubectl apply --server-side -f https://github.com/kubernetes-sigs/gateway-api/"
        "releases/download/v1.6.0/experimental-install.yaml" in str(info.value)
    )


def test_a_check_through_a_gateway_of_another_class_is_skipped_as_the_local_target_skips_it(
    api: FakeAPI, cluster: tuple[KubernetesTarget, EchoServer], tmp_path: Path
) -> None:
    target, _ = cluster
    case = tmp_path / "other-class.yaml"
    case.write_text(
        """\
apiVersion: meshgate.dev/v1alpha1
kind: Case
metadata: {name: other-class}
spec:
  resources:
  - apiVersion: gateway.networking.k8s.io/v1
    kind: GatewayClass
    metadata: {name: acme}
    spec: {controllerName: example.com/acme}
  - apiVersion: gateway.networking.k8s.io/v1
    kind: Gateway
    metadata: {name: elsewhere, namespace: infra}
    spec:
      gatewayClassName: acme
      listeners: [{name: http, port: 80, protocol: HTTP}]
  checks:
  - name: through it
    request: {url: "http://shop.example.com/", gateway: infra/elsewhere}
"""
    )
    loaded = load_case_file(case).cases[0]
    with pytest.raises(pytest.skip.Exception) as info:
        target.activate(loaded)
    assert "no Gateway infra/elsewhere of class istio" in str(info.value)


def test_rendered_gateways_carry_the_class_and_a_revisioned_istiods_label() -> None:
    from pytest_meshgate._targets.kubernetes.render import render_loaded

    loaded = grpc_case()
    plain = render_loaded(loaded, "kind", {"istio-profile": "demo"})
    canary = render_loaded(loaded, "kind", {"istio-profile": "demo", "istio-revision": "canary"})
    for objects, labels in ((plain, {}), (canary, {"istio.io/rev": "canary"})):
        gateways = [o for o in objects if o["kind"] == "Gateway" and "gateway.networking" in
                    o["apiVersion"]]  # fmt: skip
        assert gateways
        for gateway in gateways:
            assert gateway["spec"]["gatewayClassName"] == "istio"
            assert gateway["metadata"]["namespace"].startswith("mg-")
            got = {k: v for k, v in gateway["metadata"]["labels"].items() if k == "istio.io/rev"}
            assert got == labels
    # allowedRoutes selectors on kubernetes.io/metadata.name name the cluster namespace,
    # which the API server puts in that label.
    attached = next(
        c for c in load_case_file(CASES / "gateway-api-gateways.yaml").cases
        if c.case.name == "gateway-with-attached-routes"
    )  # fmt: skip
    selectors = [
        ((listener.get("allowedRoutes") or {}).get("namespaces") or {}).get("selector") or {}
        for o in render_loaded(attached, "kind", {"istio-profile": "demo"})
        if o["kind"] == "Gateway" and "gateway.networking" in o["apiVersion"]
        for listener in o["spec"]["listeners"]
    ]
    names = [
        s["matchLabels"]["kubernetes.io/metadata.name"]
        for s in selectors
        if "kubernetes.io/metadata.name" in (s.get("matchLabels") or {})
    ]
    assert names and all(n.endswith("-gateway-conformance-infra") for n in names)
    assert all(n.startswith("mg-") for n in names)


def test_status_read_back_maps_names_and_drops_the_crds_defaults() -> None:
    from pytest_meshgate._targets.kubernetes.gatewayapi import GatewayClassInfo, object_status
    from pytest_meshgate._targets.kubernetes.namespaces import NamespacePlan

    plan = NamespacePlan("mg-1", {"team": "mg-1-team", "infra": "mg-1-infra"})
    eg = GatewayClassInfo("meshgate-eg", "gateway.envoyproxy.io/gatewayclass-controller")
    listener_set = {
        "kind": "ListenerSet",
        "metadata": {"name": "team-listeners", "namespace": "mg-1-team"},
        "status": {
            "conditions": [{"type": "Accepted", "status": "True", "reason": "Accepted",
                            "message": "ok"}],
            "listeners": [{"name": "alt", "attachedRoutes": 1, "conditions": [],
                           "supportedKinds": [{"kind": "HTTPRoute"}]}],
        },
    }  # fmt: skip
    [whole, alt] = object_status(listener_set, plan, eg)
    assert whole.resource == alt.resource == "ListenerSet/team/team-listeners"
    assert (alt.listener, alt.details["attachedRoutes"]) == ("alt", 1)
    assert alt.details["supportedKinds"] == ["gateway.networking.k8s.io/HTTPRoute"]
    pending = {
        "kind": "Gateway",
        "metadata": {"name": "other", "namespace": "mg-1-infra"},
        "status": {"conditions": [{"type": "Accepted", "status": "Unknown", "reason": "Pending",
                                   "message": "Waiting for controller"}]},
    }  # fmt: skip
    assert object_status(pending, plan, eg) == []  # no controller wrote: absent
    route = {
        "kind": "HTTPRoute",
        "metadata": {"name": "app", "namespace": "mg-1-team"},
        "status": {"parents": [
            {"parentRef": {"name": "shared", "namespace": "mg-1-infra", "sectionName": "http"},
             "controllerName": eg.controller_name,
             "conditions": [{"type": "Accepted", "status": "True", "reason": "Accepted",
                             "message": ""}]},
            {"parentRef": {"name": "shared", "namespace": "mg-1-infra"},
             "controllerName": "example.com/other", "conditions": []},
        ]},
    }  # fmt: skip
    [parent] = object_status(route, plan, eg)  # the other controller's view is not ours
    assert parent.parent == "infra/shared/http"
    assert object_status({"kind": "GatewayClass", "metadata": {"name": "meshgate-eg"},
                          "status": listener_set["status"]}, plan, eg)[0].resource == (
        "GatewayClass/istio"
    )  # fmt: skip
