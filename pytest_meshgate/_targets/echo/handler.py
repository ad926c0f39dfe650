"""What an echo answers: the echo-basic JSON body, its knobs and misbehaviours.

Knobs, as in echo-basic (the path is matched after collapsing ``//``):

- ``/health``: 200 ``OK`` (text, not JSON).
- ``/status/NNN``: answers status NNN with the echo body.
- ``?delay=1s`` (Go durations: ``500ms``, ``1m30s``): sleeps before answering,
  without holding up other connections.
- ``/retry/?uuid=U&succeedAfter=N[&responseCode=503][&delayRetry=1s]``, and any
  path under ``/retry/``: the first N requests per uuid fail with
  ``responseCode``; without it they fail by a TCP reset (``SO_LINGER`` 0 then
  close), as echo-basic's hijack does.
- request header ``X-Echo-Set-Header: Name:value,Name2:value2``: sets those
  response headers.

A gRPC call over HTTP/1 gets no answer, as from a gRPC server (``grpcecho``
answers them over HTTP/2). A listener may be told to misbehave (``EchoFault``):
every request, whatever its knobs, is delayed, answered with a fixed status, or
reset; ``/health`` stays healthy, as a failing pod's readiness probe may. A
listener that refuses or drops connections (``refuse``, ``blackhole``) never
gets here.
"""

from __future__ import annotations

import asyncio
import json
import re
import threading
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qs, urlsplit

from ..._durations import parse_duration
from ..._grpcwire import is_grpc
from .protocol import HTTPRequest, HTTPResponse, canonical_header_name, text_response
from .tls import tls_facts

__all__ = [
    "EchoFault",
    "EchoHandler",
    "EchoIdentity",
    "echo_body",
]


@dataclass(frozen=True)
class EchoIdentity:
    """Who a listening socket pretends to be: a pod of a Service port."""

    service: str
    namespace: str = "default"
    version: str = "v1"
    pod: str = ""  # default: "<service>-<version>-0"
    port_name: str = "http"
    # The container port it stands for, reported as httpPort; None: the socket's own
    # port (on a cluster the echo listens on the container port itself).
    container_port: int | None = None

    def __post_init__(self) -> None:
        if not self.pod:
            object.__setattr__(self, "pod", f"{self.service}-{self.version}-0")


@dataclass(frozen=True)
class EchoFault:
    """How a misbehaving listener answers every request: after ``delay`` seconds,
    with ``status`` (and the echo body) or a TCP reset; or, with ``refuse`` or
    ``blackhole``, how it takes no connection at all (``EchoServer.listen``
    stages those on the socket: nothing listening, or a full accept queue)."""

    status: int | None = None
    delay: float = 0.0
    reset: bool = False
    refuse: bool = False
    blackhole: bool = False

    @property
    def takes_no_connection(self) -> bool:
        return self.refuse or self.blackhole


