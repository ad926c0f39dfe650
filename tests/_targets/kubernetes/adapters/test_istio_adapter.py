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

import pytest
from k8s_standins import StandIns

from pytest_meshgate._errors import TargetUnavailable
from pytest_meshgate._targets.kubernetes.adapters.base import AdapterOptions
from pytest_meshgate._targets.kubernetes.adapters.istio import HELM_REPO, IstioAdapter
from pytest_meshgate._targets.kubernetes.adapters.registry import load_implementation
from pytest_meshgate._targets.kubernetes.providers.base import ClusterHandle


def handle() -> ClusterHandle:
    return ClusterHandle("meshgate", Path("/k/kubeconfig"), "kind-meshgate")


def istio(standins: StandIns, **values: str) -> IstioAdapter:
    options = {"istioctl": standins.path_of("istioctl"), "helm": standins.path_of("helm"), **values}
    adapter = load_implementation("istio", AdapterOptions(options, "kind"))
    assert isinstance(adapter, IstioAdapter)
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
        [istioctl, "version", "--remote=false", "--short"],
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
    adapter.install(handle())
    helm = "helm"  # the stand-in logs its name
    common = ["--repo", HELM_REPO, "--version", "1.26.2", "--namespace", "istio-system", "--wait",
              "--kubeconfig", "/k/kubeconfig", "--kube-context", "kind-meshgate"]  # fmt: skip
    assert standins.calls() == [
        [helm, "upgrade", "--install", "istio-base", "base", *common, "--create-namespace"],
        [helm, "upgrade", "--install", "istio-cni", "cni", *common, "--set", "profile=ambient"],
        [helm, "upgrade", "--install", "istiod-canary", "istiod", *common,
         "--set", "profile=ambient", "--set", "revision=canary"],
        [helm, "upgrade", "--install", "ztunnel", "ztunnel", *common],
    ]  # fmt: skip
    assert adapter.gateways() == {}
    assert adapter.mesh_namespace_labels() == {"istio.io/dataplane-mode": "ambient"}


def test_helm_default_profile_installs_the_ingress_gateway_chart(standins: StandIns) -> None:
    adapter = istio(standins, **{"istio-install": "helm"})
    commands = adapter.install_commands(handle())
    assert [c[3] for c in commands] == ["istio-base", "istiod", "istio-ingressgateway"]
    assert commands[-1][4] == "gateway"


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
        for what in ("routes", "clusters")
    ]  # fmt: skip
    assert "istioctl proxy-config routes of istio-ingressgateway" in text
