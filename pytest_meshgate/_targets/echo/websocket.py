"""The echo's ``/ws``: a WebSocket endpoint that sends every message back, as echo-basic's does.

echo-basic mounts ``golang.org/x/net/websocket.Handler`` at ``/ws`` and
copies what it reads back to the connection (``io.Copy(ws, ws)``). The
opening handshake is checked as that package's server checks it: a ``GET``
with ``Upgrade: websocket``, ``Connection: Upgrade`` and a
``Sec-WebSocket-Key`` (else 400; another method 405), version 13 (else 426
with ``Sec-WebSocket-Version: 13``), and an ``Origin`` (else 403: the
Handler's default origin check). A message comes back as the kind it was
(text or binary), a ping gets its pong, a close its close; a frame that
breaks RFC 6455 ends the connection with close code 1002.
"""

from __future__ import annotations

import asyncio

from ..._wswire import (
    BINARY,
    CLOSE,
    PING,
    PONG,
    TEXT,
    MessageReader,
    WireError,
    accept_key,
    close_payload,
    encode_frame,
)
from .protocol import HTTPRequest, HTTPResponse, text_response

__all__ = ["WEBSOCKET_PATH", "handshake_refusal", "is_websocket_request", "serve_session"]

WEBSOCKET_PATH = "/ws"


def is_websocket_request(request: HTTPRequest) -> bool:
    """A request for echo-basic's WebSocket endpoint (the ServeMux pattern ``/ws``: that
    path exactly, whatever the query)."""
    return request.target.partition("?")[0] == WEBSOCKET_PATH


def _tokens(request: HTTPRequest, name: str) -> set[str]:
    return {t.strip().lower() for v in request.get(name) for t in v.split(",")}


def handshake_refusal(request: HTTPRequest) -> HTTPResponse | None:
    """What x/net/websocket answers a handshake it refuses; None when it accepts it."""
    if request.method != "GET":
        return text_response(405, "")
    if (
        "websocket" not in _tokens(request, "upgrade")
        or "upgrade" not in _tokens(request, "connection")
        or not request.get("sec-websocket-key")
    ):
        return text_response(400, "")
    if request.get("sec-websocket-version") != ["13"]:
        refusal = text_response(426, "")
        refusal.headers.append(("Sec-WebSocket-Version", "13"))
        return refusal
    if not request.get("origin"):
        return text_response(403, "")  # the Handler's checkOrigin: "null origin"
    return None


async def serve_session(
    request: HTTPRequest, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
) -> None:
    """Accept the handshake ``request`` (``handshake_refusal`` said yes) and echo messages
    until the client closes or the connection ends."""
    key = request.get("sec-websocket-key")[0]
    writer.write(
        (
            "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
            f"Sec-WebSocket-Accept: {accept_key(key)}\r\n\r\n"
        ).encode("ascii")
    )
    await writer.drain()
    messages = MessageReader(masked=True)
    while True:
        data = await reader.read(65536)
        if not data:
            return
        try:
            received = messages.feed(data)
        except WireError as exc:
            writer.write(encode_frame(CLOSE, close_payload(1002, str(exc)[:100]), mask=False))
            await writer.drain()
            return
        for message in received:
            if message.opcode in (TEXT, BINARY):
                writer.write(encode_frame(message.opcode, message.payload, mask=False))
            elif message.opcode == PING:
                writer.write(encode_frame(PONG, message.payload, mask=False))
            elif message.opcode == CLOSE:
                # Echo the status code (RFC 6455 5.5.1), then the connection ends.
                writer.write(encode_frame(CLOSE, message.payload[:2], mask=False))
                await writer.drain()
                return
        await writer.drain()
