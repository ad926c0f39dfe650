"""The gRPC client of checks: one unary call per new HTTP/2 connection, read as an ``Exchange``.

A call is what grpc-go's client sends (conformance/utils/grpc ``SendRPC``):
``POST /<service>/<method>`` with ``content-type: application/grpc``,
``te: trailers``, a ``grpc-timeout`` from the check's timeout, the metadata
and one length-prefixed empty ``EchoRequest``; over plaintext with prior
knowledge (h2c), over TLS with ALPN ``h2``. ``:authority`` is the URL's host
and port, as ``grpc.WithAuthority`` sets it. The client waits
``DEADLINE_GRACE_S`` past the deadline for an answer, so that a gateway which
enforces the ``grpc-timeout`` is heard saying so.

The status is read as a gRPC client reads it: ``grpc-status`` of the
trailers (or of a Trailers-Only answer); an HTTP status other than 200 maps
through gRPC's HTTP-to-gRPC table (a 404 is UNIMPLEMENTED), a non-gRPC
content type is UNKNOWN, a stream reset maps its error code. No answer at all
(refused, reset before the response headers, a failed handshake, the
deadline) is a connection outcome, as for HTTP checks.
"""

from __future__ import annotations

import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from typing import Any
from urllib.parse import urlsplit

import h2.config
import h2.connection
import h2.events
import h2.exceptions

from .._cases.model.request import Request
from .._grpcwire import (
    GRPC_CONTENT_TYPE,
    EchoRequest,
    EchoResponse,
    WireError,
    encode_timeout,
    frame,
    percent_decode,
    status_code,
    status_from_http,
    unframe,
)
from .client import describe_error, failure_outcome, substitute
from .connection import NoAnswer, open_connection
from .records import (
    MESHGATE_ID_HEADER,
    ClientTLS,
    Exchange,
    GrpcReply,
    ResponseRecord,
    SentRequest,
    TLSInfo,
)

__all__ = ["DEADLINE_GRACE_S", "USER_AGENT", "GrpcClient", "echo_of"]

USER_AGENT = "meshgate-grpc/0.1"
# A server that enforces the call's grpc-timeout (Envoy does) answers at the deadline;
# the client waits this much longer so that answer is read, not raced.
DEADLINE_GRACE_S = 1.0

# grpc-go internal/transport http2ErrConvTab: how a stream reset reads as a status.
# Every other error code is INTERNAL.
_RESET_STATUS = {
    0x3: "RESOURCE_EXHAUSTED",  # FLOW_CONTROL_ERROR
    0x7: "UNAVAILABLE",  # REFUSED_STREAM
    0x8: "CANCELLED",  # CANCEL
    0xB: "RESOURCE_EXHAUSTED",  # ENHANCE_YOUR_CALM
    0xC: "PERMISSION_DENIED",  # INADEQUATE_SECURITY
}


