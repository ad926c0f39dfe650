"""Running one check: skip what the target cannot do, then judge until consistent."""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING

import pytest

from .._cases.model.case import Check
from .._cases.model.conditions import ConditionExpectation
from .._cases.model.expect import MirrorExpectation
from .._cases.model.request import Request
from .._errors import CheckFailed, MeshgateError, TargetError
from .._exchange.records import Exchange, MetricSnapshot
from .._judge.conditions import judge_conditions
from .._judge.expectations import ACCESS_LOG_KEY, judge, split_label
from .._judge.metrics import METRICS_KEY, judge_metrics
from .._judge.verdicts import (
    Consistency,
    await_verdict,
    batch_verdict,
    indent,
    target_diagnostics,
)
from .._targets.base import required_capabilities
from .overlap import attempts_at_once

if TYPE_CHECKING:
    from .._cases.analysis import Finding
    from .._cases.loader import LoadedCase
    from .._targets.base import Deployment, Target

__all__ = [
    "MIRROR_WAIT",
    "SPLIT_FALSE_FAIL",
    "STATISTICS_CONCURRENCY",
    "case_appendix",
    "harness_error",
    "judge_check",
    "run_check",
]

# Mirrored copies travel on their own; on loopback they arrive within
# milliseconds, the rest is headroom for a loaded machine.
MIRROR_WAIT = 3.0
# How long a statistical draw waits for copies that may never come (a share).
MIRROR_SHARE_WAIT = 1.0
# ...and how long without a new copy counts as "all copies are in".
MIRROR_SETTLE = 0.25
# The suite runs its statistical checks many times over (the conformance
# suite has several, run in loops): a false fail below 1e-4 per check, not the
# judge's default 1e-3, keeps 20 runs in a row clear of chance failures at a
# cost of about a third more samples.
SPLIT_FALSE_FAIL = 1e-4
# Statistical checks without `concurrency` send this many requests at once.
STATISTICS_CONCURRENCY = 8


def run_check(
    target: Target, loaded: LoadedCase, index: int, findings: Sequence[Finding] = ()
) -> None:
    """Deploy ``loaded`` on ``target`` (once per case) and judge its check ``index``.

    A failure message ends with what is known about the whole case: the
    target's warnings while deploying it and the case's istioctl analyze
    ``findings``, in every failing check of the case.

    Raises:
        CheckFailed: the gateway did not do what the check expects.
        TargetError: the target could not run the check; an unexpected
            exception of the harness itself becomes one (see ``harness_error``).
    """
    try:
        _run_check(target, loaded, index, findings)
    except MeshgateError:
        raise
    except Exception as exc:
        raise harness_error(loaded.name, loaded.case.spec.checks[index].name, exc) from exc


# A harness error's own message is cut here: the report stays one paragraph.
_HARNESS_MESSAGE_LIMIT = 1000


def harness_error(case: str, check: str, exc: BaseException) -> TargetError:
    """An unexpected exception of the harness as the TargetError a report shows.

    ``case 'X', check 'Y': harness error: ValueError: ...``; the traceback
    stays on ``__cause__`` (shown with ``--tb=long`` or ``-vv``).
    """
    message = str(exc) or "(no message)"
    if len(message) > _HARNESS_MESSAGE_LIMIT:
        message = f"{message[:_HARNESS_MESSAGE_LIMIT]}... ({len(message)} characters)"
    return TargetError(
        f"case '{case}', check '{check}': harness error: {type(exc).__name__}: {message}\n"
        "(the harness failed, not the gateway; "
        "--tb=long shows the traceback)"
    )


def _run_check(target: Target, loaded: LoadedCase, index: int, findings: Sequence[Finding]) -> None:
    check = loaded.case.spec.checks[index]
    if check.skip:
        pytest.skip(check.skip)
    missing = sorted(required_capabilities(check) - target.capabilities)
    if missing:
        pytest.skip(f"target '{target.name}' lacks capability {', '.join(missing)}")
    deployment = target.activate(loaded)
    title = f"check '{check.name}' of case '{loaded.name}'"
    appendix = case_appendix(deployment.deployment_warnings(), findings)
    overlap = attempts_at_once(target, loaded, check)
    judge_check(deployment, check, target.consistency, title, appendix, overlap)


