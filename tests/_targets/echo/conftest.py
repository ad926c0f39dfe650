"""Echo tests: a started EchoServer, a listener on it as REVIEWS, an HTTP client, a CA."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest
import trustme
from echo_clients import REVIEWS

from pytest_meshgate._targets.echo import EchoListener, EchoServer


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
