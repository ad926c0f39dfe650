"""Tests of judging expectations and the eventual-consistency loop."""

from __future__ import annotations

import json
from dataclasses import replace
from typing import Any

import pytest

from pytest_meshgate._cases.model.expect import Expect
from pytest_meshgate._errors import CheckFailed
from pytest_meshgate._exchange.records import Exchange, GrpcReply, ResponseRecord, SentRequest
from pytest_meshgate._judge.expectations import judge
from pytest_meshgate._judge.verdicts import Consistency, await_verdict

SENT = SentRequest(
    method="GET",
    url="http://app.example.com/reviews/1",
    headers=(("host", "app.example.com"),),
    body=None,
    address=("127.0.0.1", 1),
    entry="gateway istio-ingressgateway port 80",
    meshgate_id="abc",
)


def echo_exchange(status: int = 200, elapsed: float = 0.01, **echo: Any) -> Exchange:
    body = {
        "path": "/reviews/1",
        "host": "app.example.com",
        "method": "GET",
        "headers": {"X-Added": ["yes"], "End-User": ["jason"]},
        "namespace": "default",
        "service": "reviews",
        "version": "v1",
        "pod": "reviews-v1-abc",
        **echo,
    }
    response = ResponseRecord(
        status=status,
        reason="OK",
        http_version="HTTP/1.1",
        headers=(("content-type", "application/json"), ("x-resp", "1"), ("x-resp", "2")),
        body=json.dumps(body).encode(),
    )
    return Exchange(SENT, response, elapsed=elapsed)


def plain(status: int, headers: tuple[tuple[str, str], ...] = ()) -> Exchange:
    return Exchange(SENT, ResponseRecord(status, "", "HTTP/1.1", headers, b"not found"))


def expect(**data: Any) -> Expect:
    return Expect.model_validate(data)


def test_default_expectation_is_200() -> None:
    assert judge(Expect(), echo_exchange()) == []
    assert judge(Expect(), plain(404)) == ["status: expected 200, got 404"]


def test_status_list() -> None:
    assert judge(expect(status=[503, 504]), plain(504)) == []
    # 408 and 504 are not interchangeable here (unlike Gateway API's suite).
    assert judge(expect(status=504), plain(408)) == ["status: expected 504, got 408"]


def test_backend_service_and_version() -> None:
    assert judge(expect(backend={"service": "reviews", "version": "v1"}), echo_exchange()) == []
    assert judge(expect(backend="reviews"), echo_exchange()) == []
    (failure,) = judge(expect(backend={"service": "reviews", "version": "v2"}), echo_exchange())
    assert failure == "backend: expected reviews v2, got default/reviews v1"
    (failure,) = judge(expect(backend="reviews"), plain(200))
    assert "no echo backend answered" in failure


def test_backend_request_view() -> None:
    good = expect(
        request={"path": "/reviews/1", "headers": {"x-added": "yes"}, "absentHeaders": ["x-gone"]}
    )
    assert judge(good, echo_exchange()) == []
    bad = expect(request={"path": "/other", "absentHeaders": ["end-user"]})
    assert judge(bad, echo_exchange()) == [
        "request.path: expected '/other', backend saw '/reviews/1'",
        "request.absentHeaders: backend saw end-user: 'jason'",
    ]


def test_response_headers_are_joined_and_case_insensitive() -> None:
    assert judge(expect(response={"headers": {"X-RESP": "1,2"}}), echo_exchange()) == []
    (failure,) = judge(expect(response={"absentHeaders": ["x-resp"]}), echo_exchange())
    assert failure == "response.absentHeaders: x-resp is present ('1,2')"


