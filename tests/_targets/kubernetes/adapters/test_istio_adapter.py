"""The exact istioctl and helm commands the Istio adapter issues, through stand-in executables.

The stand-ins (k8s_standins.py, the ``standins`` fixture in conftest.py)
record argv; no cluster or Istio ran. What this proves: the install and dump
commands, their arguments and order, the version check, and which gateways
each profile has. What it does not prove: that the real tools accept these
arguments, which only a run on a real cluster shows
(.github/workflows/conformance-kind.yml).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from k8s_standins import StandIns

from pytest_meshgate._errors import TargetUnavailable
from pytest_meshgate._targets.kubernetes.adapters.base import AdapterOptions
from pytest_meshgate._targets.kubernetes.adapters.gatewayapi_crds import GATEWAY_API_VERSION
from pytest_meshgate._targets.kubernetes.adapters.istio import HELM_REPO, IstioAdapter
from pytest_meshgate._targets.kubernetes.adapters.registry import load_implementation
from pytest_meshgate._targets.kubernetes.providers.base import ClusterHandle


def handle() -> ClusterHandle:
    return ClusterHandle("meshgate", Path("/k/kubeconfig"), "kind-meshgate")


def kind_handle() -> ClusterHandle:
    """A kind cluster's handle: host ports mapped."""
    return ClusterHandle(
        "meshgate", Path("/k/kubeconfig"), "kind-meshgate", host_ports={30080: ("127.0.0.1", 30080)}
    )


class CRDsInstalled:
    """An API that has the pinned Gateway API CRDs already: installing Istio applies nothing."""

    def get(self, api_version: str, kind: str, name: str, namespace: str | None) -> Any:
        assert kind == "CustomResourceDefinition", kind
        annotations = {"gateway.networking.k8s.io/bundle-version": GATEWAY_API_VERSION,
                       "gateway.networking.k8s.io/channel": "experimental"}  # fmt: skip
        return {"metadata": {"name": name, "annotations": annotations},
                "status": {"conditions": [{"type": "Established", "status": "True"}]}}  # fmt: skip


def istio(standins: StandIns, **values: str) -> IstioAdapter:
    options = {"istioctl": standins.path_of("istioctl"), "helm": standins.path_of("helm"), **values}
    adapter = load_implementation("istio", AdapterOptions(options, "kind"))
    assert isinstance(adapter, IstioAdapter)
    adapter.attach(CRDsInstalled())
    return adapter


def test_istio_is_found_through_its_entry_point(standins: StandIns) -> None:
    from importlib.metadata import entry_points

    names = {ep.name: ep.value for ep in entry_points(group="meshgate.implementations")}
    assert names.get("istio") == "pytest_meshgate._targets.kubernetes.adapters.istio:IstioAdapter"
    with pytest.raises(TargetUnavailable, match="no implementation 'acme'"):
        load_implementation("acme", AdapterOptions({}, "kind"))


def test_istioctl_install_commands(standins: StandIns) -> None:
    adapter = istio(standins, **{"istio-profile": "demo", "istio-version": "1.26.2"})
    adapter.install(handle())
    istioctl = "istioctl"  # the stand-in logs its name
    assert standins.calls() == [
        # JSON, not --short: that prints "client version: 1.26.2", never a bare version.
        [istioctl, "version", "--remote=false", "-o", "json"],
        [istioctl, "install", "-y", "--set", "profile=demo",
         "--kubeconfig", "/k/kubeconfig", "--context", "kind-meshgate"],
    ]  # fmt: skip
    assert set(adapter.gateways()) == {"ingress", "egress"}


