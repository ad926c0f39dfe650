"""The exact kind/istioctl/helm/docker commands issued, through stand-in executables.

The stand-ins (k8s_standins.py) record argv; no cluster, Docker engine or
Istio ran. What this proves: the commands, their arguments and order, cluster
ownership (create, reuse, keep, never delete what the run did not create),
and the xdist hand-over through the state file. What it does not prove: that
the real tools accept these arguments, which only a run on a machine with
Docker shows (.github/workflows/conformance-kind.yml).
"""

from __future__ import annotations

import hashlib
import http.server
import socket
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml
from k8s_fakeapi import kubeconfig_for
from k8s_standins import StandIns

from pytest_meshgate._errors import TargetError, TargetUnavailable
from pytest_meshgate._targets.kubernetes import providers
from pytest_meshgate._targets.kubernetes.adapters.base import AdapterOptions
from pytest_meshgate._targets.kubernetes.adapters.istio import HELM_REPO, IstioAdapter
from pytest_meshgate._targets.kubernetes.adapters.registry import load_implementation
from pytest_meshgate._targets.kubernetes.providers import (
    KIND_NODE_IMAGE,
    NODE_PORT_POOL,
    ClusterHandle,
    KindProvider,
    KindSettings,
    docker_engine_problem,
    download_pinned,
    pinned_urls,
)

pytest.importorskip("pytest_kind")

# What the stand-in kind writes: a kubeconfig for a server nobody listens on.
KUBECONFIG = kubeconfig_for("https://127.0.0.1:1", "kind-meshgate")
ALL_PORTS = " ".join(str(p) for p in NODE_PORT_POOL)


