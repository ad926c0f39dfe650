"""Sending a check's request and capturing everything about what came back."""

from __future__ import annotations

import errno
import json
import time
import uuid
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

import httpx

from ._model.case import Request

__all__ = ["Exchange", "HTTPClient", "ResponseRecord", "SentRequest", "substitute"]

MESHGATE_ID_HEADER = "x-meshgate-id"


@dataclass(frozen=True)
class SentRequest:
    """The request as it went on the wire, and where it went."""

    method: str
    url: str  # as the case wrote it, after ${uuid} substitution
    headers: tuple[tuple[str, str], ...]
    body: str | None
    address: tuple[str, int]  # where the connection went
    entry: str  # e.g. "gateway istio-ingressgateway port 80"
    meshgate_id: str

    def describe(self) -> str:
        lines = [
            f"{self.method} {self.url}   (via {self.entry} at {self.address[0]}:{self.address[1]})"
        ]
        lines += [f"  {name}: {value}" for name, value in self.headers]
        if self.body:
            lines.append(f"  body: {self.body[:200]!r}")
        return "\n".join(lines)


@dataclass(frozen=True)
class ResponseRecord:
    status: int
    reason: str
    http_version: str
    headers: tuple[tuple[str, str], ...]
    body: bytes

    def header(self, name: str) -> str | None:
        """All values of a header joined by ``,`` (names are case-insensitive)."""
        values = [v for k, v in self.headers if k.lower() == name.lower()]
        return ",".join(values) if values else None

    @property
    def echo(self) -> dict[str, Any] | None:
        """The echo backend's JSON report, if this response is one."""
        content_type = self.header("content-type") or ""
        if "application/json" not in content_type:
            return None
        try:
            data = json.loads(self.body)
        except ValueError:
            return None
        if isinstance(data, dict) and "service" in data and "path" in data:
            return data
        return None


@dataclass(frozen=True)
class Exchange:
    """One attempt: what was sent, and the response or the connection outcome."""

    request: SentRequest
    response: ResponseRecord | None
    connection: str | None = None  # refused | reset | tlsError | timeout | error
    error: str | None = None
    elapsed: float = 0.0
    extra: dict[str, Any] = field(default_factory=dict)

    def describe_outcome(self) -> str:
        if self.response is None:
            took = f"{self.elapsed * 1000:.0f} ms"
            return f"no HTTP answer: {self.connection} ({self.error}) after {took}"
        r = self.response
        lines = [f"{r.http_version} {r.status} {r.reason}   ({self.elapsed * 1000:.0f} ms)"]
        lines += [f"  {name}: {value}" for name, value in r.headers]
        echo = r.echo
        if echo is not None:
            lines.append("  echo: " + json.dumps(echo, indent=None, sort_keys=True)[:2000])
        elif r.body:
            text = r.body[:500].decode("utf-8", "replace")
            lines.append(f"  body: {text!r}")
        return "\n".join(lines)


def substitute(text: str, request_uuid: str) -> str:
    """``${uuid}`` -> a fresh UUID for this attempt."""
    return text.replace("${uuid}", request_uuid)


class HTTPClient:
    """Sends requests over new connections (no keep-alive, as Gateway API's suite does).

    A fresh connection per attempt means a listener swap between cases can
    never make an old connection answer for the new configuration.
    """

    def __init__(self, timeout: float = 10.0) -> None:
        self.timeout = timeout
        self._client = httpx.Client(
            limits=httpx.Limits(max_keepalive_connections=0),
            follow_redirects=False,
            trust_env=False,
            timeout=timeout,
        )

    def close(self) -> None:
        self._client.close()

    def send(
        self, request: Request, address: tuple[str, int], entry: str, timeout: float | None = None
    ) -> Exchange:
        """Send ``request`` to ``address``, Host header and path taken from its URL."""
        attempt_uuid = str(uuid.uuid4())
        url = substitute(request.url, attempt_uuid)
        parts = urlsplit(url)
        target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
        headers: list[tuple[str, str]] = []
        if not any(k.lower() == "host" for k in request.headers):
            headers.append(("host", parts.netloc.rsplit("@", 1)[-1]))
        headers += [(k, substitute(v, attempt_uuid)) for k, v in request.headers.items()]
        meshgate_id = uuid.uuid4().hex
        headers.append((MESHGATE_ID_HEADER, meshgate_id))
        body = substitute(request.body, attempt_uuid) if request.body is not None else None
        sent = SentRequest(
            method=request.method,
            url=url,
            headers=tuple(headers),
            body=body,
            address=address,
            entry=entry,
            meshgate_id=meshgate_id,
        )
        wire_url = f"http://{address[0]}:{address[1]}{target}"
        # `target` goes on the request line verbatim: httpx would otherwise
        # normalise dot segments and percent-encoding the gateway must see.
        built = self._client.build_request(
            request.method,
            wire_url,
            headers=headers,
            content=body.encode() if body is not None else None,
            extensions={
                "target": target.encode(),
                "timeout": httpx.Timeout(timeout or self.timeout).as_dict(),
            },
        )
        start = time.perf_counter()
        try:
            response = self._client.send(built)
        except httpx.ConnectError as exc:
            return Exchange(sent, None, _connect_outcome(exc), _describe(exc), _since(start))
        except httpx.TimeoutException as exc:
            return Exchange(sent, None, "timeout", _describe(exc), _since(start))
        except (httpx.RemoteProtocolError, httpx.ReadError, httpx.WriteError) as exc:
            return Exchange(sent, None, "reset", _describe(exc), _since(start))
        except httpx.TransportError as exc:
            return Exchange(sent, None, "error", _describe(exc), _since(start))
        record = ResponseRecord(
            status=response.status_code,
            reason=response.reason_phrase,
            http_version=response.http_version,
            headers=tuple(
                (k.decode("latin-1"), v.decode("latin-1")) for k, v in response.headers.raw
            ),
            body=response.content,
        )
        return Exchange(sent, record, elapsed=_since(start))


def _since(start: float) -> float:
    return time.perf_counter() - start


def _describe(exc: BaseException) -> str:
    text = str(exc) or type(exc).__name__
    return f"{type(exc).__name__}: {text}"


def _connect_outcome(exc: httpx.ConnectError) -> str:
    cause: BaseException | None = exc
    while cause is not None:
        if (
            isinstance(cause, ConnectionRefusedError)
            or getattr(cause, "errno", None) == errno.ECONNREFUSED
        ):
            return "refused"
        if isinstance(cause, ConnectionResetError):
            return "reset"
        cause = cause.__cause__ or cause.__context__
    if "refused" in str(exc).lower():
        return "refused"
    return "error"
