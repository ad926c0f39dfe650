"""The echo server: many listeners on one loop, handler failures, the request log, lifecycle."""

from __future__ import annotations

import logging
import socket
import threading
import time
from typing import Any

import httpx
import pytest
from echo_clients import Sleeps, url

from pytest_meshgate._targets.echo import (
    EchoFault,
    EchoIdentity,
    EchoListener,
    EchoServer,
    handler,
)


def test_listener_unpacks_as_host_and_port(echo: EchoServer) -> None:
    host, port = echo.listen(EchoIdentity("x"))
    assert host == "127.0.0.1"
    assert port > 0
    assert echo.listeners()[(host, port)] == EchoIdentity("x")


def test_many_identities_on_one_loop(echo: EchoServer, client: httpx.Client) -> None:
    listeners = [echo.listen(EchoIdentity("svc", version=f"v{i}")) for i in range(5)]
    versions = [client.get(url(li, "/")).json()["version"] for li in listeners]
    assert versions == [f"v{i}" for i in range(5)]


def test_handler_exception_is_500_and_logged(
    echo: EchoServer,
    plain: EchoListener,
    client: httpx.Client,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    def explode(*args: Any) -> bytes:
        raise RuntimeError("boom")

    monkeypatch.setattr(handler, "echo_body", explode)
    with caplog.at_level(logging.ERROR, logger="pytest_meshgate._targets.echo.server"):
        response = client.get(url(plain, "/"))
    assert response.status_code == 500
    assert any("handler failed" in r.getMessage() for r in caplog.records)
    monkeypatch.undo()
    assert client.get(url(plain, "/")).status_code == 200


def test_requests_are_recorded_per_identity_and_time(
    echo: EchoServer, client: httpx.Client
) -> None:
    a = echo.listen(EchoIdentity("a"))
    b = echo.listen(EchoIdentity("b"))
    client.get(url(a, "/one"), headers={"X-Mirror": "1"})
    mark = time.monotonic()
    client.post(url(b, "/two"), content=b"xyz")
    client.get(url(a, "/three"))
    assert [r.path for r in echo.requests()] == ["/one", "/two", "/three"]
    assert [r.path for r in echo.requests(identity=EchoIdentity("a"))] == ["/one", "/three"]
    assert [r.path for r in echo.requests(since=mark)] == ["/two", "/three"]
    one = echo.requests()[0]
    assert (one.method, one.status, one.tls, one.local_port) == ("GET", 200, False, a.port)
    assert one.header("x-mirror") == ["1"]
    assert echo.requests()[1].body_size == 3
    echo.clear_requests()
    assert echo.requests() == []


def test_request_log_is_bounded(client: httpx.Client) -> None:
    with EchoServer(log_size=3) as server:
        listener = server.listen(EchoIdentity("a"))
        for i in range(5):
            client.get(url(listener, f"/{i}"))
        assert [r.path for r in server.requests()] == ["/2", "/3", "/4"]


def test_stop_listening_refuses_connections(echo: EchoServer, client: httpx.Client) -> None:
    listener = echo.listen(EchoIdentity("a"))
    other = echo.listen(EchoIdentity("b"))
    assert client.get(url(listener, "/")).status_code == 200  # leaves a keep-alive connection
    listener.close()
    with pytest.raises(httpx.TransportError):
        client.get(url(listener, "/"))
    with pytest.raises(ConnectionRefusedError), socket.create_connection(listener.address, 2):
        pass
    assert client.get(url(other, "/")).status_code == 200


def test_close_stops_everything_and_joins_the_thread() -> None:
    server = EchoServer()
    server.start()
    server.start()  # idempotent
    listener = server.listen(EchoIdentity("a"))
    with httpx.Client() as c:
        assert c.get(url(listener, "/")).status_code == 200
    server.close()
    assert not server.running
    assert not any(t.name == "meshgate-echo" and t.is_alive() for t in threading.enumerate())
    with pytest.raises(ConnectionRefusedError), socket.create_connection(listener.address, 2):
        pass
    server.close()  # idempotent
    with pytest.raises(RuntimeError, match="not started"):
        server.listen(EchoIdentity("b"))


def test_close_with_a_request_in_flight(sleeps: Sleeps) -> None:
    server = EchoServer()
    server.start()
    listener = server.listen(EchoIdentity("a"))
    errors: list[BaseException] = []
    sleeps.hold = True  # the request's delay never ends by itself: only close ends it

    def slow() -> None:
        try:
            with httpx.Client(timeout=600) as c:
                c.get(url(listener, "/?delay=5s"))
        except httpx.TransportError as exc:
            errors.append(exc)

    thread = threading.Thread(target=slow)
    thread.start()
    assert sleeps.began.wait(60)  # hang guard: the request is in its delay
    server.close()
    thread.join(60)  # hang guard: close aborts the request instead of waiting for it
    assert not thread.is_alive()
    assert len(errors) == 1


def test_a_refusing_listener_refuses_every_connect_and_holds_its_port(echo: EchoServer) -> None:
    refusing = echo.listen(EchoIdentity("x"), misbehaviour=EchoFault(refuse=True))
    assert echo.listeners()[refusing.address] == EchoIdentity("x")
    for _ in range(3):
        with pytest.raises(ConnectionRefusedError):
            socket.create_connection(refusing.address, timeout=5.0)
    # The port stays ours: nobody else may bind it while the listener lives.
    intruder = socket.socket()
    with pytest.raises(OSError), intruder:
        intruder.bind(refusing.address)
    refusing.close()
    assert refusing.address not in echo.listeners()
    with socket.socket() as after:
        after.bind(refusing.address)  # released


def test_a_blackhole_listener_never_completes_a_connect(echo: EchoServer) -> None:
    blackhole = echo.listen(EchoIdentity("x"), misbehaviour=EchoFault(blackhole=True))
    for _ in range(2):
        # Not refused, not reset: the SYN gets no answer, so the connect times out.
        with pytest.raises(TimeoutError):
            socket.create_connection(blackhole.address, timeout=0.3)
    assert echo.requests() == []
    blackhole.close()
    with pytest.raises(ConnectionRefusedError):
        socket.create_connection(blackhole.address, timeout=5.0)


def test_the_other_listeners_answer_beside_a_dead_one(
    echo: EchoServer, client: httpx.Client
) -> None:
    echo.listen(EchoIdentity("x"), misbehaviour=EchoFault(blackhole=True))
    echo.listen(EchoIdentity("x"), misbehaviour=EchoFault(refuse=True))
    healthy = echo.listen(EchoIdentity("x", version="v2"))
    assert client.get(url(healthy, "/")).json()["version"] == "v2"
