"""TLS on an echo socket: a ClientHello told from plaintext, the SNI recorded, TLS facts.

A TLS listener peeks at each connection's first byte: a handshake record gets
the TLS handshake, plaintext HTTP gets nginx's 400 "The plain HTTP request was
sent to HTTPS port" (istio.io egress TLS tasks and ``TestEgressGatewayTls``
show that 400 when nothing originates TLS).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import socket
import ssl
import time
from typing import Any, cast

from .protocol import MAX_HEAD_BYTES, BadRequest, encode_response, read_request, text_response

__all__ = [
    "TLS_VERSIONS",
    "UnreadProtocol",
    "limit_versions",
    "record_sni",
    "start_tls",
    "tls_facts",
]

_SNI_ATTR = "_meshgate_sni"


class UnreadProtocol(asyncio.StreamReaderProtocol):
    """A stream protocol that reads nothing until its handler has looked at the first byte."""

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        cast(asyncio.ReadTransport, transport).pause_reading()
        super().connection_made(transport)


class _TlsStreamProtocol(asyncio.StreamReaderProtocol):
    """Streams over a ``loop.start_tls`` transport: EOF closes (half-close has no TLS meaning)."""

    def eof_received(self) -> bool:
        super().eof_received()
        return False


_TLS_HANDSHAKE_RECORD = 0x16
_PLAIN_HTTP_TO_TLS = "The plain HTTP request was sent to HTTPS port\n"
_FIRST_BYTE_TIMEOUT_S = 10.0


async def _first_byte(writer: asyncio.StreamWriter) -> int | None:
    """The connection's first byte, left unread (MSG_PEEK); None at EOF or timeout.

    The transport owns the descriptor, so readiness is polled on a duplicate;
    clients speak first (a ClientHello or a request line), so this is quick.
    """
    sock = writer.get_extra_info("socket")
    peeker = socket.socket(fileno=os.dup(sock.fileno()))
    try:
        deadline = time.monotonic() + _FIRST_BYTE_TIMEOUT_S
        pause = 0.0005
        while time.monotonic() < deadline:
            try:
                data = peeker.recv(1, socket.MSG_PEEK | socket.MSG_DONTWAIT)
            except (BlockingIOError, InterruptedError):
                await asyncio.sleep(pause)
                pause = min(pause * 2, 0.02)
                continue
            except OSError:
                return None
            return data[0] if data else None
        return None
    finally:
        peeker.close()  # the duplicate only; the transport keeps its descriptor


async def start_tls(
    reader: asyncio.StreamReader, writer: asyncio.StreamWriter, context: ssl.SSLContext
) -> tuple[asyncio.StreamReader, asyncio.StreamWriter] | None:
    """The connection's TLS streams; None when it was answered or closed instead.

    A TLS ClientHello gets the handshake (``loop.start_tls``, new streams over
    the TLS transport, as ``asyncio.open_connection`` builds them); plaintext
    HTTP gets nginx's 400; anything else, or a failed handshake, a close.
    """
    first = await _first_byte(writer)
    try:
        if first == _TLS_HANDSHAKE_RECORD:
            loop = asyncio.get_running_loop()
            tls_reader = asyncio.StreamReader(limit=MAX_HEAD_BYTES, loop=loop)
            protocol = _TlsStreamProtocol(tls_reader, loop=loop)
            transport = await loop.start_tls(writer.transport, protocol, context, server_side=True)
            assert transport is not None
            return tls_reader, asyncio.StreamWriter(transport, protocol, tls_reader, loop)
        if first is not None:
            cast(asyncio.ReadTransport, writer.transport).resume_reading()
            with contextlib.suppress(BadRequest, ValueError, asyncio.LimitOverrunError):
                await asyncio.wait_for(read_request(reader, writer), _FIRST_BYTE_TIMEOUT_S)
            writer.write(encode_response(text_response(400, _PLAIN_HTTP_TO_TLS), "HTTP/1.1", False))
            await writer.drain()
    except (ConnectionError, ssl.SSLError, TimeoutError, asyncio.IncompleteReadError):
        pass
    writer.close()
    with contextlib.suppress(Exception):
        await writer.wait_closed()
    return None


TLS_VERSIONS = {
    "TLSv1.0": ssl.TLSVersion.TLSv1,
    "TLSv1.1": ssl.TLSVersion.TLSv1_1,
    "TLSv1.2": ssl.TLSVersion.TLSv1_2,
    "TLSv1.3": ssl.TLSVersion.TLSv1_3,
}


def limit_versions(
    context: ssl.SSLContext, min_version: str | None, max_version: str | None
) -> None:
    """Accept only TLS versions from ``min_version`` to ``max_version`` (case file names).

    A server staged as an old one must really speak TLS 1.0/1.1, which OpenSSL
    3 refuses at its default security level (as the client side does).
    """
    if min_version is None and max_version is None:
        return
    import warnings

    context.set_ciphers("DEFAULT:@SECLEVEL=0")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)  # TLS 1.0/1.1 on purpose
        if min_version is not None:
            context.minimum_version = TLS_VERSIONS[min_version]
        if max_version is not None:
            context.maximum_version = TLS_VERSIONS[max_version]


def record_sni(context: ssl.SSLContext) -> None:
    """Wrap the context's SNI callback so the handler can read the client's SNI.

    On the server side ``SSLObject.server_hostname`` is always None; the SNI is
    only visible to ``sni_callback``, whose first argument is the very SSLObject
    the stream later exposes as ``ssl_object``.
    """
    previous = context.sni_callback
    if getattr(previous, "_meshgate", False):
        return

    def callback(ssl_object: Any, server_name: str | None, ctx: ssl.SSLContext) -> int | None:
        with contextlib.suppress(AttributeError):
            setattr(ssl_object, _SNI_ATTR, server_name)
        if previous is not None:
            # typeshed says str, but OpenSSL passes None when the client sent no SNI.
            return previous(ssl_object, cast(str, server_name), ctx)
        return None

    callback._meshgate = True  # type: ignore[attr-defined]
    context.sni_callback = callback


def tls_facts(ssl_object: ssl.SSLObject) -> dict[str, Any]:
    """An echo body's ``tls``: what the handshake settled, as echo-basic reports it."""
    cipher = ssl_object.cipher()
    chain: list[bytes] = []
    # Go reports the whole chain the client sent; Python < 3.13 only exposes the leaf.
    get_chain = getattr(ssl_object, "get_unverified_chain", None)
    if get_chain is not None:
        with contextlib.suppress(Exception):
            chain = [c for c in get_chain() or [] if isinstance(c, bytes)]
    if not chain:
        leaf = ssl_object.getpeercert(binary_form=True)
        chain = [leaf] if leaf else []
    return {
        "version": ssl_object.version() or "",
        "serverName": getattr(ssl_object, _SNI_ATTR, None) or "",
        "negotiatedProtocol": ssl_object.selected_alpn_protocol() or "",
        # OpenSSL's name; equals Go's IANA name for TLS 1.3 suites, differs for TLS 1.2.
        "cipherSuite": cipher[0] if cipher else "",
        "peerCertificates": [ssl.DER_cert_to_PEM_cert(der) for der in chain],
    }
