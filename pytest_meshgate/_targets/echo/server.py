"""The echo server: listening sockets on one asyncio loop in a daemon thread, and a request log.

Each socket answers HTTP/1.1 keep-alive connections (``protocol``), over TLS if
it has a context (``tls``), as its ``EchoIdentity`` through ``EchoHandler``.
A connection that opens with the HTTP/2 preface (h2c) or negotiates ALPN
``h2`` is served as HTTP/2 (``http2``), gRPC calls included (``grpcecho``).
Malformed requests get 400 and a closed connection; an exception in a handler
is logged and answered 500. Every answered request and call (resets included,
with ``status=None``) is recorded in a bounded log, see ``EchoServer.requests()``.
A socket told to refuse or drop connections (``EchoFault.refuse``,
``blackhole``) is staged in the kernel and answers nothing. ``/ws`` is a
WebSocket echo (``websocket``), as echo-basic's.
"""

from __future__ import annotations

import asyncio
import collections
import concurrent.futures
import contextlib
import logging
import socket
import ssl
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from .handler import EchoFault, EchoHandler, EchoIdentity
from .protocol import (
    MAX_HEAD_BYTES,
    PRIOR_KNOWLEDGE_HEAD,
    BadRequest,
    HTTPRequest,
    PriorKnowledge,
    encode_response,
    read_request,
    reset_connection,
    text_response,
)
from .tls import UnreadProtocol, record_sni, start_tls
from .websocket import handshake_refusal, is_websocket_request, serve_session

__all__ = [
    "DEFAULT_LOG_SIZE",
    "EchoListener",
    "EchoRequest",
    "EchoServer",
]

log = logging.getLogger(__name__)

DEFAULT_LOG_SIZE = 10_000
_CALL_TIMEOUT_S = 10.0