class GrpcClient:
    """Makes unary gRPC calls, each on a connection of its own (as ``HTTPClient`` sends)."""

    def __init__(self, timeout: float = 10.0) -> None:
        self.timeout = timeout

    def call(
        self,
        request: Request,
        address: tuple[str, int],
        entry: str,
        timeout: float | None = None,
        tls: ClientTLS | None = None,
        original_destination: tuple[str, int] | None = None,
    ) -> Exchange:
        """Call ``request.grpc`` at ``address``; ``tls`` is required for ``https`` URLs.

        ``original_destination``: sent first in a PROXY protocol header (a
        sidecar's listener), as ``HTTPClient.send`` does.
        """
        grpc = request.grpc
        if grpc is None:
            raise ValueError("not a gRPC request")
        limit = timeout or self.timeout
        meshgate_id = uuid.uuid4().hex
        attempt = str(uuid.uuid4())
        url = substitute(request.url, attempt)
        parts = urlsplit(url)
        https = parts.scheme == "https"
        if https and tls is None:
            raise ValueError("an https request needs its ClientTLS")
        headers = [
            (":method", "POST"),
            (":scheme", parts.scheme),
            (":path", grpc.path),
            (":authority", parts.netloc.rsplit("@", 1)[-1]),
            ("content-type", GRPC_CONTENT_TYPE),
            ("te", "trailers"),
            ("user-agent", USER_AGENT),
            ("grpc-timeout", encode_timeout(limit)),
            *((k, substitute(v, attempt)) for k, v in grpc.metadata.items()),
            (MESHGATE_ID_HEADER, meshgate_id),
        ]
        sent = SentRequest(
            method="POST",
            url=url,
            headers=tuple(headers),
            body=None,
            address=address,
            entry=entry,
            meshgate_id=meshgate_id,
            tls=tls if https else None,
            http2=True,
            original_destination=original_destination,
            grpc=grpc.path,
        )
        start = time.perf_counter()
        deadline = time.monotonic() + limit + DEADLINE_GRACE_S
        try:
            sock, negotiated = self._connect(
                address, tls if https else None, original_destination, limit
            )
        except NoAnswer as exc:
            return Exchange(sent, None, exc.outcome, str(exc), _since(start))
        try:
            record = _exchange_call(sock, headers, deadline)
        except NoAnswer as exc:
            return Exchange(sent, None, exc.outcome, str(exc), _since(start), tls=negotiated)
        finally:
            sock.close()
        return Exchange(sent, record, elapsed=_since(start), tls=negotiated)

    def call_many(
        self,
        request: Request,
        address: tuple[str, int],
        entry: str,
        count: int,
        concurrency: int = 1,
        timeout: float | None = None,
        tls: ClientTLS | None = None,
        original_destination: tuple[str, int] | None = None,
    ) -> list[Exchange]:
        """``count`` calls, ``concurrency`` connections at a time; in the order they were sent."""
        with ThreadPoolExecutor(max_workers=max(1, min(concurrency, count))) as pool:
            futures = [
                pool.submit(self.call, request, address, entry, timeout, tls, original_destination)
                for _ in range(count)
            ]
            return [f.result() for f in futures]

    def _connect(
        self,
        address: tuple[str, int],
        tls: ClientTLS | None,
        original_destination: tuple[str, int] | None,
        limit: float,
    ) -> tuple[Any, TLSInfo | None]:
        # A gRPC client offers nothing but h2, and needs it.
        sock, negotiated = open_connection(address, tls, original_destination, limit, "h2")
        if negotiated is not None and negotiated.alpn != "h2":
            sock.close()
            raise NoAnswer(
                "error", f"the server did not negotiate ALPN h2 (got {negotiated.alpn or 'none'})"
            )
        return sock, negotiated


def _exchange_call(sock: Any, headers: list[tuple[str, str]], deadline: float) -> ResponseRecord:
    """Send the call on a fresh HTTP/2 connection and read its answer to the end of the stream."""
    config = h2.config.H2Configuration(client_side=True, header_encoding=None)
    conn = h2.connection.H2Connection(config=config)
    conn.initiate_connection()
    stream_id = conn.get_next_available_stream_id()
    conn.send_headers(stream_id, headers)
    conn.send_data(stream_id, frame(EchoRequest().encode()), end_stream=True)
    response: list[tuple[str, str]] | None = None
    trailers: list[tuple[str, str]] = []
    body = bytearray()
    reset: int | None = None
    ended = trailers_only = False
    try:
        sock.sendall(conn.data_to_send())
        while not ended and reset is None:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise TimeoutError("deadline exceeded waiting for the answer")
            sock.settimeout(remaining)
            data = sock.recv(65536)
            if not data:
                break
            for event in conn.receive_data(data):
                if isinstance(event, h2.events.ResponseReceived):
                    response = _decoded(event.headers)
                    trailers_only = event.stream_ended is not None
                elif isinstance(event, h2.events.TrailersReceived):
                    trailers = _decoded(event.headers)
                elif isinstance(event, h2.events.DataReceived):
                    body += event.data
                    conn.acknowledge_received_data(event.flow_controlled_length, stream_id)
                elif isinstance(event, h2.events.StreamEnded):
                    ended = True
                elif isinstance(event, h2.events.StreamReset):
                    reset = event.error_code
                elif (
                    isinstance(event, h2.events.ConnectionTerminated)
                    and not ended
                    and (event.last_stream_id or 0) < stream_id
                ):
                    reset = 0x7  # a GOAWAY before our stream: refused, as REFUSED_STREAM
            pending = conn.data_to_send()
            if pending:
                sock.sendall(pending)
    except TimeoutError as exc:
        raise NoAnswer("timeout", describe_error(exc)) from None
    except h2.exceptions.ProtocolError as exc:
        raise NoAnswer("error", f"HTTP/2 protocol error: {exc}") from None
    except OSError as exc:
        raise NoAnswer(failure_outcome(exc, connected=True), describe_error(exc)) from None
    if response is None:
        why = f"stream reset (error code {reset})" if reset is not None else "connection closed"
        raise NoAnswer("reset", f"no response headers: {why}")
    if trailers_only:
        trailers = [(k, v) for k, v in response if not k.startswith(":")]
    return _record(response, trailers, bytes(body), ended, reset)


