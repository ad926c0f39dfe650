"""The key sets a case serves at its ``jwksUri``s, over real HTTP, and istiod's fetch of them.

By default (``PILOT_JWT_ENABLE_REMOTE_JWKS=false``, ``pilot/pkg/features/pilot.go``)
istiod fetches a RequestAuthentication's ``jwksUri`` itself and inlines the body
into the proxy's ``jwt_authn`` provider as ``local_jwks``
(``pilot/pkg/model/jwks_resolver.go``: ``BuildLocalJwks``, ``GetPublicKey``,
``getRemoteContentWithRetry``). The local target plays both sides:

- ``JwksServer``: one HTTP server per local target (so per run, and per lane),
  on loopback with ephemeral ports, a thread of this process (it ends with it,
  whatever kills the run), started on first use and stopped with the target. It
  answers ``GET`` for the URIs a case's ``spec.jwtKeys`` declare, each with the
  public set of every key declaring it, and 404 for any other path of a served
  origin. An ``https`` origin is served over TLS with a certificate for its host
  from the server's own CA (istiod's extra roots, ``/cacerts/extra.pem``).
- ``IstiodJwksFetcher``: istiod's fetch. The URI's origin (scheme, host, port) is
  mapped to the server when some key of the case declares a URI there; any other
  host is not looked up at all (nothing leaves the machine) and fails as a name
  that does not resolve would. Then as istiod: one GET (no retry on the push
  path), a status outside 2xx is a failure, and so is a body that is not a JWKS
  (``validateJWKSFormat``); on failure istiod inlines a key set nobody can sign
  for (``PublicOnlyJwks``, ``translate/authz/jwt.py``), so every token is refused.

Envoy's own fetch (``remote_jwks`` through a cluster, ``PILOT_JWT_ENABLE_REMOTE_JWKS``
``envoy``/``hybrid``) is istiod's environment, which no case sets: not modelled.
"""

from __future__ import annotations

import contextlib
import http.client
import json
import socket
import ssl
import threading
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import urlsplit

from ..._exchange.tlskeys import load_key_pair

__all__ = ["FetchResult", "IstiodJwksFetcher", "JwksServer", "Origin", "origin_of"]

_LOOPBACK = "127.0.0.1"
# getRemoteContentWithRetry quotes at most this much of a failed answer.
_QUOTED = 100


@dataclass(frozen=True, order=True)
class Origin:
    """Where a URI is served: scheme, lower-cased host, port (the scheme's default filled in)."""

    scheme: str
    host: str
    port: int


def origin_of(uri: str) -> tuple[Origin, str]:
    """The origin of ``uri`` and its request target (path and query, ``/`` at least)."""
    parts = urlsplit(uri)
    scheme = parts.scheme.lower()
    port = parts.port or (443 if scheme == "https" else 80)
    target = parts.path or "/"
    if parts.query:
        target += f"?{parts.query}"
    return Origin(scheme, (parts.hostname or "").lower(), port), target


def _looks_like_jwks(body: bytes) -> str | None:
    """``validateJWKSFormat``: why ``body`` is not a JSON object with a ``keys`` array."""
    try:
        document = json.loads(body)
    except ValueError as exc:
        return f"not valid JSON: {exc}"
    if not isinstance(document, dict) or "keys" not in document:
        return 'missing "keys" field'
    if not isinstance(document["keys"], list):
        return '"keys" is not an array'
    return None


class _Handler(BaseHTTPRequestHandler):
    server: _Listener
    protocol_version = "HTTP/1.1"

    def do_GET(self) -> None:
        host, _, port = (self.headers.get("Host") or "").rpartition(":")
        if not host or not port.isdigit():  # Go omits the port the URL omits
            host, port = self.headers.get("Host") or "", str(self.server.default_port)
        origin = Origin(self.server.scheme, host.lower().strip("[]"), int(port))
        body = self.server.owner.answer(origin, self.path)
        status = 200 if body is not None else 404
        payload = (body or "404 page not found\n").encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json" if body else "text/plain")
        self.send_header("Content-Length", str(len(payload)))
        self.send_header("Connection", "close")
        self.end_headers()
        self.wfile.write(payload)

    def log_message(self, format: str, *args: Any) -> None:
        del format, args  # quiet: a fetch's outcome is what istiod reports