@pytest.fixture
def standins(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> StandIns:
    fake = StandIns(tmp_path)
    for key, value in fake.env(
        STANDIN_KUBECONFIG=KUBECONFIG, STANDIN_DOCKER_PORTS=ALL_PORTS
    ).items():
        monkeypatch.setenv(key, value)
    monkeypatch.chdir(tmp_path)  # pytest-kind writes .pytest-kind/ under the cwd
    monkeypatch.setattr(providers, "_RUN_ID", "run-1")
    return fake


def kind_provider(fake: StandIns, keep: bool = False) -> KindProvider:
    provider = KindProvider(KindSettings(keep=keep, cache_dir=fake.root / "cache"))
    # Preflight's Docker probe is tested on its own; here the engine "answers".
    provider._kind, provider._kubectl = Path(fake.path_of("kind")), Path(fake.path_of("kubectl"))
    return provider


def test_creates_a_missing_cluster_with_the_port_mapping_config_and_deletes_it(
    standins: StandIns,
) -> None:
    provider = kind_provider(standins)
    handle = provider.acquire()
    kind = "kind"  # the stand-in logs its name
    workdir = Path(".pytest-kind/meshgate")
    assert standins.calls() == [
        [kind, "get", "clusters"],  # ours: did it exist before?
        [kind, "get", "clusters"],  # pytest-kind's create() looks again
        [
            kind, "create", "cluster", "--name=meshgate", f"--kubeconfig={workdir / 'kubeconfig'}",
            f"--image={KIND_NODE_IMAGE}", "--config", str(workdir / "kind-config.yaml"),
        ],
    ]  # fmt: skip
    config = yaml.safe_load((workdir / "kind-config.yaml").read_text())
    assert config == providers.kind_config()
    assert handle.created and handle.context == "kind-meshgate"
    assert handle.host_ports[30080] == ("127.0.0.1", 30080)
    assert handle.tool_args() == [
        "--kubeconfig",
        str(workdir / "kubeconfig"),
        "--context",
        "kind-meshgate",
    ]

    provider.release()
    assert standins.calls()[-1] == [
        kind,
        "delete",
        "cluster",
        "--name=meshgate",
        f"--kubeconfig={workdir / 'kubeconfig'}",
    ]
    assert standins.clusters() == []


def test_keep_leaves_the_cluster_and_a_later_run_reuses_it_without_deleting(
    standins: StandIns, monkeypatch: pytest.MonkeyPatch
) -> None:
    first = kind_provider(standins, keep=True)
    first.acquire()
    first.release()
    assert standins.clusters() == ["meshgate"]
    assert not any(c[1] == "delete" for c in standins.calls())

    monkeypatch.setattr(providers, "_RUN_ID", "run-2")
    before = len(standins.calls())
    second = kind_provider(standins)  # no keep this time: still not ours to delete
    handle = second.acquire()
    second.release()
    kind = "kind"  # the stand-in logs its name
    assert standins.calls()[before:] == [
        [kind, "get", "clusters"],
        [kind, "get", "kubeconfig", "--name=meshgate"],
        ["docker", "port", "meshgate-control-plane"],
    ]
    assert not handle.created
    assert standins.clusters() == ["meshgate"]


def test_never_deletes_a_cluster_that_existed_before(standins: StandIns) -> None:
    standins.set_clusters("other", "meshgate")
    provider = kind_provider(standins)
    assert not provider.acquire().created
    provider.release()
    assert not any("delete" in c for c in standins.calls())
    assert standins.clusters() == ["other", "meshgate"]


def test_an_existing_cluster_without_our_port_mappings_is_refused_not_deleted(
    standins: StandIns, monkeypatch: pytest.MonkeyPatch
) -> None:
    standins.set_clusters("meshgate")
    monkeypatch.setenv("STANDIN_DOCKER_PORTS", "30080")
    with pytest.raises(TargetUnavailable) as info:
        kind_provider(standins).acquire()
    message = str(info.value)
    assert "lacks the port mappings" in message and "node ports 30081-30089" in message
    assert "kind delete cluster --name=meshgate" in message  # told, never done
    assert not any("delete" in c for c in standins.calls())


def test_xdist_workers_share_one_cluster_and_the_last_one_out_deletes_it(
    standins: StandIns,
) -> None:
    workers = [kind_provider(standins), kind_provider(standins)]  # same run id, two processes
    for worker in workers:
        worker.acquire()
    creates = [c for c in standins.calls() if c[1:3] == ["create", "cluster"]]
    assert len(creates) == 1
    workers[0].release()
    assert standins.clusters() == ["meshgate"]
    workers[1].release()
    assert standins.clusters() == []


def test_a_failed_kind_create_is_one_clear_error(
    standins: StandIns, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("STANDIN_FAIL", "kind create")
    with pytest.raises(TargetError, match=r"`kind create cluster --name=meshgate` failed"):
        kind_provider(standins).acquire()


# ------------------------------------------------------------------ Istio


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


# ------------------------------------------------------------------ Docker, downloads


def test_no_docker_engine_is_named_quickly(tmp_path: Path) -> None:
    socket_path = tmp_path / "docker.sock"
    problem = docker_engine_problem({"DOCKER_HOST": f"unix://{socket_path}"})
    assert problem is not None and problem.startswith(f"none answers at unix://{socket_path}")


@pytest.fixture
def ping_socket(tmp_path: Path) -> Iterator[Path]:
    """A unix socket answering Docker's /_ping like an engine (and nothing else)."""
    path = tmp_path / "engine.sock"
    server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    server.bind(str(path))
    server.listen(1)

    def answer() -> None:
        conn, _ = server.accept()
        with conn:
            conn.recv(1024)
            conn.sendall(b"HTTP/1.0 200 OK\r\nContent-Length: 2\r\n\r\nOK")

    thread = threading.Thread(target=answer, daemon=True)
    thread.start()
    yield path
    server.close()


def test_an_engine_answering_ping_is_accepted(ping_socket: Path) -> None:
    assert docker_engine_problem({"DOCKER_HOST": f"unix://{ping_socket}"}) is None


def test_pinned_urls_are_architecture_aware() -> None:
    kind, kind_sum = pinned_urls("kind", "linux", "arm64")
    assert (
        kind
        == f"https://github.com/kubernetes-sigs/kind/releases/download/{providers.KIND_VERSION}/kind-linux-arm64"
    )
    assert kind_sum == kind + ".sha256sum"
    kubectl, kubectl_sum = pinned_urls("kubectl", "darwin", "amd64")
    assert (
        kubectl == f"https://dl.k8s.io/release/{providers.KUBECTL_VERSION}/bin/darwin/amd64/kubectl"
    )
    assert kubectl_sum == kubectl + ".sha256"


@pytest.fixture
def release_server(tmp_path: Path) -> Iterator[str]:
    """A local HTTP server standing in for the release host (files under tmp_path/www)."""
    www = tmp_path / "www"
    www.mkdir()

    class Handler(http.server.SimpleHTTPRequestHandler):
        def __init__(self, *args: object, **kwargs: object) -> None:
            super().__init__(*args, directory=str(www), **kwargs)  # type: ignore[arg-type]

        def log_message(self, format: str, *args: object) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def test_download_checks_the_published_sha256(release_server: str, tmp_path: Path) -> None:
    www = tmp_path / "www"
    blob = b"#!/bin/sh\necho kind\n"
    (www / "kind").write_bytes(blob)
    (www / "kind.sha256sum").write_text(f"{hashlib.sha256(blob).hexdigest()}  kind-linux-amd64\n")
    (www / "bad.sha256sum").write_text("0" * 64 + "  kind\n")
    cache = tmp_path / "cache"
    with pytest.raises(TargetUnavailable, match=r"SHA-256 .* but .* says 0000"):
        download_pinned(
            "kind", cache, (f"{release_server}/kind", f"{release_server}/bad.sha256sum")
        )
    assert not cache.exists() or list(cache.iterdir()) == []
    path = download_pinned(
        "kind", cache, (f"{release_server}/kind", f"{release_server}/kind.sha256sum")
    )
    assert path.read_bytes() == blob and path.stat().st_mode & 0o111
    assert path.name == providers.pinned_name("kind")
