"""The echo's TLS listeners: TLS facts, SNI, plaintext to a TLS port, failed handshakes."""

from __future__ import annotations

import contextlib
import json
import socket
import ssl

import httpx
import trustme
from echo_clients import REVIEWS, client_context, raw_exchange, server_context, split_responses

from pytest_meshgate._targets.echo import EchoServer


def test_tls_facts_with_sni_and_client_certificate(echo: EchoServer, ca: trustme.CA) -> None:
    listener = echo.listen(REVIEWS, ssl_context=server_context(ca))
    client_cert = ca.issue_cert("client.example.com")
    with httpx.Client(verify=client_context(ca, client_cert), timeout=5) as c:
        response = c.get(
            f"https://127.0.0.1:{listener.port}/secure",
            headers={"Host": "reviews.example.com"},
            extensions={"sni_hostname": "reviews.example.com"},
        )
    body = response.json()
    tls = body["tls"]
    assert tls["version"] == "TLSv1.3"
    assert tls["serverName"] == "reviews.example.com"
    assert tls["negotiatedProtocol"] == "http/1.1"
    assert tls["cipherSuite"].startswith("TLS_")
    expected = client_cert.cert_chain_pems[0].bytes().decode()
    assert tls["peerCertificates"][0].split() == expected.split()
    assert body["host"] == "reviews.example.com"
    [record] = echo.requests(identity=REVIEWS)
    assert record.tls


def test_tls_without_client_certificate_or_alpn(echo: EchoServer, ca: trustme.CA) -> None:
    listener = echo.listen(REVIEWS, ssl_context=server_context(ca))
    ctx = client_context(ca, None)
    ctx.maximum_version = ssl.TLSVersion.TLSv1_2
    with (
        socket.create_connection(listener.address, timeout=5) as raw,
        ctx.wrap_socket(raw, server_hostname="reviews.example.com") as sock,
    ):
        sock.sendall(b"GET / HTTP/1.1\r\nHost: r\r\nConnection: close\r\n\r\n")
        data = b""
        while chunk := sock.recv(65536):
            data += chunk
    [(_, _, body)] = split_responses(data)
    tls = json.loads(body)["tls"]
    assert tls["version"] == "TLSv1.2"
    assert tls["serverName"] == "reviews.example.com"
    assert tls["negotiatedProtocol"] == ""
    assert tls["peerCertificates"] == []
    assert tls["cipherSuite"]


def test_plaintext_http_to_a_tls_port_gets_nginx_400(echo: EchoServer, ca: trustme.CA) -> None:
    listener = echo.listen(REVIEWS, ssl_context=server_context(ca))
    data = raw_exchange(listener, b"GET /x HTTP/1.1\r\nHost: r\r\n\r\n")
    [(status, _, body)] = split_responses(data)
    assert status == 400
    assert body == b"The plain HTTP request was sent to HTTPS port\n"
    assert echo.requests(identity=REVIEWS) == []  # never reached the echo handler


def test_failed_handshake_does_not_hurt(echo: EchoServer, ca: trustme.CA) -> None:
    listener = echo.listen(REVIEWS, ssl_context=server_context(ca))
    with socket.create_connection(listener.address, timeout=5) as sock:
        sock.sendall(b"\x16\x03\x01\x00\x05hello")  # a broken ClientHello
        with contextlib.suppress(OSError):
            sock.recv(100)  # an alert, or just the close
    with socket.create_connection(listener.address, timeout=5):
        pass  # connected and gone without a byte
    with httpx.Client(verify=client_context(ca, None), timeout=5) as c:
        response = c.get(
            f"https://127.0.0.1:{listener.port}/",
            extensions={"sni_hostname": "reviews.example.com"},
        )
    assert response.status_code == 200