class EchoHandler:
    """Answers requests as echo-basic does; counts ``/retry`` attempts per uuid (thread-safe)."""

    def __init__(self) -> None:
        self._retries: dict[str, int] = {}
        self._lock = threading.Lock()

    def clear_retries(self) -> None:
        """Forget the retry counters (e.g. between cases)."""
        with self._lock:
            self._retries.clear()

    async def answer(
        self,
        identity: EchoIdentity,
        fault: EchoFault | None,
        request: HTTPRequest,
        writer: asyncio.StreamWriter,
        peer: str,
        local_port: int,
    ) -> HTTPResponse:
        """The answer to ``request`` on a socket that is ``identity``, misbehaving as ``fault``."""
        if request.target.startswith("/"):
            # Not urlsplit: it would read "//status/404" as a network location.
            raw_path, _, raw_query = request.target.partition("#")[0].partition("?")
        else:  # absolute-form, as sent to proxies
            split = urlsplit(request.target)
            raw_path, raw_query = split.path, split.query
        path = re.sub("/+", "/", raw_path or "/")
        query = parse_qs(raw_query, keep_blank_values=True)

        if path == "/health":
            return text_response(200, "OK")
        if request.proto.startswith("HTTP/1") and is_grpc(
            next(iter(request.get("content-type")), "")
        ):
            # gRPC needs HTTP/2 (http2.py answers it there): a gRPC server reads an
            # HTTP/1 request as a bad connection preface and drops the connection.
            return HTTPResponse(0, b"", reset=True)
        if fault is not None:
            if fault.delay:
                await asyncio.sleep(fault.delay)
            if fault.reset:
                return HTTPResponse(0, b"", reset=True)
            if fault.status is not None:
                body = echo_body(identity, request, writer, peer, local_port)
                return HTTPResponse(fault.status, body)

        status = 200
        extra_headers: list[tuple[str, str]] = []
        for spec in request.get("x-echo-set-header"):
            for item in spec.split(","):
                name, sep, value = item.partition(":")
                if sep and name.strip():
                    extra_headers.append((name.strip(), value.strip()))

        if "delay" in query:
            try:
                delay = parse_duration(query["delay"][0])
            except ValueError as exc:
                return text_response(400, f"{exc}\n")
            await asyncio.sleep(delay)

        if path.startswith("/status/"):
            code = path[len("/status/") :].strip("/")
            if not code.isdigit() or not 200 <= int(code) <= 599:
                return text_response(400, f"invalid status {code!r}: want 200-599\n")
            status = int(code)
        elif path == "/retry" or path.startswith("/retry/"):
            # echo-basic serves "/retry/" and everything under it (a Go ServeMux subtree).
            failure = await self._retry(query)
            if failure is not None:
                return failure

        body = echo_body(identity, request, writer, peer, local_port)
        return HTTPResponse(status, body, headers=extra_headers)

    async def _retry(self, query: Mapping[str, list[str]]) -> HTTPResponse | None:
        uuid = (query.get("uuid") or [""])[0]
        after = (query.get("succeedAfter") or [""])[0]
        if not uuid or not after.isdigit():
            return text_response(400, "retry needs uuid and succeedAfter=N\n")
        code_text = (query.get("responseCode") or [""])[0]
        if code_text and not (code_text.isdigit() and 200 <= int(code_text) <= 599):
            return text_response(400, f"invalid responseCode {code_text!r}\n")
        with self._lock:
            attempt = self._retries.get(uuid, 0) + 1
            self._retries[uuid] = attempt
        if attempt > int(after):
            return None
        if "delayRetry" in query:
            try:
                await asyncio.sleep(parse_duration(query["delayRetry"][0]))
            except ValueError as exc:
                return text_response(400, f"{exc}\n")
        if code_text:
            return HTTPResponse(int(code_text), b"", content_type="text/plain")
        return HTTPResponse(0, b"", reset=True)


def echo_body(
    identity: EchoIdentity,
    request: HTTPRequest,
    writer: asyncio.StreamWriter,
    peer: str,
    local_port: int,
) -> bytes:
    """The echo-basic JSON body: what the echo saw of ``request``, and who it is."""
    headers: dict[str, list[str]] = {}
    for name, value in request.headers:
        canonical = canonical_header_name(name)
        if canonical in ("Host", "Transfer-Encoding"):
            continue  # Go moves these out of r.Header; echo-basic never shows them
        headers.setdefault(canonical, []).append(value)
    echo: dict[str, Any] = {
        "path": request.target,
        "host": (request.get("host") or [""])[0],
        "method": request.method,
        "proto": request.proto,
        "headers": headers,
        "namespace": identity.namespace,
        "ingress": "",
        "service": identity.service,
        "pod": identity.pod,
        "version": identity.version,
        "httpPort": str(identity.container_port or local_port),
        "peer": peer,
    }
    ssl_object = writer.get_extra_info("ssl_object")
    if ssl_object is not None:
        echo["tls"] = tls_facts(ssl_object)
    return json.dumps(echo, separators=(",", ":")).encode()
