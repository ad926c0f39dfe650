"""Tests of the HTTP client against a real echo server: what goes on the wire, and outcomes."""

from __future__ import annotations

import contextlib
import socket
import ssl
import threading
from collections.abc import Iterator
from typing import Any

import pytest
import trustme

from pytest_meshgate._cases.model.request import Request
from pytest_meshgate._exchange.client import HTTPClient
from pytest_meshgate._exchange.records import ClientTLS
from pytest_meshgate._targets.echo import EchoIdentity, EchoServer, header_values
from pytest_meshgate._targets.local.envoy import allocate_port


@pytest.fixture(scope="module")
def echo() -> Iterator[tuple[str, int]]:
    with EchoServer() as server:
        listener = server.listen(EchoIdentity(service="web"))
        yield listener.address


@pytest.fixture
def client() -> Iterator[HTTPClient]:
    http = HTTPClient(timeout=5)
    try:
        yield http
    finally:
        http.close()


def test_path_goes_on_the_wire_verbatim(echo: tuple[str, int], client: HTTPClient) -> None:
    # No client-side normalisation: the gateway must see dot segments and escapes.
    request = Request(url="http://app.example.com/a/../b%2Fc?x=1&y=%20")
    exchange = client.send(request, echo, "test")
    assert exchange.response is not None
    echo_body = exchange.response.echo
    assert echo_body is not None and echo_body["path"] == "/a/../b%2Fc?x=1&y=%20"


def test_host_header_comes_from_the_url(echo: tuple[str, int], client: HTTPClient) -> None:
    exchange = client.send(Request(url="http://app.example.com:8080/"), echo, "test")
    assert exchange.response is not None and exchange.response.echo is not None
    assert exchange.response.echo["host"] == "app.example.com:8080"
    explicit = Request(url="http://app.example.com/", headers={"Host": "other.example.com"})
    exchange = client.send(explicit, echo, "test")
    assert exchange.response is not None and exchange.response.echo is not None
    assert exchange.response.echo["host"] == "other.example.com"


def test_uuid_is_fresh_per_attempt(echo: tuple[str, int], client: HTTPClient) -> None:
    request = Request(
        url="http://a/${uuid}", headers={"x-id": "${uuid}"}, method="POST", body="${uuid}"
    )
    seen = []
    for _ in range(2):
        exchange = client.send(request, echo, "test")
        assert exchange.response is not None and exchange.response.echo is not None
        path_uuid = exchange.response.echo["path"].lstrip("/")
        assert header_values(exchange.response.echo, "x-id") == [path_uuid]
        assert exchange.request.body == path_uuid
        seen.append(path_uuid)
    assert seen[0] != seen[1] and "${uuid}" not in seen[0]


def test_cookies_are_not_kept_between_attempts(echo: tuple[str, int], client: HTTPClient) -> None:
    setting = Request(
        url="http://app.example.com/", headers={"x-echo-set-header": "Set-Cookie:s=1"}
    )
    exchange = client.send(setting, echo, "test")
    assert exchange.response is not None and exchange.response.header("set-cookie") == "s=1"
    exchange = client.send(Request(url="http://app.example.com/"), echo, "test")
    assert exchange.response is not None and exchange.response.echo is not None
    assert header_values(exchange.response.echo, "cookie") == []


def test_refused_and_reset_outcomes(echo: tuple[str, int], client: HTTPClient) -> None:
    refused = client.send(Request(url="http://a/"), ("127.0.0.1", allocate_port()), "test")
    assert (refused.response, refused.connection) == (None, "refused")
    # echo-basic's /retry without responseCode resets the connection (SO_LINGER 0).
    reset = client.send(Request(url="http://a/retry/?uuid=${uuid}&succeedAfter=1"), echo, "test")
    assert (reset.response, reset.connection) == (None, "reset"), reset.describe_outcome()


def test_timeout_outcome() -> None:
    # The server answers after 60 s and the client's own default is 120 s: only the
    # per-send 200 ms can end the exchange before the answer. Ordering, not a clock:
    # the exchange is over, as a timeout, while the server has not answered yet.
    with EchoServer() as server, contextlib.closing(HTTPClient(timeout=120)) as slow_default:
        listener = server.listen(EchoIdentity(service="web"))
        request = Request(url="http://a/?delay=60s&id=timeout-outcome")
        exchange = slow_default.send(request, listener.address, "test", timeout=0.2)
        assert exchange.connection == "timeout" and exchange.response is None
        assert exchange.elapsed > 0
        assert [r for r in server.requests() if "timeout-outcome" in r.path] == []


# ----------------------------------------------------------------------------- TLS


@pytest.fixture(scope="module")
def ca() -> trustme.CA:
    return trustme.CA(organization_name="meshgate test CA")


@pytest.fixture(scope="module")
def tls_echo(ca: trustme.CA) -> Iterator[tuple[str, int]]:
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("app.example.com").configure_cert(context)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    context.verify_mode = ssl.CERT_OPTIONAL  # report a client certificate when one is sent
    ca.configure_trust(context)
    with EchoServer() as server:
        listener = server.listen(EchoIdentity(service="secure"), ssl_context=context)
        yield listener.address


def https(url: str = "https://app.example.com/", **tls: Any) -> Request:
    return Request.model_validate({"url": url, **({"tls": tls} if tls else {})})


def test_tls_sni_verification_and_facts(
    tls_echo: tuple[str, int], client: HTTPClient, ca: trustme.CA
) -> None:
    tls = ClientTLS(server_name="app.example.com", ca_pem=ca.cert_pem.bytes())
    exchange = client.send(https(), tls_echo, "test", tls=tls)
    assert exchange.response is not None, exchange.describe_outcome()
    echo_body = exchange.response.echo
    assert echo_body is not None and echo_body["tls"]["serverName"] == "app.example.com"
    assert exchange.tls is not None
    assert exchange.tls.version == "TLSv1.3" and exchange.tls.alpn is None
    assert exchange.tls.peer_sans == ("app.example.com",)
    assert "meshgate test CA" in (exchange.tls.peer_issuer or "")


