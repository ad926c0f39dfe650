"""The request model: durations with units, methods, URLs, gateway or client."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from pytest_meshgate._cases.model.request import Request


@pytest.mark.parametrize("bad", [2, "2", "s", "2 parsecs", True, "0", ".5s"])
def test_case_durations_need_units(bad: object) -> None:
    with pytest.raises(ValidationError, match="duration"):
        Request.model_validate({"url": "http://a.example.com/", "timeout": bad})


def test_case_durations_are_seconds() -> None:
    request = Request.model_validate({"url": "http://a.example.com/", "timeout": "30s500ms"})
    assert request.timeout == 30.5


def test_request_validation() -> None:
    request = Request.model_validate({"url": "http://a.example.com/", "method": "post"})
    assert (request.method, request.workload) == ("POST", "ingress")
    assert Request.model_validate({"url": "http://a/", "from": "sleep"}).workload == "sleep"
    for bad in ({"url": "ftp://a/"}, {"url": "http://a:99999/"}, {"url": "/relative"}):
        with pytest.raises(ValidationError):
            Request.model_validate(bad)
    with pytest.raises(ValidationError, match="either gateway or from"):
        Request.model_validate({"url": "http://a/", "gateway": "ingress", "from": "sleep"})


def test_tls_versions_in_order_and_ciphers_given() -> None:
    url = "https://a.example.com/"
    tls = Request.model_validate(
        {"url": url, "tls": {"minVersion": "TLSv1.0", "maxVersion": "TLSv1.0"}}
    ).tls
    assert tls is not None and tls.min_version == tls.max_version == "TLSv1.0"
    with pytest.raises(ValidationError, match=r"minVersion TLSv1\.2 is above maxVersion TLSv1\.0"):
        Request.model_validate(
            {"url": url, "tls": {"minVersion": "TLSv1.2", "maxVersion": "TLSv1.0"}}
        )
    with pytest.raises(ValidationError, match="at least 1 item"):
        Request.model_validate({"url": url, "tls": {"ciphers": []}})
    assert Request.model_validate({"url": url, "tls": {"alpn": []}}).tls.alpn == []  # type: ignore[union-attr]


def test_counts_and_concurrency_are_bounded() -> None:
    url = "http://a.example.com/"
    assert Request.model_validate({"url": url, "count": 100000, "concurrency": 256}).count == 100000
    for bad in ({"count": 0}, {"count": 100001}, {"concurrency": 0}, {"concurrency": 257}):
        with pytest.raises(ValidationError):
            Request.model_validate({"url": url} | bad)


def test_framing_headers_the_clients_can_send() -> None:
    url = "http://a.example.com/"
    ok = {"Content-Length": "1", "Transfer-Encoding": "Chunked", "TE": "gzip"}
    assert Request.model_validate({"url": url, "headers": ok, "body": "x"}).headers == ok
    for headers, match in (
        ({"content-length": "one"}, "a Content-Length is a number of bytes"),
        ({"content-length": "1" * 20}, "a Content-Length is a number of bytes"),
        ({"transfer-encoding": "gzip"}, "only 'chunked' can be sent"),
    ):
        with pytest.raises(ValidationError, match=match):
            Request.model_validate({"url": url, "headers": headers})
    with pytest.raises(ValidationError, match="over HTTP/2 only 'trailers'"):
        Request.model_validate({"url": url, "http2": True, "headers": {"te": "gzip"}})
    assert Request.model_validate({"url": url, "http2": True, "headers": {"te": "trailers"}})


def test_a_websocket_request_is_one_get_upgrade_and_its_messages() -> None:
    ok = Request.model_validate(
        {"url": "http://a/ws", "websocket": {"messages": [{"text": "hi"}, {"binary": "AQI="}]}}
    )
    assert ok.websocket is not None
    assert [m.payload for m in ok.websocket.messages] == [b"hi", b"\x01\x02"]
    for extra, error in [
        ({"http2": True}, "drop http2"),
        ({"body": "x"}, "drop body"),
        ({"count": 2}, "drop count"),
        ({"method": "POST"}, "opens with a GET"),
        ({"headers": {"Sec-WebSocket-Key": "x"}}, "writes the WebSocket handshake"),
        ({"websocket": {"messages": [{"text": "a", "binary": "AQI="}]}}, "exactly one"),
        ({"websocket": {"messages": [{}]}}, "exactly one"),
        ({"websocket": {"messages": [{"binary": "not base64!"}]}}, "base64"),
    ]:
        data = {"url": "http://a/ws", "websocket": {"messages": []}, **extra}
        with pytest.raises(ValidationError, match=error):
            Request.model_validate(data)
