"""The Envoy Gateway adapter: its helm command, class, readiness, Service discovery, skips.

Stand-in executables record the helm command (k8s_standins.py); the fake API
server (k8s_fakeapi.py) with a stand-in Envoy Gateway controller
(``envoy_gateway_controller``, k8s_fakecluster.py) answers the API. Where the
envoyproxy/gateway mirror is on this machine, the names the adapter relies
on (the chart's Deployment and namespace, the controller name, the owning
labels, the Gateway API bundle its chart brings) are checked against the
v1.9.0 sources. What this does not prove: that the chart installs from
docker.io, or anything Envoy Gateway does; no cluster ran.
"""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from k8s_fakeapi import FakeAPI, kubeconfig_for
from k8s_fakecluster import (
    FakeProvider,
    envoy_gateway_controller,
    envoy_gateway_crd,
    seed_cluster,
)
from k8s_standins import StandIns

from pytest_meshgate._cases.loader import load_case_file
from pytest_meshgate._judge.verdicts import Consistency
from pytest_meshgate._targets.kubernetes.adapters.base import AdapterOptions
from pytest_meshgate._targets.kubernetes.adapters.envoygateway import (
    CHART,
    CONTROLLER_NAME,
    ENVOY_GATEWAY_VERSION,
    OWNING_NAME,
    OWNING_NAMESPACE,
    EnvoyGatewayAdapter,
)
from pytest_meshgate._targets.kubernetes.adapters.registry import load_implementation
from pytest_meshgate._targets.kubernetes.providers import base as provider_base
from pytest_meshgate._targets.kubernetes.providers.base import ClusterHandle
from pytest_meshgate._targets.kubernetes.providers.kind import CUSTOM_NODE_PORTS
from pytest_meshgate._targets.kubernetes.target import ClusterSettings, KubernetesTarget

pytest.importorskip("kubernetes")

MIRROR = Path("/work/.mirror/envoyproxy+gateway/repo")
ROOT = Path(__file__).parents[4]
CASES = ROOT / "cases"


def _show(path: str) -> str:
    if not MIRROR.is_dir():
        pytest.skip("the envoyproxy/gateway mirror is not on this machine")
    shown = subprocess.run(["git", "-C", str(MIRROR), "show", f"{ENVOY_GATEWAY_VERSION}:{path}"],
                           capture_output=True, text=True, check=False)  # fmt: skip
    assert shown.returncode == 0, shown.stderr
    return shown.stdout


def test_it_is_registered_and_selected_by_the_implementation_option() -> None:
    assert (
        'envoy-gateway = "pytest_meshgate._targets.kubernetes.adapters.envoygateway:'
        'EnvoyGatewayAdapter"' in (ROOT / "pyproject.toml").read_text()
    )
    adapter = load_implementation("envoy-gateway", AdapterOptions({}, "kind"))
    assert isinstance(adapter, EnvoyGatewayAdapter)
    assert adapter.mode == "helm"
    assert EnvoyGatewayAdapter(AdapterOptions({}, "cluster")).mode == "none"


def test_the_helm_command_is_the_documented_install(standins: StandIns) -> None:
    adapter = EnvoyGatewayAdapter(AdapterOptions({"helm": standins.path_of("helm")}, "kind"))
    handle = ClusterHandle("meshgate", Path("/k/kubeconfig"), "kind-meshgate")
    assert adapter.install_commands(handle) == [
        [standins.path_of("helm"), "upgrade", "--install", "eg", CHART,
         "--version", "v1.9.0", "--namespace", "envoy-gateway-system", "--create-namespace",
         "--wait", "--timeout", "5m", "--kubeconfig", "/k/kubeconfig",
         "--kube-context", "kind-meshgate"],
    ]  # fmt: skip


def test_it_supports_gateway_api_features_only_and_skips_istio_resources() -> None:
    adapter = EnvoyGatewayAdapter(AdapterOptions({}, "kind"))
    features = adapter.supported_features()
    assert features is not None
    assert {"HTTPRouteHostRewrite", "GRPCRoute", "KubernetesGateway"} <= features
    assert not {"Gateway", "MeshRouting", "VirtualServiceRetries"} & features
    assert (
        adapter.unsupported_resources(
            {("networking.istio.io", "VirtualService"), ("gateway.networking.k8s.io", "HTTPRoute")}
        )
        == "Istio API resources (VirtualService): it implements the Gateway API only"
    )
    assert adapter.unsupported_resources({("gateway.networking.k8s.io", "HTTPRoute")}) is None
    assert adapter.gateways() == {} and adapter.mesh_namespace_labels() == {}


def test_the_names_it_relies_on_are_envoy_gateways_own() -> None:
    deployment = _show("charts/gateway-helm/templates/envoy-gateway-deployment.yaml")
    assert "  name: envoy-gateway\n" in deployment
    assert f'GatewayControllerName = "{CONTROLLER_NAME}"' in _show(
        "api/v1alpha1/envoygateway_types.go"
    )
    translator = _show("internal/gatewayapi/translator.go")
    assert f'OwningGatewayNameLabel = "{OWNING_NAME}"' in translator
    assert f'OwningGatewayNamespaceLabel = "{OWNING_NAMESPACE}"' in translator
    docs = _show("site/content/en/latest/install/install-helm.md")
    assert f"helm install eg {CHART} --version" in docs
    assert "-n envoy-gateway-system --create-namespace" in docs
    # The chart brings Gateway API CRDs at least at the pin Istio's adapter installs.
    crds = _show("charts/gateway-helm/charts/crds/crds/gatewayapi-crds.yaml")
    assert "gateway.networking.k8s.io/bundle-version: v1.6.1" in crds
    assert "grpcroutes.gateway.networking.k8s.io" in crds
    tags = subprocess.run(["git", "-C", str(MIRROR), "tag", "--sort=-v:refname"],
                          capture_output=True, text=True, check=True).stdout.split()  # fmt: skip
    assert next(t for t in tags if "-rc" not in t and t.startswith("v")) == ENVOY_GATEWAY_VERSION


