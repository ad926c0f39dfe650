"""Judging: expectations against an exchange, inside an eventual-consistency loop."""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from urllib.parse import urlsplit

from ._client import Exchange
from ._errors import CheckFailed
from ._model.base import format_duration
from ._model.case import Expect, answer_labels

__all__ = [
    "Consistency",
    "await_verdict",
    "batch_verdict",
    "exchange_labels",
    "judge",
    "judge_answers",
    "split_label",
]

_MAX_FAILURE_LINES = 8

_DEFAULT_PORTS = {"http": 80, "https": 443}


@dataclass(frozen=True)
class Consistency:
    """A check passes after ``successes`` passing attempts in a row within ``timeout``."""

    timeout: float = 5.0
    successes: int = 3
    poll_interval: float = 0.1


def judge(expect: Expect, exchange: Exchange) -> list[str]:
    """Every expectation ``exchange`` misses, as one line each; empty means it passes."""
    failures: list[str] = []
    if expect.connections:
        if exchange.response is not None:
            failures.append(
                f"connection: expected {' or '.join(expect.connections)}, "
                f"got an HTTP answer {exchange.response.status}"
            )
        elif exchange.connection not in expect.connections:
            failures.append(
                f"connection: expected {' or '.join(expect.connections)}, "
                f"got {exchange.connection} ({exchange.error})"
            )
        _judge_latency(expect, exchange, failures)
        return failures

    _judge_tls(expect, exchange, failures)
    response = exchange.response
    if response is None:
        failures.append(
            f"status: expected {_statuses(expect)}, but the connection failed: "
            f"{exchange.connection} ({exchange.error})"
        )
        return failures
    if response.status not in expect.statuses:
        failures.append(f"status: expected {_statuses(expect)}, got {response.status}")

    echo = response.echo
    backend = expect.backend_ref
    if backend is not None:
        if echo is None:
            failures.append(f"backend: expected {backend}, but no echo backend answered")
        else:
            got = f"{echo.get('namespace')}/{echo.get('service')} {echo.get('version')}"
            if (
                echo.get("service") != backend.service
                or (backend.version is not None and echo.get("version") != backend.version)
                or (backend.namespace is not None and echo.get("namespace") != backend.namespace)
            ):
                failures.append(f"backend: expected {backend}, got {got}")

    if expect.via is not None:
        via = exchange.extra.get("via")
        if echo is None:
            failures.append(f"via: expected {expect.via}, but no echo backend answered")
        elif via is None:
            failures.append(f"via: expected {expect.via}, but the target cannot tell the path")
        elif via != expect.via:
            peer = exchange.extra.get("peer")
            failures.append(
                f"via: expected the backend's connection from {expect.via}, it came from {via}"
                + (f" (peer {peer})" if peer else "")
            )

    if expect.request is not None:
        if echo is None:
            failures.append("request: expected the backend's view, but no echo backend answered")
        else:
            failures += _judge_backend_request(expect, echo)

    if expect.response is not None:
        want = expect.response
        if want.protocol is not None and response.http_version != want.protocol:
            failures.append(
                f"response.protocol: expected {want.protocol}, answered {response.http_version}"
            )
        for name, value in want.headers.items():
            got_value = response.header(name)
            if got_value != value:
                failures.append(f"response.headers.{name}: expected {value!r}, got {got_value!r}")
        for name in want.absent_headers:
            if response.header(name) is not None:
                failures.append(
                    f"response.absentHeaders: {name} is present ({response.header(name)!r})"
                )
        if want.body is not None:
            text = response.body.decode("utf-8", "replace")
            if want.body.equals is not None and text != want.body.equals:
                failures.append(f"response.body: expected {want.body.equals!r}, got {text[:200]!r}")
            if want.body.contains is not None and want.body.contains not in text:
                failures.append(f"response.body: {want.body.contains!r} not in {text[:200]!r}")

    if expect.redirect is not None:
        failures += _judge_redirect(expect, exchange)

    _judge_latency(expect, exchange, failures)
    return failures


def _statuses(expect: Expect) -> str:
    statuses = expect.statuses
    return str(statuses[0]) if len(statuses) == 1 else "one of " + ", ".join(map(str, statuses))


def _echo_header(echo: dict[str, object], name: str) -> str | None:
    headers = echo.get("headers")
    if not isinstance(headers, dict):
        return None
    values: list[str] = []
    for key, value in headers.items():
        if key.lower() == name.lower():
            values += value if isinstance(value, list) else [str(value)]
    return ",".join(values) if values else None


