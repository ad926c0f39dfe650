"""Verdicts: a check judged until consistent, or a batch judged once, and the failure story."""

from __future__ import annotations

import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

from .._cases.model.expect import Expect
from .._errors import CheckFailed
from .._exchange.records import Exchange
from .expectations import judge, judge_answers

__all__ = [
    "Consistency",
    "await_verdict",
    "batch_verdict",
    "failure_brief",
    "failure_message",
    "indent",
    "send_round",
    "target_diagnostics",
]


@dataclass(frozen=True)
class Consistency:
    """A check passes after ``successes`` passing attempts in a row within ``timeout``."""

    timeout: float = 5.0
    successes: int = 3
    poll_interval: float = 0.1


def await_verdict(
    send: Callable[[], Exchange],
    expect: Expect,
    consistency: Consistency,
    explain: Callable[[Exchange], str] | None = None,
    title: str = "check",
    appendix: str = "",
    overlap: int = 1,
) -> Exchange:
    """Send until ``consistency.successes`` attempts in a row pass, or time runs out.

    Every assertion runs inside the loop, so a stale answer never passes (the
    Gateway API suite learnt this the hard way, kubernetes-sigs/gateway-api#1242).

    ``overlap`` attempts are in flight at once (1: one after another). A target
    may allow more only where the configuration is confirmed served before the
    first attempt (the local target), so overlapping attempts judge the same
    configuration. They are judged as a round: one failing attempt voids the
    whole round, so a check passes only on ``successes`` passing answers with
    no failure among or between them, as one after another would need.

    Raises:
        CheckFailed: with what was sent, what came back and why, for the last failing attempt.
    """
    start = time.monotonic()
    deadline = start + consistency.timeout
    width = max(1, min(overlap, consistency.successes))
    in_a_row = attempts = 0
    last_failure: tuple[Exchange, list[str]] | None = None
    while True:
        exchanges = send_round(send, width)
        attempts += len(exchanges)
        judged = [(exchange, judge(expect, exchange)) for exchange in exchanges]
        failed = [(exchange, failures) for exchange, failures in judged if failures]
        if failed:
            in_a_row = 0
            last_failure = failed[-1]
            failures = last_failure[1]
        else:
            failures = []
            in_a_row += len(judged)
            if in_a_row >= consistency.successes:
                return judged[-1][0]
        now = time.monotonic()
        # A passing streak may finish past the deadline (slow checks such as
        # delays); only a failing attempt ends the wait.
        if failures and now >= deadline:
            break
        if failures:
            time.sleep(min(consistency.poll_interval, max(0.0, deadline - now)))

    assert last_failure is not None
    exchange, failures = last_failure
    headline = (
        f"{title} failed: {attempts} attempts in {time.monotonic() - start:.1f}s, "
        f"needed {consistency.successes} passing in a row"
    )
    labels = ("sent", "got")
    raise CheckFailed(
        failure_message(headline, labels, exchange, failures, explain, appendix),
        failures,
        failure_brief(headline, labels, exchange, failures),
    )


def send_round(send: Callable[[], Exchange], width: int) -> list[Exchange]:
    """``width`` attempts at once (threads; the caller's thread sends one), in send order."""
    if width <= 1:
        return [send()]
    with ThreadPoolExecutor(max_workers=width - 1, thread_name_prefix="meshgate-attempt") as pool:
        others = [pool.submit(send) for _ in range(width - 1)]
        mine = send()
        return [mine, *(future.result() for future in others)]


def batch_verdict(
    batch: list[Exchange],
    expect: Expect,
    also: list[str] | None = None,
    explain: Callable[[Exchange], str] | None = None,
    title: str = "check",
    appendix: str = "",
) -> None:
    """Judge one batch of ``count`` answers, once (``judge_answers`` plus ``also``).

    No retrying here: the check converged on single requests first, and a
    second chance for aggregates (``counts``, ``pods``) would let chance pass
    what the configuration does not do.

    Raises:
        CheckFailed: with one failing answer of the batch and every failed expectation.
    """
    failures = judge_answers(expect, batch) + (also or [])
    if not failures:
        return
    example = next((e for e in batch if judge(expect, e)), batch[0])
    headline = f"{title} failed: a batch of {len(batch)} requests"
    labels = ("sent (one of them)", "got (that one)")
    raise CheckFailed(
        failure_message(headline, labels, example, failures, explain, appendix),
        failures,
        failure_brief(headline, labels, example, failures),
    )


def failure_message(
    headline: str,
    labels: tuple[str, str],
    exchange: Exchange,
    failures: list[str],
    explain: Callable[[Exchange], str] | None,
    appendix: str = "",
) -> str:
    """What was sent, what came back, each failed expectation, then the target's diagnostics.

    ``appendix`` closes the message: what is known about the case as a whole
    (the target's warnings while deploying it, istioctl analyze findings).
    """
    lines = [
        headline,
        "",
        f"{labels[0]}:",
        indent(exchange.request.describe()),
        f"{labels[1]}:",
        indent(exchange.describe_outcome()),
        "failed expectations:",
        *(f"  - {failure}" for failure in failures),
    ]
    details = target_diagnostics(explain, exchange)
    if details:
        lines += ["", details]
    if appendix:
        lines += ["", appendix]
    return "\n".join(lines)


def failure_brief(
    headline: str, labels: tuple[str, str], exchange: Exchange, failures: list[str]
) -> str:
    """The story in a few lines (``--tb=short``): the headline, the request line, the
    answer's status line and each failed expectation; no headers, no diagnostics."""
    sent = exchange.request.describe().splitlines()
    got = exchange.describe_outcome().splitlines()
    return "\n".join(
        [
            headline,
            f"{labels[0]}: {sent[0].strip() if sent else '?'}",
            f"{labels[1]}: {got[0].strip() if got else '?'}",
            "failed expectations:",
            *(f"  - {failure}" for failure in failures),
        ]
    )


def target_diagnostics(explain: Callable[[Exchange], str] | None, exchange: Exchange) -> str:
    """What the target tells about one exchange (access log, routes); never raises."""
    if explain is None:
        return ""
    try:
        return explain(exchange)
    except Exception as exc:  # diagnostics must never hide the verdict
        return f"(could not gather target diagnostics: {exc})"


def indent(text: str) -> str:
    return "\n".join(f"  {line}" for line in text.splitlines())
