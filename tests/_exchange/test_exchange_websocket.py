"""The WebSocket client against the echo and against scripted servers that answer badly."""

from __future__ import annotations

import socket
import threading
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from pytest_meshgate._cases.model.expect import Expect
from pytest_meshgate._cases.model.request import Request
from pytest_meshgate._exchange.websocket import WebSocketClient
from pytest_meshgate._judge.expectations import judge
from pytest_meshgate._targets.echo import EchoIdentity, EchoServer
from pytest_meshgate._wswire import TEXT, accept_key, encode_frame

MESSAGES = [{"text": "Websocket Support!"}, {"binary": "AQIDBAUGBw=="}]


def opening(url: str = "http://ws.example.com/ws", **keys: Any) -> Request:
    keys.setdefault("headers", {"Origin": "ws://gateway/test"})
    return Request.model_validate({"url": url, "websocket": {"messages": MESSAGES}, **keys})


@pytest.fixture(scope="module")
def echo() -> Iterator[EchoServer]:
    with EchoServer() as server:
        yield server


def test_the_echo_sends_every_message_back(echo: EchoServer) -> None:
    listener = echo.listen(EchoIdentity("ws", "ns"))
    exchange = WebSocketClient(timeout=5).open(opening(), listener.address, "test")
    response = exchange.response
    assert response is not None and response.websocket is not None, exchange.describe_outcome()
    assert response.status == 101 and response.websocket.error is None
    assert response.websocket.messages == (
        ("text", b"Websocket Support!"),
        ("binary", bytes([1, 2, 3, 4, 5, 6, 7])),
    )
    sent = dict(exchange.request.headers)
    assert (sent["host"], sent["upgrade"], sent["sec-websocket-version"]) == (
        "ws.example.com",
        "websocket",
        "13",
    )
    assert judge(Expect.model_validate({"websocket": {"messages": MESSAGES}}), exchange) == []
    wrong = Expect.model_validate({"websocket": {"messages": [MESSAGES[0], {"text": "x"}]}})
    assert judge(wrong, exchange) == [
        "websocket.messages[1]: expected text 'x', got binary b'\\x01\\x02\\x03\\x04\\x05\\x06\\x07'"
    ]
    assert "then WebSocket message: text 'Websocket Support!'" in exchange.request.describe()


def test_a_refused_upgrade_is_an_ordinary_answer(echo: EchoServer) -> None:
    listener = echo.listen(EchoIdentity("ws", "ns"))
    refused = WebSocketClient(timeout=5).open(opening(headers={}), listener.address, "test")
    assert refused.response is not None and refused.response.status == 403
    assert refused.response.websocket is None
    assert judge(Expect(), refused) == ["status: expected 101, got 403"]
    (failure,) = judge(Expect.model_validate({"status": 403, "websocket": {}}), refused)
    assert failure == "websocket: expected the upgrade to a WebSocket, got 403"
    # Another path of the echo answers with its JSON report, judged as usual.
    other = WebSocketClient(timeout=5).open(
        opening(url="http://ws.example.com/elsewhere"), listener.address, "test"
    )
    assert other.response is not None and other.response.echo is not None
    assert other.response.echo["path"] == "/elsewhere"


def _scripted(answer: Callable[[socket.socket, str], None]) -> tuple[str, int]:
    """A server that reads one handshake and answers it with ``answer(conn, key)``."""
    server = socket.create_server(("127.0.0.1", 0))

    def serve() -> None:
        with server:
            conn, _ = server.accept()
            with conn:
                head = b""
                while b"\r\n\r\n" not in head:
                    head += conn.recv(4096)
                key = next(
                    line.split(b":", 1)[1].strip().decode()
                    for line in head.split(b"\r\n")
                    if line.lower().startswith(b"sec-websocket-key:")
                )
                answer(conn, key)

    threading.Thread(target=serve, daemon=True).start()
    return server.getsockname()[:2]


def _switch(conn: socket.socket, accept: str) -> None:
    conn.sendall(
        b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
        b"Sec-WebSocket-Accept: " + accept.encode() + b"\r\n\r\n"
    )


def test_a_wrong_accept_key_and_a_server_that_stops_answering() -> None:
    bad_key = _scripted(lambda conn, key: _switch(conn, "bm90IHRoZSBhbnN3ZXI="))
    exchange = WebSocketClient(timeout=5).open(opening(), bad_key, "test")
    assert exchange.response is not None and exchange.response.websocket is not None
    assert "does not answer the key" in (exchange.response.websocket.error or "")

    def one_then_close(conn: socket.socket, key: str) -> None:
        _switch(conn, accept_key(key))
        conn.recv(4096)
        conn.sendall(encode_frame(TEXT, b"Websocket Support!", mask=False))

    short = _scripted(one_then_close)
    exchange = WebSocketClient(timeout=5).open(opening(), short, "test")
    assert exchange.response is not None and exchange.response.websocket is not None
    session = exchange.response.websocket
    assert session.messages == (("text", b"Websocket Support!"),)
    assert session.error is not None and "after 1 messages back" in session.error
    (failure,) = judge(Expect.model_validate({"websocket": {"messages": MESSAGES}}), exchange)
    assert failure.startswith("websocket.messages[1]: expected binary")


def test_no_server_is_a_refused_connection() -> None:
    with socket.create_server(("127.0.0.1", 0)) as server:
        address = server.getsockname()[:2]
    exchange = WebSocketClient(timeout=5).open(opening(), address, "test")
    assert (exchange.response, exchange.connection) == (None, "refused")
