"""The WebSocket client of checks: an upgrade on a new connection, its messages, an ``Exchange``.

What the Gateway API suite's WebSocket test does with ``golang.org/x/net/websocket``
(``conformance/tests/httproute-backend-protocol-websocket.go``): an HTTP/1.1
``GET`` with ``Upgrade: websocket``, ``Connection: Upgrade``, a fresh
``Sec-WebSocket-Key`` and ``Sec-WebSocket-Version: 13`` (plus the check's
headers, e.g. its ``Origin``); after a ``101`` whose ``Sec-WebSocket-Accept``
answers the key, each message is sent in turn (masked, as a client must) and
one message read back before the next; then a close. An answer other than
``101`` is read to its end and judged as any HTTP answer (a 404, the
backend's 400). Over TLS the client offers ALPN ``http/1.1`` only.

The HTTP exchange is h11's and the frames after the ``101`` are wsproto's
post-handshake ``Connection`` (wsproto's documented use when the HTTP
handling is done apart): wsproto's own handshake would hide what the report
and ``expect.response`` read of the answer (its reason, version, and the
``101``'s ``Upgrade``, ``Connection`` and ``Sec-WebSocket-Accept``).
"""

from __future__ import annotations

import dataclasses
import time
import uuid
from typing import Any
from urllib.parse import urlsplit

import h11
from wsproto.connection import Connection, ConnectionState, ConnectionType
from wsproto.events import (
    BytesMessage,
    CloseConnection,
    Event,
    Message,
    Ping,
    TextMessage,
)
from wsproto.frame_protocol import CloseReason
from wsproto.utilities import generate_accept_token, generate_nonce

from .._cases.model.request import Request
from .client import describe_error, failure_outcome, request_fields
from .connection import NoAnswer, open_connection
from .records import (
    ClientTLS,
    Exchange,
    ResponseRecord,
    SentRequest,
    WebSocketSession,
)

__all__ = ["WebSocketClient"]

# How long the client waits for the server's close after sending its own.
_CLOSE_WAIT_S = 1.0
# A check's messages are small; a server that sends more is misbehaving, not echoing
# (wsproto itself sets no bound: it hands on a message's data as it comes).
MAX_MESSAGE_BYTES = 1 << 20


class WebSocketClient:
    """Opens WebSockets, each on a connection of its own (as ``HTTPClient`` sends)."""

    def __init__(self, timeout: float = 10.0) -> None:
        self.timeout = timeout

    def open(
        self,
        request: Request,
        address: tuple[str, int],
        entry: str,
        timeout: float | None = None,
        tls: ClientTLS | None = None,
        original_destination: tuple[str, int] | None = None,
    ) -> Exchange:
        """Open ``request.websocket`` at ``address``; ``tls`` is required for ``https`` URLs.

        ``original_destination``: sent first in a PROXY protocol header (a
        sidecar's listener), as ``HTTPClient.send`` does.
        """
        websocket = request.websocket
        if websocket is None:
            raise ValueError("not a WebSocket request")
        limit = timeout or self.timeout
        meshgate_id = uuid.uuid4().hex
        url, target, headers, _ = request_fields(request, str(uuid.uuid4()), meshgate_id)
        https = urlsplit(url).scheme == "https"
        if https and tls is None:
            raise ValueError("an https request needs its ClientTLS")
        key = generate_nonce().decode("ascii")
        # The handshake fields before the check's own, as x/net/websocket writes them.
        host = [h for h in headers if h[0].lower() == "host"]
        rest = [h for h in headers if h[0].lower() != "host"]
        handshake = [
            *host,
            ("upgrade", "websocket"),
            ("connection", "Upgrade"),
            ("sec-websocket-key", key),
            ("sec-websocket-version", "13"),
            *rest,
        ]
        sent = SentRequest(
            method="GET",
            url=url,
            headers=tuple(handshake),
            body=None,
            address=address,
            entry=entry,
            meshgate_id=meshgate_id,
            tls=tls if https else None,
            original_destination=original_destination,
            websocket=tuple(str(m) for m in websocket.messages),
        )
        start = time.perf_counter()
        deadline = time.monotonic() + limit
        try:
            # An upgrade is HTTP/1.1's.
            sock, negotiated = open_connection(
                address, tls if https else None, original_destination, limit, "http/1.1"
            )
        except NoAnswer as exc:
            return Exchange(sent, None, exc.outcome, str(exc), _since(start))
        try:
            record = _session(sock, target, handshake, key, request, deadline)
        except NoAnswer as exc:
            return Exchange(sent, None, exc.outcome, str(exc), _since(start), tls=negotiated)
        finally:
            sock.close()
        return Exchange(sent, record, elapsed=_since(start), tls=negotiated)


