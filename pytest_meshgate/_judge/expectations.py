"""Expectations against answers: one exchange, or a batch of them (counts, pods)."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from urllib.parse import urlsplit

from .._cases.model.expect import Expect, answer_labels
from .._durations import format_duration
from .._exchange.records import AccessLogLine, Exchange, redact_tokens
from .._grpcwire import status_name

__all__ = [
    "ACCESS_LOG_KEY",
    "MAX_FAILURE_LINES",
    "exchange_labels",
    "judge",
    "judge_answers",
    "split_label",
]

MAX_FAILURE_LINES = 8

_DEFAULT_PORTS = {"http": 80, "https": 443}

# Exchange.extra key of the access-log lines the target found for the exchange, by proxy.
ACCESS_LOG_KEY = "access_log"


def judge(expect: Expect, exchange: Exchange) -> list[str]:
    """Every expectation ``exchange`` misses, as one line each; empty means it passes."""
    from .metrics import judge_metrics

    failures = _judge_answer(expect, exchange)
    failures += judge_access_logs(expect, exchange)
    failures += judge_metrics(expect, exchange)
    return failures


def judge_access_logs(expect: Expect, exchange: Exchange) -> list[str]:
    """``accessLog``: each named proxy's line for the request (found by the target and
    put into ``exchange.extra``), or its absence, and the values it holds."""
    failures: list[str] = []
    found: dict[str, AccessLogLine] = exchange.extra.get(ACCESS_LOG_KEY, {})
    for want in expect.access_logs:
        got = found.get(want.proxy)
        if got is None:
            failures.append(f"accessLog.{want.proxy}: the target read no access log")
            continue
        if not got.available:
            failures.append(f"accessLog.{want.proxy}: no access log ({got.note})")
            continue
        if not want.logged:
            if got.line is not None:
                failures.append(
                    f"accessLog.{want.proxy}: expected no line for this request, logged {got.line}"
                )
            continue
        if got.line is None:
            failures.append(
                f"accessLog.{want.proxy}: expected a line for this request, there is none"
                + (f" ({got.note})" if got.note else "")
            )
            continue
        for name, value in want.fields.items():
            logged = got.fields.get(name)
            if logged is None:
                failures.append(
                    f"accessLog.{want.proxy}.fields.{name}: the log format has no such "
                    f"value (line: {got.line})"
                )
            elif logged != str(value):
                failures.append(
                    f"accessLog.{want.proxy}.fields.{name}: expected {str(value)!r}, "
                    f"logged {logged!r} (line: {got.line})"
                )
    return failures


def _judge_answer(expect: Expect, exchange: Exchange) -> list[str]:
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
    grpc = exchange.request.grpc is not None
    if response is None:
        if grpc:
            what = f"grpc.status: expected {_grpc_statuses(expect)}"
        else:
            what = f"status: expected {_statuses(expect, exchange)}"
        failures.append(
            f"{what}, but the connection failed: {exchange.connection} ({exchange.error})"
        )
        return failures
    # A gRPC call is judged by its gRPC status; its HTTP status only when the check says.
    if (not grpc or expect.status is not None) and response.status not in _wanted(expect, exchange):
        failures.append(f"status: expected {_statuses(expect, exchange)}, got {response.status}")
    if grpc:
        failures += _judge_grpc(expect, exchange)
    if expect.websocket is not None:
        failures += _judge_websocket(expect, exchange)

    echo = response.echo
    backend = expect.backend_ref
    if backend is not None:
        if echo is None:
            failures.append(f"backend: expected {backend}, but no echo backend answered")
        else:
            got = f"{echo.get('namespace')}/{echo.get('service')} {echo.get('version')}"
            if backend.pod is not None:
                got += f" pod {echo.get('pod')}"
            if backend.port is not None:
                got += f" port {echo.get('httpPort')}"
            if (
                echo.get("service") != backend.service
                or (backend.version is not None and echo.get("version") != backend.version)
                or (backend.namespace is not None and echo.get("namespace") != backend.namespace)
                or (backend.pod is not None and echo.get("pod") != backend.pod)
                or (backend.port is not None and echo.get("httpPort") != str(backend.port))
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
            if _compared(got_value, want.ignore_whitespace) != _compared(
                value, want.ignore_whitespace
            ):
                failures.append(f"response.headers.{name}: expected {value!r}, got {got_value!r}")
        for name, values in want.headers_one_of.items():
            got_value = response.header(name)
            allowed = {_compared(v, want.ignore_whitespace) for v in values}
            if _compared(got_value, want.ignore_whitespace) not in allowed:
                failures.append(
                    f"response.headersOneOf.{name}: expected one of {values!r}, got {got_value!r}"
                )
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


def _compared(value: str | None, ignore_whitespace: bool) -> str | None:
    """A header value as compared: with ``ignoreWhitespace`` every space removed, as the
    Gateway API suite's ``IgnoreWhitespace`` does (spaces only, not tabs)."""
    if value is None or not ignore_whitespace:
        return value
    return value.replace(" ", "")


