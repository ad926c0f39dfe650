"""Kubernetes target tests: case files here are inputs, and lock dirs stay in tmp_path.

The fixtures shared by several test files live here: a fake API server with a
target session on it (target and deployment tests), an echo-basic stand-in,
and stand-in executables on PATH (provider and adapter command tests).
"""

from __future__ import annotations

import json
import tempfile
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from k8s_fakeapi import FakeAPI, kubeconfig_for, serve
from k8s_fakecluster import FakeProvider, seed_cluster
from k8s_standins import StandIns

from pytest_meshgate._judge.verdicts import Consistency
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
    monkeypatch.setattr(provider_base, "_RUN_ID", f"run-{tmp_path.name}")
    monkeypatch.setattr("pytest_meshgate._targets.kubernetes.kube.POLL_INTERVAL", 0.01)
    address, _ = echo_basic
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
