"""Echo backends: one asyncio loop in a daemon thread answering echo-basic JSON on many sockets.

Every listening socket carries an ``EchoIdentity`` (service, namespace, version,
pod) and answers each HTTP/1.1 request with the JSON body of the Gateway API
conformance echo (``echo-basic``), so a case's checks read the same fields
locally and on a cluster::

    {"path": "/a?b=1", "host": "x", "method": "GET", "proto": "HTTP/1.1",
     "headers": {"X-Foo": ["a"]}, "namespace": "ns", "service": "svc",
     "pod": "svc-v1-0", "version": "v1", "httpPort": "41234",
     "peer": "127.0.0.1:50012", "tls": {...}}

Header names in ``headers`` are canonicalised the way Go's ``net/http`` does
(``x-foo-bar`` -> ``X-Foo-Bar``), which is what echo-basic emits; values of
repeated headers are kept as separate list items. As in Go, ``Host`` and
``Transfer-Encoding`` are not in ``headers`` (``host`` carries the former).
Consumers should look headers up with ``header_values()``, which ignores case.

Knobs, as in echo-basic (the path is matched after collapsing ``//``):

- ``/health``: 200 ``OK`` (text, not JSON).
- ``/status/NNN``: answers status NNN with the echo body.
- ``?delay=1s`` (Go durations: ``500ms``, ``1m30s``): sleeps before answering,
  without holding up other connections.
- ``/retry/?uuid=U&succeedAfter=N[&responseCode=503][&delayRetry=1s]``: the
  first N requests per uuid fail with ``responseCode``; without it they fail by
  a TCP reset (``SO_LINGER`` 0 then close), as echo-basic's hijack does.
- request header ``X-Echo-Set-Header: Name:value,Name2:value2``: sets those
  response headers.

A TLS listener answers a plaintext HTTP request with 400 "The plain HTTP
request was sent to HTTPS port", as nginx does (istio.io egress TLS tasks and
``TestEgressGatewayTls`` show that 400 when nothing originates TLS).

A listener may be told to misbehave (``Misbehaviour``): every request, whatever
its knobs, is delayed, answered with a fixed status, or reset; ``/health`` stays
healthy, as a failing pod's readiness probe may.

Malformed requests get 400 and a closed connection; an exception in a handler
is logged and answered 500. Every answered request (resets included, with
``status=None``) is recorded in a bounded log, see ``EchoServer.requests()``.
"""

from __future__ import annotations

import asyncio
import collections
import concurrent.futures
import contextlib
import json
import logging
import os
import re
import socket
import ssl
import struct
import threading
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from http import HTTPStatus
from typing import Any, cast
from urllib.parse import parse_qs, urlsplit

from .._durations import parse_duration

__all__ = [
    "EchoIdentity",
    "EchoListener",
    "EchoRequest",
    "EchoServer",
    "Misbehaviour",
    "canonical_header_name",
    "header_values",
]

log = logging.getLogger(__name__)

MAX_HEAD_BYTES = 64 * 1024
MAX_BODY_BYTES = 16 * 1024 * 1024
DEFAULT_LOG_SIZE = 10_000
_CALL_TIMEOUT_S = 10.0

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


@dataclass(frozen=True)
class EchoIdentity:
    """Who a listening socket pretends to be: a pod of a Service port."""

    service: str
    namespace: str = "default"
    version: str = "v1"
    pod: str = ""  # default: "<service>-<version>-0"
    port_name: str = "http"

    def __post_init__(self) -> None:
        if not self.pod:
            object.__setattr__(self, "pod", f"{self.service}-{self.version}-0")


@dataclass(frozen=True)
class EchoRequest:
    """One request an echo answered, as recorded in ``EchoServer.requests()``.

    ``time`` is ``time.monotonic()`` when the answer was written; ``status`` is
    None for a retry answered by a TCP reset. ``headers`` are as received.
    """

    identity: EchoIdentity
    method: str
    path: str
    host: str
    headers: tuple[tuple[str, str], ...]
    body_size: int
    status: int | None
    peer: str
    local_port: int
    tls: bool
    time: float
    wall_time: float

    def header(self, name: str) -> list[str]:
        """Values of header ``name``, ignoring case."""
        wanted = name.lower()
        return [value for key, value in self.headers if key.lower() == wanted]