def judge_check(
    deployment: Deployment,
    check: Check,
    consistency: Consistency,
    title: str,
    appendix: str = "",
    overlap: int = 1,
) -> Exchange | None:
    """Judge ``check`` on a deployed case: its conditions, then its request until consistent
    (a batch, or the sequential test of a split); what a case check and the Python API's
    ``expect`` both do. ``overlap``: attempts in flight together (``attempts_at_once``).

    Returns the last passing answer (the one that completed the streak; for a
    batch, that of the convergence before it; for a statistical check, one
    of its last draw), or None for a status check.

    Raises:
        CheckFailed: with the whole story, ``title`` first and ``appendix`` last.
    """
    expect = check.expect
    if expect.conditions:
        _await_conditions(deployment, expect.conditions, consistency, title)
    request = check.request
    if request is None:
        return None  # a status check
    if expect.split is not None or expect.mirror_share is not None:
        return _run_statistical(deployment, check, request, title, appendix)
    if request.count is not None or expect.mirrors:
        # Converge as a single-request check would (per-answer expectations,
        # N passing in a row), then judge one batch of `count` answers, once.
        per_answer = expect.model_copy(update={"counts": None, "pods": None, "mirrored_to": None})
        passed = await_verdict(
            lambda: deployment.send(request),
            per_answer,
            consistency,
            explain=deployment.explain,
            title=title,
            appendix=appendix,
            overlap=overlap,
        )
        batch = deployment.send_many(request, request.count or 1, request.concurrency or 1)
        batch_verdict(
            batch,
            expect,
            also=_judge_mirrors(deployment, expect.mirrors, batch),
            explain=deployment.explain,
            title=title,
            appendix=appendix,
        )
        return passed
    return await_verdict(
        lambda: _send_and_read_logs(deployment, request, check),
        expect,
        consistency,
        explain=deployment.explain,
        title=title,
        appendix=appendix,
        overlap=overlap,
    )


# A proxy counts a request when it logs it, just after the response: the samples
# after it are read once this long has passed, then again until they hold what
# the check expects or METRICS_WAIT is over.
METRICS_SETTLE = 0.4
METRICS_WAIT = 2.0


def _send_and_read_logs(deployment: Deployment, request: Request, check: Check) -> Exchange:
    """One attempt; with ``accessLog``, also each named proxy's line for it, so the
    access log is judged inside the consistency loop like every expectation; with
    ``metrics``, each named proxy's samples just before and just after it."""
    wanted = check.expect.metrics or []
    proxies = list(dict.fromkeys(entry.proxy for entry in wanted))
    before = {proxy: deployment.metrics(proxy) for proxy in proxies}
    exchange = deployment.send(request)
    if proxies:
        _read_metrics_after(deployment, check, exchange, before)
    entries = check.expect.access_logs
    if entries:
        exchange.extra[ACCESS_LOG_KEY] = {
            entry.proxy: deployment.access_log(entry.proxy, exchange, expect_line=entry.logged)
            for entry in entries
        }
    return exchange


def _read_metrics_after(
    deployment: Deployment,
    check: Check,
    exchange: Exchange,
    before: dict[str, MetricSnapshot],
) -> None:
    deadline = time.monotonic() + METRICS_WAIT
    time.sleep(METRICS_SETTLE)
    while True:
        exchange.extra[METRICS_KEY] = {
            proxy: (snapshot, deployment.metrics(proxy)) for proxy, snapshot in before.items()
        }
        if not judge_metrics(check.expect, exchange) or time.monotonic() >= deadline:
            return
        time.sleep(0.1)


def case_appendix(warnings: Sequence[str], findings: Sequence[Finding]) -> str:
    """The end of every failure message of a case: deployment warnings, then findings."""
    sections: list[str] = []
    if warnings:
        sections.append(
            "\n".join(["target warnings while deploying the case:", *(f"  {w}" for w in warnings)])
        )
    if findings:
        lines = [f"  {finding}" for finding in findings]
        sections.append("\n".join(["istioctl analyze findings (this may be why):", *lines]))
    return "\n\n".join(sections)


def _await_conditions(
    deployment: Deployment,
    expected: Sequence[ConditionExpectation],
    consistency: Consistency,
    title: str,
) -> None:
    """The expected status conditions, judged until they hold or the budget runs out.

    A controller writes status after the fact, so a target may report it late;
    the local target computes it with the configuration, at once.
    """
    deadline = time.monotonic() + consistency.timeout
    while True:
        reports = deployment.status()
        failures = judge_conditions(expected, reports)
        if not failures:
            return
        if time.monotonic() >= deadline:
            lines = [f"{title} failed:", *(f"  - {f}" for f in failures), "status reported:"]
            lines += [f"  {r.describe()}" for r in reports] or ["  (none)"]
            raise CheckFailed("\n".join(lines), failures)
        time.sleep(consistency.poll_interval)


