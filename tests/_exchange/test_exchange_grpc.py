"""The gRPC client against real servers: the echo, grpcio, and scripted HTTP/2 misbehaviour."""

from __future__ import annotations

import contextlib
import socket
import ssl
import threading
from collections.abc import Callable, Iterator
from concurrent import futures
from typing import Any

import grpc
import h2.config
import h2.connection
import h2.errors
import h2.events
import pytest
import trustme

from pytest_meshgate._cases.model.request import Request
from pytest_meshgate._exchange.grpc import GrpcClient
from pytest_meshgate._exchange.records import ClientTLS
from pytest_meshgate._grpcwire import ECHO_SERVICE
from pytest_meshgate._targets.echo import EchoIdentity, EchoServer
from pytest_meshgate._targets.local.envoy import allocate_port


def call(method: str = "Echo", url: str = "http://grpc.example.com", **grpc_keys: Any) -> Request:
    return Request.model_validate({"url": url, "grpc": {"method": method, **grpc_keys}})


@pytest.fixture(scope="module")
def echo() -> Iterator[EchoServer]:
    with EchoServer() as server:
        yield server


@pytest.fixture
def client() -> GrpcClient:
    return GrpcClient(timeout=5)


def test_a_call_to_the_echo_reads_as_an_echo_exchange(echo: EchoServer, client: GrpcClient) -> None:
    listener = echo.listen(EchoIdentity("grpc", "ns", "v2"))
    request = call(url="http://grpc.example.com:8080", metadata={"Version": "${uuid}"})
    exchange = client.call(request, listener.address, "test")
    response = exchange.response
    assert response is not None and response.grpc is not None, exchange.describe_outcome()
    assert (response.status, response.http_version, response.grpc.status) == (200, "HTTP/2", 0)
    echo_view = response.echo
    assert echo_view is not None
    assert echo_view["path"] == f"/{ECHO_SERVICE}/Echo"
    assert echo_view["host"] == "grpc.example.com:8080"  # :authority, port kept
    assert (echo_view["service"], echo_view["version"], echo_view["namespace"]) == (
        "grpc",
        "v2",
        "ns",
    )
    # Metadata keys are sent lower-cased; ${uuid} is substituted; the id rides along.
    (version,) = echo_view["headers"]["version"]
    assert len(version) == 36 and version != "${uuid}"
    assert echo_view["headers"]["x-meshgate-id"] == [exchange.request.meshgate_id]
    sent = dict(exchange.request.headers)
    assert (sent[":path"], sent["te"], sent["grpc-timeout"]) == (
        f"/{ECHO_SERVICE}/Echo",
        "trailers",
        "5000000u",
    )
    assert "gRPC /gateway_api_conformance" in exchange.request.describe()


def test_an_unimplemented_method_is_a_grpc_answer(echo: EchoServer, client: GrpcClient) -> None:
    listener = echo.listen(EchoIdentity("grpc"))
    exchange = client.call(call("EchoThree"), listener.address, "test")
    assert exchange.response is not None and exchange.response.grpc is not None
    reply = exchange.response.grpc
    assert (reply.status, reply.message, reply.source) == (
        12,
        "method EchoThree not implemented",
        "grpc-status",
    )
    assert exchange.response.echo is None
    assert "gRPC status 12 UNIMPLEMENTED" in exchange.describe_outcome()


@pytest.fixture
def grpcio_server() -> Iterator[int]:
    """A grpcio server: /t.S/Echo answers with a trailer, /t.S/Fail aborts."""

    def echo(request: bytes, context: grpc.ServicerContext) -> bytes:
        context.set_trailing_metadata((("x-trailer", "t1"),))
        return b""

    def fail(request: bytes, context: grpc.ServicerContext) -> bytes:
        context.abort(grpc.StatusCode.PERMISSION_DENIED, "nope: é 100%")
        raise AssertionError("abort raises")

    class Handler(grpc.GenericRpcHandler):
        def service(self, details: Any) -> Any:
            methods = {"/t.S/Echo": echo, "/t.S/Fail": fail}
            method = methods.get(details.method)
            return None if method is None else grpc.unary_unary_rpc_method_handler(method)

    server = grpc.server(futures.ThreadPoolExecutor(max_workers=2))
    server.add_generic_rpc_handlers((Handler(),))
    port = server.add_insecure_port("127.0.0.1:0")
    server.start()
    try:
        yield port
    finally:
        server.stop(0)


