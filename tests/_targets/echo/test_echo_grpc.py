"""The echo's GrpcEcho service, called by grpcio (an independent gRPC implementation)."""

from __future__ import annotations

import socket
import ssl
import time
from collections.abc import Iterator

import grpc
import pytest
import trustme
from echo_clients import REVIEWS

from pytest_meshgate._grpcwire import ECHO_SERVICE, EchoResponse
from pytest_meshgate._targets.echo import EchoFault, EchoListener, EchoServer


def _channel(
    listener: EchoListener, authority: str = "grpc.example.com", **options: object
) -> grpc.Channel:
    settings = [("grpc.default_authority", authority), *options.items()]
    return grpc.insecure_channel(f"{listener.host}:{listener.port}", options=settings)


def _call(
    channel: grpc.Channel,
    method: str,
    metadata: tuple[tuple[str, str], ...] = (),
    service: str = ECHO_SERVICE,
) -> tuple[EchoResponse, grpc.Call]:
    stub = channel.unary_unary(f"/{service}/{method}")
    raw, call = stub.with_call(b"", metadata=metadata, timeout=5)
    return EchoResponse.decode(raw), call


@pytest.fixture
def channel(plain: EchoListener) -> Iterator[grpc.Channel]:
    with _channel(plain) as ch:
        yield ch


def test_echo_reports_method_authority_metadata_and_pod(
    echo: EchoServer, channel: grpc.Channel
) -> None:
    response, call = _call(channel, "Echo", (("version", "one"), ("x-multi", "a")))
    assert call.code() == grpc.StatusCode.OK
    assertions = response.assertions
    assert assertions is not None and assertions.context is not None
    assert assertions.fully_qualified_method == f"/{ECHO_SERVICE}/Echo"
    assert assertions.authority == "grpc.example.com"
    metadata = [(h.key, h.value) for h in assertions.headers]
    assert (":authority", "grpc.example.com") in metadata
    assert ("version", "one") in metadata and ("x-multi", "a") in metadata
    assert ("content-type", "application/grpc") in metadata
    assert any(k == "user-agent" and v.startswith("grpc-python") for k, v in metadata)
    # gRPC's own fields are not metadata (grpc-go isReservedHeader), though sent.
    assert not {"te", "grpc-timeout"} & {k for k, _ in metadata}
    (record,) = echo.requests()
    assert record.header("te") == ["trailers"] and record.header("grpc-timeout")
    context = assertions.context
    assert (context.namespace, context.service_name, context.pod, context.version) == (
        "bookinfo",
        "reviews",
        "reviews-v2-abc",
        "v2",
    )
    assert context.peer.startswith("127.0.0.1:")
    assert assertions.tls_assertions is None


def test_echo_two_is_a_second_method(channel: grpc.Channel) -> None:
    response, _ = _call(channel, "EchoTwo")
    assert response.assertions is not None
    assert response.assertions.fully_qualified_method == f"/{ECHO_SERVICE}/EchoTwo"


@pytest.mark.parametrize(
    ("service", "method", "details"),
    [
        (ECHO_SERVICE, "EchoThree", "method EchoThree not implemented"),
        (ECHO_SERVICE, "EchoFour", f"unknown method EchoFour for service {ECHO_SERVICE}"),
        ("other.Service", "Echo", "unknown service other.Service"),
    ],
)
def test_other_methods_are_unimplemented(
    channel: grpc.Channel, service: str, method: str, details: str
) -> None:
    with pytest.raises(grpc.RpcError) as failure:
        _call(channel, method, service=service)
    error = failure.value
    assert error.code() == grpc.StatusCode.UNIMPLEMENTED  # type: ignore[attr-defined]
    assert error.details() == details  # type: ignore[attr-defined]


def test_calls_are_recorded_with_their_grpc_status(echo: EchoServer, channel: grpc.Channel) -> None:
    _call(channel, "Echo", (("x-meshgate-id", "abc"),))
    with pytest.raises(grpc.RpcError):
        _call(channel, "EchoThree")
    first, second = echo.requests()
    assert (first.method, first.path, first.host) == (
        "POST",
        f"/{ECHO_SERVICE}/Echo",
        "grpc.example.com",
    )
    assert first.header("x-meshgate-id") == ["abc"]
    assert (first.status, first.grpc_status) == (200, 0)
    assert (second.path, second.grpc_status) == (f"/{ECHO_SERVICE}/EchoThree", 12)


def test_set_header_knob_sets_response_metadata(channel: grpc.Channel) -> None:
    _, call = _call(channel, "Echo", (("x-echo-set-header", "X-One:1,x-two:2"),))
    assert ("x-one", "1") in call.initial_metadata()
    assert ("x-two", "2") in call.initial_metadata()


def test_over_tls_the_handshake_is_reported(echo: EchoServer, ca: trustme.CA) -> None:
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("reviews.example.com").configure_cert(context)
    context.set_alpn_protocols(["h2", "http/1.1"])
    listener = echo.listen(REVIEWS, ssl_context=context)
    credentials = grpc.ssl_channel_credentials(root_certificates=ca.cert_pem.bytes())
    with grpc.secure_channel(
        f"{listener.host}:{listener.port}",
        credentials,
        options=[("grpc.ssl_target_name_override", "reviews.example.com")],
    ) as secure:
        response, _ = _call(secure, "Echo")
    assert response.assertions is not None
    tls = response.assertions.tls_assertions
    assert tls is not None
    assert (tls.negotiated_protocol, tls.server_name) == ("h2", "reviews.example.com")
    assert tls.version.startswith("TLSv1.")
    assert tls.peer_certificates == []  # grpcio sends no client certificate


@pytest.mark.parametrize(
    ("fault", "code"),
    [
        (EchoFault(status=503), grpc.StatusCode.UNAVAILABLE),  # HTTP 503, no grpc-status
        (EchoFault(status=404), grpc.StatusCode.UNIMPLEMENTED),
        (EchoFault(reset=True), grpc.StatusCode.UNAVAILABLE),
    ],
)
def test_a_misbehaving_listener_fails_calls(
    echo: EchoServer, fault: EchoFault, code: grpc.StatusCode
) -> None:
    bad = echo.listen(REVIEWS, misbehaviour=fault)
    with _channel(bad) as ch, pytest.raises(grpc.RpcError) as failure:
        _call(ch, "Echo")
    assert failure.value.code() == code  # type: ignore[attr-defined]


def test_a_slow_listener_delays_calls(echo: EchoServer) -> None:
    slow = echo.listen(REVIEWS, misbehaviour=EchoFault(delay=0.3))
    with _channel(slow) as ch:
        start = time.monotonic()
        _call(ch, "Echo")
        assert time.monotonic() - start >= 0.3


def test_a_grpc_call_over_http1_gets_no_answer(echo: EchoServer, plain: EchoListener) -> None:
    # As from a gRPC server, which reads it as a bad HTTP/2 preface and drops it.
    request = (
        f"POST /{ECHO_SERVICE}/Echo HTTP/1.1\r\nHost: x\r\n"
        "Content-Type: application/grpc\r\nContent-Length: 5\r\n\r\n\x00\x00\x00\x00\x00"
    ).encode()
    with socket.create_connection(plain.address, timeout=5) as sock:
        sock.sendall(request)
        try:
            data = sock.recv(65536)
        except ConnectionResetError:
            data = b""
    assert data == b""
    (record,) = echo.requests()
    assert (record.path, record.status) == (f"/{ECHO_SERVICE}/Echo", None)
