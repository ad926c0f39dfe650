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
"""

from __future__ import annotations

import socket
import ssl
import time
import uuid
from typing import Any
from urllib.parse import urlsplit

import h11

from .._cases.model.request import Request
from .._wswire import (
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
    new_key,
)
from .client import describe_error, failure_outcome, proxy_protocol_header, request_fields
from .records import (
    ClientTLS,
    Exchange,
    ResponseRecord,
    SentRequest,
    TLSInfo,
    WebSocketSession,
    tls_info,
)

__all__ = ["WebSocketClient"]

# How long the client waits for the server's close after sending its own.
_CLOSE_WAIT_S = 1.0


class _NoAnswer(Exception):
    """No HTTP answer to the upgrade: ``outcome`` is the connection outcome."""

    def __init__(self, outcome: str, detail: str) -> None:
        super().__init__(detail)
        self.outcome = outcome


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
        key = new_key()
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
            sock, negotiated = _connect(
                address, tls if https else None, original_destination, limit
            )
        except _NoAnswer as exc:
            return Exchange(sent, None, exc.outcome, str(exc), _since(start))
        try:
            record = _session(sock, target, handshake, key, request, deadline)
        except _NoAnswer as exc:
            return Exchange(sent, None, exc.outcome, str(exc), _since(start), tls=negotiated)
        finally:
            sock.close()
        return Exchange(sent, record, elapsed=_since(start), tls=negotiated)


def _connect(
    address: tuple[str, int],
    tls: ClientTLS | None,
    original_destination: tuple[str, int] | None,
    limit: float,
) -> tuple[Any, TLSInfo | None]:
    try:
        sock = socket.create_connection(address, timeout=limit)
    except TimeoutError as exc:
        raise _NoAnswer("timeout", describe_error(exc)) from None
    except OSError as exc:
        raise _NoAnswer(failure_outcome(exc, connected=False), describe_error(exc)) from None
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    try:
        if original_destination is not None:
            sock.sendall(proxy_protocol_header(sock.getsockname()[:2], original_destination))
        if tls is None:
            return sock, None
        context = tls.context()
        if tls.alpn is None:
            context.set_alpn_protocols(["http/1.1"])  # an upgrade is HTTP/1.1's
        wrapped = context.wrap_socket(sock, server_hostname=tls.server_name)
    except TimeoutError as exc:
        sock.close()
        raise _NoAnswer("timeout", describe_error(exc)) from None
    except (OSError, ssl.SSLError) as exc:
        sock.close()
        raise _NoAnswer(failure_outcome(exc, connected=False), describe_error(exc)) from None
    return wrapped, tls_info(wrapped)


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
        raise _NoAnswer("timeout", describe_error(exc)) from None
    except h11.RemoteProtocolError as exc:
        raise _NoAnswer("error", f"HTTP/1.1 protocol error: {exc}") from None
    except OSError as exc:
        raise _NoAnswer(failure_outcome(exc, connected=True), describe_error(exc)) from None
    if head is None:
        raise _NoAnswer("reset", "the connection closed before an answer to the upgrade")
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
    if accept != [accept_key(key)]:
        return _with_session(record, (), f"Sec-WebSocket-Accept {accept} does not answer the key")
    trailing, _closed = conn.trailing_data
    return _exchange_messages(sock, bytes(trailing), request, deadline, record)


def _exchange_messages(
    sock: Any, trailing: bytes, request: Request, deadline: float, record: ResponseRecord
) -> ResponseRecord:
    """Send each message, reading one back after it; then close."""
    assert request.websocket is not None
    reader = MessageReader(masked=False)
    pending = reader.feed(trailing) if trailing else []
    received: list[tuple[str, bytes]] = []
    error: str | None = None
    try:
        for message in request.websocket.messages:
            opcode = TEXT if message.text is not None else BINARY
            sock.sendall(encode_frame(opcode, message.payload, mask=True))
            reply = None
            while reply is None:
                while not pending:
                    data = _recv(sock, deadline)
                    if not data:
                        raise ConnectionError("the connection closed")
                    pending = reader.feed(data)
                got = pending.pop(0)
                if got.opcode == PING:
                    sock.sendall(encode_frame(PONG, got.payload, mask=True))
                elif got.opcode == CLOSE:
                    raise ConnectionError(f"the server closed ({_close_text(got.payload)})")
                elif got.opcode != PONG:
                    reply = got
            received.append((reply.kind, reply.payload))
        sock.sendall(encode_frame(CLOSE, close_payload(1000), mask=True))
        _await_close(sock, reader, pending, min(deadline, time.monotonic() + _CLOSE_WAIT_S))
    except WireError as exc:
        error = f"the server broke RFC 6455: {exc}"
    except TimeoutError:
        error = f"no message back after {len(received)} of {len(request.websocket.messages)}"
    except (ConnectionError, OSError) as exc:
        error = f"after {len(received)} messages back: {describe_error(exc)}"
    return _with_session(record, tuple(received), error)


def _await_close(sock: Any, reader: MessageReader, pending: list[Any], deadline: float) -> None:
    """Read until the server's close (or the connection's end); a slow close is no failure."""
    try:
        while not any(m.opcode == CLOSE for m in pending):
            data = _recv(sock, deadline)
            if not data:
                return
            pending = reader.feed(data)
    except (TimeoutError, OSError, WireError):
        return


def _close_text(payload: bytes) -> str:
    if len(payload) < 2:
        return "no status code"
    code = int.from_bytes(payload[:2], "big")
    reason = payload[2:].decode("utf-8", "replace")
    return f"code {code}" + (f": {reason}" if reason else "")


def _with_session(
    record: ResponseRecord, messages: tuple[tuple[str, bytes], ...], error: str | None
) -> ResponseRecord:
    return ResponseRecord(
        status=record.status,
        reason=record.reason,
        http_version=record.http_version,
        headers=record.headers,
        body=record.body,
        websocket=WebSocketSession(messages, error),
    )


def _since(start: float) -> float:
    return time.perf_counter() - start