def test_statuses_messages_and_trailers_from_grpcio(grpcio_server: int, client: GrpcClient) -> None:
    address = ("127.0.0.1", grpcio_server)
    ok = client.call(call("Echo", service="t.S"), address, "grpcio")
    assert ok.response is not None and ok.response.grpc is not None
    assert ok.response.grpc.status == 0
    assert ok.response.grpc.trailer("x-trailer") == "t1"
    assert ok.response.echo is None  # an empty message: not the echo's answer
    failed = client.call(call("Fail", service="t.S"), address, "grpcio")
    assert failed.response is not None and failed.response.grpc is not None
    assert (failed.response.grpc.status, failed.response.grpc.message) == (7, "nope: é 100%")
    unknown = client.call(call("Other", service="t.S"), address, "grpcio")
    assert unknown.response is not None and unknown.response.grpc is not None
    assert unknown.response.grpc.status == 12


Script = Callable[[h2.connection.H2Connection, int], None]


@contextlib.contextmanager
def scripted_server(script: Script | None) -> Iterator[tuple[str, int]]:
    """One HTTP/2 connection answered by ``script`` (None: close as the request arrives)."""
    listener = socket.create_server(("127.0.0.1", 0))
    address = listener.getsockname()

    def serve() -> None:
        sock, _ = listener.accept()
        with sock:
            conn = h2.connection.H2Connection(h2.config.H2Configuration(client_side=False))
            conn.initiate_connection()
            sock.sendall(conn.data_to_send())
            while data := sock.recv(65536):
                for event in conn.receive_data(data):
                    if isinstance(event, h2.events.StreamEnded):
                        if script is None:
                            return
                        script(conn, event.stream_id)
                sock.sendall(conn.data_to_send())

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        yield address
    finally:
        listener.close()
        thread.join(5)


def _headers_only(status: str, *extra: tuple[str, str]) -> Script:
    def script(conn: h2.connection.H2Connection, stream: int) -> None:
        conn.send_headers(stream, [(":status", status), *extra], end_stream=True)

    return script


def _reset_after_headers(conn: h2.connection.H2Connection, stream: int) -> None:
    conn.send_headers(stream, [(":status", "200"), ("content-type", "application/grpc")])
    conn.reset_stream(stream, h2.errors.ErrorCodes.REFUSED_STREAM)


def _data_without_trailers(conn: h2.connection.H2Connection, stream: int) -> None:
    conn.send_headers(stream, [(":status", "200"), ("content-type", "application/grpc")])
    conn.send_data(stream, b"\x00\x00\x00\x00\x00", end_stream=True)


@pytest.mark.parametrize(
    ("script", "status", "source"),
    [
        # Envoy's 404 reaching a client as HTTP: gRPC's HTTP-to-gRPC table.
        (_headers_only("404"), 12, "HTTP 404"),
        (_headers_only("503", ("grpc-status", "0")), 14, "HTTP 503"),  # HTTP status wins
        (_headers_only("200", ("content-type", "text/html")), 2, "content-type text/html"),
        (_reset_after_headers, 14, "RST_STREAM 7"),
        (_data_without_trailers, 13, "a stream ended without trailers"),
        (
            _headers_only("200", ("content-type", "application/grpc"), ("x-no-status", "1")),
            2,
            "trailers without grpc-status",
        ),
    ],
)
def test_answers_without_a_grpc_status_read_as_grpc_go_reads_them(
    client: GrpcClient, script: Script, status: int, source: str
) -> None:
    with scripted_server(script) as address:
        exchange = client.call(call(), address, "scripted")
    assert exchange.response is not None and exchange.response.grpc is not None
    assert (exchange.response.grpc.status, exchange.response.grpc.source) == (status, source)