@dataclass(frozen=True)
class Misbehaviour:
    """How a misbehaving listener answers every request: after ``delay`` seconds,
    with ``status`` (and the echo body) or a TCP reset."""

    status: int | None = None
    delay: float = 0.0
    reset: bool = False


class _BadRequest(Exception):
    """The request cannot be parsed; answer 400 and close."""


@dataclass
class _Request:
    method: str
    target: str
    proto: str
    headers: list[tuple[str, str]]
    body: bytes = b""

    def get(self, name: str) -> list[str]:
        wanted = name.lower()
        return [value for key, value in self.headers if key.lower() == wanted]

    def keep_alive(self) -> bool:
        tokens = {t.strip().lower() for v in self.get("connection") for t in v.split(",")}
        if self.proto == "HTTP/1.0":
            return "keep-alive" in tokens
        return "close" not in tokens


@dataclass
class _Response:
    status: int
    body: bytes
    content_type: str = "application/json"
    headers: list[tuple[str, str]] = field(default_factory=list)
    reset: bool = False  # answer with a TCP RST instead
    close: bool = False  # close the connection after answering


class EchoListener:
    """A listening socket of an ``EchoServer``; unpacks as ``host, port``."""

    def __init__(self, server: EchoServer, identity: EchoIdentity, host: str, port: int) -> None:
        self._server = server
        self.identity = identity
        self.host = host
        self.port = port

    @property
    def address(self) -> tuple[str, int]:
        return (self.host, self.port)

    def __iter__(self) -> Iterator[Any]:
        return iter((self.host, self.port))

    def __repr__(self) -> str:
        return f"EchoListener({self.identity.service}@{self.host}:{self.port})"

    def close(self) -> None:
        """Stop listening and close this socket's open connections."""
        self._server.stop_listening(self.port, self.host)


class _Socket:
    """Loop-side state of one listening socket."""

    def __init__(
        self, identity: EchoIdentity, tls: bool, misbehaviour: Misbehaviour | None = None
    ) -> None:
        self.identity = identity
        self.tls = tls
        self.misbehaviour = misbehaviour
        self.server: asyncio.AbstractServer | None = None
        self.tasks: set[asyncio.Task[None]] = set()