def test_no_sni_still_verifies_the_chain(
    tls_echo: tuple[str, int], client: HTTPClient, ca: trustme.CA
) -> None:
    exchange = client.send(https(), tls_echo, "test", tls=ClientTLS(None, ca.cert_pem.bytes()))
    assert exchange.response is not None and exchange.response.echo is not None
    assert not exchange.response.echo["tls"].get("serverName")
    other = trustme.CA()
    refused = client.send(https(), tls_echo, "test", tls=ClientTLS(None, other.cert_pem.bytes()))
    assert refused.connection == "tlsError", refused.describe_outcome()


def test_name_mismatch_and_old_versions_are_tls_errors(
    tls_echo: tuple[str, int], client: HTTPClient, ca: trustme.CA
) -> None:
    wrong_name = ClientTLS(server_name="evil.example.com", ca_pem=ca.cert_pem.bytes())
    exchange = client.send(https(), tls_echo, "test", tls=wrong_name)
    assert exchange.connection == "tlsError" and "certificate" in (exchange.error or "").lower()


def test_protocol_version_alert_is_a_tls_error(client: HTTPClient, ca: trustme.CA) -> None:
    # A server that refuses TLS < 1.2 with an alert, as Envoy does (the asyncio
    # echo aborts without flushing the alert, which a client sees as a reset).
    server_context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("app.example.com").configure_cert(server_context)
    server_context.minimum_version = ssl.TLSVersion.TLSv1_2
    listener = socket.create_server(("127.0.0.1", 0))

    def refuse() -> None:
        conn, _ = listener.accept()
        with contextlib.suppress(ssl.SSLError, OSError):
            server_context.wrap_socket(conn, server_side=True).close()
        conn.close()

    thread = threading.Thread(target=refuse, daemon=True)
    thread.start()
    old = ClientTLS(
        "app.example.com", ca.cert_pem.bytes(), min_version="TLSv1.0", max_version="TLSv1.1"
    )
    try:
        exchange = client.send(https(), listener.getsockname(), "test", tls=old)
    finally:
        thread.join(2)
        listener.close()
    assert exchange.connection == "tlsError", exchange.describe_outcome()
    offer = "TLS offered: SNI app.example.com, versions TLSv1.0..TLSv1.1"
    assert offer in exchange.request.describe()


def test_client_certificate_is_presented(
    tls_echo: tuple[str, int], client: HTTPClient, ca: trustme.CA
) -> None:
    leaf = ca.issue_cert("client.example.com")
    chain = b"".join(b.bytes() for b in leaf.cert_chain_pems)
    tls = ClientTLS(
        "app.example.com", ca.cert_pem.bytes(), client_cert=(chain, leaf.private_key_pem.bytes())
    )
    assert b"PRIVATE KEY" not in repr(tls).encode()
    exchange = client.send(https(), tls_echo, "test", tls=tls)
    assert exchange.response is not None and exchange.response.echo is not None
    assert exchange.response.echo["tls"]["peerCertificates"]


def test_closed_during_handshake_is_reset(client: HTTPClient, ca: trustme.CA) -> None:
    listener = socket.create_server(("127.0.0.1", 0))

    def accept_and_close() -> None:
        conn, _ = listener.accept()
        conn.recv(1024)  # the ClientHello, then close as Envoy does with no filter chain
        conn.close()

    thread = threading.Thread(target=accept_and_close, daemon=True)
    thread.start()
    try:
        tls = ClientTLS("app.example.com", ca.cert_pem.bytes())
        exchange = client.send(https(), listener.getsockname(), "test", tls=tls)
    finally:
        thread.join(2)
        listener.close()
    assert exchange.connection == "reset", exchange.describe_outcome()


def test_proxy_protocol_header_precedes_the_request() -> None:
    """With an original destination, the connection starts with a PROXY v1 line."""
    import socket
    import threading

    from pytest_meshgate._cases.model.request import Request
    from pytest_meshgate._exchange.client import HTTPClient, proxy_protocol_header

    assert proxy_protocol_header(("127.0.0.1", 5000), ("10.96.0.10", 80)) == (
        b"PROXY TCP4 127.0.0.1 10.96.0.10 5000 80\r\n"
    )
    server = socket.create_server(("127.0.0.1", 0))
    received: list[bytes] = []

    def serve() -> None:
        for _ in range(2):
            conn, _ = server.accept()
            with conn:
                data = b""
                while b"\r\n\r\n" not in data:
                    data += conn.recv(4096)
                received.append(data)
                conn.sendall(b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\nconnection: close\r\n\r\n")

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    client = HTTPClient(timeout=5)
    try:
        address = server.getsockname()
        request = Request(url="http://edition.cnn.com/politics")
        with_header = client.send(request, address, "test", original_destination=("1.2.3.4", 80))
        without = client.send(request, address, "test")
    finally:
        client.close()
        thread.join(5)
        server.close()
    assert with_header.response is not None and with_header.response.status == 200
    assert without.response is not None
    first, second = received
    line, _, rest = first.partition(b"\r\n")
    assert line.startswith(b"PROXY TCP4 127.0.0.1 1.2.3.4 ") and line.endswith(b" 80")
    assert rest.startswith(b"GET /politics HTTP/1.1")
    assert second.startswith(b"GET /politics HTTP/1.1")  # gateways get no header
    assert "original destination 1.2.3.4:80" in with_header.request.describe()
