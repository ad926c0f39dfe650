"""The WebSocket client against the echo and against scripted servers that answer badly."""

from __future__ import annotations

import base64
import contextlib
import hashlib
import socket
import threading
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from websocket import ABNF

from pytest_meshgate._cases.model.expect import Expect
from pytest_meshgate._cases.model.request import Request
from pytest_meshgate._exchange.websocket import WebSocketClient
from pytest_meshgate._judge.expectations import judge
from pytest_meshgate._targets.echo import EchoIdentity, EchoServer

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


def accept_key(key: str) -> str:
    """RFC 6455 4.2.2's answer to ``key``, worked out here (not by the library under test)."""
    digest = hashlib.sha1((key + "258EAFA5-E914-47DA-95CA-C5AB0DC85B11").encode()).digest()
    return base64.b64encode(digest).decode()


def server_frame(opcode: int, data: bytes, *, fin: bool = True, masked: bool = False) -> bytes:
    """A server's frame as websocket-client writes one (unmasked unless told otherwise)."""
    return ABNF(fin=int(fin), opcode=opcode, mask_value=int(masked), data=data).format()


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
        conn.sendall(server_frame(ABNF.OPCODE_TEXT, b"Websocket Support!"))

    short = _scripted(one_then_close)
    exchange = WebSocketClient(timeout=5).open(opening(), short, "test")
    assert exchange.response is not None and exchange.response.websocket is not None
    session = exchange.response.websocket
    assert session.messages == (("text", b"Websocket Support!"),)
    assert session.error is not None and "after 1 messages back" in session.error
    (failure,) = judge(Expect.model_validate({"websocket": {"messages": MESSAGES}}), exchange)
    assert failure.startswith("websocket.messages[1]: expected binary")


def _read_frames(conn: socket.socket, count: int) -> list[tuple[int, bytes]]:
    """``count`` frames a client sent, unmasked: ``(opcode, payload)``."""
    frames = []
    buffer = b""
    while len(frames) < count:
        data = conn.recv(4096)
        assert data, f"the client closed after {len(frames)} of {count} frames"
        buffer += data
        while len(buffer) >= 6 and len(buffer) >= 6 + (buffer[1] & 0x7F):
            assert buffer[1] & 0x80, "a client's frames are masked"
            length = buffer[1] & 0x7F
            key, payload = buffer[2:6], buffer[6 : 6 + length]
            frames.append((buffer[0] & 0x0F, bytes(b ^ key[i % 4] for i, b in enumerate(payload))))
            buffer = buffer[6 + length :]
    return frames


def test_fragments_and_pings_from_the_server_are_taken_as_rfc_6455_says() -> None:
    seen: list[tuple[int, bytes]] = []
    done = threading.Event()

    def fragmented(conn: socket.socket, key: str) -> None:
        _switch(conn, accept_key(key))
        seen.extend(_read_frames(conn, 1))
        conn.sendall(
            server_frame(ABNF.OPCODE_TEXT, b"Websocket ", fin=False)
            + server_frame(ABNF.OPCODE_PING, b"still there?")
            + server_frame(ABNF.OPCODE_CONT, b"Support!")
        )
        seen.extend(_read_frames(conn, 2))  # the pong, then the second message
        conn.sendall(server_frame(ABNF.OPCODE_BINARY, bytes([1, 2, 3, 4, 5, 6, 7])))
        seen.extend(_read_frames(conn, 1))  # the close
        conn.sendall(server_frame(ABNF.OPCODE_CLOSE, b"\x03\xe8"))
        done.set()

    exchange = WebSocketClient(timeout=5).open(opening(), _scripted(fragmented), "test")
    assert done.wait(5), "the scripted server did not get every frame it waits for"
    assert exchange.response is not None and exchange.response.websocket is not None
    assert exchange.response.websocket.error is None
    assert exchange.response.websocket.messages == (
        ("text", b"Websocket Support!"),
        ("binary", bytes([1, 2, 3, 4, 5, 6, 7])),
    )
    assert seen == [
        (ABNF.OPCODE_TEXT, b"Websocket Support!"),
        (ABNF.OPCODE_PONG, b"still there?"),
        (ABNF.OPCODE_BINARY, bytes([1, 2, 3, 4, 5, 6, 7])),
        (ABNF.OPCODE_CLOSE, b"\x03\xe8"),
    ]


@pytest.mark.parametrize(
    ("reply", "error"),
    [
        pytest.param(
            server_frame(ABNF.OPCODE_TEXT, b"hidden", masked=True),
            "the server broke RFC 6455: ",
            id="masked",
        ),
        pytest.param(
            server_frame(ABNF.OPCODE_BINARY, bytes(700_000), fin=False)
            + server_frame(ABNF.OPCODE_CONT, bytes(700_000)),
            "the server broke RFC 6455: a message over the 1048576 byte limit",
            id="over-the-limit",
        ),
        pytest.param(
            server_frame(ABNF.OPCODE_CLOSE, b"\x03\xe9going away"),
            "after 0 messages back: ConnectionError: the server closed (code 1001: going away)",
            id="closed",
        ),
    ],
)
def test_a_reply_the_client_will_not_take_ends_the_session(reply: bytes, error: str) -> None:
    def answer(conn: socket.socket, key: str) -> None:
        _switch(conn, accept_key(key))
        _read_frames(conn, 1)
        with contextlib.suppress(OSError):  # a reset: the client left data unread
            conn.sendall(reply)
            conn.recv(4096)  # until the client closes the connection

    exchange = WebSocketClient(timeout=5).open(opening(), _scripted(answer), "test")
    assert exchange.response is not None and exchange.response.websocket is not None
    assert exchange.response.websocket.messages == ()
    assert (exchange.response.websocket.error or "").startswith(error)


def test_no_server_is_a_refused_connection() -> None:
    with socket.create_server(("127.0.0.1", 0)) as server:
        address = server.getsockname()[:2]
    exchange = WebSocketClient(timeout=5).open(opening(), address, "test")
    assert (exchange.response, exchange.connection) == (None, "refused")
