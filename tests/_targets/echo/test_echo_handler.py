"""What the echo answers: the echo-basic JSON contract, every knob, misbehaving listeners."""

from __future__ import annotations

import json
import socket
import uuid

import httpx
import pytest
from echo_clients import Sleeps, raw_exchange, split_responses, url

from pytest_meshgate._targets.echo import EchoFault, EchoIdentity, EchoListener, EchoServer


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


def test_delay_sleeps_without_blocking_other_connections(
    plain: EchoListener, client: httpx.Client, sleeps: Sleeps
) -> None:
    sleeps.hold = True  # the slow request stays in its delay until the listener closes
    with socket.create_connection(plain.address) as slow:
        slow.sendall(b"GET /slow?delay=400ms HTTP/1.1\r\nHost: x\r\n\r\n")
        assert sleeps.began.wait(60)  # a hang guard: the server is now in the delay
        # Ordering, not timing: another connection is answered while it sleeps...
        assert client.get(url(plain, "/fast")).status_code == 200
        # ...and the delayed one still has no answer.
        slow.setblocking(False)
        with pytest.raises(BlockingIOError):
            slow.recv(1)
    assert sleeps.asked == [0.4]


@pytest.mark.parametrize(("delay", "seconds"), [("1s", 1.0), ("250ms", 0.25), ("1m30s", 90.0)])
def test_delay_sleeps_for_the_duration_given(
    plain: EchoListener, client: httpx.Client, sleeps: Sleeps, delay: str, seconds: float
) -> None:
    assert client.get(url(plain, f"/?delay={delay}")).status_code == 200
    assert sleeps.asked == [seconds]


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
    # echo-basic serves the whole /retry/ subtree (conformance/tests/httproute-retry.go).
    nested = uuid.uuid4()
    codes = [
        client.get(
            url(plain, f"/retry/code-500/x?uuid={nested}&succeedAfter=1&responseCode=500")
        ).status_code
        for _ in range(2)
    ]
    assert codes == [500, 200]


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


def test_delay_retry(plain: EchoListener, client: httpx.Client, sleeps: Sleeps) -> None:
    key = uuid.uuid4()
    path = f"/retry/?uuid={key}&succeedAfter=1&responseCode=503&delayRetry=200ms"
    assert client.get(url(plain, path)).status_code == 503
    assert sleeps.asked == [0.2]


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


def test_misbehaving_listener_answers_its_status_delay_or_reset(
    echo: EchoServer, client: httpx.Client, sleeps: Sleeps
) -> None:
    failing = echo.listen(EchoIdentity("bad"), misbehaviour=EchoFault(status=503))
    response = client.get(url(failing, "/status/200"))
    assert response.status_code == 503 and response.json()["service"] == "bad"
    assert client.get(url(failing, "/health")).status_code == 200
    slow = echo.listen(EchoIdentity("slow"), misbehaviour=EchoFault(delay=0.3))
    assert client.get(url(slow, "/status/201")).status_code == 201
    assert sleeps.asked == [0.3]
    resetting = echo.listen(EchoIdentity("reset"), misbehaviour=EchoFault(reset=True))
    with pytest.raises(httpx.TransportError):
        client.get(url(resetting, "/"))
    for listener in (failing, slow, resetting):
        listener.close()


def test_the_container_port_it_stands_for_is_its_http_port(
    echo: EchoServer, client: httpx.Client
) -> None:
    listener = echo.listen(EchoIdentity("web", container_port=9090))
    body = client.get(f"http://127.0.0.1:{listener.port}/").json()
    assert body["httpPort"] == "9090" != str(listener.port)