def test_response_headers_one_of_and_ignoring_whitespace() -> None:
    # The Gateway API suite's ValidHeaderValues and IgnoreWhitespace (CompareRoundTrip):
    # the values of a header joined by ",", then every space dropped on both sides.
    cors = plain(
        200, (("access-control-allow-methods", "GET,OPTIONS"), ("x-two", "a"), ("x-two", "b"))
    )
    either = {"access-control-allow-methods": ["OPTIONS, GET", "GET, OPTIONS"]}
    assert judge(expect(response={"headersOneOf": either, "ignoreWhitespace": True}), cors) == []
    assert judge(expect(response={"headersOneOf": either}), cors) == [
        "response.headersOneOf.access-control-allow-methods: expected one of "
        "['OPTIONS, GET', 'GET, OPTIONS'], got 'GET,OPTIONS'"
    ]
    assert (
        judge(expect(response={"headers": {"x-two": "a, b"}, "ignoreWhitespace": True}), cors) == []
    )
    assert judge(expect(response={"headers": {"x-two": "a, b"}}), cors) == [
        "response.headers.x-two: expected 'a, b', got 'a,b'"
    ]
    (missing,) = judge(expect(response={"headersOneOf": {"x-none": ["*", "a"]}}), cors)
    assert missing == "response.headersOneOf.x-none: expected one of ['*', 'a'], got None"


def test_redirect_by_parts_and_default_ports() -> None:
    exchange = plain(301, (("location", "https://b.example.com/new?x=1"),))
    assert judge(expect(redirect={"scheme": "https", "port": 443, "path": "/new"}), exchange) == []
    assert judge(expect(redirect={"location": "https://b.example.com/new?x=1"}), exchange) == []
    (failure,) = judge(expect(status=302, redirect={"host": "b.example.com"}), exchange)
    assert failure == "status: expected 302, got 301"
    (failure,) = judge(expect(redirect={"port": 80}), exchange)
    assert failure.startswith("redirect.port: expected 80")


def test_connection_outcomes() -> None:
    refused = Exchange(SENT, None, "refused", "ConnectError: [Errno 111]")
    assert judge(expect(connection="refused"), refused) == []
    assert judge(expect(connection=["reset", "refused"]), refused) == []
    (failure,) = judge(expect(connection="reset"), refused)
    assert failure.startswith("connection: expected reset, got refused")
    (failure,) = judge(expect(connection="refused"), plain(404))
    assert failure == "connection: expected refused, got an HTTP answer 404"
    (failure,) = judge(Expect(), refused)
    assert "the connection failed: refused" in failure


def test_latency_bounds() -> None:
    slow = echo_exchange(elapsed=1.2)
    assert judge(expect(latency={"atLeast": "1s", "atMost": "2s"}), slow) == []
    (failure,) = judge(expect(latency={"atMost": "500ms"}), slow)
    assert failure == "latency: expected at most 500ms, took 1200ms"


def test_eventual_consistency_needs_consecutive_passes() -> None:
    answers = iter([plain(404), echo_exchange(), plain(404), echo_exchange(), echo_exchange()])
    calls: list[int] = []

    def send() -> Exchange:
        calls.append(1)
        return next(answers)

    await_verdict(send, Expect(), Consistency(timeout=5, successes=2, poll_interval=0))
    assert len(calls) == 5


def test_failure_message_says_what_was_sent_got_and_why() -> None:
    with pytest.raises(CheckFailed) as info:
        await_verdict(
            lambda: plain(404),
            expect(backend="reviews"),
            Consistency(timeout=0.05, successes=3, poll_interval=0.01),
            explain=lambda exchange: "access log: 404 NR",
            title="check 'x'",
        )
    text = str(info.value)
    assert "check 'x' failed" in text
    assert "GET http://app.example.com/reviews/1" in text
    assert "HTTP/1.1 404" in text
    assert "- status: expected 200, got 404" in text
    assert "- backend: expected reviews, but no echo backend answered" in text
    assert text.endswith("access log: 404 NR")


def tls_exchange(**extra: Any) -> Exchange:
    from pytest_meshgate._exchange.records import TLSInfo

    info = TLSInfo(
        version="TLSv1.3",
        alpn="h2",
        cipher="TLS_AES_128_GCM_SHA256",
        peer_subject="CN=app.example.com",
        peer_issuer="O=meshgate default CA",
        peer_sans=("app.example.com",),
    )
    base = echo_exchange()
    return Exchange(base.request, base.response, tls=info, extra=dict(extra))


