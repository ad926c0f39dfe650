"""The echo backends over real sockets: the echo-basic JSON contract and every knob."""

from __future__ import annotations

import contextlib
import json
import logging
import socket
import ssl
import threading
import time
import uuid
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
import trustme

from pytest_meshgate._targets.echo import (
    EchoIdentity,
    EchoListener,
    EchoServer,
    canonical_header_name,
    header_values,
)

REVIEWS = EchoIdentity("reviews", "bookinfo", "v2", pod="reviews-v2-abc")


@pytest.fixture
def echo() -> Iterator[EchoServer]:
    server = EchoServer()
    server.start()
    try:
        yield server
    finally:
        server.close()


@pytest.fixture
def plain(echo: EchoServer) -> EchoListener:
    return echo.listen(REVIEWS)


@pytest.fixture
def client() -> Iterator[httpx.Client]:
    with httpx.Client(timeout=5.0) as c:
        yield c


def url(listener: EchoListener, path: str) -> str:
    return f"http://{listener.host}:{listener.port}{path}"


def raw_exchange(listener: EchoListener, data: bytes, *, read_all: bool = True) -> bytes:
    """Send bytes on a fresh connection and read until the server closes it."""
    with socket.create_connection(listener.address, timeout=5) as sock:
        sock.sendall(data)
        chunks = []
        while True:
            chunk = sock.recv(65536)
            if not chunk:
                break
            chunks.append(chunk)
            if not read_all:
                break
        return b"".join(chunks)


def split_responses(data: bytes) -> list[tuple[int, dict[str, str], bytes]]:
    """Parse concatenated HTTP/1.1 responses with Content-Length bodies."""
    out = []
    while data:
        head, _, rest = data.partition(b"\r\n\r\n")
        lines = head.decode("latin-1").split("\r\n")
        status = int(lines[0].split(" ")[1])
        headers = {k.lower(): v.strip() for k, _, v in (line.partition(":") for line in lines[1:])}
        size = int(headers["content-length"])
        out.append((status, headers, rest[:size]))
        data = rest[size:]
    return out


# ---------------------------------------------------------------- contract


def test_echo_body_has_the_echo_basic_fields(plain: EchoListener, client: httpx.Client) -> None:
    response = client.get(
        url(plain, "/some/path?a=1&b=two"), headers={"x-foo-bar": "baz", "Host": "reviews.local"}
    )
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/json"
    body = response.json()
    assert body["path"] == "/some/path?a=1&b=two"
    assert body["host"] == "reviews.local"
    assert body["method"] == "GET"
    assert body["proto"] == "HTTP/1.1"
    assert body["headers"]["X-Foo-Bar"] == ["baz"]
    assert "Host" not in body["headers"]  # as in Go: the host is its own field
    assert (body["namespace"], body["service"], body["version"], body["pod"]) == (
        "bookinfo",
        "reviews",
        "v2",
        "reviews-v2-abc",
    )
    assert body["httpPort"] == str(plain.port)
    assert "tls" not in body


def test_default_pod_name() -> None:
    assert EchoIdentity("ratings", version="v1").pod == "ratings-v1-0"


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


