"""Overlapping attempts: the evidence a check needs is the same as one after another."""

from __future__ import annotations

import itertools
import threading
from collections.abc import Callable

import pytest

from pytest_meshgate._cases.model.expect import Expect
from pytest_meshgate._errors import CheckFailed
from pytest_meshgate._exchange.records import Exchange, ResponseRecord, SentRequest
from pytest_meshgate._judge.verdicts import Consistency, await_verdict, send_round

BACKEND = Expect.model_validate({"backend": "reviews"})
CONSISTENCY = Consistency(timeout=0.5, successes=3, poll_interval=0.01)


def answer(service: str, meshgate_id: str = "id") -> Exchange:
    import json

    sent = SentRequest(
        method="GET",
        url="http://app.example.com/",
        headers=(),
        body=None,
        address=("127.0.0.1", 1),
        entry="gateway",
        meshgate_id=meshgate_id,
    )
    body = {"path": "/", "service": service, "version": "v1", "namespace": "default"}
    response = ResponseRecord(
        status=200,
        reason="OK",
        http_version="HTTP/1.1",
        headers=(("content-type", "application/json"),),
        body=json.dumps(body).encode(),
    )
    return Exchange(sent, response)


def cycling(pattern: str) -> tuple[Callable[[], Exchange], list[int]]:
    """A backend whose n-th answer (in the order requests arrive) follows ``pattern``:
    ``P`` right, ``F`` wrong; thread-safe, as overlapping attempts call it from threads."""
    lock = threading.Lock()
    counter = itertools.count()
    calls: list[int] = []

    def send() -> Exchange:
        with lock:
            n = next(counter)
            calls.append(n)
        right = pattern[n % len(pattern)] == "P"
        return answer("reviews" if right else "ratings", meshgate_id=str(n))

    return send, calls


@pytest.mark.parametrize("overlap", [1, 2, 3, 5])
def test_an_answer_right_two_times_in_three_fails_however_attempts_overlap(overlap: int) -> None:
    send, calls = cycling("PPF")
    with pytest.raises(CheckFailed) as info:
        await_verdict(send, BACKEND, CONSISTENCY, title="check 'x'", overlap=overlap)
    assert "needed 3 passing in a row" in str(info.value)
    assert len(calls) > 3  # it kept trying until the budget ran out


def test_overlapping_attempts_are_really_in_flight_together() -> None:
    # Each attempt waits for the other two: sent one after another, the barrier breaks.
    barrier = threading.Barrier(3, timeout=5)

    def send() -> Exchange:
        barrier.wait()
        return answer("reviews")

    exchange = await_verdict(send, BACKEND, CONSISTENCY, overlap=3)
    assert exchange.response is not None


def test_a_stale_answer_in_a_round_voids_the_round() -> None:
    # Stale for the first four answers, then right: the round of answers 3-5 has a stale
    # one, so the check needs the whole next round (6-8), not the three right answers 4-6.
    lock = threading.Lock()
    counter = itertools.count()

    def send() -> Exchange:
        with lock:
            n = next(counter)
        return answer("ratings" if n < 4 else "reviews", meshgate_id=str(n))

    calls: list[str] = []

    def counted() -> Exchange:
        exchange = send()
        calls.append(exchange.request.meshgate_id)
        return exchange

    exchange = await_verdict(counted, BACKEND, CONSISTENCY, overlap=3)
    assert len(calls) == 9  # rounds 0-2 (stale), 3-5 (one stale), 6-8 (all right)
    assert int(exchange.request.meshgate_id) >= 4


def test_a_stale_answer_for_ever_fails_with_overlap() -> None:
    with pytest.raises(CheckFailed) as info:
        await_verdict(lambda: answer("ratings"), BACKEND, CONSISTENCY, overlap=3)
    assert "backend: expected reviews" in str(info.value)


def test_overlap_never_exceeds_the_successes_needed() -> None:
    in_flight = peak = 0
    lock = threading.Lock()
    release = threading.Event()

    def send() -> Exchange:
        nonlocal in_flight, peak
        with lock:
            in_flight += 1
            peak = max(peak, in_flight)
        release.wait(0.05)
        with lock:
            in_flight -= 1
        return answer("reviews")

    await_verdict(send, BACKEND, Consistency(timeout=1, successes=2), overlap=8)
    assert peak == 2


def test_one_attempt_at_a_time_counts_a_streak_across_failures_as_before() -> None:
    send, calls = cycling("FPPP")
    await_verdict(send, BACKEND, CONSISTENCY, overlap=1)
    assert calls == [0, 1, 2, 3]


def test_send_round_keeps_the_order_attempts_were_started_in_and_raises_theirs() -> None:
    assert len(send_round(lambda: answer("reviews"), 4)) == 4

    def broken() -> Exchange:
        raise RuntimeError("sender broke")

    with pytest.raises(RuntimeError, match="sender broke"):
        send_round(broken, 3)