def _judge_backend_request(expect: Expect, echo: dict[str, object]) -> list[str]:
    want = expect.request
    assert want is not None
    failures: list[str] = []
    for key in ("method", "path", "host", "proto"):
        wanted = getattr(want, key)
        if wanted is not None and echo.get(key) != wanted:
            failures.append(f"request.{key}: expected {wanted!r}, backend saw {echo.get(key)!r}")
    for name, value in want.headers.items():
        seen = _echo_header(echo, name)
        if seen != value:
            failures.append(f"request.headers.{name}: expected {value!r}, backend saw {seen!r}")
    for name in want.absent_headers:
        seen = _echo_header(echo, name)
        if seen is not None:
            failures.append(f"request.absentHeaders: backend saw {name}: {seen!r}")
    if want.tls is not None:
        tls = echo.get("tls")
        server_name = tls.get("serverName") if isinstance(tls, dict) else None
        if server_name != want.tls.server_name:
            failures.append(
                f"request.tls.serverName: expected {want.tls.server_name!r}, "
                f"backend saw {server_name!r}" + ("" if tls else " (no TLS at the backend)")
            )
    return failures


def _judge_redirect(expect: Expect, exchange: Exchange) -> list[str]:
    want = expect.redirect
    assert want is not None and exchange.response is not None
    location = exchange.response.header("location")
    if location is None:
        return ["redirect: expected a Location header, got none"]
    if want.location is not None:
        if location != want.location:
            return [f"redirect.location: expected {want.location!r}, got {location!r}"]
        return []
    failures: list[str] = []
    parts = urlsplit(location)
    if want.scheme is not None and parts.scheme != want.scheme:
        failures.append(
            f"redirect.scheme: expected {want.scheme!r}, got {parts.scheme!r} ({location})"
        )
    if want.host is not None and parts.hostname != want.host.lower():
        failures.append(
            f"redirect.host: expected {want.host!r}, got {parts.hostname!r} ({location})"
        )
    if want.port is not None:
        port = parts.port
        if port is None:
            # No port in Location means the scheme's default, as a browser reads it.
            port = _DEFAULT_PORTS.get(parts.scheme)
        if port != want.port:
            failures.append(f"redirect.port: expected {want.port}, got {parts.port} ({location})")
    if want.path is not None and parts.path != want.path:
        failures.append(f"redirect.path: expected {want.path!r}, got {parts.path!r} ({location})")
    return failures


def _judge_tls(expect: Expect, exchange: Exchange, failures: list[str]) -> None:
    """Handshake facts; an issuer may be named by a CA of the case (``default``)."""
    want = expect.tls
    if want is None:
        return
    info = exchange.tls
    if info is None:
        failures.append("tls: expected a TLS handshake with the gateway, there was none")
        return
    if want.version is not None and info.version != want.version:
        failures.append(f"tls.version: expected {want.version}, negotiated {info.version}")
    if want.alpn is not None and info.alpn != want.alpn:
        failures.append(f"tls.alpn: expected {want.alpn!r}, negotiated {info.alpn!r}")
    peer = want.peer_certificate
    if peer is None:
        return
    for san in peer.san or []:
        if san not in info.peer_sans:
            failures.append(
                f"tls.peerCertificate.san: {san!r} not among the server certificate's "
                f"SANs {list(info.peer_sans)}"
            )
    if peer.issuer is not None:
        issuer_ca = exchange.extra.get("issuer_ca")
        if peer.issuer != issuer_ca and peer.issuer not in (info.peer_issuer or ""):
            named = f" (the case's CA '{issuer_ca}')" if issuer_ca else ""
            failures.append(
                f"tls.peerCertificate.issuer: expected {peer.issuer!r}, "
                f"got {info.peer_issuer!r}{named}"
            )


def _judge_latency(expect: Expect, exchange: Exchange, failures: list[str]) -> None:
    if expect.latency is None:
        return
    took = exchange.elapsed
    if expect.latency.at_least is not None and took < expect.latency.at_least:
        failures.append(
            f"latency: expected at least {format_duration(expect.latency.at_least)}, "
            f"took {took * 1000:.0f}ms"
        )
    if expect.latency.at_most is not None and took > expect.latency.at_most:
        failures.append(
            f"latency: expected at most {format_duration(expect.latency.at_most)}, "
            f"took {took * 1000:.0f}ms"
        )


