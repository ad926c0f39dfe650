"""HTTP/1.1 as the echo speaks it: requests read off a stream, answers encoded in one write.

Header names are canonicalised as Go's ``net/http`` does (``CanonicalHeaderKey``);
bodies come with ``Content-Length`` or chunked; anything else malformed is a
``BadRequest``, answered 400 with a closed connection. A connection that opens
with the HTTP/2 preface raises ``PriorKnowledge`` instead (h2c, RFC 9113 §3.3).
"""

from __future__ import annotations

import asyncio
import contextlib
import re
import socket
import struct
from collections.abc import Mapping
from dataclasses import dataclass, field
from http import HTTPStatus
from typing import Any

__all__ = [
    "MAX_BODY_BYTES",
    "MAX_HEAD_BYTES",
    "PRIOR_KNOWLEDGE_HEAD",
    "BadRequest",
    "HTTPRequest",
    "HTTPResponse",
    "PriorKnowledge",
    "canonical_header_name",
    "encode_response",
    "header_values",
    "read_request",
    "reset_connection",
    "text_response",
]

MAX_HEAD_BYTES = 64 * 1024
MAX_BODY_BYTES = 16 * 1024 * 1024

_TOKEN = re.compile(r"^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$")


def canonical_header_name(name: str) -> str:
    """Go's ``CanonicalHeaderKey``: ``x-foo-bar`` -> ``X-Foo-Bar`` (non-tokens unchanged)."""
    if not _TOKEN.match(name):
        return name
    return "-".join(part[:1].upper() + part[1:].lower() for part in name.split("-"))


def header_values(echo: Mapping[str, Any], name: str) -> list[str]:
    """All values of header ``name`` in an echo body's ``headers``, ignoring case."""
    wanted = name.lower()
    values: list[str] = []
    for key, items in (echo.get("headers") or {}).items():
        if key.lower() == wanted:
            values.extend(items)
    return values


class BadRequest(Exception):
    """The request cannot be parsed; answer 400 and close."""


class PriorKnowledge(BadRequest):
    """Not HTTP/1 at all: the connection speaks HTTP/2 from its first byte (its
    preface's head is read); where HTTP/2 is not served, a bad request like any."""


# The HTTP/2 preface up to its first blank line reads like an HTTP/1 request head
# (the rest is "SM\r\n\r\n"); Go's h2c handler recognises it the same way.
PRIOR_KNOWLEDGE_HEAD = b"PRI * HTTP/2.0\r\n\r\n"


@dataclass
class HTTPRequest:
    """A request as read off the connection: its head as sent, its body de-chunked."""

    method: str
    target: str
    proto: str
    headers: list[tuple[str, str]]
    body: bytes = b""

    def get(self, name: str) -> list[str]:
        wanted = name.lower()
        return [value for key, value in self.headers if key.lower() == wanted]

    def tokens(self, name: str) -> set[str]:
        """The comma-separated tokens of every ``name`` header, lowercased."""
        return {t.strip().lower() for v in self.get(name) for t in v.split(",")}

    def keep_alive(self) -> bool:
        tokens = self.tokens("connection")
        if self.proto == "HTTP/1.0":
            return "keep-alive" in tokens
        return "close" not in tokens


@dataclass
class HTTPResponse:
    """An answer to write: status, body and extra headers, or a reset instead."""

    status: int
    body: bytes
    content_type: str = "application/json"
    headers: list[tuple[str, str]] = field(default_factory=list)
    reset: bool = False  # answer with a TCP RST instead
    close: bool = False  # close the connection after answering


TLS_HANDSHAKE_RECORD = 0x16  # the first byte of a TLS ClientHello