class EchoServer:
    """Echo backends on one asyncio loop in a daemon thread; every method is thread-safe.

    ::

        with EchoServer() as echo:
            host, port = echo.listen(EchoIdentity("reviews", "default", "v1"))
    """

    def __init__(self, *, log_size: int = DEFAULT_LOG_SIZE) -> None:
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._sockets: dict[tuple[str, int], _Socket] = {}
        self._log: collections.deque[EchoRequest] = collections.deque(maxlen=log_size)
        self._log_lock = threading.Lock()
        self._retries: dict[str, int] = {}
        self._state_lock = threading.Lock()

    # ------------------------------------------------------------ lifecycle

    def __enter__(self) -> EchoServer:
        self.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def start(self) -> None:
        """Start the loop thread (idempotent)."""
        with self._state_lock:
            if self._thread is not None:
                return
            loop = asyncio.new_event_loop()
            loop.set_exception_handler(_quiet_exception_handler)
            ready = threading.Event()

            def run() -> None:
                asyncio.set_event_loop(loop)
                loop.call_soon(ready.set)
                try:
                    loop.run_forever()
                finally:
                    loop.run_until_complete(loop.shutdown_asyncgens())
                    loop.close()

            thread = threading.Thread(target=run, name="meshgate-echo", daemon=True)
            thread.start()
            ready.wait()
            self._loop, self._thread = loop, thread

    def close(self) -> None:
        """Close every socket and connection, stop the loop, join the thread (idempotent)."""
        with self._state_lock:
            loop, thread = self._loop, self._thread
            if loop is None or thread is None:
                return
            if thread.is_alive():
                with contextlib.suppress(concurrent.futures.TimeoutError, RuntimeError):
                    asyncio.run_coroutine_threadsafe(self._close_all(), loop).result(
                        _CALL_TIMEOUT_S
                    )
                loop.call_soon_threadsafe(loop.stop)
                thread.join(_CALL_TIMEOUT_S)
            self._loop = self._thread = None

    def _call(self, coro: Any) -> Any:
        loop = self._loop
        if loop is None or not self.running:
            coro.close()
            raise RuntimeError("EchoServer is not started")
        return asyncio.run_coroutine_threadsafe(coro, loop).result(_CALL_TIMEOUT_S)

    # ------------------------------------------------------------ sockets

    def listen(
        self,
        identity: EchoIdentity,
        host: str = "127.0.0.1",
        port: int = 0,
        ssl_context: ssl.SSLContext | None = None,
        misbehaviour: Misbehaviour | None = None,
    ) -> EchoListener:
        """Listen on ``host:port`` (0: any free port) as ``identity``; TLS if ``ssl_context``;
        answering every request as ``misbehaviour`` says if given.

        To see client certificates in ``tls.peerCertificates`` the context must ask
        for them (``verify_mode`` CERT_OPTIONAL or CERT_REQUIRED, with a CA loaded).
        The context's ``sni_callback`` is wrapped to record the SNI.
        """
        if ssl_context is not None:
            _record_sni(ssl_context)
        bound_host, bound_port = self._call(
            self._listen(identity, host, port, ssl_context, misbehaviour)
        )
        return EchoListener(self, identity, bound_host, bound_port)

    def stop_listening(self, port: int, host: str = "127.0.0.1") -> None:
        """Close the socket on ``host:port`` and its connections (no-op if unknown)."""
        if self.running:
            self._call(self._stop((host, port)))

    def listeners(self) -> dict[tuple[str, int], EchoIdentity]:
        """The open sockets: (host, port) -> identity."""
        return {addr: sock.identity for addr, sock in list(self._sockets.items())}

    async def _listen(
        self,
        identity: EchoIdentity,
        host: str,
        port: int,
        ssl_context: ssl.SSLContext | None,
        misbehaviour: Misbehaviour | None = None,
    ) -> tuple[str, int]:
        state = _Socket(identity, tls=ssl_context is not None, misbehaviour=misbehaviour)

        async def on_connection(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            task = asyncio.current_task()
            assert task is not None
            state.tasks.add(task)
            try:
                if ssl_context is not None:
                    upgraded = await _start_tls(reader, writer, ssl_context)
                    if upgraded is None:
                        return
                    reader, writer = upgraded
                await self._serve(state, reader, writer)
            except asyncio.CancelledError:
                # Cancelled by stop_listening()/close(); the stream machinery would
                # otherwise report the cancelled task as an error.
                pass
            finally:
                state.tasks.discard(task)

        if ssl_context is None:
            state.server = await asyncio.start_server(
                on_connection, host, port, limit=MAX_HEAD_BYTES, reuse_address=True
            )
        else:
            # TLS starts per connection once its first byte is known (_start_tls).
            loop = asyncio.get_running_loop()

            def protocol() -> asyncio.StreamReaderProtocol:
                reader = asyncio.StreamReader(limit=MAX_HEAD_BYTES, loop=loop)
                return _UnreadProtocol(reader, on_connection, loop=loop)

            state.server = await loop.create_server(protocol, host, port, reuse_address=True)
        sockname = state.server.sockets[0].getsockname()
        address = (str(sockname[0]), int(sockname[1]))
        self._sockets[address] = state
        return address

    async def _stop(self, address: tuple[str, int]) -> None:
        state = self._sockets.pop(address, None)
        if state is None or state.server is None:
            return
        state.server.close()
        for task in list(state.tasks):
            task.cancel()
        if state.tasks:
            await asyncio.gather(*state.tasks, return_exceptions=True)
        await state.server.wait_closed()

    async def _close_all(self) -> None:
        for address in list(self._sockets):
            await self._stop(address)

    # ------------------------------------------------------------ request log

    def requests(
        self, identity: EchoIdentity | None = None, since: float | None = None
    ) -> list[EchoRequest]:
        """Recorded requests, oldest first; ``since`` is a ``time.monotonic()`` value."""
        with self._log_lock:
            records = list(self._log)
        return [
            r
            for r in records
            if (identity is None or r.identity == identity) and (since is None or r.time >= since)
        ]

    def clear_requests(self) -> None:
        """Forget recorded requests and retry counters (e.g. between cases)."""
        with self._log_lock:
            self._log.clear()
            self._retries.clear()

    def _record(self, record: EchoRequest) -> None:
        with self._log_lock:
            self._log.append(record)

    # ------------------------------------------------------------ HTTP

    async def _serve(
        self, state: _Socket, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        sock = writer.get_extra_info("socket")
        if sock is not None:
            # One write per response already avoids the Nagle stall; this makes sure.
            with contextlib.suppress(OSError):
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        peername = writer.get_extra_info("peername")
        peer = _format_address(peername)
        local_port = int(writer.get_extra_info("sockname")[1])
        try:
            while True:
                try:
                    request = await _read_request(reader, writer)
                except _BadRequest as exc:
                    writer.write(_encode(_text(400, f"bad request: {exc}\n"), "HTTP/1.1", False))
                    break
                if request is None:
                    break
                try:
                    response = await self._handle(state, request, writer, peer, local_port)
                except asyncio.CancelledError:
                    raise
                except Exception:
                    log.exception("echo %s: handler failed", state.identity.service)
                    response = _text(500, "internal error in echo handler\n")
                    response.close = True
                keep = request.keep_alive() and not response.close
                self._record(
                    EchoRequest(
                        identity=state.identity,
                        method=request.method,
                        path=request.target,
                        host=(request.get("host") or [""])[0],
                        headers=tuple(request.headers),
                        body_size=len(request.body),
                        status=None if response.reset else response.status,
                        peer=peer,
                        local_port=local_port,
                        tls=state.tls,
                        time=time.monotonic(),
                        wall_time=time.time(),
                    )
                )
                if response.reset:
                    _reset(writer)
                    return
                writer.write(_encode(response, request.proto, keep, request.method == "HEAD"))
                if not keep:
                    break
                await writer.drain()
            await writer.drain()
        except (ConnectionError, asyncio.IncompleteReadError, ssl.SSLError, TimeoutError):
            pass  # the client went away; nothing to answer
        finally:
            writer.close()
            with contextlib.suppress(Exception):
                await writer.wait_closed()

    async def _handle(
        self,
        state: _Socket,
        request: _Request,
        writer: asyncio.StreamWriter,
        peer: str,
        local_port: int,
    ) -> _Response:
        if request.target.startswith("/"):
            # Not urlsplit: it would read "//status/404" as a network location.
            raw_path, _, raw_query = request.target.partition("#")[0].partition("?")
        else:  # absolute-form, as sent to proxies
            split = urlsplit(request.target)
            raw_path, raw_query = split.path, split.query
        path = re.sub("/+", "/", raw_path or "/")
        query = parse_qs(raw_query, keep_blank_values=True)

        if path == "/health":
            return _text(200, "OK")
        bad = state.misbehaviour
        if bad is not None:
            if bad.delay:
                await asyncio.sleep(bad.delay)
            if bad.reset:
                return _Response(0, b"", reset=True)
            if bad.status is not None:
                body = self._echo_body(state, request, writer, peer, local_port)
                return _Response(bad.status, body)

        status = 200
        extra_headers: list[tuple[str, str]] = []
        for spec in request.get("x-echo-set-header"):
            for item in spec.split(","):
                name, sep, value = item.partition(":")
                if sep and name.strip():
                    extra_headers.append((name.strip(), value.strip()))

        if "delay" in query:
            try:
                delay = parse_duration(query["delay"][0])
            except ValueError as exc:
                return _text(400, f"{exc}\n")
            await asyncio.sleep(delay)

        if path.startswith("/status/"):
            code = path[len("/status/") :].strip("/")
            if not code.isdigit() or not 200 <= int(code) <= 599:
                return _text(400, f"invalid status {code!r}: want 200-599\n")
            status = int(code)
        elif path in ("/retry", "/retry/"):
            failure = await self._retry(query)
            if failure is not None:
                return failure

        body = self._echo_body(state, request, writer, peer, local_port)
        return _Response(status, body, headers=extra_headers)

    async def _retry(self, query: Mapping[str, list[str]]) -> _Response | None:
        uuid = (query.get("uuid") or [""])[0]
        after = (query.get("succeedAfter") or [""])[0]
        if not uuid or not after.isdigit():
            return _text(400, "retry needs uuid and succeedAfter=N\n")
        code_text = (query.get("responseCode") or [""])[0]
        if code_text and not (code_text.isdigit() and 200 <= int(code_text) <= 599):
            return _text(400, f"invalid responseCode {code_text!r}\n")
        with self._log_lock:
            attempt = self._retries.get(uuid, 0) + 1
            self._retries[uuid] = attempt
        if attempt > int(after):
            return None
        if "delayRetry" in query:
            try:
                await asyncio.sleep(parse_duration(query["delayRetry"][0]))
            except ValueError as exc:
                return _text(400, f"{exc}\n")
        if code_text:
            return _Response(int(code_text), b"", content_type="text/plain")
        return _Response(0, b"", reset=True)

    @staticmethod
    def _echo_body(
        state: _Socket,
        request: _Request,
        writer: asyncio.StreamWriter,
        peer: str,
        local_port: int,
    ) -> bytes:
        headers: dict[str, list[str]] = {}
        for name, value in request.headers:
            canonical = canonical_header_name(name)
            if canonical in ("Host", "Transfer-Encoding"):
                continue  # Go moves these out of r.Header; echo-basic never shows them
            headers.setdefault(canonical, []).append(value)
        identity = state.identity
        echo: dict[str, Any] = {
            "path": request.target,
            "host": (request.get("host") or [""])[0],
            "method": request.method,
            "proto": request.proto,
            "headers": headers,
            "namespace": identity.namespace,
            "ingress": "",
            "service": identity.service,
            "pod": identity.pod,
            "version": identity.version,
            "httpPort": str(local_port),
            "peer": peer,
        }
        ssl_object = writer.get_extra_info("ssl_object")
        if ssl_object is not None:
            echo["tls"] = _tls_facts(ssl_object)
        return json.dumps(echo, separators=(",", ":")).encode()


# ---------------------------------------------------------------- helpers


def _quiet_exception_handler(loop: asyncio.AbstractEventLoop, context: dict[str, Any]) -> None:
    # Failed TLS handshakes and resets are the point of some tests; keep them out of stderr.
    exc = context.get("exception")
    if isinstance(exc, (ConnectionError, ssl.SSLError, TimeoutError)):
        log.debug("echo: %s", context.get("message"), exc_info=exc)
        return
    log.warning("echo loop: %s", context.get("message"), exc_info=exc)


def _format_address(address: Any) -> str:
    if isinstance(address, tuple) and len(address) >= 2:
        host = str(address[0])
        if ":" in host:
            host = f"[{host}]"
        return f"{host}:{address[1]}"
    return str(address or "")


_SNI_ATTR = "_meshgate_sni"


class _UnreadProtocol(asyncio.StreamReaderProtocol):
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


async def _start_tls(
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
            with contextlib.suppress(_BadRequest, ValueError, asyncio.LimitOverrunError):
                await asyncio.wait_for(_read_request(reader, writer), _FIRST_BYTE_TIMEOUT_S)
            writer.write(_encode(_text(400, _PLAIN_HTTP_TO_TLS), "HTTP/1.1", False))
            await writer.drain()
    except (ConnectionError, ssl.SSLError, TimeoutError, asyncio.IncompleteReadError):
        pass
    writer.close()
    with contextlib.suppress(Exception):
        await writer.wait_closed()
    return None


def _record_sni(context: ssl.SSLContext) -> None:
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


def _tls_facts(ssl_object: ssl.SSLObject) -> dict[str, Any]:
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


async def _read_request(
    reader: asyncio.StreamReader, writer: asyncio.StreamWriter
) -> _Request | None:
    """The next request on the connection, None at a clean end of stream."""
    try:
        head = await reader.readuntil(b"\r\n\r\n")
    except asyncio.IncompleteReadError as exc:
        if exc.partial.strip():
            raise _BadRequest("incomplete request head") from None
        return None
    except asyncio.LimitOverrunError:
        raise _BadRequest(f"request head larger than {MAX_HEAD_BYTES} bytes") from None
    try:
        text = head.decode("latin-1")
    except UnicodeDecodeError:  # pragma: no cover - latin-1 decodes anything
        raise _BadRequest("undecodable head") from None
    lines = text[:-4].split("\r\n")
    while lines and lines[0] == "":  # tolerated, as RFC 9112 §2.2 allows
        lines.pop(0)
    if not lines:
        raise _BadRequest("empty request")
    parts = lines[0].split(" ")
    if len(parts) != 3 or not _TOKEN.match(parts[0]) or not parts[1]:
        raise _BadRequest(f"malformed request line {lines[0]!r}")
    method, target, proto = parts
    if proto not in ("HTTP/1.1", "HTTP/1.0"):
        raise _BadRequest(f"unsupported protocol {proto!r}")
    headers: list[tuple[str, str]] = []
    for line in lines[1:]:
        name, sep, value = line.partition(":")
        if not sep or not _TOKEN.match(name):
            raise _BadRequest(f"malformed header line {line!r}")
        headers.append((name, value.strip(" \t")))
    request = _Request(method, target, proto, headers)

    if request.get("expect") and request.get("expect")[0].lower() == "100-continue":
        writer.write(b"HTTP/1.1 100 Continue\r\n\r\n")
    encodings = [t.strip().lower() for v in request.get("transfer-encoding") for t in v.split(",")]
    lengths = request.get("content-length")
    if encodings:
        if lengths:
            raise _BadRequest("both Content-Length and Transfer-Encoding")
        if encodings[-1] != "chunked":
            raise _BadRequest(f"unsupported transfer encoding {encodings!r}")
        request.body = await _read_chunked(reader)
    elif lengths:
        if len(set(lengths)) != 1 or not lengths[0].isdigit():
            raise _BadRequest(f"invalid Content-Length {lengths!r}")
        size = int(lengths[0])
        if size > MAX_BODY_BYTES:
            raise _BadRequest(f"body larger than {MAX_BODY_BYTES} bytes")
        request.body = await reader.readexactly(size)
    return request


async def _read_chunked(reader: asyncio.StreamReader) -> bytes:
    body = bytearray()
    while True:
        try:
            line = await reader.readuntil(b"\r\n")
        except asyncio.LimitOverrunError:
            raise _BadRequest("chunk size line too long") from None
        size_text = line[:-2].split(b";", 1)[0].strip()
        try:
            size = int(size_text, 16)
        except ValueError:
            raise _BadRequest(f"invalid chunk size {size_text!r}") from None
        if size < 0 or len(body) + size > MAX_BODY_BYTES:
            raise _BadRequest("invalid or too large chunk")
        if size == 0:
            while (await reader.readuntil(b"\r\n")) != b"\r\n":
                pass  # trailers are accepted and ignored
            return bytes(body)
        body += await reader.readexactly(size)
        if await reader.readexactly(2) != b"\r\n":
            raise _BadRequest("chunk not followed by CRLF")


def _text(status: int, text: str) -> _Response:
    return _Response(status, text.encode(), content_type="text/plain; charset=utf-8")


def _reason(status: int) -> str:
    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return "Unknown"


def _encode(response: _Response, proto: str, keep_alive: bool, head_only: bool = False) -> bytes:
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


def _reset(writer: asyncio.StreamWriter) -> None:
    """Close with a TCP RST: SO_LINGER 0 makes close() discard and reset (Go's SetLinger(0))."""
    sock = writer.get_extra_info("socket")
    if sock is not None:
        with contextlib.suppress(OSError):
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    writer.transport.abort()