def await_verdict(
    send: Callable[[], Exchange],
    expect: Expect,
    consistency: Consistency,
    explain: Callable[[Exchange], str] | None = None,
    title: str = "check",
) -> Exchange:
    """Send until ``consistency.successes`` attempts in a row pass, or time runs out.

    Every assertion runs inside the loop, so a stale answer never passes (the
    Gateway API suite learnt this the hard way, kubernetes-sigs/gateway-api#1242).

    Raises:
        CheckFailed: with what was sent, what came back and why, for the last failing attempt.
    """
    start = time.monotonic()
    deadline = start + consistency.timeout
    in_a_row = attempts = 0
    last_failure: tuple[Exchange, list[str]] | None = None
    while True:
        exchange = send()
        attempts += 1
        failures = judge(expect, exchange)
        if not failures:
            in_a_row += 1
            if in_a_row >= consistency.successes:
                return exchange
        else:
            in_a_row = 0
            last_failure = (exchange, failures)
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
    raise CheckFailed(_failure_message(headline, ("sent", "got"), exchange, failures, explain))


def exchange_labels(exchange: Exchange) -> list[str]:
    """``answer_labels`` of an exchange: service/version, service, status/NNN."""
    response = exchange.response
    if response is None:
        return answer_labels(None, None, exchange.connection)
    return answer_labels(
        response.status, response.echo, header_names=(k for k, _ in response.headers)
    )


def split_label(exchange: Exchange, goal: Sequence[str]) -> str:
    """The label an answer counts under in a ``split``: its most specific label the
    goal names, else its most specific label (which then counts against the goal)."""
    labels = exchange_labels(exchange)
    return next((label for label in labels if label in goal), labels[0])


def judge_answers(expect: Expect, exchanges: Sequence[Exchange]) -> list[str]:
    """Every answer of a ``count`` batch against the per-answer expectations, then the
    batch against ``counts`` and ``pods``; one line per distinct failure."""
    total = len(exchanges)
    per_answer: Counter[str] = Counter()
    for exchange in exchanges:
        per_answer.update(dict.fromkeys(judge(expect, exchange), 1))
    failures = [
        f"{n} of {total} answers: {failure}" if total > 1 else failure
        for failure, n in per_answer.most_common(_MAX_FAILURE_LINES)
    ]
    if len(per_answer) > _MAX_FAILURE_LINES:
        failures.append(f"... and {len(per_answer) - _MAX_FAILURE_LINES} more kinds of failure")
    tally: Counter[str] = Counter()
    for exchange in exchanges:
        tally.update(exchange_labels(exchange))
    for label, bound in (expect.counts or {}).items():
        if not bound.admits(tally[label]):
            failures.append(
                f"counts.{label}: expected {bound} of {total} answers, got {tally[label]} "
                f"({_tally_text(tally)})"
            )
    if expect.pods is not None:
        pods = Counter(
            str(echo.get("pod"))
            for exchange in exchanges
            if exchange.response is not None and (echo := exchange.response.echo) is not None
        )
        if not expect.pods.admits(len(pods)):
            seen = ", ".join(f"{pod}: {n}" for pod, n in sorted(pods.items())) or "none"
            failures.append(
                f"pods: expected {expect.pods} distinct pods to answer, got {len(pods)} ({seen})"
            )
    return failures


def _tally_text(tally: Counter[str]) -> str:
    statuses = sorted((k, n) for k, n in tally.items() if k.startswith(("status/", "connection/")))
    return ", ".join(f"{k}: {n}" for k, n in statuses)


def batch_verdict(
    batch: list[Exchange],
    expect: Expect,
    also: list[str] | None = None,
    explain: Callable[[Exchange], str] | None = None,
    title: str = "check",
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
    raise CheckFailed(_failure_message(headline, labels, example, failures, explain))


def _failure_message(
    headline: str,
    labels: tuple[str, str],
    exchange: Exchange,
    failures: list[str],
    explain: Callable[[Exchange], str] | None,
) -> str:
    """What was sent, what came back, each failed expectation, then the target's diagnostics."""
    lines = [
        headline,
        "",
        f"{labels[0]}:",
        _indent(exchange.request.describe()),
        f"{labels[1]}:",
        _indent(exchange.describe_outcome()),
        "failed expectations:",
        *(f"  - {failure}" for failure in failures),
    ]
    if explain is not None:
        try:
            details = explain(exchange)
        except Exception as exc:  # diagnostics must never hide the verdict
            details = f"(could not gather target diagnostics: {exc})"
        if details:
            lines += ["", details]
    return "\n".join(lines)


def _indent(text: str) -> str:
    return "\n".join(f"  {line}" for line in text.splitlines())