def _recv(sock: Any, deadline: float) -> bytes:
    remaining = deadline - time.monotonic()
    if remaining <= 0:
        raise TimeoutError("no answer before the request's timeout")
    sock.settimeout(remaining)
    data: bytes = sock.recv(65536)
    return data


def _session(
    sock: Any,
    target: str,
    handshake: list[tuple[str, str]],
    key: str,
    request: Request,
    deadline: float,
) -> ResponseRecord:
    conn = h11.Connection(h11.CLIENT)
    try:
        sock.sendall(conn.send(h11.Request(method="GET", target=target, headers=handshake)))
        sock.sendall(conn.send(h11.EndOfMessage()))
        head: h11.InformationalResponse | h11.Response | None = None
        body = bytearray()
        while True:
            event = conn.next_event()
            if event is h11.NEED_DATA:
                conn.receive_data(_recv(sock, deadline))
                continue
            if isinstance(event, h11.InformationalResponse) and event.status_code != 101:
                continue  # a 100 Continue, say: the answer is still to come
            if isinstance(event, (h11.InformationalResponse, h11.Response)):
                head = event
                if event.status_code == 101:
                    break
            elif isinstance(event, h11.Data):
                body += event.data
            elif isinstance(event, (h11.EndOfMessage, h11.ConnectionClosed)):
                break
    except TimeoutError as exc:
        raise NoAnswer("timeout", describe_error(exc)) from None
    except h11.RemoteProtocolError as exc:
        raise NoAnswer("error", f"HTTP/1.1 protocol error: {exc}") from None
    except OSError as exc:
        raise NoAnswer(failure_outcome(exc, connected=True), describe_error(exc)) from None
    if head is None:
        raise NoAnswer("reset", "the connection closed before an answer to the upgrade")
    headers = tuple((k.decode("latin-1"), v.decode("latin-1")) for k, v in head.headers)
    record = ResponseRecord(
        status=head.status_code,
        reason=head.reason.decode("latin-1"),
        http_version=f"HTTP/{head.http_version.decode('ascii')}",
        headers=headers,
        body=bytes(body),
    )
    if head.status_code != 101:
        return record
    accept = [v for k, v in headers if k.lower() == "sec-websocket-accept"]
    if accept != [generate_accept_token(key.encode("ascii")).decode("ascii")]:
        return _with_session(record, (), f"Sec-WebSocket-Accept {accept} does not answer the key")
    trailing, _closed = conn.trailing_data
    return _exchange_messages(sock, bytes(trailing), request, deadline, record)


class _ServerBrokeRFC(Exception):
    """What wsproto found wrong in the server's frames (it closes with the code)."""


