"""The in-pod sender: a ``from:`` request's attempts sent from inside a client pod, as JSON out.

A mesh client's request must leave through its pod's sidecar, so on a cluster
it is sent from inside the pod: ``python3 -m pytest_meshgate._targets.echo.sender``
runs there through the exec API (the pod is a stock Python image with this
package mounted from a ConfigMap, as the echo pods are). It reads one line of
JSON, the plan, from stdin (a line, not to EOF: the exec API's stdin cannot be
half-closed), and writes one JSON document to stdout.

The plan is built by the harness (``_targets/kubernetes/clients.py``) from
what ``HTTPClient`` would send: the request-line target and the header fields
in wire order, with ``${uuid}`` and ``${meshgate-id}`` to fill in per attempt.
Attempts go ``concurrency`` at a time, each worker on its own connection,
kept alive between its attempts when ``keepalive`` (as the bulk sender does,
so a circuit breaker sees exactly that many connections), else a fresh
connection per attempt (as ``HTTPClient`` does). Failures are classified as
the harness classifies them: ``refused``, ``reset``, ``timeout``, ``tlsError``
(an alert or failed verification) or ``error``.
"""

from __future__ import annotations

import base64
import contextlib
import http.client
import json
import os
import socket
import ssl
import sys
import tempfile
import threading
import time
import uuid
from typing import Any

from .tls import limit_versions

__all__ = ["main", "run_plan"]


def _context(tls: dict[str, Any]) -> ssl.SSLContext:
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.load_verify_locations(cadata=tls["ca"])
    context.check_hostname = tls.get("server_name") is not None
    # Really offer TLS 1.0/1.1 when asked, as the echo's staged servers accept them.
    limit_versions(context, tls.get("min_version"), tls.get("max_version"))
    if tls.get("ciphers"):
        context.set_ciphers(":".join(tls["ciphers"]))
    context.set_alpn_protocols(list(tls.get("alpn") or ["http/1.1"]))
    if tls.get("cert"):
        # load_cert_chain takes only paths: a private file, removed at once.
        fd, path = tempfile.mkstemp(suffix=".pem")
        try:
            with os.fdopen(fd, "w") as stream:
                stream.write(tls["cert"] + "\n" + tls["key"])
            context.load_cert_chain(path)
        finally:
            os.unlink(path)
    return context


def _outcome(exc: BaseException, connected: bool) -> str:
    """The harness's classification (``_exchange/client.py`` ``failure_outcome``)."""
    if isinstance(exc, (socket.timeout, TimeoutError)):
        return "timeout"
    if isinstance(exc, ssl.SSLCertVerificationError):
        return "tlsError"
    if isinstance(exc, (ssl.SSLEOFError, ssl.SSLZeroReturnError)):
        return "reset"
    if isinstance(exc, ssl.SSLError):
        return "reset" if "EOF" in (exc.reason or str(exc)).upper() else "tlsError"
    if isinstance(exc, ConnectionRefusedError) and not connected:
        return "refused"
    if isinstance(exc, (ConnectionError, http.client.BadStatusLine)):
        return "reset"  # RemoteDisconnected is both
    return "error"  # name resolution and the rest


class _Worker:
    """One connection's worth of attempts: connect, send, read, maybe keep it."""

    def __init__(self, plan: dict[str, Any], context: ssl.SSLContext | None) -> None:
        self.plan = plan
        self.context = context
        self.sock: socket.socket | None = None

    def _connect(self) -> socket.socket:
        host, port = self.plan["connect"]
        sock = socket.create_connection((host, port), timeout=self.plan["timeout"])
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        if self.context is not None:
            sni = self.plan["tls"].get("server_name")
            sock = self.context.wrap_socket(sock, server_hostname=sni)
        return sock

    def _wire(self, meshgate_id: str) -> bytes:
        attempt_uuid = str(uuid.uuid4())

        def fill(text: str) -> str:
            return text.replace("${uuid}", attempt_uuid).replace("${meshgate-id}", meshgate_id)

        body = fill(self.plan["body"]).encode() if self.plan.get("body") is not None else b""
        lines = [f"{self.plan['method']} {fill(self.plan['target'])} HTTP/1.1"]
        for name, value in self.plan["headers"]:
            if name.lower() == "content-length" and value == "${body-length}":
                value = str(len(body))
            lines.append(f"{name}: {fill(value)}")
        return ("\r\n".join(lines) + "\r\n\r\n").encode("utf-8") + body

    def attempt(self) -> dict[str, Any]:
        meshgate_id = uuid.uuid4().hex
        start = time.perf_counter()
        result: dict[str, Any] = {"meshgate_id": meshgate_id}
        connected = False
        try:
            if self.sock is None:
                self.sock = self._connect()
            connected = True
            self.sock.sendall(self._wire(meshgate_id))
            response = http.client.HTTPResponse(self.sock, method=self.plan["method"])
            response.begin()
            body = response.read()
            result.update(
                status=response.status,
                reason=response.reason,
                version="HTTP/1.1" if response.version == 11 else "HTTP/1.0",
                headers=[[k, v] for k, v in response.getheaders()],
                body=base64.b64encode(body).decode(),
            )
            if isinstance(self.sock, ssl.SSLSocket):
                result["tls"] = _tls_facts(self.sock)
            if not self.plan.get("keepalive") or response.will_close:
                self.close()
        except (OSError, http.client.HTTPException) as exc:
            self.close()
            result.update(
                status=None,
                outcome=_outcome(exc, connected),
                error=f"{type(exc).__name__}: {exc or type(exc).__name__}",
            )
        result["elapsed"] = time.perf_counter() - start
        return result

    def close(self) -> None:
        if self.sock is not None:
            with contextlib.suppress(OSError):
                self.sock.close()
            self.sock = None


def _tls_facts(sock: ssl.SSLSocket) -> dict[str, Any]:
    cipher = sock.cipher()
    der = sock.getpeercert(binary_form=True)
    return {
        "version": sock.version(),
        "cipher": cipher[0] if cipher else None,
        "alpn": sock.selected_alpn_protocol(),
        "peer_certificate": ssl.DER_cert_to_PEM_cert(der) if der else None,
    }


def run_plan(plan: dict[str, Any]) -> list[dict[str, Any]]:
    """Every attempt of ``plan``, in the order they were started."""
    count = int(plan.get("count", 1))
    concurrency = max(1, min(int(plan.get("concurrency", 1)), count))
    context = _context(plan["tls"]) if plan.get("tls") else None
    results: list[dict[str, Any] | None] = [None] * count
    # Worker i makes attempt i first, so each of the ``concurrency`` workers
    # opens its connection even when one thread would otherwise take every
    # attempt before the others are scheduled (a loaded machine).
    next_index = iter(range(concurrency, count))
    lock = threading.Lock()

    def work(first: int) -> None:
        worker = _Worker(plan, context)
        try:
            index: int | None = first
            while index is not None:
                results[index] = worker.attempt()
                with lock:
                    index = next(next_index, None)
        finally:
            worker.close()

    threads = [threading.Thread(target=work, args=(i,), daemon=True) for i in range(concurrency)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return [r for r in results if r is not None]


def main() -> int:
    plan = json.loads(sys.stdin.readline())
    json.dump({"results": run_plan(plan)}, sys.stdout, separators=(",", ":"))
    sys.stdout.write("\n")
    sys.stdout.flush()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