async def read_request(
    reader: asyncio.StreamReader, writer: asyncio.StreamWriter, plaintext_start: bool = False
) -> HTTPRequest | None:
    """The next request on the connection, None at a clean end of stream.

    ``plaintext_start``: the first request of a plaintext connection, whose
    first byte is looked at: a TLS handshake there (mutual TLS sent to a pod
    without a sidecar) is a bad request at once, as a Go server answers its
    malformed request line, instead of a wait for a line end that never comes.
    """
    first = b""
    if plaintext_start:
        try:
            first = await reader.readexactly(1)
        except asyncio.IncompleteReadError:
            return None
        if first[0] == TLS_HANDSHAKE_RECORD:
            raise BadRequest("a TLS handshake on a plaintext port")
    try:
        head = first + await reader.readuntil(b"\r\n\r\n")
    except asyncio.IncompleteReadError as exc:
        if (first + exc.partial).strip():
            raise BadRequest("incomplete request head") from None
        return None
    except asyncio.LimitOverrunError:
        raise BadRequest(f"request head larger than {MAX_HEAD_BYTES} bytes") from None
    if head == PRIOR_KNOWLEDGE_HEAD:
        raise PriorKnowledge
    try:
        text = head.decode("latin-1")
    except UnicodeDecodeError:  # pragma: no cover - latin-1 decodes anything
        raise BadRequest("undecodable head") from None
    lines = text[:-4].split("\r\n")
    while lines and lines[0] == "":  # tolerated, as RFC 9112 §2.2 allows
        lines.pop(0)
    if not lines:
        raise BadRequest("empty request")
    parts = lines[0].split(" ")
    if len(parts) != 3 or not _TOKEN.match(parts[0]) or not parts[1]:
        raise BadRequest(f"malformed request line {lines[0]!r}")
    method, target, proto = parts
    if proto not in ("HTTP/1.1", "HTTP/1.0"):
        raise BadRequest(f"unsupported protocol {proto!r}")
    headers: list[tuple[str, str]] = []
    for line in lines[1:]:
        name, sep, value = line.partition(":")
        if not sep or not _TOKEN.match(name):
            raise BadRequest(f"malformed header line {line!r}")
        headers.append((name, value.strip(" \t")))
    request = HTTPRequest(method, target, proto, headers)

    if request.get("expect") and request.get("expect")[0].lower() == "100-continue":
        writer.write(b"HTTP/1.1 100 Continue\r\n\r\n")
    encodings = [t.strip().lower() for v in request.get("transfer-encoding") for t in v.split(",")]
    lengths = request.get("content-length")
    if encodings:
        if lengths:
            raise BadRequest("both Content-Length and Transfer-Encoding")
        if encodings[-1] != "chunked":
            raise BadRequest(f"unsupported transfer encoding {encodings!r}")
        request.body = await _read_chunked(reader)
    elif lengths:
        if len(set(lengths)) != 1 or not lengths[0].isdigit():
            raise BadRequest(f"invalid Content-Length {lengths!r}")
        size = int(lengths[0])
        if size > MAX_BODY_BYTES:
            raise BadRequest(f"body larger than {MAX_BODY_BYTES} bytes")
        request.body = await reader.readexactly(size)
    return request


async def _read_chunked(reader: asyncio.StreamReader) -> bytes:
    body = bytearray()
    while True:
        try:
            line = await reader.readuntil(b"\r\n")
        except asyncio.LimitOverrunError:
            raise BadRequest("chunk size line too long") from None
        size_text = line[:-2].split(b";", 1)[0].strip()
        try:
            size = int(size_text, 16)
        except ValueError:
            raise BadRequest(f"invalid chunk size {size_text!r}") from None
        if size < 0 or len(body) + size > MAX_BODY_BYTES:
            raise BadRequest("invalid or too large chunk")
        if size == 0:
            while (await reader.readuntil(b"\r\n")) != b"\r\n":
                pass  # trailers are accepted and ignored
            return bytes(body)
        body += await reader.readexactly(size)
        if await reader.readexactly(2) != b"\r\n":
            raise BadRequest("chunk not followed by CRLF")


def text_response(status: int, text: str) -> HTTPResponse:
    """A plain-text answer: ``/health``, and the complaints about a request."""
    return HTTPResponse(status, text.encode(), content_type="text/plain; charset=utf-8")


def _reason(status: int) -> str:
    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return "Unknown"


def encode_response(
    response: HTTPResponse, proto: str, keep_alive: bool, head_only: bool = False
) -> bytes:
    """Status line, headers and body as one buffer: one write, one segment, no Nagle wait."""
    lines = [f"{proto} {response.status} {_reason(response.status)}"]
    lines.append(f"Content-Type: {response.content_type}")
    lines.append(f"Content-Length: {len(response.body)}")
    lines.extend(f"{name}: {value}" for name, value in response.headers)
    if not keep_alive:
        lines.append("Connection: close")
    elif proto == "HTTP/1.0":
        lines.append("Connection: keep-alive")
    head = ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1", "replace")
    return head if head_only else head + response.body


def reset_connection(writer: asyncio.StreamWriter) -> None:
    """Close with a TCP RST: SO_LINGER 0 makes close() discard and reset (Go's SetLinger(0))."""
    sock = writer.get_extra_info("socket")
    if sock is not None:
        with contextlib.suppress(OSError):
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    writer.transport.abort()
