"""Kubernetes target tests: case files here are inputs, and lock dirs stay in tmp_path.

The ``standins`` fixture (stand-in executables on PATH) serves the provider
and the adapter command tests.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

import pytest
from k8s_fakeapi import kubeconfig_for
from k8s_standins import StandIns

from pytest_meshgate._targets.kubernetes.providers import base as provider_base
from pytest_meshgate._targets.kubernetes.providers.kind import NODE_PORT_POOL

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
def standins(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> StandIns:
    fake = StandIns(tmp_path)
    for key, value in fake.env(
        STANDIN_KUBECONFIG=KUBECONFIG, STANDIN_DOCKER_PORTS=ALL_PORTS
    ).items():
        monkeypatch.setenv(key, value)
    monkeypatch.chdir(tmp_path)  # pytest-kind writes .pytest-kind/ under the cwd
    monkeypatch.setattr(provider_base, "_RUN_ID", "run-1")
    return fake