def _decoded(headers: Any) -> list[tuple[str, str]]:
    return [(k.decode("latin-1"), v.decode("latin-1")) for k, v in headers]


def _record(
    response: list[tuple[str, str]],
    trailers: list[tuple[str, str]],
    body: bytes,
    ended: bool,
    reset: int | None,
) -> ResponseRecord:
    """The answer as the judge reads it: HTTP facts plus the gRPC status a client reports.

    ``trailers`` are the trailing fields, or a Trailers-Only answer's header fields.
    """
    pseudo = dict((k, v) for k, v in response if k.startswith(":"))
    headers = tuple((k, v) for k, v in response if not k.startswith(":"))
    http_status = int(pseudo.get(":status", "0"))
    content_type = next((v for k, v in headers if k == "content-type"), "")
    grpc_status = next((v for k, v in trailers if k == "grpc-status"), None)
    message = percent_decode(next((v for k, v in trailers if k == "grpc-message"), ""))
    echo: dict[str, Any] | None = None
    if http_status != 200:
        reply = GrpcReply(status_from_http(http_status), message, (), None, f"HTTP {http_status}")
    elif not content_type.lower().startswith(GRPC_CONTENT_TYPE):
        reply = GrpcReply(2, message, (), None, f"content-type {content_type or 'missing'}")
    elif reset is not None and grpc_status is None:
        code = status_code(_RESET_STATUS.get(reset, "INTERNAL"))
        reply = GrpcReply(code, message, tuple(trailers), None, f"RST_STREAM {reset}")
    elif grpc_status is None or not grpc_status.isdigit():
        # grpc-go: trailers without a status are UNKNOWN, no trailers INTERNAL, and a
        # connection lost mid-stream UNAVAILABLE.
        if trailers:
            code, source = 2, "trailers without grpc-status"
        elif ended:
            code, source = 13, "a stream ended without trailers"
        else:
            code, source = 14, "a connection closed mid-stream"
        reply = GrpcReply(code, message, tuple(trailers), None, source)
    else:
        code = int(grpc_status)
        source = "grpc-status"
        if code == 0:
            try:
                messages = unframe(body)
                if len(messages) != 1:
                    raise WireError(f"{len(messages)} response messages to a unary call")
                echo = echo_of(EchoResponse.decode(messages[0]))
            except WireError as exc:
                code, message, source = 13, f"undecodable response: {exc}", "the client"
        reply = GrpcReply(code, message, tuple(trailers), echo, source)
    return ResponseRecord(
        status=http_status,
        reason="",
        http_version="HTTP/2",
        headers=headers,
        body=body,
        grpc=reply,
    )


def echo_of(response: EchoResponse) -> dict[str, Any] | None:
    """An ``EchoResponse`` in the echo-basic JSON form the judge reads (None: not the echo's)."""
    assertions = response.assertions
    if assertions is None or assertions.context is None:
        return None
    context = assertions.context
    headers: dict[str, list[str]] = {}
    for header in assertions.headers:
        headers.setdefault(header.key, []).append(header.value)
    echo: dict[str, Any] = {
        "path": assertions.fully_qualified_method,
        "host": assertions.authority,
        "method": "POST",
        "proto": "HTTP/2.0",
        "headers": headers,
        "namespace": context.namespace,
        "ingress": context.ingress,
        "service": context.service_name,
        "pod": context.pod,
    }
    if context.version:
        echo["version"] = context.version
    if context.peer:
        echo["peer"] = context.peer
    facts = assertions.tls_assertions
    if facts is not None:
        echo["tls"] = {
            "version": facts.version,
            "serverName": facts.server_name,
            "negotiatedProtocol": facts.negotiated_protocol,
            "cipherSuite": facts.cipher_suite,
            "peerCertificates": list(facts.peer_certificates),
        }
    return echo


def _since(start: float) -> float:
    return time.perf_counter() - start