@pytest.fixture
def eg_cluster(
    api: FakeAPI, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, standins: StandIns
) -> Iterator[tuple[KubernetesTarget, Any]]:
    from pytest_meshgate._targets.echo import EchoIdentity, EchoServer

    seed_cluster(api)  # the Gateway API CRDs included
    api.put("/apis/apiextensions.k8s.io/v1/customresourcedefinitions/envoyproxies.gateway.envoyproxy.io",
            envoy_gateway_crd())  # fmt: skip
    api.put(
        "/api/v1/namespaces/envoy-gateway-system", {"metadata": {"name": "envoy-gateway-system"}}
    )
    api.put("/apis/apps/v1/namespaces/envoy-gateway-system/deployments/envoy-gateway",
            {"metadata": {"name": "envoy-gateway", "namespace": "envoy-gateway-system"},
             "spec": {"replicas": 1}})  # fmt: skip
    kubeconfig = tmp_path / "kubeconfig"
    kubeconfig.write_text(kubeconfig_for(api.url))
    monkeypatch.setattr(provider_base, "_RUN_ID", f"run-{tmp_path.name}")
    monkeypatch.setattr("pytest_meshgate._targets.kubernetes.kube.POLL_INTERVAL", 0.01)
    monkeypatch.setattr("pytest_meshgate._targets.kubernetes.gatewayapi._POLL", 0.01)
    monkeypatch.setattr("pytest_meshgate._targets.kubernetes.deployment.READY_TIMEOUT", 2.0)
    monkeypatch.setattr("pytest_meshgate._targets.kubernetes.deployment.SYNC_TIMEOUT", 0.2)
    identity = EchoIdentity("infra-backend-v1", "gateway-conformance-infra", "v1", pod="p")
    with EchoServer() as echo:
        address = echo.listen(identity).address
        handle = ClusterHandle("fake", kubeconfig, "fake",
                               host_ports={p: address for p in CUSTOM_NODE_PORTS})  # fmt: skip
        adapter = EnvoyGatewayAdapter(AdapterOptions({"helm": standins.path_of("helm")}, "kind"))
        target = KubernetesTarget(
            "kind", FakeProvider(handle), adapter, ClusterSettings(), Consistency(1, 1)
        )
        try:
            yield target, adapter
        finally:
            target.close()


def test_install_applies_its_class_readiness_waits_for_it_and_gateways_are_found_by_label(
    api: FakeAPI, eg_cluster: tuple[KubernetesTarget, Any], standins: StandIns
) -> None:
    target, adapter = eg_cluster
    api.controllers.append(envoy_gateway_controller)
    target.ensure_cluster()
    assert [c[:5] for c in standins.calls()] == [["helm", "upgrade", "--install", "eg", CHART]]
    gateway_class = api.objects["/apis/gateway.networking.k8s.io/v1/gatewayclasses/meshgate-eg"]
    assert gateway_class["spec"]["controllerName"] == CONTROLLER_NAME
    # On kind, NodePort Services through the class's EnvoyProxy.
    assert gateway_class["spec"]["parametersRef"]["kind"] == "EnvoyProxy"
    proxy = api.objects[
        "/apis/gateway.envoyproxy.io/v1alpha1/namespaces/envoy-gateway-system/envoyproxies/meshgate-eg"
    ]
    assert proxy["spec"]["provider"]["kubernetes"]["envoyService"]["type"] == "NodePort"
    assert adapter.gateway_api_unavailable() is None

    loaded = load_case_file(CASES / "gateway-api-routing.yaml").cases[0]
    deployment: Any = target.activate(loaded)
    plan = deployment.plan
    gateways = [p for p in api.objects if "/gateways/" in p and plan.prefix in p]
    assert gateways and all(
        api.objects[p]["spec"]["gatewayClassName"] == "meshgate-eg" for p in gateways
    )
    request = next(c.request for c in loaded.case.spec.checks if c.request and c.request.gateway)
    namespace, name = request.gateway.split("/")
    workload = deployment.workload(request.gateway)
    assert workload.namespace == "envoy-gateway-system"
    assert workload.name == f"envoy-{plan.map(namespace)}-{name}-3b7c9a1e"[:63]
    assert workload.labels == {OWNING_NAME: name, OWNING_NAMESPACE: plan.map(namespace)}
    statuses = {s.resource for s in deployment.status()}
    assert "GatewayClass/istio" in statuses  # meshgate-eg, under the name cases use
    assert f"Gateway/{namespace}/{name}" in statuses


def test_a_class_nobody_accepts_skips_gateway_api_cases_naming_it(
    api: FakeAPI, eg_cluster: tuple[KubernetesTarget, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    target, _ = eg_cluster
    monkeypatch.setattr("pytest_meshgate._targets.kubernetes.target.READY_TIMEOUT", 0.2)
    loaded = load_case_file(CASES / "gateway-api-routing.yaml").cases[0]
    with pytest.raises(pytest.skip.Exception) as info:
        target.activate(loaded)
    assert "GatewayClass meshgate-eg not Accepted by Envoy Gateway" in str(info.value)


def test_istio_cases_are_skipped_naming_the_resources(
    eg_cluster: tuple[KubernetesTarget, Any],
) -> None:
    target, _ = eg_cluster
    loaded = load_case_file(CASES / "hosts.yaml").cases[0]
    with pytest.raises(pytest.skip.Exception) as info:
        target.activate(loaded)
    assert "not supported by envoy-gateway v1.9.0" in str(info.value)
