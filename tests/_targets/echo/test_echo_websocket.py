"""The echo's /ws: the handshake as x/net/websocket checks it, and every message sent back;
against an independent implementation (websocket-client's client and frames) and raw bytes."""

from __future__ import annotations

import socket

import httpx
import pytest
import websocket
from echo_clients import url
from websocket import ABNF

from pytest_meshgate._targets.echo import EchoListener, EchoServer
from pytest_meshgate._targets.echo import websocket as echo_websocket


def _frame(opcode: int, data: bytes, *, fin: bool = True, masked: bool = True) -> bytes:
    """A client's frame as websocket-client writes it (masked unless told otherwise)."""
    return ABNF(fin=int(fin), opcode=opcode, mask_value=int(masked), data=data).format()


def _server_frames(data: bytes) -> list[tuple[bool, int, bytes]]:
    """``(fin, opcode, payload)`` of the short unmasked frames a server sends."""
    frames = []
    while data:
        fin, opcode, masked, length = data[0] >> 7, data[0] & 0x0F, data[1] >> 7, data[1] & 0x7F
        assert not masked and length < 126, data[:2]
        frames.append((bool(fin), opcode, data[2 : 2 + length]))
        data = data[2 + length :]
    return frames


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


def test_an_echo_without_wsproto_refuses_the_handshake_with_501(
    plain: EchoListener, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A pod's stock Python lacks wsproto: the handshake is refused, the echo keeps answering.
    monkeypatch.setattr(echo_websocket, "wsproto_installed", lambda: False)
    with pytest.raises(websocket.WebSocketBadStatusException) as refused:
        websocket.create_connection(f"ws://127.0.0.1:{plain.port}/ws", origin="o", timeout=5)
    assert refused.value.status_code == 501
    assert b"needs the wsproto package" in (refused.value.resp_body or b"")


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
        # RFC 6455 1.3: the sample nonce and its answer.
        assert b"Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=" in head
        sock.sendall(
            _frame(ABNF.OPCODE_TEXT, b"two ", fin=False)
            + _frame(ABNF.OPCODE_PING, b"between")
            + _frame(ABNF.OPCODE_CONT, "pärts".encode()[:2], fin=False)
            + _frame(ABNF.OPCODE_CONT, "pärts".encode()[2:])  # the split is inside the ä
            + _frame(ABNF.OPCODE_CLOSE, b"\x03\xe8")
        )
        answer = rest
        while data := sock.recv(4096):  # the echo ends the connection after its close
            answer += data
    # The pong at once, the message back whole in one frame, the close's code echoed.
    assert _server_frames(answer) == [
        (True, ABNF.OPCODE_PONG, b"between"),
        (True, ABNF.OPCODE_TEXT, "two pärts".encode()),
        (True, ABNF.OPCODE_CLOSE, b"\x03\xe8"),
    ]


@pytest.mark.parametrize(
    ("frames", "code"),
    [
        pytest.param([_frame(ABNF.OPCODE_TEXT, b"bare", masked=False)], 1002, id="unmasked"),
        pytest.param([_frame(ABNF.OPCODE_TEXT, b"\xff")], 1007, id="text-not-utf8"),
        pytest.param(
            [
                _frame(ABNF.OPCODE_BINARY, bytes(700_000), fin=False),
                _frame(ABNF.OPCODE_CONT, bytes(700_000)),
            ],
            1009,
            id="over-the-limit",
        ),
    ],
)
def test_a_frame_or_message_the_echo_will_not_take_ends_the_session(
    plain: EchoListener, frames: list[bytes], code: int
) -> None:
    ws = websocket.create_connection(f"ws://127.0.0.1:{plain.port}/ws", origin="o", timeout=5)
    raw = ws.sock
    try:
        raw.sendall(b"".join(frames))
        opcode, data = ws.recv_data(control_frame=True)
        assert opcode == ABNF.OPCODE_CLOSE and int.from_bytes(data[:2], "big") == code
    finally:
        ws.close()
        raw.close()  # the echo closed first: the client's close leaves its socket open