def _judge_mirrors(
    deployment: Deployment, mirrors: Sequence[MirrorExpectation], batch: list[Exchange]
) -> list[str]:
    """Every answered request was copied to each mirror (share 100), or none was (share 0)."""
    failures: list[str] = []
    ids = {e.request.meshgate_id for e in batch if e.response is not None}
    if not ids:
        return failures
    for mirror in mirrors:
        if mirror.share == 0:
            got = deployment.received(mirror, ids, wait=MIRROR_SHARE_WAIT)
            if got:
                failures.append(
                    f"mirroredTo: {mirror} (share 0) received {len(got)} of {len(ids)} requests"
                )
            continue
        got = deployment.received(mirror, ids, wait=MIRROR_WAIT)
        if len(got) != len(ids):
            failures.append(
                f"mirroredTo: {mirror} received {len(got)} of {len(ids)} requests "
                f"within {MIRROR_WAIT:g}s"
            )
        hosts = sorted({host for host in got.values() if host != mirror.host})
        if mirror.host is not None and hosts:
            failures.append(
                f"mirroredTo: {mirror} copies arrived with Host {', '.join(map(repr, hosts))}, "
                f"expected {mirror.host!r}"
            )
    return failures


def _run_statistical(
    deployment: Deployment, check: Check, request: Request, title: str, appendix: str
) -> Exchange:
    """``split`` or a mirror ``share``: a sequential test over labelled answers.

    ``count`` caps the sample (the judge's default otherwise); answers are
    drawn ``concurrency`` at a time.
    """
    from .._judge.split import SplitPolicy, judge_split

    expect = check.expect
    concurrency = request.concurrency or STATISTICS_CONCURRENCY
    mirror = expect.mirror_share
    # The last draw's answers with their labels: the failure shows one of them.
    last: list[tuple[Exchange, str]] = []

    if expect.split is not None:
        goal = dict(expect.split)

        def draw(n: int) -> list[str]:
            batch = deployment.send_many(request, n, concurrency)
            labels = [split_label(e, list(goal)) for e in batch]
            last[:] = zip(batch, labels, strict=True)
            return labels

    else:
        assert mirror is not None and mirror.share is not None
        goal = {"mirrored": mirror.share, "not mirrored": 100 - mirror.share}
        plain = expect.model_copy(update={"mirrored_to": None})

        def draw(n: int) -> list[str]:
            batch = deployment.send_many(request, n, concurrency)
            ids = {e.request.meshgate_id for e in batch}
            got = deployment.received(mirror, ids, wait=MIRROR_SHARE_WAIT, settle=MIRROR_SETTLE)
            labels: list[str] = []
            for exchange in batch:
                failures = judge(plain, exchange)
                if failures:
                    labels.append(f"failed ({failures[0]})")
                else:
                    labels.append(
                        "mirrored" if exchange.request.meshgate_id in got else "not mirrored"
                    )
            last[:] = zip(batch, labels, strict=True)
            return labels

    # `count` caps the sample; the judge's defaults otherwise. A draw asks for
    # at least `concurrency` answers, so they are all in flight together.
    policy = SplitPolicy(false_fail=SPLIT_FALSE_FAIL)
    if request.count is not None:
        policy = dataclasses.replace(policy, max_samples=request.count)
    if concurrency > policy.batch:
        policy = dataclasses.replace(policy, batch=concurrency)
    verdict = judge_split(draw, goal, policy)
    if verdict.passed:
        return last[0][0]
    what = "split" if mirror is None else f"mirroredTo: {mirror}"
    headline = f"{title} failed: {what}"
    lines = [headline, verdict.describe()]
    brief = list(lines)
    example = _over_represented(last, verdict.goal, verdict.counts, verdict.samples)
    if example is not None:
        sent, got = example.request.describe(), example.describe_outcome()
        lines += ["", "sent (one of them):", indent(sent), "got (that one):", indent(got)]
        brief += [f"sent (one of them): {sent.splitlines()[0].strip()}"]
        brief += [f"got (that one): {got.splitlines()[0].strip()}"]
        # Like a single check's: the access-log line of that answer and the routes.
        details = target_diagnostics(deployment.explain, example)
        if details:
            lines += ["", details]
    if appendix:
        lines += ["", appendix]
    summary = f"{what}: {verdict.summary()}"
    raise CheckFailed("\n".join(lines), [summary], "\n".join(brief))


def _over_represented(
    answers: Sequence[tuple[Exchange, str]],
    goal: Mapping[str, float],
    counts: Mapping[str, int],
    samples: int,
) -> Exchange | None:
    """An answer of the label furthest above its goal (the one that went wrong), if the
    last draw holds one; else that draw's first answer."""
    if not answers:
        return None

    def excess(label: str) -> float:
        return 100.0 * counts.get(label, 0) / max(samples, 1) - goal.get(label, 0.0)

    worst = max(sorted({label for _, label in answers}), key=excess)
    return next(exchange for exchange, label in answers if label == worst)