def test_istioctl_of_another_version_is_refused(
    standins: StandIns, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("STANDIN_ISTIO_VERSION", "1.25.0")
    adapter = istio(standins, **{"istio-version": "1.26.2"})
    with pytest.raises(
        TargetUnavailable, match=r"istio-version=1\.26\.2 but istioctl .* is 1\.25\.0"
    ):
        adapter.install(handle())
    assert not any("install" in c for c in standins.calls())


def test_helm_install_commands_for_ambient_with_a_revision(standins: StandIns) -> None:
    adapter = istio(
        standins,
        **{"istio-install": "helm", "istio-profile": "ambient", "istio-revision": "canary",
           "istio-version": "1.26.2"},
    )  # fmt: skip
    adapter.install(handle())  # the stand-in helm refuses a profile its charts lack
    helm = "helm"  # the stand-in logs its name
    repo = ["--repo", HELM_REPO, "--version", "1.26.2", "--namespace", "istio-system"]
    wait = ["--wait", "--kubeconfig", "/k/kubeconfig", "--kube-context", "kind-meshgate"]
    assert standins.calls() == [
        [helm, "upgrade", "--install", "istio-base", "base", *repo, *wait, "--create-namespace"],
        [helm, "upgrade", "--install", "istiod-canary", "istiod", *repo, *wait,
         "--set", "profile=ambient", "--set", "revision=canary"],
        [helm, "upgrade", "--install", "istio-cni", "cni", *repo, *wait, "--set", "profile=ambient"],
        [helm, "upgrade", "--install", "ztunnel", "ztunnel", *repo, *wait],
    ]  # fmt: skip
    assert adapter.gateways() == {}
    assert adapter.mesh_namespace_labels() == {"istio.io/dataplane-mode": "ambient"}


@pytest.mark.parametrize("profile", ["default", "minimal", "demo"])
def test_helm_passes_only_profiles_the_charts_have(standins: StandIns, profile: str) -> None:
    adapter = istio(standins, **{"istio-install": "helm", "istio-profile": profile})
    adapter.install(kind_handle())  # "unknown profile default" from the stand-in otherwise
    sets = [c[i + 1] for c in standins.calls() for i, a in enumerate(c) if a == "--set"]
    profiles = {s.split("=", 1)[1] for s in sets if s.startswith("profile=")}
    assert profiles == ({"demo"} if profile == "demo" else set())


def test_helm_gateways_get_istioctls_ports_and_no_load_balancer_wait_on_kind(
    standins: StandIns,
) -> None:
    import json

    adapter = istio(standins, **{"istio-install": "helm", "istio-profile": "demo"})
    adapter.install(kind_handle())  # the stand-in fails a --wait on a LoadBalancer gateway
    gateways = [c for c in standins.calls() if c[4] == "gateway"]
    assert [c[3] for c in gateways] == ["istio-ingressgateway", "istio-egressgateway"]
    for command in gateways:
        assert "service.type=NodePort" in command
        ports = json.loads(command[command.index("--set-json") + 1].split("=", 1)[1])
        assert [(p["port"], p["targetPort"]) for p in ports] == [
            (15021, 15021),
            (80, 8080),
            (443, 8443),
        ]


def test_helm_gateway_on_an_existing_cluster_stays_a_load_balancer_without_wait(
    standins: StandIns,
) -> None:
    adapter = istio(standins, **{"istio-install": "helm"})
    commands = adapter.install_commands(handle())
    assert [c[3] for c in commands] == ["istio-base", "istiod", "istio-ingressgateway"]
    gateway = commands[-1]
    assert gateway[4] == "gateway" and "--wait" not in gateway
    assert not any(a.startswith("service.type=") for a in gateway)
    adapter.install(handle())  # and the stand-in helm, waiting for no address, accepts it


@pytest.mark.parametrize(
    ("profile", "gateways"),
    [
        ("default", {"ingress"}),
        ("demo", {"ingress", "egress"}),
        ("minimal", set()),
        ("ambient", set()),
    ],
)
def test_gateways_by_profile(standins: StandIns, profile: str, gateways: set[str]) -> None:
    assert set(istio(standins, **{"istio-profile": profile}).gateways()) == gateways


def test_install_none_runs_nothing_and_cluster_defaults_to_it(standins: StandIns) -> None:
    adapter = load_implementation("istio", AdapterOptions({}, "cluster"))
    assert adapter.install_commands(handle()) == []  # type: ignore[attr-defined]
    adapter.install(handle())
    assert standins.calls() == []


def test_missing_istioctl_is_one_line_with_how_to_get_it(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))
    adapter = load_implementation("istio", AdapterOptions({}, "kind"))
    with pytest.raises(TargetUnavailable) as info:
        adapter.preflight()
    assert "\n" not in str(info.value)
    assert "needs istioctl: no istioctl on PATH" in str(info.value)
    assert "https://istio.io/downloadIstio" in str(info.value)