class _Inbox:
    """Whole messages and control frames out of wsproto's events, bounded in size."""

    def __init__(self, connection: Connection) -> None:
        self._connection = connection
        self._events: list[Event] = []
        # The message coming in, frame by frame: text, or binary, and its size so far.
        self._text: list[str] = []
        self._binary = bytearray()
        self._size = 0

    def feed(self, data: bytes) -> None:
        self._connection.receive_data(data)
        for event in self._connection.events():
            if isinstance(event, CloseConnection) and self._connection.state in (
                ConnectionState.OPEN,
                ConnectionState.LOCAL_CLOSING,
            ):
                # A close wsproto made up: a frame it could not take, no close received
                # (a received one moves the state on).
                raise _ServerBrokeRFC(event.reason or f"code {event.code}")
            if not isinstance(event, Message):
                self._events.append(event)
                continue
            if isinstance(event, TextMessage):
                self._text.append(event.data)
                self._size += len(event.data.encode("utf-8"))
            else:
                self._binary += event.data
                self._size = len(self._binary)
            if self._size > MAX_MESSAGE_BYTES:
                raise _ServerBrokeRFC(f"a message over the {MAX_MESSAGE_BYTES} byte limit")
            if event.message_finished:
                whole: TextMessage | BytesMessage
                if isinstance(event, TextMessage):
                    whole = TextMessage(data="".join(self._text))
                else:
                    whole = BytesMessage(data=bytes(self._binary))
                self._events.append(whole)
                self._text, self._binary, self._size = [], bytearray(), 0

    def pop(self) -> Event | None:
        return self._events.pop(0) if self._events else None


def _exchange_messages(
    sock: Any, trailing: bytes, request: Request, deadline: float, record: ResponseRecord
) -> ResponseRecord:
    """Send each message, reading one back after it; then close."""
    assert request.websocket is not None
    connection = Connection(ConnectionType.CLIENT)
    inbox = _Inbox(connection)
    received: list[tuple[str, bytes]] = []
    error: str | None = None
    try:
        if trailing:
            inbox.feed(trailing)
        for message in request.websocket.messages:
            out: TextMessage | BytesMessage = (
                TextMessage(data=message.text)
                if message.text is not None
                else BytesMessage(data=message.payload)
            )
            sock.sendall(connection.send(out))  # masked, as a client's frames must be
            reply: TextMessage | BytesMessage | None = None
            while reply is None:
                got = inbox.pop()
                if got is None:
                    data = _recv(sock, deadline)
                    if not data:
                        raise ConnectionError("the connection closed")
                    inbox.feed(data)
                elif isinstance(got, Ping):
                    sock.sendall(connection.send(got.response()))
                elif isinstance(got, CloseConnection):
                    # RFC 6455 5.5.1: a close is answered, then the connection is done.
                    sock.sendall(connection.send(got.response()))
                    raise ConnectionError(f"the server closed ({_close_text(got)})")
                elif isinstance(got, (TextMessage, BytesMessage)):
                    reply = got
            if isinstance(reply, TextMessage):
                received.append(("text", reply.data.encode("utf-8")))
            else:
                received.append(("binary", bytes(reply.data)))
        sock.sendall(connection.send(CloseConnection(code=CloseReason.NORMAL_CLOSURE)))
        _await_close(sock, inbox, min(deadline, time.monotonic() + _CLOSE_WAIT_S))
    except _ServerBrokeRFC as exc:
        error = f"the server broke RFC 6455: {exc}"
    except TimeoutError:
        error = f"no message back after {len(received)} of {len(request.websocket.messages)}"
    except (ConnectionError, OSError) as exc:
        error = f"after {len(received)} messages back: {describe_error(exc)}"
    return _with_session(record, tuple(received), error)


def _await_close(sock: Any, inbox: _Inbox, deadline: float) -> None:
    """Read until the server's close (or the connection's end); a slow close is no failure."""
    try:
        while True:
            got = inbox.pop()
            if isinstance(got, CloseConnection):
                return
            if got is None:
                data = _recv(sock, deadline)
                if not data:
                    return
                inbox.feed(data)
    except (TimeoutError, OSError, _ServerBrokeRFC):
        return


def _close_text(close: CloseConnection) -> str:
    if close.code == CloseReason.NO_STATUS_RCVD:
        return "no status code"
    return f"code {int(close.code)}" + (f": {close.reason}" if close.reason else "")


def _with_session(
    record: ResponseRecord, messages: tuple[tuple[str, bytes], ...], error: str | None
) -> ResponseRecord:
    return dataclasses.replace(record, websocket=WebSocketSession(messages, error))


def _since(start: float) -> float:
    return time.perf_counter() - start
