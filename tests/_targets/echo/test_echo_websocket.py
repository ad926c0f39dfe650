"""The echo's /ws: the handshake as x/net/websocket checks it, and every message sent back;
against an independent client (websocket-client) and raw bytes."""

from __future__ import annotations

import socket

import httpx
import pytest
import websocket
from echo_clients import url

from pytest_meshgate._targets.echo import EchoListener, EchoServer
from pytest_meshgate._wswire import CLOSE, TEXT, MessageReader, encode_frame


def test_an_independent_client_gets_text_and_binary_back(
    echo: EchoServer, plain: EchoListener
) -> None:
    ws = websocket.create_connection(
        f"ws://127.0.0.1:{plain.port}/ws", origin="ws://gateway/t", timeout=5
    )
    try:
        ws.send("Websocket Support!")
        assert ws.recv() == "Websocket Support!"
        ws.send_binary(bytes([1, 2, 3, 4, 5, 6, 7]))
        opcode, data = ws.recv_data()
        assert (opcode, data) == (websocket.ABNF.OPCODE_BINARY, bytes([1, 2, 3, 4, 5, 6, 7]))
        ws.ping(b"are you there")
        opcode, data = ws.recv_data(control_frame=True)
        assert (opcode, data) == (websocket.ABNF.OPCODE_PONG, b"are you there")
    finally:
        ws.close()
    (record,) = echo.requests()
    assert (record.method, record.path, record.status) == ("GET", "/ws", 101)


@pytest.mark.parametrize(
    ("headers", "status"),
    [
        ({}, 400),  # not an upgrade at all
        (
            {
                "Upgrade": "websocket",
                "Connection": "Upgrade",
                "Sec-WebSocket-Version": "13",
                "Origin": "o",
            },
            400,
        ),
        (
            {
                "Upgrade": "websocket",
                "Connection": "Upgrade",
                "Sec-WebSocket-Key": "a2V5",
                "Sec-WebSocket-Version": "8",
                "Origin": "o",
            },
            426,
        ),
        (
            {
                "Upgrade": "websocket",
                "Connection": "Upgrade",
                "Sec-WebSocket-Key": "a2V5",
                "Sec-WebSocket-Version": "13",
            },
            403,
        ),
    ],
)
def test_handshakes_x_net_websocket_refuses(
    plain: EchoListener, client: httpx.Client, headers: dict[str, str], status: int
) -> None:
    response = client.get(url(plain, "/ws"), headers=headers)
    assert response.status_code == status
    if status == 426:
        assert response.headers["sec-websocket-version"] == "13"
    assert client.post(url(plain, "/ws")).status_code == 405
    # Only /ws itself is the WebSocket (the ServeMux pattern): /ws/x is echoed as usual.
    assert client.get(url(plain, "/ws/x")).json()["path"] == "/ws/x"


def test_a_fragmented_message_comes_back_whole_and_a_close_is_answered(
    plain: EchoListener,
) -> None:
    with socket.create_connection(plain.address, timeout=5) as sock:
        sock.sendall(
            b"GET /ws HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
            b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n"
            b"Origin: ws://x\r\n\r\n"
        )
        head = b""
        while b"\r\n\r\n" not in head:
            head += sock.recv(4096)
        head, _, rest = head.partition(b"\r\n\r\n")
        assert b"101" in head.split(b"\r\n")[0]
        assert b"Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=" in head
        sock.sendall(
            encode_frame(TEXT, b"two ", mask=True, fin=False)
            + encode_frame(0x0, b"parts", mask=True)
            + encode_frame(CLOSE, b"\x03\xe8", mask=True)
        )
        reader = MessageReader(masked=False)
        messages = reader.feed(rest)
        while len(messages) < 2:
            data = sock.recv(4096)
            assert data, "the echo closed before answering"
            messages += reader.feed(data)
        assert [(m.kind, m.payload) for m in messages] == [
            ("text", b"two parts"),
            ("close", b"\x03\xe8"),
        ]


def test_an_unmasked_client_frame_ends_the_session_with_1002(plain: EchoListener) -> None:
    ws = websocket.create_connection(f"ws://127.0.0.1:{plain.port}/ws", origin="o", timeout=5)
    raw = ws.sock
    try:
        raw.sendall(encode_frame(TEXT, b"bare", mask=False))
        opcode, data = ws.recv_data(control_frame=True)
        assert opcode == websocket.ABNF.OPCODE_CLOSE and data[:2] == b"\x03\xea"
    finally:
        ws.close()
        raw.close()  # the echo closed first: the client's close leaves its socket open