def test_tls_facts() -> None:
    good = expect(
        tls={
            "version": "TLSv1.3",
            "alpn": "h2",
            "peerCertificate": {"san": ["app.example.com"], "issuer": "default"},
        }
    )
    assert judge(good, tls_exchange(issuer_ca="default")) == []
    assert (
        judge(expect(tls={"peerCertificate": {"issuer": "O=meshgate default CA"}}), tls_exchange())
        == []
    )
    bad = expect(
        tls={
            "version": "TLSv1.2",
            "peerCertificate": {"san": ["other.example.com"], "issuer": "corp"},
        }
    )
    assert judge(bad, tls_exchange(issuer_ca="default")) == [
        "tls.version: expected TLSv1.2, negotiated TLSv1.3",
        "tls.peerCertificate.san: 'other.example.com' not among the server certificate's SANs ['app.example.com']",
        "tls.peerCertificate.issuer: expected 'corp', got 'O=meshgate default CA' (the case's CA 'default')",
    ]
    (failure,) = judge(expect(tls={"version": "TLSv1.3"}), echo_exchange())
    assert failure == "tls: expected a TLS handshake with the gateway, there was none"


def test_protocols_answered_and_seen() -> None:
    exchange = echo_exchange(proto="HTTP/1.1")
    assert (
        judge(expect(response={"protocol": "HTTP/1.1"}, request={"proto": "HTTP/1.1"}), exchange)
        == []
    )
    assert judge(
        expect(response={"protocol": "HTTP/2"}, request={"proto": "HTTP/2"}), exchange
    ) == [
        "request.proto: expected 'HTTP/2', backend saw 'HTTP/1.1'",
        "response.protocol: expected HTTP/2, answered HTTP/1.1",
    ]


def test_via_names_the_hop_that_reached_the_backend() -> None:
    exchange = echo_exchange(peer="127.0.0.3:40000")
    exchange.extra.update(via="egress", peer="127.0.0.3:40000")
    assert judge(expect(via="egress"), exchange) == []
    (failure,) = judge(expect(via="sleep"), exchange)
    assert "from sleep, it came from egress (peer 127.0.0.3:40000)" in failure
    # A target that cannot tell the path fails the expectation, never passes it.
    (unknown,) = judge(expect(via="egress"), echo_exchange())
    assert "cannot tell the path" in unknown
    (no_echo,) = judge(expect(status=404, via="egress"), plain(404))
    assert "no echo backend answered" in no_echo


# --------------------------------------------------------------------- batches (count)


def test_answer_labels_and_split_label() -> None:
    from pytest_meshgate._judge.expectations import exchange_labels, split_label

    answer = echo_exchange()
    assert exchange_labels(answer) == [
        "reviews/v1",
        "reviews",
        "status/200",
        "header/content-type",
        "header/x-resp",
    ]
    assert split_label(answer, ["reviews", "status/503"]) == "reviews"
    assert split_label(answer, ["status/200"]) == "status/200"
    # Not in the goal: its most specific label, which then counts against the goal.
    assert split_label(plain(503), ["reviews/v1"]) == "status/503"
    refused = Exchange(SENT, None, "timeout", "timed out")
    assert exchange_labels(refused) == ["connection/timeout"]


def test_judge_answers_per_answer_counts_and_pods() -> None:
    from pytest_meshgate._judge.expectations import judge_answers

    batch = [echo_exchange(pod="a"), echo_exchange(pod="b"), plain(503), plain(503)]
    want = expect(
        status=[200, 503],
        counts={"status/503": {"atLeast": 1, "atMost": 2}, "reviews/v1": {"atLeast": 2}},
        pods={"atMost": 2},
    )
    assert judge_answers(want, batch) == []
    strict = expect(
        counts={"status/503": {"atMost": 1}, "header/x-resp": {"atLeast": 3}},
        pods={"atMost": 1},
    )
    assert judge_answers(strict, batch) == [
        "2 of 4 answers: status: expected 200, got 503",
        "counts.status/503: expected <= 1 of 4 answers, got 2 (status/200: 2, status/503: 2)",
        "counts.header/x-resp: expected >= 3 of 4 answers, got 2 (status/200: 2, status/503: 2)",
        "pods: expected <= 1 distinct pods to answer, got 2 (a: 1, b: 1)",
    ]


