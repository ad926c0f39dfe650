"""Kubernetes target tests: case files here are inputs, and lock dirs stay in tmp_path.

The fixtures shared by several test files live here: a fake API server with a
target session on it (target and deployment tests), the project's echo
standing where the gateway's host port leads, and stand-in executables on
PATH (provider and adapter command tests).
"""

from __future__ import annotations

import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from k8s_fakeapi import FakeAPI, kubeconfig_for, serve
from k8s_fakecluster import FakeProvider, seed_cluster
from k8s_standins import StandIns

from pytest_meshgate._judge.verdicts import Consistency
from pytest_meshgate._targets.echo import EchoIdentity, EchoServer
from pytest_meshgate._targets.kubernetes.adapters.base import AdapterOptions
from pytest_meshgate._targets.kubernetes.adapters.istio import IstioAdapter
from pytest_meshgate._targets.kubernetes.providers import base as provider_base
from pytest_meshgate._targets.kubernetes.providers.base import ClusterHandle
from pytest_meshgate._targets.kubernetes.providers.kind import NODE_PORT_POOL
from pytest_meshgate._targets.kubernetes.target import ClusterSettings, KubernetesTarget

collect_ignore_glob = ["cases/*"]

# What the stand-in kind writes: a kubeconfig for a server nobody listens on.
KUBECONFIG = kubeconfig_for("https://127.0.0.1:1", "kind-meshgate")
ALL_PORTS = " ".join(str(p) for p in NODE_PORT_POOL)


@pytest.fixture(autouse=True)
def _private_tempdir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Cluster lock dirs (kept across runs on purpose) go to the test's tmp_path, not /tmp."""
    scratch = tmp_path / "tempdir"
    scratch.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(scratch))


@pytest.fixture
def api(tmp_path: Path) -> Iterator[FakeAPI]:
    with serve() as fake:
        yield fake


@pytest.fixture
def gateway_echo() -> Iterator[tuple[tuple[str, int], EchoServer]]:
    """What stands behind the gateway's host port here: the project's echo, as the reviews pod."""
    identity = EchoIdentity("reviews", "default", "v2", pod="reviews-v2-7d9f5c6b8-x2x7q")
    with EchoServer() as server:
        listener = server.listen(identity)
        yield listener.address, server


@pytest.fixture
def target(
    api: FakeAPI,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    gateway_echo: tuple[tuple[str, int], EchoServer],
) -> Iterator[tuple[KubernetesTarget, FakeProvider, StandIns]]:
    seed_cluster(api)
    kubeconfig = tmp_path / "kubeconfig"
    kubeconfig.write_text(kubeconfig_for(api.url))
    standins = StandIns(tmp_path / "standins")
    for key, value in standins.env().items():
        monkeypatch.setenv(key, value)
    monkeypatch.setattr(provider_base, "_RUN_ID", f"run-{tmp_path.name}")
    monkeypatch.setattr("pytest_meshgate._targets.kubernetes.kube.POLL_INTERVAL", 0.01)
    monkeypatch.setattr("pytest_meshgate._targets.kubernetes.deployment.SYNC_TIMEOUT", 0.2)
    monkeypatch.setattr(
        "pytest_meshgate._targets.kubernetes.adapters.istio_diagnostics._POLL", 0.01
    )
    address, _ = gateway_echo
    handle = ClusterHandle("fake", kubeconfig, "fake", host_ports={30080: address})
    provider = FakeProvider(handle)
    adapter = IstioAdapter(AdapterOptions({"istio-profile": "demo"}, "kind"))
    target = KubernetesTarget("kind", provider, adapter, ClusterSettings(), Consistency(1, 1))
    yield target, provider, standins
    target.close()


@pytest.fixture
def standins(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> StandIns:
    fake = StandIns(tmp_path)
    for key, value in fake.env(
        STANDIN_KUBECONFIG=KUBECONFIG, STANDIN_DOCKER_PORTS=ALL_PORTS
    ).items():
        monkeypatch.setenv(key, value)
    monkeypatch.chdir(tmp_path)  # pytest-kind writes .pytest-kind/ under the cwd
    monkeypatch.setattr(provider_base, "_RUN_ID", "run-1")
    return fake
