"""The echo's ``/ws``: a WebSocket endpoint that sends every message back, as echo-basic's does.

echo-basic mounts ``golang.org/x/net/websocket.Handler`` at ``/ws`` and
copies what it reads back to the connection (``io.Copy(ws, ws)``). The
opening handshake is checked as that package's server checks it: a ``GET``
with ``Upgrade: websocket``, ``Connection: Upgrade`` and a
``Sec-WebSocket-Key`` (else 400; another method 405), version 13 (else 426
with ``Sec-WebSocket-Version: 13``), and an ``Origin`` (else 403: the
Handler's default origin check). A message comes back as the kind it was
(text or binary), a ping gets its pong, a close its close; a frame that
breaks RFC 6455 ends the connection with wsproto's close code for it (1002,
1007 for text that is not UTF-8), a message over ``MAX_MESSAGE_BYTES`` with 1009.

The frames are wsproto's post-handshake ``Connection`` (the HTTP handshake is
the echo's own, checked as x/net/websocket checks it). wsproto is the one
library ``/ws`` needs beyond the standard library: it is imported when a
handshake is accepted, so that the echo runs without it where no WebSocket
comes (``handshake_refusal`` answers 501 then).
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib.util
from typing import TYPE_CHECKING

from .protocol import HTTPRequest, HTTPResponse, text_response

if TYPE_CHECKING:
    from wsproto.connection import Connection

__all__ = ["WEBSOCKET_PATH", "handshake_refusal", "is_websocket_request", "serve_session"]

WEBSOCKET_PATH = "/ws"
# A check's messages are small; a client that sends more is misbehaving, not checking
# (wsproto itself sets no bound: it hands on a message's data as it comes). The same
# bound as the client's (_exchange/websocket.py), kept here because the echo runs
# standalone in echo pods, where the harness's client package is not shipped.
MAX_MESSAGE_BYTES = 1 << 20
# How long the echo reads on after closing for a message over the limit (see _linger).
_LINGER_S = 1.0


def is_websocket_request(request: HTTPRequest) -> bool:
    """A request for echo-basic's WebSocket endpoint (the ServeMux pattern ``/ws``: that
    path exactly, whatever the query)."""
    return request.target.partition("?")[0] == WEBSOCKET_PATH


def handshake_refusal(request: HTTPRequest) -> HTTPResponse | None:
    """What x/net/websocket answers a handshake it refuses; None when it accepts it."""
    if request.method != "GET":
        return text_response(405, "")
    if (
        "websocket" not in request.tokens("upgrade")
        or "upgrade" not in request.tokens("connection")
        or not request.get("sec-websocket-key")
    ):
        return text_response(400, "")
    if request.get("sec-websocket-version") != ["13"]:
        refusal = text_response(426, "")
        refusal.headers.append(("Sec-WebSocket-Version", "13"))
        return refusal
    if not request.get("origin"):
        return text_response(403, "")  # the Handler's checkOrigin: "null origin"
    if not wsproto_installed():
        return text_response(501, "the echo's /ws needs the wsproto package\n")
    return None


def wsproto_installed() -> bool:
    """Whether ``serve_session`` can run here (a pod's stock Python may lack wsproto)."""
    return importlib.util.find_spec("wsproto") is not None


async def serve_session(
    request: HTTPRequest, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
) -> None:
    """Accept the handshake ``request`` (``handshake_refusal`` said yes) and echo messages
    until the client closes or the connection ends."""
    # Imported here: the rest of the echo runs without wsproto (a pod's stock Python).
    from wsproto.connection import Connection, ConnectionState, ConnectionType
    from wsproto.events import BytesMessage, CloseConnection, Ping, TextMessage
    from wsproto.frame_protocol import CloseReason
    from wsproto.utilities import generate_accept_token

    key = request.get("sec-websocket-key")[0].encode("latin-1")
    # A 1xx has no Content-Type or Content-Length, which encode_response always writes.
    writer.write(
        b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
        b"Sec-WebSocket-Accept: " + generate_accept_token(key) + b"\r\n\r\n"
    )
    await writer.drain()
    connection = Connection(ConnectionType.SERVER)
    # The message coming in, frame by frame: text, or binary, and its size so far.
    text: list[str] = []
    binary = bytearray()
    size = 0
    while True:
        data = await reader.read(65536)
        if not data:
            return
        connection.receive_data(data)
        for event in connection.events():
            if isinstance(event, CloseConnection):
                if connection.state is ConnectionState.REMOTE_CLOSING:
                    # The client's close: echo its status code (RFC 6455 5.5.1), then done.
                    writer.write(connection.send(CloseConnection(code=event.code)))
                else:
                    # A close wsproto made up for a frame that breaks RFC 6455 (a received
                    # close moves the state on): send it as the session's end.
                    writer.write(connection.send(CloseConnection(event.code, event.reason)))
                await writer.drain()
                return
            if isinstance(event, Ping):
                writer.write(connection.send(event.response()))
            elif isinstance(event, (TextMessage, BytesMessage)):
                if isinstance(event, TextMessage):
                    text.append(event.data)
                    size += len(event.data.encode("utf-8"))
                else:
                    binary += event.data
                    size = len(binary)
                if size > MAX_MESSAGE_BYTES:
                    too_big = f"a message over the {MAX_MESSAGE_BYTES} byte limit"
                    writer.write(
                        connection.send(CloseConnection(CloseReason.MESSAGE_TOO_BIG, too_big))
                    )
                    await writer.drain()
                    await _linger(reader, connection)
                    return
                if event.message_finished:
                    # Sent back whole, in one frame, as the kind it came as.
                    if isinstance(event, TextMessage):
                        writer.write(connection.send(TextMessage("".join(text))))
                    else:
                        writer.write(connection.send(BytesMessage(bytes(binary))))
                    text, binary, size = [], bytearray(), 0
        await writer.drain()


async def _linger(reader: asyncio.StreamReader, connection: Connection) -> None:
    """Read and drop what the client still sends, until its close, its end or ``_LINGER_S``.

    The rest of the message over the limit is on its way: a socket closed with
    data unread resets the connection, and the client would lose the close
    (1009) sent before the reset.
    """
    from wsproto.events import CloseConnection

    async def until_close() -> None:
        while data := await reader.read(65536):
            connection.receive_data(data)
            if any(isinstance(event, CloseConnection) for event in connection.events()):
                return

    with contextlib.suppress(asyncio.TimeoutError, ConnectionError):
        await asyncio.wait_for(until_close(), _LINGER_S)