def _grpc_statuses(expect: Expect) -> str:
    names = [status_name(code) for code in (expect.grpc.statuses if expect.grpc else (0,))]
    return names[0] if len(names) == 1 else "one of " + ", ".join(names)


def _judge_grpc(expect: Expect, exchange: Exchange) -> list[str]:
    """The call's gRPC status (default OK) and message, as a gRPC client reports them."""
    reply = exchange.response.grpc if exchange.response is not None else None
    if reply is None:
        return ["grpc.status: expected a gRPC answer, got none"]
    failures: list[str] = []
    wanted = expect.grpc.statuses if expect.grpc is not None else (0,)
    if reply.status not in wanted:
        got = f"{status_name(reply.status)} ({reply.status})"
        if reply.message:
            got += f" {reply.message!r}"
        if reply.source != "grpc-status":
            got += f", from {reply.source}"
        failures.append(f"grpc.status: expected {_grpc_statuses(expect)}, got {got}")
    message = expect.grpc.message if expect.grpc is not None else None
    if message is not None and reply.message != message:
        failures.append(f"grpc.message: expected {message!r}, got {reply.message!r}")
    return failures


def _wanted(expect: Expect, exchange: Exchange) -> tuple[int, ...]:
    """The statuses that pass: a WebSocket's default is its upgrade, 101."""
    if exchange.request.websocket is not None and expect.status is None:
        return (101,)
    return expect.statuses


def _statuses(expect: Expect, exchange: Exchange) -> str:
    statuses = _wanted(expect, exchange)
    return str(statuses[0]) if len(statuses) == 1 else "one of " + ", ".join(map(str, statuses))


def _judge_websocket(expect: Expect, exchange: Exchange) -> list[str]:
    """The messages read back, by their bytes (a text or binary frame alike, as
    x/net/websocket's ``Message.Receive`` reads them)."""
    want = expect.websocket
    assert want is not None and exchange.response is not None
    session = exchange.response.websocket
    if session is None:
        return [f"websocket: expected the upgrade to a WebSocket, got {exchange.response.status}"]
    failures: list[str] = []
    for index, message in enumerate(want.messages):
        if index >= len(session.messages):
            failures.append(
                f"websocket.messages[{index}]: expected {message}, got none ({session.error})"
            )
            break
        kind, payload = session.messages[index]
        if payload != message.payload:
            failures.append(
                f"websocket.messages[{index}]: expected {message}, got {kind} {payload!r}"
            )
    return failures


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
            failures.append(
                redact_tokens(f"request.headers.{name}: expected {value!r}, backend saw {seen!r}")
            )
    for name in want.absent_headers:
        seen = _echo_header(echo, name)
        if seen is not None:
            failures.append(f"request.absentHeaders: backend saw {name}: {seen!r}")
    for name, parts in want.headers_contain.items():
        seen = _echo_header(echo, name)
        for part in [parts] if isinstance(parts, str) else parts:
            if seen is None or part not in seen:
                failures.append(
                    f"request.headersContain.{name}: expected it to contain {part!r}, "
                    f"backend saw {seen!r}"
                )
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


def exchange_labels(exchange: Exchange) -> list[str]:
    """``answer_labels`` of an exchange: service/version, service, status/NNN."""
    response = exchange.response
    if response is None:
        return answer_labels(None, None, exchange.connection)
    return answer_labels(
        response.status,
        response.echo,
        header_names=(k for k, _ in response.headers),
        grpc_status=response.grpc.status if response.grpc is not None else None,
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
        for failure, n in per_answer.most_common(MAX_FAILURE_LINES)
    ]
    if len(per_answer) > MAX_FAILURE_LINES:
        failures.append(f"... and {len(per_answer) - MAX_FAILURE_LINES} more kinds of failure")
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
