"""Echo tests: a started EchoServer, a listener on it as REVIEWS, an HTTP client, a CA, sleeps."""

from __future__ import annotations

from collections.abc import Iterator
from types import SimpleNamespace

import httpx
import pytest
import trustme
from echo_clients import REVIEWS, Sleeps

from pytest_meshgate._targets.echo import EchoListener, EchoServer, handler


@pytest.fixture
def echo() -> Iterator[EchoServer]:
    server = EchoServer()
    server.start()
    try:
        yield server
    finally:
        server.close()


@pytest.fixture
def plain(echo: EchoServer) -> EchoListener:
    return echo.listen(REVIEWS)


@pytest.fixture
def client() -> Iterator[httpx.Client]:
    with httpx.Client(timeout=5.0) as c:
        yield c


@pytest.fixture(scope="module")
def ca() -> trustme.CA:
    return trustme.CA()


@pytest.fixture
def sleeps(monkeypatch: pytest.MonkeyPatch) -> Sleeps:
    recorder = Sleeps()
    monkeypatch.setattr(handler, "asyncio", SimpleNamespace(sleep=recorder.sleep))
    return recorder
