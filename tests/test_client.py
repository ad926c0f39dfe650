"""Tests of the HTTP client against a real echo server: what goes on the wire, and outcomes."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from pytest_meshgate._client import HTTPClient
from pytest_meshgate._echo import EchoIdentity, EchoServer, header_values
from pytest_meshgate._model.case import Request
from pytest_meshgate._targets.local.envoy import allocate_port


@pytest.fixture(scope="module")
def echo() -> Iterator[tuple[str, int]]:
    with EchoServer() as server:
        listener = server.listen(EchoIdentity(service="web"))
        yield listener.address


@pytest.fixture
def client() -> Iterator[HTTPClient]:
    http = HTTPClient(timeout=5)
    try:
        yield http
    finally:
        http.close()


def test_path_goes_on_the_wire_verbatim(echo: tuple[str, int], client: HTTPClient) -> None:
    # No client-side normalisation: the gateway must see dot segments and escapes.
    request = Request(url="http://app.example.com/a/../b%2Fc?x=1&y=%20")
    exchange = client.send(request, echo, "test")
    assert exchange.response is not None
    echo_body = exchange.response.echo
    assert echo_body is not None and echo_body["path"] == "/a/../b%2Fc?x=1&y=%20"


def test_host_header_comes_from_the_url(echo: tuple[str, int], client: HTTPClient) -> None:
    exchange = client.send(Request(url="http://app.example.com:8080/"), echo, "test")
    assert exchange.response is not None and exchange.response.echo is not None
    assert exchange.response.echo["host"] == "app.example.com:8080"
    explicit = Request(url="http://app.example.com/", headers={"Host": "other.example.com"})
    exchange = client.send(explicit, echo, "test")
    assert exchange.response is not None and exchange.response.echo is not None
    assert exchange.response.echo["host"] == "other.example.com"


def test_uuid_is_fresh_per_attempt(echo: tuple[str, int], client: HTTPClient) -> None:
    request = Request(
        url="http://a/${uuid}", headers={"x-id": "${uuid}"}, method="POST", body="${uuid}"
    )
    seen = []
    for _ in range(2):
        exchange = client.send(request, echo, "test")
        assert exchange.response is not None and exchange.response.echo is not None
        path_uuid = exchange.response.echo["path"].lstrip("/")
        assert header_values(exchange.response.echo, "x-id") == [path_uuid]
        assert exchange.request.body == path_uuid
        seen.append(path_uuid)
    assert seen[0] != seen[1] and "${uuid}" not in seen[0]


def test_refused_and_reset_outcomes(echo: tuple[str, int], client: HTTPClient) -> None:
    refused = client.send(Request(url="http://a/"), ("127.0.0.1", allocate_port()), "test")
    assert (refused.response, refused.connection) == (None, "refused")
    # echo-basic's /retry without responseCode resets the connection (SO_LINGER 0).
    reset = client.send(Request(url="http://a/retry/?uuid=${uuid}&succeedAfter=1"), echo, "test")
    assert (reset.response, reset.connection) == (None, "reset"), reset.describe_outcome()


def test_timeout_outcome(echo: tuple[str, int], client: HTTPClient) -> None:
    exchange = client.send(Request(url="http://a/?delay=2s"), echo, "test", timeout=0.2)
    assert exchange.connection == "timeout"
    assert 0.15 < exchange.elapsed < 1.5
