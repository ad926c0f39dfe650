"""The echo's HTTP/1.1 over real sockets: header names, bodies, keep-alive, bad requests."""

from __future__ import annotations

import json
import socket

import httpx
import pytest
from echo_clients import REVIEWS, raw_exchange, split_responses, url

from pytest_meshgate._targets.echo import (
    EchoListener,
    EchoServer,
    canonical_header_name,
    header_values,
)


def test_repeated_headers_stay_separate_and_lookup_ignores_case(plain: EchoListener) -> None:
    request = (
        b"POST /p HTTP/1.1\r\nHost: h\r\nX-Multi: one\r\nx-multi: two\r\n"
        b"content-length: 3\r\nConnection: close\r\n\r\nabc"
    )
    [(status, _, body)] = split_responses(raw_exchange(plain, request))
    echo = json.loads(body)
    assert status == 200
    assert echo["method"] == "POST"
    assert echo["headers"]["X-Multi"] == ["one", "two"]
    assert echo["headers"]["Content-Length"] == ["3"]
    assert header_values(echo, "x-MULTI") == ["one", "two"]
    assert header_values(echo, "absent") == []


@pytest.mark.parametrize(
    ("raw", "canonical"),
    [("x-foo-bar", "X-Foo-Bar"), ("CONTENT-TYPE", "Content-Type"), ("te", "Te"), ("a b", "a b")],
)
def test_canonical_header_name_is_gos(raw: str, canonical: str) -> None:
    assert canonical_header_name(raw) == canonical


def test_chunked_body_then_keep_alive(echo: EchoServer, plain: EchoListener) -> None:
    chunked = (
        b"POST /upload HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
        b"5;ext=1\r\nhello\r\n6\r\n world\r\n0\r\nTrailer: t\r\n\r\n"
    )
    follow = b"GET /after HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
    responses = split_responses(raw_exchange(plain, chunked + follow))
    assert [s for s, _, _ in responses] == [200, 200]
    first = json.loads(responses[0][2])
    assert first["path"] == "/upload"
    assert "Transfer-Encoding" not in first["headers"]
    records = echo.requests(identity=REVIEWS)
    assert [(r.path, r.body_size) for r in records] == [("/upload", 11), ("/after", 0)]
    assert records[0].header("transfer-encoding") == ["chunked"]


def test_keep_alive_reuses_one_connection(plain: EchoListener, client: httpx.Client) -> None:
    peers = {client.get(url(plain, f"/{i}")).json()["peer"] for i in range(5)}
    assert len(peers) == 1


def test_http10_closes_unless_keep_alive(plain: EchoListener) -> None:
    data = raw_exchange(plain, b"GET /old HTTP/1.0\r\n\r\n")
    [(status, headers, body)] = split_responses(data)
    assert status == 200
    assert headers["connection"] == "close"
    assert json.loads(body)["proto"] == "HTTP/1.0"


def test_head_has_no_body(plain: EchoListener) -> None:
    data = raw_exchange(plain, b"HEAD / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
    head, _, body = data.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 200 OK")
    assert body == b""


def test_expect_continue(plain: EchoListener) -> None:
    with socket.create_connection(plain.address, timeout=5) as sock:
        sock.sendall(
            b"PUT /x HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\nContent-Length: 2\r\n"
            b"Connection: close\r\n\r\n"
        )
        assert sock.recv(100).startswith(b"HTTP/1.1 100 Continue\r\n\r\n")
        sock.sendall(b"ok")
        data = b""
        while chunk := sock.recv(65536):
            data += chunk
    assert data.lstrip(b"\r\n").startswith(b"HTTP/1.1 200") or b"HTTP/1.1 200" in data


@pytest.mark.parametrize(
    "request_bytes",
    [
        b"NONSENSE\r\n\r\n",
        b"GET / HTTP/2.0\r\nHost: x\r\n\r\n",
        b"GET / HTTP/1.1\r\nbad header line\r\n\r\n",
        b"GET / HTTP/1.1\r\nContent-Length: abc\r\n\r\n",
        b"POST / HTTP/1.1\r\nContent-Length: 1\r\nTransfer-Encoding: chunked\r\n\r\n",
        b"POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
        b"POST / HTTP/1.1\r\nTransfer-Encoding: gzip\r\n\r\n",
        b"GET / HTTP/1.1\r\nX: " + b"a" * 70_000 + b"\r\n\r\n",
    ],
    ids=["line", "proto", "header", "length", "smuggling", "chunk", "encoding", "huge"],
)
def test_bad_request_is_400_and_closes(
    plain: EchoListener, client: httpx.Client, request_bytes: bytes
) -> None:
    data = raw_exchange(plain, request_bytes)  # returns only once the server closed
    assert data.startswith(b"HTTP/1.1 400 Bad Request\r\n")
    assert b"Connection: close" in data
    assert client.get(url(plain, "/still-alive")).status_code == 200


def test_truncated_request_does_not_hurt(plain: EchoListener, client: httpx.Client) -> None:
    with socket.create_connection(plain.address, timeout=5) as sock:
        sock.sendall(b"POST / HTTP/1.1\r\nContent-Length: 100\r\n\r\nshort")
    assert client.get(url(plain, "/")).status_code == 200