def test_peer_is_the_client_address(plain: EchoListener) -> None:
    with socket.create_connection(plain.address, timeout=5) as sock:
        local = "{}:{}".format(*sock.getsockname())
        sock.sendall(b"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        data = b""
        while chunk := sock.recv(65536):
            data += chunk
    [(_, _, body)] = split_responses(data)
    assert json.loads(body)["peer"] == local


def test_health(plain: EchoListener, client: httpx.Client) -> None:
    response = client.get(url(plain, "/health"))
    assert (response.status_code, response.text) == (200, "OK")


def test_listener_unpacks_as_host_and_port(echo: EchoServer) -> None:
    host, port = echo.listen(EchoIdentity("x"))
    assert host == "127.0.0.1"
    assert port > 0
    assert echo.listeners()[(host, port)] == EchoIdentity("x")


def test_many_identities_on_one_loop(echo: EchoServer, client: httpx.Client) -> None:
    listeners = [echo.listen(EchoIdentity("svc", version=f"v{i}")) for i in range(5)]
    versions = [client.get(url(li, "/")).json()["version"] for li in listeners]
    assert versions == [f"v{i}" for i in range(5)]


# ---------------------------------------------------------------- knobs


def test_delay_sleeps_without_blocking_other_connections(plain: EchoListener) -> None:
    slow: dict[str, float] = {}

    def call_slow() -> None:
        started = time.monotonic()
        with httpx.Client(timeout=5) as c:
            assert c.get(url(plain, "/slow?delay=400ms")).status_code == 200
        slow["elapsed"] = time.monotonic() - started

    thread = threading.Thread(target=call_slow)
    thread.start()
    time.sleep(0.05)
    started = time.monotonic()
    with httpx.Client(timeout=5) as c:
        assert c.get(url(plain, "/fast")).status_code == 200
    fast = time.monotonic() - started
    thread.join()
    assert slow["elapsed"] >= 0.4
    assert fast < 0.3, "a delayed request must not hold up another connection"


def test_delay_in_seconds(plain: EchoListener, client: httpx.Client) -> None:
    started = time.monotonic()
    assert client.get(url(plain, "/?delay=1s")).status_code == 200
    assert time.monotonic() - started >= 1.0


def test_invalid_delay_is_400(plain: EchoListener, client: httpx.Client) -> None:
    response = client.get(url(plain, "/?delay=soon"))
    assert response.status_code == 400
    assert "invalid duration" in response.text


@pytest.mark.parametrize("code", [201, 404, 418, 503])
def test_status_knob(plain: EchoListener, client: httpx.Client, code: int) -> None:
    response = client.get(url(plain, f"/status/{code}"))
    assert response.status_code == code
    assert response.json()["path"] == f"/status/{code}"


def test_status_knob_keeps_the_connection(plain: EchoListener) -> None:
    request = b"GET /status/500 HTTP/1.1\r\nHost: x\r\n\r\n"
    last = b"GET /status/503 HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
    statuses = [s for s, _, _ in split_responses(raw_exchange(plain, request + last))]
    assert statuses == [500, 503]


def test_status_knob_collapses_double_slashes(plain: EchoListener, client: httpx.Client) -> None:
    assert client.get(url(plain, "//status//404")).status_code == 404


@pytest.mark.parametrize("path", ["/status/99", "/status/600", "/status/abc"])
def test_status_knob_rejects_nonsense(plain: EchoListener, client: httpx.Client, path: str) -> None:
    assert client.get(url(plain, path)).status_code == 400


def test_retry_with_response_code_counts_per_uuid(
    plain: EchoListener, client: httpx.Client
) -> None:
    first, second = uuid.uuid4(), uuid.uuid4()
    codes = [
        client.get(url(plain, f"/retry/?uuid={first}&succeedAfter=2&responseCode=502")).status_code
        for _ in range(4)
    ]
    assert codes == [502, 502, 200, 200]
    codes = [
        client.get(url(plain, f"/retry?uuid={second}&succeedAfter=1&responseCode=500")).status_code
        for _ in range(2)
    ]
    assert codes == [500, 200]
    other = [
        client.get(url(plain, f"/retry/?uuid={uuid.uuid4()}&succeedAfter=0")).status_code
        for _ in range(2)
    ]
    assert other == [200, 200]


def test_retry_default_code_is_a_connection_reset(echo: EchoServer, plain: EchoListener) -> None:
    key = uuid.uuid4()
    request = f"GET /retry/?uuid={key}&succeedAfter=2 HTTP/1.1\r\nHost: x\r\n\r\n".encode()
    for _ in range(2):
        with pytest.raises(ConnectionResetError):
            raw_exchange(plain, request)
    [(status, _, body)] = split_responses(raw_exchange(plain, request, read_all=False))
    assert status == 200
    assert json.loads(body)["path"].startswith("/retry/")
    statuses = [r.status for r in echo.requests() if r.path.startswith("/retry/")]
    assert statuses == [None, None, 200]


def test_retry_reset_seen_by_httpx(plain: EchoListener, client: httpx.Client) -> None:
    key = uuid.uuid4()
    with pytest.raises(httpx.TransportError):
        client.get(url(plain, f"/retry/?uuid={key}&succeedAfter=1"))
    assert client.get(url(plain, f"/retry/?uuid={key}&succeedAfter=1")).status_code == 200


def test_retry_needs_uuid_and_count(plain: EchoListener, client: httpx.Client) -> None:
    assert client.get(url(plain, "/retry/?succeedAfter=1")).status_code == 400
    assert client.get(url(plain, "/retry/?uuid=u&succeedAfter=x")).status_code == 400


def test_delay_retry(plain: EchoListener, client: httpx.Client) -> None:
    key = uuid.uuid4()
    started = time.monotonic()
    path = f"/retry/?uuid={key}&succeedAfter=1&responseCode=503&delayRetry=200ms"
    assert client.get(url(plain, path)).status_code == 503
    assert time.monotonic() - started >= 0.2


def test_set_header_knob(plain: EchoListener, client: httpx.Client) -> None:
    response = client.get(
        url(plain, "/"), headers={"X-Echo-Set-Header": "X-One:1, X-Two: two words,Set-Cookie:a=b"}
    )
    assert response.headers["x-one"] == "1"
    assert response.headers["x-two"] == "two words"
    assert response.headers["set-cookie"] == "a=b"
    assert response.json()["headers"]["X-Echo-Set-Header"] == [
        "X-One:1, X-Two: two words,Set-Cookie:a=b"
    ]


# ---------------------------------------------------------------- HTTP/1.1 handling


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


def test_handler_exception_is_500_and_logged(
    echo: EchoServer,
    plain: EchoListener,
    client: httpx.Client,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    def explode(*args: Any) -> bytes:
        raise RuntimeError("boom")

    monkeypatch.setattr(echo, "_echo_body", explode)
    with caplog.at_level(logging.ERROR, logger="pytest_meshgate._targets.echo"):
        response = client.get(url(plain, "/"))
    assert response.status_code == 500
    assert any("handler failed" in r.getMessage() for r in caplog.records)
    monkeypatch.undo()
    assert client.get(url(plain, "/")).status_code == 200


# ---------------------------------------------------------------- request log


def test_requests_are_recorded_per_identity_and_time(
    echo: EchoServer, client: httpx.Client
) -> None:
    a = echo.listen(EchoIdentity("a"))
    b = echo.listen(EchoIdentity("b"))
    client.get(url(a, "/one"), headers={"X-Mirror": "1"})
    mark = time.monotonic()
    client.post(url(b, "/two"), content=b"xyz")
    client.get(url(a, "/three"))
    assert [r.path for r in echo.requests()] == ["/one", "/two", "/three"]
    assert [r.path for r in echo.requests(identity=EchoIdentity("a"))] == ["/one", "/three"]
    assert [r.path for r in echo.requests(since=mark)] == ["/two", "/three"]
    one = echo.requests()[0]
    assert (one.method, one.status, one.tls, one.local_port) == ("GET", 200, False, a.port)
    assert one.header("x-mirror") == ["1"]
    assert echo.requests()[1].body_size == 3
    echo.clear_requests()
    assert echo.requests() == []


def test_request_log_is_bounded(client: httpx.Client) -> None:
    with EchoServer(log_size=3) as server:
        listener = server.listen(EchoIdentity("a"))
        for i in range(5):
            client.get(url(listener, f"/{i}"))
        assert [r.path for r in server.requests()] == ["/2", "/3", "/4"]


# ---------------------------------------------------------------- lifecycle


def test_stop_listening_refuses_connections(echo: EchoServer, client: httpx.Client) -> None:
    listener = echo.listen(EchoIdentity("a"))
    other = echo.listen(EchoIdentity("b"))
    assert client.get(url(listener, "/")).status_code == 200  # leaves a keep-alive connection
    listener.close()
    with pytest.raises(httpx.TransportError):
        client.get(url(listener, "/"))
    with pytest.raises(ConnectionRefusedError), socket.create_connection(listener.address, 2):
        pass
    assert client.get(url(other, "/")).status_code == 200


def test_close_stops_everything_and_joins_the_thread() -> None:
    server = EchoServer()
    server.start()
    server.start()  # idempotent
    listener = server.listen(EchoIdentity("a"))
    with httpx.Client() as c:
        assert c.get(url(listener, "/")).status_code == 200
    server.close()
    assert not server.running
    assert not any(t.name == "meshgate-echo" and t.is_alive() for t in threading.enumerate())
    with pytest.raises(ConnectionRefusedError), socket.create_connection(listener.address, 2):
        pass
    server.close()  # idempotent
    with pytest.raises(RuntimeError, match="not started"):
        server.listen(EchoIdentity("b"))


def test_close_with_a_request_in_flight() -> None:
    server = EchoServer()
    server.start()
    listener = server.listen(EchoIdentity("a"))
    errors: list[BaseException] = []

    def slow() -> None:
        try:
            with httpx.Client(timeout=5) as c:
                c.get(url(listener, "/?delay=5s"))
        except httpx.TransportError as exc:
            errors.append(exc)

    thread = threading.Thread(target=slow)
    thread.start()
    time.sleep(0.2)
    started = time.monotonic()
    server.close()
    thread.join(5)
    assert time.monotonic() - started < 2
    assert len(errors) == 1


# ---------------------------------------------------------------- TLS


@pytest.fixture(scope="module")
def ca() -> trustme.CA:
    return trustme.CA()


def server_context(ca: trustme.CA) -> ssl.SSLContext:
    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("reviews.example.com").configure_cert(ctx)
    ca.configure_trust(ctx)
    ctx.verify_mode = ssl.CERT_OPTIONAL  # echo-basic's VerifyClientCertIfGiven
    ctx.set_alpn_protocols(["http/1.1"])
    return ctx


def client_context(ca: trustme.CA, client_cert: trustme.LeafCert | None) -> ssl.SSLContext:
    ctx = ssl.create_default_context()
    ca.configure_trust(ctx)
    if client_cert is not None:
        client_cert.configure_cert(ctx)
    return ctx


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


def test_misbehaving_listener_answers_its_status_delay_or_reset(
    echo: EchoServer, client: httpx.Client
) -> None:
    from pytest_meshgate._targets.echo import Misbehaviour

    failing = echo.listen(EchoIdentity("bad"), misbehaviour=Misbehaviour(status=503))
    response = client.get(url(failing, "/status/200"))
    assert response.status_code == 503 and response.json()["service"] == "bad"
    assert client.get(url(failing, "/health")).status_code == 200
    slow = echo.listen(EchoIdentity("slow"), misbehaviour=Misbehaviour(delay=0.3))
    start = time.monotonic()
    assert client.get(url(slow, "/status/201")).status_code == 201
    assert time.monotonic() - start >= 0.25
    resetting = echo.listen(EchoIdentity("reset"), misbehaviour=Misbehaviour(reset=True))
    with pytest.raises(httpx.TransportError):
        client.get(url(resetting, "/"))
    for listener in (failing, slow, resetting):
        listener.close()
