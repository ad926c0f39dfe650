"""HTTP/2 as the echo speaks it: h2c with prior knowledge or TLS with ALPN h2, plain and gRPC.

The only module of the echo that needs a third-party package: the HTTP/2
framing is the ``h2`` library (pure Python, already required through
``httpx[http2]``); ``server`` imports this module only when a connection
speaks HTTP/2, so an echo without ``h2`` installed still answers HTTP/1.1.

Each stream is answered in its own task once its request has ended: a gRPC
call (``content-type: application/grpc``) by ``grpcecho``, anything else by
the echo handler, as echo-basic's h2c handler answers it (``proto``
``HTTP/2.0``, Host from ``:authority``). A reset answer (a ``/retry`` without
``responseCode``, a misbehaving listener) resets the whole connection, as it
does over HTTP/1.1.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import h2.config
import h2.connection
import h2.errors
import h2.events
import h2.exceptions

from ..._grpcwire import frame, is_grpc, percent_encode
from .grpcecho import GrpcAnswer, GrpcCall, answer_grpc
from .handler import EchoFault, EchoHandler, EchoIdentity
from .protocol import MAX_BODY_BYTES, HTTPRequest, HTTPResponse, reset_connection, text_response

__all__ = ["PREFACE", "Recorder", "serve_http2"]

log = logging.getLogger(__name__)

PREFACE = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"

# Recorder(method, path, host, headers, body_size, status, grpc_status): the request log.
Recorder = Callable[[str, str, str, tuple[tuple[str, str], ...], int, int | None, int | None], None]
# What a stream is answered with: headers, body and trailers; None resets the connection.
_Frames = tuple[list[tuple[str, str]], bytes, list[tuple[str, str]] | None]
_Responder = Callable[[dict[str, str], list[tuple[str, str]], bytes], Awaitable[_Frames | None]]

# Connection-specific fields HTTP/2 forbids (RFC 9113 §8.2.2); a knob may ask for them.
_HOP_BY_HOP = frozenset(
    {"connection", "keep-alive", "proxy-connection", "transfer-encoding", "upgrade"}
)


@dataclass
class _Stream:
    headers: list[tuple[str, str]]
    body: bytearray = field(default_factory=bytearray)
    task: asyncio.Task[None] | None = None


class _Connection:
    """One HTTP/2 connection: the h2 state machine, its streams, and flow control waits."""

    def __init__(
        self,
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
        respond: _Responder,
    ) -> None:
        self.reader = reader
        self.writer = writer
        self.respond = respond
        config = h2.config.H2Configuration(client_side=False, header_encoding=None)
        self.conn = h2.connection.H2Connection(config=config)
        self.streams: dict[int, _Stream] = {}
        self.window_open = asyncio.Event()
        self.closed = False

    def flush(self) -> None:
        data = self.conn.data_to_send()
        if data and not self.closed:
            self.writer.write(data)

    async def run(self, initial: bytes) -> None:
        self.conn.initiate_connection()
        self.flush()
        try:
            data = initial
            while not self.closed:
                if data:
                    try:
                        events = self.conn.receive_data(data)
                    except h2.exceptions.ProtocolError as exc:
                        log.debug("echo: HTTP/2 protocol error: %s", exc)
                        self.flush()
                        return
                    for event in events:
                        self._on_event(event)
                    self.flush()
                    await self.writer.drain()
                data = await self.reader.read(65536)
                if not data:
                    return
        finally:
            self.closed = True
            for stream in self.streams.values():
                if stream.task is not None:
                    stream.task.cancel()
            tasks = [s.task for s in self.streams.values() if s.task is not None]
            if tasks:
                await asyncio.gather(*tasks, return_exceptions=True)

    def _on_event(self, event: Any) -> None:
        if isinstance(event, h2.events.RequestReceived):
            headers = [(k.decode("latin-1"), v.decode("latin-1")) for k, v in event.headers]
            self.streams[event.stream_id] = _Stream(headers)
        elif isinstance(event, h2.events.DataReceived):
            stream = self.streams.get(event.stream_id)
            self.conn.acknowledge_received_data(event.flow_controlled_length, event.stream_id)
            if stream is None:
                return
            if len(stream.body) + len(event.data) > MAX_BODY_BYTES:
                self.conn.reset_stream(event.stream_id, h2.errors.ErrorCodes.REFUSED_STREAM)
                del self.streams[event.stream_id]
                return
            stream.body += event.data
        elif isinstance(event, h2.events.StreamEnded):
            stream = self.streams.get(event.stream_id)
            if stream is not None:
                stream.task = asyncio.create_task(self._answer(event.stream_id, stream))
        elif isinstance(event, h2.events.StreamReset):
            stream = self.streams.pop(event.stream_id, None)
            if stream is not None and stream.task is not None:
                stream.task.cancel()
        elif isinstance(event, (h2.events.WindowUpdated, h2.events.RemoteSettingsChanged)):
            self.window_open.set()
        elif isinstance(event, h2.events.ConnectionTerminated):
            self.closed = True

    async def _answer(self, stream_id: int, stream: _Stream) -> None:
        pseudo = {k: v for k, v in stream.headers if k.startswith(":")}
        regular = [(k, v) for k, v in stream.headers if not k.startswith(":")]
        try:
            answer = await self.respond(pseudo, regular, bytes(stream.body))
            if answer is None:  # reset the connection
                self.closed = True
                reset_connection(self.writer)
                return
            headers, body, trailers = answer
            await self._send(stream_id, headers, body, trailers)
        except asyncio.CancelledError:
            raise
        except (h2.exceptions.StreamClosedError, h2.exceptions.ProtocolError):
            pass  # the client reset the stream meanwhile
        finally:
            self.streams.pop(stream_id, None)

    async def _send(
        self,
        stream_id: int,
        headers: list[tuple[str, str]],
        body: bytes,
        trailers: list[tuple[str, str]] | None,
    ) -> None:
        only_headers = not body and trailers is None
        self.conn.send_headers(stream_id, headers, end_stream=only_headers)
        self.flush()
        offset = 0
        while offset < len(body):
            if self.closed:
                return
            room = min(self.conn.local_flow_control_window(stream_id), len(body) - offset)
            room = min(room, self.conn.max_outbound_frame_size)
            if room <= 0:
                self.window_open.clear()
                await self.window_open.wait()
                continue
            last = offset + room == len(body) and trailers is None
            self.conn.send_data(stream_id, body[offset : offset + room], end_stream=last)
            offset += room
            self.flush()
        if trailers is not None:
            self.conn.send_headers(stream_id, trailers, end_stream=True)
        self.flush()
        with contextlib.suppress(ConnectionError):
            await self.writer.drain()


async def serve_http2(
    reader: asyncio.StreamReader,
    writer: asyncio.StreamWriter,
    *,
    identity: EchoIdentity,
    fault: EchoFault | None,
    handler: EchoHandler,
    peer: str,
    local_port: int,
    record: Recorder,
    initial: bytes = b"",
) -> None:
    """Serve one HTTP/2 connection; ``initial``: bytes already read (the h2c preface)."""
    ssl_object = writer.get_extra_info("ssl_object")

    async def respond(
        pseudo: dict[str, str], headers: list[tuple[str, str]], body: bytes
    ) -> _Frames | None:
        method = pseudo.get(":method", "")
        path = pseudo.get(":path", "")
        authority = pseudo.get(":authority", "")
        content_type = next((v for k, v in headers if k == "content-type"), "")
        if method == "POST" and is_grpc(content_type):
            call = GrpcCall(path, authority, tuple(headers), body)
            try:
                grpc = await answer_grpc(identity, fault, call, ssl_object, peer)
            except Exception:
                log.exception("echo %s: gRPC handler failed", identity.service)
                grpc = GrpcAnswer(13, "internal error in echo handler")
            record(
                method,
                path,
                authority,
                tuple(headers),
                len(body),
                None if grpc.reset else grpc.http_status,
                None if grpc.reset or grpc.http_status != 200 else grpc.status,
            )
            return None if grpc.reset else _grpc_frames(grpc)

        request = HTTPRequest(method, path, "HTTP/2.0", [("host", authority), *headers], body)
        try:
            response = await handler.answer(identity, fault, request, writer, peer, local_port)
        except Exception:
            log.exception("echo %s: handler failed", identity.service)
            response = text_response(500, "internal error in echo handler\n")
        record(
            method,
            path,
            authority,
            tuple(headers),
            len(body),
            None if response.reset else response.status,
            None,
        )
        if response.reset:
            return None
        return _http_frames(response, head_only=method == "HEAD")

    await _Connection(reader, writer, respond).run(initial)


def _http_frames(response: HTTPResponse, head_only: bool) -> _Frames:
    headers = [
        (":status", str(response.status)),
        ("content-type", response.content_type),
        ("content-length", str(len(response.body))),
    ]
    headers += [
        (name.lower(), value)
        for name, value in response.headers
        if name.lower() not in _HOP_BY_HOP and not name.startswith(":")
    ]
    return headers, b"" if head_only else response.body, None


def _grpc_frames(answer: GrpcAnswer) -> _Frames:
    """Headers, body and trailers of a gRPC answer; trailers-only when there is no message."""
    if answer.http_status != 200:
        return [(":status", str(answer.http_status)), ("content-length", "0")], b"", None
    headers = [(":status", "200"), ("content-type", "application/grpc"), *answer.metadata]
    status = [("grpc-status", str(answer.status))]
    if answer.message:
        status.append(("grpc-message", percent_encode(answer.message)))
    if answer.response is None:
        # Trailers-Only (doc/PROTOCOL-HTTP2.md): one HEADERS frame ending the stream.
        return headers + status, b"", None
    return headers, frame(answer.response), status