def test_no_response_headers_is_no_answer(client: GrpcClient) -> None:
    with scripted_server(None) as address:
        exchange = client.call(call(), address, "scripted")
    assert (exchange.response, exchange.connection) == (None, "reset")


def test_refused_and_timed_out_calls(client: GrpcClient) -> None:
    refused = client.call(call(), ("127.0.0.1", allocate_port()), "nothing")
    assert (refused.response, refused.connection) == (None, "refused")
    silent = socket.create_server(("127.0.0.1", 0))  # accepts, never answers
    with silent:
        slow = GrpcClient(timeout=0.3).call(call(), silent.getsockname(), "silent")
    assert (slow.response, slow.connection) == (None, "timeout")


def test_a_proxy_protocol_header_goes_first(client: GrpcClient) -> None:
    listener = socket.create_server(("127.0.0.1", 0))
    received: list[bytes] = []

    def read_then_close() -> None:
        sock, _ = listener.accept()
        data = b""
        with sock:
            while b"PRI * HTTP/2.0" not in data and (chunk := sock.recv(1024)):
                data += chunk
        received.append(data)

    thread = threading.Thread(target=read_then_close, daemon=True)
    thread.start()
    with listener:
        client.call(
            call(),
            listener.getsockname(),
            "sidecar",
            original_destination=("10.96.0.7", 8080),
        )
    thread.join(5)
    line, _, rest = received[0].partition(b"\r\n")
    assert line.startswith(b"PROXY TCP4 127.0.0.1 10.96.0.7 ") and line.endswith(b" 8080")
    assert rest.startswith(b"PRI * HTTP/2.0")  # then the HTTP/2 preface


@pytest.fixture(scope="module")
def ca() -> trustme.CA:
    return trustme.CA()


def _server_context(ca: trustme.CA, alpn: list[str]) -> ssl.SSLContext:
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("grpc.example.com").configure_cert(context)
    context.set_alpn_protocols(alpn)
    return context


def test_over_tls_alpn_h2_is_offered_and_required(
    echo: EchoServer, client: GrpcClient, ca: trustme.CA
) -> None:
    tls = ClientTLS(server_name="grpc.example.com", ca_pem=ca.cert_pem.bytes(), http2=True)
    request = call(url="https://grpc.example.com")
    h2_listener = echo.listen(EchoIdentity("grpc"), ssl_context=_server_context(ca, ["h2"]))
    exchange = client.call(request, h2_listener.address, "tls", tls=tls)
    assert exchange.tls is not None and exchange.tls.alpn == "h2"
    assert exchange.response is not None and exchange.response.echo is not None
    assert exchange.response.echo["tls"]["serverName"] == "grpc.example.com"
    http1_only = echo.listen(EchoIdentity("grpc"), ssl_context=_server_context(ca, ["http/1.1"]))
    refused = client.call(request, http1_only.address, "tls", tls=tls)
    assert refused.connection == "error"
    assert "did not negotiate ALPN h2" in (refused.error or "")


def test_many_calls_each_reach_the_backend(echo: EchoServer, client: GrpcClient) -> None:
    listener = echo.listen(EchoIdentity("grpc"))
    exchanges = client.call_many(call(), listener.address, "many", count=12, concurrency=4)
    assert len(exchanges) == 12
    ids = [e.request.meshgate_id for e in exchanges]
    assert len(set(ids)) == 12
    logged = {h for r in echo.requests() for h in r.header("x-meshgate-id")}
    assert set(ids) <= logged
    assert all(e.response is not None and e.response.grpc is not None for e in exchanges)
