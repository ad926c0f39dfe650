"""The echo over HTTP/2: h2c prior knowledge, ALPN h2, flow control, resets, the preface rule."""

from __future__ import annotations

import socket
import ssl
from collections.abc import Iterator

import h2.config
import h2.connection
import h2.events
import h2.settings
import httpx
import pytest
import trustme
from echo_clients import REVIEWS, split_responses, url

from pytest_meshgate._targets.echo import EchoListener, EchoServer


@pytest.fixture
def h2c() -> Iterator[httpx.Client]:
    with httpx.Client(http1=False, http2=True, timeout=5.0) as c:
        yield c


def test_prior_knowledge_gets_the_echo_body_as_go_reports_http2(
    echo: EchoServer, plain: EchoListener, h2c: httpx.Client
) -> None:
    response = h2c.get(url(plain, "/a?b=1"), headers={"Host": "web.example.com", "x-a": "1"})
    assert response.http_version == "HTTP/2"
    body = response.json()
    # net/http: r.Proto "HTTP/2.0", r.Host the :authority, Host not among the headers.
    assert (body["proto"], body["host"], body["path"]) == ("HTTP/2.0", "web.example.com", "/a?b=1")
    assert body["headers"]["X-A"] == ["1"] and "Host" not in body["headers"]
    assert (body["service"], body["version"]) == ("reviews", "v2")
    (record,) = echo.requests()
    assert (record.method, record.host, record.status, record.grpc_status) == (
        "GET",
        "web.example.com",
        200,
        None,
    )


def test_knobs_work_over_http2(plain: EchoListener, h2c: httpx.Client) -> None:
    assert h2c.get(url(plain, "/status/503")).status_code == 503
    headers = {"X-Echo-Set-Header": "X-Out:1,Connection:close"}
    response = h2c.get(url(plain, "/"), headers=headers)
    # HTTP/2 has no connection-specific fields: the knob's Connection is left out.
    assert response.headers["x-out"] == "1" and "connection" not in response.headers
    head = h2c.head(url(plain, "/"))
    assert head.status_code == 200 and head.content == b""
    assert int(head.headers["content-length"]) > 0


def test_a_reset_answer_resets_the_connection(plain: EchoListener, h2c: httpx.Client) -> None:
    with pytest.raises(httpx.TransportError):
        h2c.get(url(plain, "/retry/?uuid=u1&succeedAfter=1"))
    assert h2c.get(url(plain, "/retry/?uuid=u1&succeedAfter=1")).status_code == 200


def test_alpn_h2_over_tls(echo: EchoServer, ca: trustme.CA) -> None:
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("reviews.example.com").configure_cert(context)
    context.set_alpn_protocols(["h2", "http/1.1"])
    listener = echo.listen(REVIEWS, ssl_context=context)
    client_context = ssl.create_default_context()
    ca.configure_trust(client_context)
    # Connect to the listener, verifying and sending the service's name as SNI.
    with httpx.Client(http2=True, verify=client_context, timeout=5.0) as client:
        request = client.build_request("GET", f"https://127.0.0.1:{listener.port}/")
        request.extensions["sni_hostname"] = "reviews.example.com"
        response = client.send(request)
    assert response.http_version == "HTTP/2"
    tls = response.json()["tls"]
    assert (tls["negotiatedProtocol"], tls["serverName"]) == ("h2", "reviews.example.com")


def test_flow_control_holds_the_body_until_the_client_opens_its_window(
    plain: EchoListener,
) -> None:
    # A client window of 100 bytes: the echo's JSON body (~200 bytes) must wait for
    # WINDOW_UPDATEs, frame by frame, and still arrive whole.
    conn = h2.connection.H2Connection(h2.config.H2Configuration(client_side=True))
    conn.initiate_connection()
    conn.update_settings({h2.settings.SettingCodes.INITIAL_WINDOW_SIZE: 100})
    conn.send_headers(
        1,
        [(":method", "GET"), (":path", "/"), (":scheme", "http"), (":authority", "w")],
        end_stream=True,
    )
    body = b""
    frames = 0
    ended = False
    with socket.create_connection(plain.address, timeout=5) as sock:
        sock.sendall(conn.data_to_send())
        while not ended:
            data = sock.recv(65536)
            assert data, "connection closed before the body ended"
            for event in conn.receive_data(data):
                if isinstance(event, h2.events.DataReceived):
                    assert len(event.data) <= 100
                    body += event.data
                    frames += 1
                    conn.acknowledge_received_data(event.flow_controlled_length, 1)
                elif isinstance(event, h2.events.StreamEnded):
                    ended = True
            sock.sendall(conn.data_to_send())
    assert frames >= 3 and len(body) > 200
    assert body.startswith(b"{") and body.endswith(b"}")


def test_the_preface_only_counts_at_the_start_of_a_connection(plain: EchoListener) -> None:
    first = b"GET / HTTP/1.1\r\nHost: x\r\n\r\n"
    with socket.create_connection(plain.address, timeout=5) as sock:
        sock.sendall(first + b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n")
        data = b""
        while chunk := sock.recv(65536):
            data += chunk
    # One HTTP/1.1 answer and nothing after it (no HTTP/2 SETTINGS frame), then the close.
    ((status, _, _),) = split_responses(data)
    assert status == 200


def test_an_h2c_only_listener_refuses_http1_as_echo_basics_h2c_server(
    echo: EchoServer, h2c: httpx.Client, client: httpx.Client
) -> None:
    # echo-basic runH2CServer (its H2C_PORT, behind appProtocol kubernetes.io/h2c ports):
    # 400 "Expected h2c request" unless HTTP/2 or an Upgrade: h2c request.
    listener = echo.listen(REVIEWS, h2c_only=True)
    refused = client.get(url(listener, "/"))
    assert (refused.status_code, refused.text) == (400, "Expected h2c request")
    assert h2c.get(url(listener, "/")).json()["proto"] == "HTTP/2.0"
    upgrade = client.get(url(listener, "/"), headers={"Upgrade": "h2c", "Connection": "Upgrade"})
    assert upgrade.status_code == 200 and upgrade.json()["proto"] == "HTTP/1.1"
    assert client.get(url(echo.listen(REVIEWS), "/")).status_code == 200