class _Listener(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = False

    def __init__(self, owner: JwksServer, scheme: str) -> None:
        super().__init__((_LOOPBACK, 0), _Handler)
        self.owner = owner
        self.scheme = scheme
        self.default_port = 443 if scheme == "https" else 80


class JwksServer:
    """The served key sets of the case being deployed (see the module docstring)."""

    def __init__(self) -> None:
        import trustme

        self._lock = threading.Lock()  # one case's key sets are served at a time
        self._routes: dict[tuple[Origin, str], str] = {}
        self._listeners: dict[str, _Listener] = {}
        self._threads: list[threading.Thread] = []
        self._closed = False
        self.ca = trustme.CA(organization_name="meshgate JWKS server CA")
        self._certificates: dict[str, ssl.SSLContext] = {}

    @property
    def ca_pem(self) -> str:
        """The root istiod trusts for the server's ``https`` origins."""
        return self.ca.cert_pem.bytes().decode()

    def port(self, scheme: str) -> int:
        """The loopback port serving ``scheme`` (``http`` or ``https``), started on first use."""
        listener = self._listeners.get(scheme)
        if listener is None:
            if self._closed:
                raise RuntimeError("the JWKS server is closed")
            listener = _Listener(self, scheme)
            if scheme == "https":
                context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
                context.minimum_version = ssl.TLSVersion.TLSv1_2
                context.sni_callback = self._pick_certificate
                listener.socket = context.wrap_socket(listener.socket, server_side=True)
            thread = threading.Thread(
                target=listener.serve_forever, name=f"meshgate-jwks-{scheme}", daemon=True
            )
            thread.start()
            self._listeners[scheme] = listener
            self._threads.append(thread)
        return int(listener.server_address[1])

    def _pick_certificate(
        self, connection: ssl.SSLObject | ssl.SSLSocket, server_name: str | None, _: Any
    ) -> None:
        """A certificate for the host the client asks for (SNI), issued on first use."""
        name = (server_name or "localhost").lower()
        context = self._certificates.get(name)
        if context is None:
            leaf = self.ca.issue_cert(name)
            context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            context.minimum_version = ssl.TLSVersion.TLSv1_2
            chain = b"".join(blob.bytes() for blob in leaf.cert_chain_pems)
            load_key_pair(context, chain, leaf.private_key_pem.bytes())
            self._certificates[name] = context
        connection.context = context

    def answer(self, origin: Origin, target: str) -> str | None:
        """The key set served at ``origin`` + ``target`` now, or None (404)."""
        return self._routes.get((origin, target))

    @contextlib.contextmanager
    def serving(self, key_sets: Mapping[str, str]) -> Iterator[frozenset[Origin]]:
        """Serve ``key_sets`` (URI -> JWKS JSON) for the duration; yields the served origins."""
        with self._lock:
            self._routes = {origin_of(uri): body for uri, body in key_sets.items()}
            try:
                yield frozenset(origin for origin, _ in self._routes)
            finally:
                self._routes = {}

    def close(self) -> None:
        """Stop every listener and close its socket."""
        self._closed = True
        for listener in self._listeners.values():
            listener.shutdown()
            listener.server_close()
        for thread in self._threads:
            thread.join()
        self._listeners.clear()
        self._threads.clear()


@dataclass(frozen=True)
class FetchResult:
    """What istiod's fetch of one URI gave: the key set, or why there is none."""

    uri: str
    jwks: str | None
    error: str | None = None


class IstiodJwksFetcher:
    """istiod's ``getRemoteContentWithRetry`` against ``server``, for the ``served`` origins."""

    def __init__(self, server: JwksServer, served: frozenset[Origin]) -> None:
        self._server = server
        self._served = served

    def fetch(self, uri: str, timeout: float) -> FetchResult:
        origin, target = origin_of(uri)
        if origin.scheme not in ("http", "https"):
            return FetchResult(uri, None, f'unsupported protocol scheme "{origin.scheme}"')
        if origin not in self._served:
            # A host the case serves no key set at: not looked up, so nothing leaves
            # the machine; as a name that does not resolve on a cluster.
            return FetchResult(uri, None, f"dial tcp: lookup {origin.host}: no such host")
        try:
            status, body = self._get(origin, target, timeout)
        except (OSError, http.client.HTTPException) as exc:
            return FetchResult(uri, None, f"Get {uri!r}: {exc}")
        if not 200 <= status < 300:
            quoted = json.dumps(body.decode("utf-8", "replace"))
            if len(quoted) > _QUOTED:
                return FetchResult(
                    uri, None, f"status {status}, message {quoted[:_QUOTED]}(truncated)"
                )
            return FetchResult(uri, None, f"status {status}, message {quoted}")
        problem = _looks_like_jwks(body)
        if problem is not None:
            return FetchResult(uri, None, f"not a valid JWKS: {problem}")
        return FetchResult(uri, body.decode())

    def _get(self, origin: Origin, target: str, timeout: float) -> tuple[int, bytes]:
        """One GET of ``target`` with the URI's Host (and SNI), sent to the server's port."""
        port = self._server.port(origin.scheme)
        raw = socket.create_connection((_LOOPBACK, port), timeout=timeout)
        sock: socket.socket = raw
        try:
            if origin.scheme == "https":
                context = ssl.create_default_context(cadata=self._server.ca_pem)
                context.minimum_version = ssl.TLSVersion.TLSv1_2
                sock = context.wrap_socket(raw, server_hostname=origin.host)
            connection = http.client.HTTPConnection(origin.host, origin.port, timeout=timeout)
            connection.sock = sock
            default = 443 if origin.scheme == "https" else 80
            host = origin.host if origin.port == default else f"{origin.host}:{origin.port}"
            connection.putrequest("GET", target, skip_host=True, skip_accept_encoding=True)
            connection.putheader("Host", host)
            connection.putheader("User-Agent", "Go-http-client/1.1")
            connection.endheaders()
            response = connection.getresponse()
            return response.status, response.read()
        finally:
            sock.close()