@dataclass(frozen=True)
class EchoRequest:
    """One request an echo answered, as recorded in ``EchoServer.requests()``.

    ``time`` is ``time.monotonic()`` when the answer was written; ``status`` is
    None for a retry answered by a TCP reset. ``headers`` are as received (over
    HTTP/2 without pseudo-headers; ``host`` is then the ``:authority``).
    ``grpc_status`` is the status a gRPC call was answered with (None: no gRPC).
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
    grpc_status: int | None = None

    def header(self, name: str) -> list[str]:
        """Values of header ``name``, ignoring case."""
        wanted = name.lower()
        return [value for key, value in self.headers if key.lower() == wanted]


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
        self,
        identity: EchoIdentity,
        tls: bool,
        fault: EchoFault | None = None,
        h2c_only: bool = False,
    ) -> None:
        self.identity = identity
        self.tls = tls
        self.fault = fault
        self.h2c_only = h2c_only
        self.server: asyncio.AbstractServer | None = None
        self.tasks: set[asyncio.Task[None]] = set()
        # A listener that takes no connection (refuse, blackhole): its sockets.
        self.dead: list[socket.socket] = []


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
        self._handler = EchoHandler()
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
        misbehaviour: EchoFault | None = None,
        h2c_only: bool = False,
    ) -> EchoListener:
        """Listen on ``host:port`` (0: any free port) as ``identity``; TLS if ``ssl_context``;
        answering every request as ``misbehaviour`` says if given.

        ``h2c_only``: serve as echo-basic's h2c server does (its ``H2C_PORT``, the port
        behind an ``appProtocol: kubernetes.io/h2c`` Service port): an HTTP/1 request
        without ``Upgrade: h2c`` gets 400 ``Expected h2c request``, HTTP/2 is echoed.

        To see client certificates in ``tls.peerCertificates`` the context must ask
        for them (``verify_mode`` CERT_OPTIONAL or CERT_REQUIRED, with a CA loaded).
        The context's ``sni_callback`` is wrapped to record the SNI.
        """
        if ssl_context is not None:
            record_sni(ssl_context)
        bound_host, bound_port = self._call(
            self._listen(identity, host, port, ssl_context, misbehaviour, h2c_only)
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
        fault: EchoFault | None = None,
        h2c_only: bool = False,
    ) -> tuple[str, int]:
        state = _Socket(identity, tls=ssl_context is not None, fault=fault, h2c_only=h2c_only)
        if fault is not None and fault.takes_no_connection:
            state.dead, address = _dead_sockets(host, port, blackhole=fault.blackhole)
            self._sockets[address] = state
            return address

        async def on_connection(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            task = asyncio.current_task()
            assert task is not None
            state.tasks.add(task)
            try:
                if ssl_context is not None:
                    upgraded = await start_tls(reader, writer, ssl_context)
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
            # TLS starts per connection once its first byte is known (start_tls).
            loop = asyncio.get_running_loop()

            def protocol() -> asyncio.StreamReaderProtocol:
                reader = asyncio.StreamReader(limit=MAX_HEAD_BYTES, loop=loop)
                return UnreadProtocol(reader, on_connection, loop=loop)

            state.server = await loop.create_server(protocol, host, port, reuse_address=True)
        sockname = state.server.sockets[0].getsockname()
        address = (str(sockname[0]), int(sockname[1]))
        self._sockets[address] = state
        return address

    async def _stop(self, address: tuple[str, int]) -> None:
        state = self._sockets.pop(address, None)
        if state is None:
            return
        for dead in state.dead:
            dead.close()
        if state.server is None:
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
        self._handler.clear_retries()

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
        ssl_object = writer.get_extra_info("ssl_object")
        first = True
        try:
            if ssl_object is not None and ssl_object.selected_alpn_protocol() == "h2":
                await self._serve_http2(state, reader, writer, peer, local_port, b"")
                return
            while True:
                try:
                    request = await read_request(
                        reader, writer, plaintext_start=first and ssl_object is None
                    )
                except PriorKnowledge:
                    if not first:
                        break  # the preface belongs at the start of a connection
                    rest = await reader.readexactly(6)
                    await self._serve_http2(
                        state, reader, writer, peer, local_port, PRIOR_KNOWLEDGE_HEAD + rest
                    )
                    return
                except BadRequest as exc:
                    refusal = text_response(400, f"bad request: {exc}\n")
                    writer.write(encode_response(refusal, "HTTP/1.1", False))
                    break
                if request is None:
                    break
                first = False
                h2c_refused = state.h2c_only and not _asks_h2c(request)
                websocket = (
                    not h2c_refused and state.fault is None and is_websocket_request(request)
                )
                ws_refusal = handshake_refusal(request) if websocket else None
                if websocket and ws_refusal is None:
                    # The connection is the WebSocket's from here on (echo-basic's /ws).
                    self._record(_record_of(state, request, 101, peer, local_port))
                    await serve_session(request, reader, writer)
                    return
                try:
                    if h2c_refused:
                        # echo-basic runH2CServer: HTTP/1 only with an h2c upgrade.
                        response = text_response(400, "Expected h2c request")
                    elif ws_refusal is not None:
                        response = ws_refusal
                    else:
                        response = await self._handler.answer(
                            state.identity, state.fault, request, writer, peer, local_port
                        )
                except asyncio.CancelledError:
                    raise
                except Exception:
                    log.exception("echo %s: handler failed", state.identity.service)
                    response = text_response(500, "internal error in echo handler\n")
                    response.close = True
                keep = request.keep_alive() and not response.close
                self._record(
                    _record_of(
                        state,
                        request,
                        None if response.reset else response.status,
                        peer,
                        local_port,
                    )
                )
                if response.reset:
                    reset_connection(writer)
                    return
                writer.write(
                    encode_response(response, request.proto, keep, request.method == "HEAD")
                )
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

    async def _serve_http2(
        self,
        state: _Socket,
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
        peer: str,
        local_port: int,
        initial: bytes,
    ) -> None:
        # Imported here: h2 is the echo's only third-party need, and only for HTTP/2.
        from .http2 import serve_http2

        def record(
            method: str,
            path: str,
            host: str,
            headers: tuple[tuple[str, str], ...],
            body_size: int,
            status: int | None,
            grpc_status: int | None,
        ) -> None:
            self._record(
                EchoRequest(
                    identity=state.identity,
                    method=method,
                    path=path,
                    host=host,
                    headers=headers,
                    body_size=body_size,
                    status=status,
                    peer=peer,
                    local_port=local_port,
                    tls=state.tls,
                    time=time.monotonic(),
                    wall_time=time.time(),
                    grpc_status=grpc_status,
                )
            )

        await serve_http2(
            reader,
            writer,
            identity=state.identity,
            fault=state.fault,
            handler=self._handler,
            peer=peer,
            local_port=local_port,
            record=record,
            initial=initial,
        )


def _dead_sockets(
    host: str, port: int, *, blackhole: bool
) -> tuple[list[socket.socket], tuple[str, int]]:
    """A port that takes no connection, held so that nothing else gets it; its address.

    Refuse: the port is bound but not listening, so a SYN is answered by a
    reset (``ECONNREFUSED``). Blackhole: it listens with a backlog of 0 and one
    connection of our own fills the accept queue, never accepted; Linux then
    drops every further SYN (``tcp_conn_request``: accept queue full), so a
    connect hangs until the caller gives up, as with a firewall dropping packets.
    """
    family, kind, proto, _, sockaddr = socket.getaddrinfo(
        host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE
    )[0]
    bound = socket.socket(family, kind, proto)
    try:
        if blackhole:
            # Not for a refusing port: Linux lets two SO_REUSEADDR sockets share a
            # port neither listens on, and then the other could take it.
            bound.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        bound.bind(sockaddr)
        name = bound.getsockname()
        address = (str(name[0]), int(name[1]))
        if not blackhole:
            return [bound], address
        bound.listen(0)
        # Wildcard addresses are reached through loopback; the queue is the socket's.
        target = {"0.0.0.0": "127.0.0.1", "::": "::1"}.get(address[0], address[0])
        filler = socket.create_connection((target, address[1]), timeout=2.0)
    except BaseException:
        bound.close()
        raise
    return [bound, filler], address


def _quiet_exception_handler(loop: asyncio.AbstractEventLoop, context: dict[str, Any]) -> None:
    # Failed TLS handshakes and resets are the point of some tests; keep them out of stderr.
    exc = context.get("exception")
    if isinstance(exc, (ConnectionError, ssl.SSLError, TimeoutError)):
        log.debug("echo: %s", context.get("message"), exc_info=exc)
        return
    log.warning("echo loop: %s", context.get("message"), exc_info=exc)


def _record_of(
    state: _Socket, request: HTTPRequest, status: int | None, peer: str, local_port: int
) -> EchoRequest:
    return EchoRequest(
        identity=state.identity,
        method=request.method,
        path=request.target,
        host=(request.get("host") or [""])[0],
        headers=tuple(request.headers),
        body_size=len(request.body),
        status=status,
        peer=peer,
        local_port=local_port,
        tls=state.tls,
        time=time.monotonic(),
        wall_time=time.time(),
    )


def _asks_h2c(request: HTTPRequest) -> bool:
    return any(v.strip().lower() == "h2c" for v in request.get("upgrade"))


def _format_address(address: Any) -> str:
    if isinstance(address, tuple) and len(address) >= 2:
        host = str(address[0])
        if ":" in host:
            host = f"[{host}]"
        return f"{host}:{address[1]}"
    return str(address or "")
