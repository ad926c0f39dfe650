"""Fixtures of the Envoy tests: echo backends, a started Envoy, an HTTP client."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from pytest_meshgate._targets.echo import EchoIdentity, EchoListener, EchoServer
from pytest_meshgate._targets.local.envoy import EnvoyProcess


@pytest.fixture(scope="module")
def echo() -> Iterator[EchoServer]:
    with EchoServer() as server:
        yield server


@pytest.fixture(scope="module")
def backend_a(echo: EchoServer) -> EchoListener:
    return echo.listen(EchoIdentity("a", version="v1"))


@pytest.fixture(scope="module")
def backend_b(echo: EchoServer) -> EchoListener:
    return echo.listen(EchoIdentity("b", version="v2"))


@pytest.fixture
def envoy(tmp_path: Path) -> Iterator[EnvoyProcess]:
    proxy = EnvoyProcess("gw-test", tmp_path / "envoy")
    try:
        proxy.start()
        yield proxy
    finally:
        proxy.stop()


@pytest.fixture
def client() -> Iterator[httpx.Client]:
    with httpx.Client(timeout=5.0) as c:
        yield c