def test_proxy_config_dump_commands(standins: StandIns) -> None:
    from pytest_meshgate._cases.model.workloads import DEFAULT_GATEWAYS

    adapter = istio(standins)
    text = adapter.dump(handle(), DEFAULT_GATEWAYS["ingress"])
    istioctl = "istioctl"  # the stand-in logs its name
    assert standins.calls() == [
        [istioctl, "proxy-config", what, "deploy/istio-ingressgateway", "-n", "istio-system",
         "-o", "json", "--kubeconfig", "/k/kubeconfig", "--context", "kind-meshgate"]
        for what in ("listeners", "routes", "clusters")
    ]  # fmt: skip
    assert "istioctl proxy-config routes of istio-ingressgateway" in text
    assert "istioctl proxy-config listeners of istio-ingressgateway" in text


def test_features_too_new_for_the_istio_version_are_not_supported(standins: StandIns) -> None:
    old = istio(standins, **{"istio-version": "1.26.2", "istio-profile": "demo"})
    assert "HTTPRedirectPrefixRewrite" not in (
        old.supported_features() or {"HTTPRedirectPrefixRewrite"}
    )
    assert old.describe() == "istio 1.26.2 (profile demo)"
    new = istio(standins, **{"istio-version": "1.31.0", "istio-profile": "demo"})
    assert new.supported_features() is None  # demo on 1.31: every feature
    # A running istiod's image says which Istio the cluster has, whatever the option said.
    old.live_version = "1.31.1"
    assert old.supported_features() is None


def test_the_version_of_a_running_istiod_is_read_from_its_image() -> None:
    from pytest_meshgate._targets.kubernetes.adapters.istio import istiod_version

    def deployment(image: str) -> dict[str, object]:
        return {
            "spec": {"template": {"spec": {"containers": [{"name": "discovery", "image": image}]}}}
        }

    assert istiod_version(deployment("docker.io/istio/pilot:1.26.2")) == "1.26.2"
    assert (
        istiod_version(deployment("gcr.io/istio-release/pilot:1.28.1-distroless"))
        == "1.28.1-distroless"
    )
    assert istiod_version(deployment("registry:5000/pilot:latest")) is None


def test_wait_routes_polls_until_the_proxy_carries_the_case_routes(
    standins: StandIns, monkeypatch: pytest.MonkeyPatch
) -> None:
    import json

    from pytest_meshgate._targets.kubernetes.adapters.istio_diagnostics import wait_routes

    adapter = istio(standins)
    route = {"metadata": {"filterMetadata": {"istio": {
        "config": "/apis/networking.istio.io/v1/namespaces/mg-1-default/virtual-service/app"}}}}  # fmt: skip
    dump = [
        {"name": "http.8080", "virtualHosts": [{"name": "app.example.com:80", "routes": [route]}]}
    ]
    monkeypatch.setenv("STANDIN_ROUTES", json.dumps(dump))
    wanted = {
        "istio-system:deploy/istio-ingressgateway": ["/namespaces/mg-1-default/virtual-service/app"]
    }
    assert wait_routes(adapter, handle(), wanted, timeout=5, sleep=lambda _: None) == ""
    wanted["istio-system:deploy/istio-ingressgateway"].append(
        "/namespaces/mg-1-default/virtual-service/late"
    )
    clock = iter(range(100))
    note = wait_routes(
        adapter, handle(), wanted, timeout=3, sleep=lambda _: None, now=lambda: next(clock)
    )
    assert "still lacked routes" in note and "virtual-service/late" in note
    assert "virtual-service/app" not in note.split("lacks", 1)[1]


class NoCRDs:
    """An API without the Gateway API CRDs."""

    def get(self, api_version: str, kind: str, name: str, namespace: str | None) -> Any:
        return None


def test_the_gateway_api_crds_come_before_istio_and_none_installs_nothing(
    standins: StandIns,
) -> None:
    adapter = istio(standins, **{"gateway-api-manifest": "http://127.0.0.1:1/v1.6.0/x.yaml"})
    adapter.attach(NoCRDs())
    with pytest.raises(TargetUnavailable, match="cannot fetch the Gateway API CRDs"):
        adapter.install(handle())
    assert standins.calls() == []  # istioctl never ran: istiod finds the CRDs at start
    untouched = istio(standins, **{"istio-install": "none"})
    untouched.attach(NoCRDs())
    untouched.install(handle())  # neither fetched nor applied
    assert standins.calls() == []
    assert "gateway-api=v1.6.0-experimental" in untouched.fingerprint()