def test_batch_verdict_raises_with_a_failing_answer() -> None:
    from pytest_meshgate._judge.verdicts import batch_verdict

    batch_verdict([echo_exchange()] * 3, Expect(), also=[])
    with pytest.raises(CheckFailed) as info:
        batch_verdict(
            [echo_exchange(), plain(503)], Expect(), also=["mirroredTo: x"], title="check 'c'"
        )
    text = str(info.value)
    assert "check 'c' failed: a batch of 2 requests" in text
    assert "HTTP/1.1 503" in text  # the failing answer is the one shown
    assert "1 of 2 answers: status: expected 200, got 503" in text
    assert "  - mirroredTo: x" in text


GRPC_SENT = replace(SENT, method="POST", grpc="/pkg.Svc/Echo", http2=True)


def grpc_exchange(
    status: int, message: str = "", http_status: int = 200, echo: dict[str, Any] | None = None
) -> Exchange:
    reply = GrpcReply(status, message, (("grpc-status", str(status)),), echo)
    response = ResponseRecord(http_status, "", "HTTP/2", (), b"", grpc=reply)
    return Exchange(GRPC_SENT, response)


def test_a_grpc_call_is_judged_by_its_grpc_status() -> None:
    echo = {"service": "grpc", "version": "v1", "namespace": "default", "path": "/pkg.Svc/Echo"}
    assert judge(Expect(), grpc_exchange(0, echo=echo)) == []
    assert judge(Expect(), grpc_exchange(12, "nope")) == [
        "grpc.status: expected OK, got UNIMPLEMENTED (12) 'nope'"
    ]
    wanted = expect(grpc={"status": ["UNIMPLEMENTED", "UNAVAILABLE"], "message": "nope"})
    assert judge(wanted, grpc_exchange(12, "nope")) == []
    assert judge(wanted, grpc_exchange(14, "other")) == [
        "grpc.message: expected 'nope', got 'other'"
    ]
    # The echo's assertions are judged as an HTTP echo body is.
    routed = expect(backend={"service": "grpc", "version": "v2"}, request={"path": "/pkg.Svc/Echo"})
    assert judge(routed, grpc_exchange(0, echo=echo)) == [
        "backend: expected grpc v2, got default/grpc v1"
    ]


def test_a_grpc_calls_http_status_counts_only_when_the_check_names_it() -> None:
    # A gRPC client sees a 404 as UNIMPLEMENTED; the check asks for the gRPC status only.
    not_found = grpc_exchange(12, http_status=404)
    assert judge(expect(grpc={"status": "UNIMPLEMENTED"}), not_found) == []
    assert judge(expect(status=200, grpc={"status": "UNIMPLEMENTED"}), not_found) == [
        "status: expected 200, got 404"
    ]


def test_a_grpc_call_without_an_answer_says_so_in_grpc_terms() -> None:
    refused = Exchange(GRPC_SENT, None, "refused", "ConnectError: refused")
    assert judge(expect(grpc={"status": "UNAVAILABLE"}), refused) == [
        "grpc.status: expected UNAVAILABLE, but the connection failed: refused "
        "(ConnectError: refused)"
    ]
    assert judge(expect(connection="refused"), refused) == []


def test_grpc_answers_carry_a_grpc_label() -> None:
    from pytest_meshgate._judge.expectations import exchange_labels

    echo = {"service": "greeter", "version": "v1", "path": "/p.S/M"}
    assert exchange_labels(grpc_exchange(0, echo=echo)) == [
        "greeter/v1",
        "greeter",
        "grpc/OK",
        "status/200",
    ]
    assert exchange_labels(grpc_exchange(14)) == ["grpc/UNAVAILABLE", "status/200"]
