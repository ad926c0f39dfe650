"""The per-check HTTP client: send one request, capture everything about what came back."""

from __future__ import annotations

import contextvars
import errno
import http.cookiejar
import ipaddress
import ssl
import threading
import time
import uuid
from collections.abc import Sequence
from typing import Any
from urllib.parse import urlsplit

import httpcore
import httpx

from .._cases.model.request import Request
from .records import (
    MESHGATE_ID_HEADER,
    ClientTLS,
    Exchange,
    ResponseRecord,
    SentRequest,
    TLSInfo,
    tls_info,
)

__all__ = [
    "HTTPClient",
    "describe_error",
    "failure_outcome",
    "proxy_protocol_header",
    "request_fields",
    "substitute",
    "wire_headers",
]


def proxy_protocol_header(source: tuple[str, int], destination: tuple[str, int]) -> bytes:
    """A PROXY protocol v1 line: the connection's source and its original destination."""
    family = "TCP6" if ipaddress.ip_address(destination[0]).version == 6 else "TCP4"
    if ipaddress.ip_address(source[0]).version != ipaddress.ip_address(destination[0]).version:
        source = ("::1", source[1]) if family == "TCP6" else ("127.0.0.1", source[1])
    return (f"PROXY {family} {source[0]} {destination[0]} {source[1]} {destination[1]}\r\n").encode(
        "ascii"
    )


# The original destination of the connection being opened, for a sidecar listener
# (set around one send; None for gateways, which get no PROXY header).
_ORIGINAL_DESTINATION: contextvars.ContextVar[tuple[str, int] | None] = contextvars.ContextVar(
    "meshgate_original_destination", default=None
)


class _ProxyProtocolBackend(httpcore.NetworkBackend):
    """Writes a PROXY header right after connecting (before TLS) when a destination is set.

    This is how a mesh client's request reaches its sidecar as if iptables had
    captured it: Envoy's ``proxy_protocol`` listener filter restores the
    destination the pod meant to reach.
    """

    def __init__(self, inner: httpcore.NetworkBackend) -> None:
        self._inner = inner

    def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Any = None,
    ) -> httpcore.NetworkStream:
        stream = self._inner.connect_tcp(host, port, timeout, local_address, socket_options)
        destination = _ORIGINAL_DESTINATION.get()
        if destination is not None:
            sock = stream.get_extra_info("socket")
            source = sock.getsockname()[:2] if sock is not None else ("127.0.0.1", 0)
            stream.write(proxy_protocol_header(source, destination), timeout)
        return stream

    def connect_unix_socket(
        self, path: str, timeout: float | None = None, socket_options: Any = None
    ) -> httpcore.NetworkStream:
        return self._inner.connect_unix_socket(path, timeout, socket_options)

    def sleep(self, seconds: float) -> None:
        self._inner.sleep(seconds)


def _with_proxy_protocol(transport: httpx.HTTPTransport) -> httpx.HTTPTransport:
    pool = getattr(transport, "_pool", None)
    backend = getattr(pool, "_network_backend", None)
    if not isinstance(pool, httpcore.ConnectionPool) or backend is None:
        raise RuntimeError("this httpx/httpcore version has no pluggable network backend")
    pool._network_backend = _ProxyProtocolBackend(backend)
    return transport


def substitute(text: str, request_uuid: str) -> str:
    """``${uuid}`` -> a fresh UUID for this attempt."""
    return text.replace("${uuid}", request_uuid)


def request_fields(
    request: Request, attempt_uuid: str, meshgate_id: str
) -> tuple[str, str, list[tuple[str, str]], str | None]:
    """One attempt's URL, request-line target, headers and body, with ``${uuid}`` substituted.

    The target is the URL's path and query verbatim; Host comes from the URL's
    authority unless the check sets one; ``meshgate_id`` goes last as
    ``x-meshgate-id``. httpx adds its defaults to these (see ``wire_headers``).
    """
    url = substitute(request.url, attempt_uuid)
    parts = urlsplit(url)
    target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    headers: list[tuple[str, str]] = []
    if not any(k.lower() == "host" for k in request.headers):
        headers.append(("host", parts.netloc.rsplit("@", 1)[-1]))
    headers += [(k, substitute(v, attempt_uuid)) for k, v in request.headers.items()]
    headers.append((MESHGATE_ID_HEADER, meshgate_id))
    body = substitute(request.body, attempt_uuid) if request.body is not None else None
    return url, target, headers, body


def wire_headers(
    method: str, headers: Sequence[tuple[str, str]], body: bytes | None
) -> list[tuple[str, str]]:
    """The header fields ``HTTPClient`` sends for these, in order, httpx's additions included.

    httpx merges in its client defaults (Accept, Accept-Encoding, Connection,
    User-Agent) and a Content-Length; h11 then writes Host first. Another HTTP/1.1
    sender that wants the same request on the wire sends these through h11.
    """
    with httpx.Client(transport=httpx.BaseTransport(), trust_env=False) as client:
        built = client.build_request(method, "http://placeholder/", headers=headers, content=body)
    return [(k.decode("latin-1"), v.decode("latin-1")) for k, v in built.headers.raw]


class HTTPClient:
    """Sends requests over new connections (no keep-alive, as Gateway API's suite does).

    A fresh connection per attempt means a listener swap between cases can
    never make an old connection answer for the new configuration. One httpx
    client is kept per TLS configuration (an SSL context is per client).
    It may be used from several threads at once (overlapping attempts, checks
    side by side): no cookie is ever kept, so one answer's Set-Cookie cannot
    ride along on another thread's request.
    """

    def __init__(self, timeout: float = 10.0) -> None:
        self.timeout = timeout
        self._clients: dict[tuple[object, ...], httpx.Client] = {}
        self._lock = threading.Lock()

    def _client(self, tls: ClientTLS | None, http2: bool) -> httpx.Client:
        key = ("plain", http2) if tls is None else tls.key()
        with self._lock:
            client = self._clients.get(key)
            return client if client is not None else self._new_client(key, tls, http2)

    def _new_client(
        self, key: tuple[object, ...], tls: ClientTLS | None, http2: bool
    ) -> httpx.Client:
        transport = httpx.HTTPTransport(
            verify=tls.context() if tls is not None else False,
            # h2 over TLS through ALPN; over plaintext, prior knowledge (h2c).
            http1=not (http2 and tls is None),
            http2=http2,
            limits=httpx.Limits(max_keepalive_connections=0),
            trust_env=False,
        )
        client = self._clients[key] = httpx.Client(
            transport=_with_proxy_protocol(transport),
            follow_redirects=False,
            trust_env=False,
            timeout=self.timeout,
            cookies=_cookie_jar_that_keeps_nothing(),
        )
        return client

    def close(self) -> None:
        for client in self._clients.values():
            client.close()
        self._clients.clear()

    def send(
        self,
        request: Request,
        address: tuple[str, int],
        entry: str,
        timeout: float | None = None,
        tls: ClientTLS | None = None,
        original_destination: tuple[str, int] | None = None,
    ) -> Exchange:
        """Send ``request`` to ``address``, Host header and path taken from its URL.

        ``tls`` is required for ``https`` URLs: the case decides what to trust.
        ``original_destination`` (a sidecar's listener): sent first in a PROXY
        protocol header, as the address the client's connection was meant for.
        """
        meshgate_id = uuid.uuid4().hex
        url, target, headers, body = request_fields(request, str(uuid.uuid4()), meshgate_id)
        https = urlsplit(url).scheme == "https"
        if https and tls is None:
            raise ValueError("an https request needs its ClientTLS")
        use_tls = tls if https else None
        sent = SentRequest(
            method=request.method,
            url=url,
            headers=tuple(headers),
            body=body,
            address=address,
            entry=entry,
            meshgate_id=meshgate_id,
            tls=use_tls,
            http2=request.http2,
            original_destination=original_destination,
        )
        client = self._client(use_tls, request.http2)
        extensions: dict[str, Any] = {
            # `target` goes on the request line verbatim: httpx would otherwise
            # normalise dot segments and percent-encoding the gateway must see.
            "target": target.encode(),
            "timeout": httpx.Timeout(timeout or self.timeout).as_dict(),
        }
        if use_tls is not None and use_tls.server_name is not None:
            extensions["sni_hostname"] = use_tls.server_name
        scheme = "https" if use_tls is not None else "http"
        built = client.build_request(
            request.method,
            f"{scheme}://{address[0]}:{address[1]}{target}",
            headers=headers,
            content=body.encode() if body is not None else None,
            extensions=extensions,
        )
        start = time.perf_counter()
        negotiated: TLSInfo | None = None
        token = _ORIGINAL_DESTINATION.set(original_destination)
        try:
            response = client.send(built, stream=True)
            try:
                # Read the handshake facts before the body: without keep-alive
                # the connection, and its SSL object, are gone once it is read.
                if use_tls is not None:
                    stream = response.extensions.get("network_stream")
                    ssl_object = stream.get_extra_info("ssl_object") if stream else None
                    if ssl_object is not None:
                        negotiated = tls_info(ssl_object)
                response.read()
            finally:
                response.close()
                # Every attempt stands alone: a Set-Cookie (e.g. a generated
                # consistent-hash cookie) must not ride along on later requests.
                client.cookies.clear()
        except httpx.TimeoutException as exc:
            return Exchange(sent, None, "timeout", describe_error(exc), _since(start))
        except httpx.ConnectError as exc:
            outcome = failure_outcome(exc, connected=False)
            return Exchange(sent, None, outcome, describe_error(exc), _since(start))
        except (httpx.RemoteProtocolError, httpx.ReadError, httpx.WriteError) as exc:
            outcome = failure_outcome(exc, connected=True)
            return Exchange(sent, None, outcome, describe_error(exc), _since(start))
        except httpx.TransportError as exc:
            return Exchange(sent, None, "error", describe_error(exc), _since(start))
        finally:
            _ORIGINAL_DESTINATION.reset(token)
        record = ResponseRecord(
            status=response.status_code,
            reason=response.reason_phrase,
            http_version=response.http_version,
            headers=tuple(
                (k.decode("latin-1"), v.decode("latin-1")) for k, v in response.headers.raw
            ),
            body=response.content,
        )
        return Exchange(sent, record, elapsed=_since(start), tls=negotiated)


def _cookie_jar_that_keeps_nothing() -> http.cookiejar.CookieJar:
    """A jar whose policy allows no domain: httpx never stores a response's cookies in it."""
    return http.cookiejar.CookieJar(http.cookiejar.DefaultCookiePolicy(allowed_domains=[]))


def _since(start: float) -> float:
    return time.perf_counter() - start


def describe_error(exc: BaseException) -> str:
    """``Type: message`` of a failed attempt's exception."""
    text = str(exc) or type(exc).__name__
    return f"{type(exc).__name__}: {text}"


def failure_outcome(exc: BaseException, *, connected: bool) -> str:
    """A failed attempt's outcome: refused | reset | tlsError | error (timeouts aside).

    ``connected`` says whether the failure came after the connection (and any TLS
    handshake) was up: then it is a TLS alert or a reset, whatever the exception.
    """
    if connected:
        return "tlsError" if _tls_alert(exc) else "reset"
    return _connect_outcome(exc)


def _causes(exc: BaseException) -> list[BaseException]:
    chain: list[BaseException] = []
    cause: BaseException | None = exc
    while cause is not None and cause not in chain:
        chain.append(cause)
        cause = cause.__cause__ or cause.__context__
    return chain


def _tls_alert(exc: BaseException) -> bool:
    """A TLS-level refusal: failed verification, or an alert from the peer.

    An EOF or reset during the handshake is not one: that is the server
    closing the connection (no filter chain for the SNI), reported as reset.
    """
    for cause in _causes(exc):
        if isinstance(cause, ssl.SSLCertVerificationError):
            return True
        if isinstance(cause, (ssl.SSLEOFError, ssl.SSLZeroReturnError)):
            return False
        if isinstance(cause, ssl.SSLError):
            reason = (cause.reason or str(cause)).upper()
            return "EOF" not in reason
    return False


def _connect_outcome(exc: BaseException) -> str:
    """refused, reset (closed during the handshake), tlsError, or error."""
    if _tls_alert(exc):
        return "tlsError"
    for cause in _causes(exc):
        if (
            isinstance(cause, ConnectionRefusedError)
            or getattr(cause, "errno", None) == errno.ECONNREFUSED
        ):
            return "refused"
        if isinstance(cause, (ConnectionResetError, ssl.SSLEOFError, ssl.SSLZeroReturnError)):
            return "reset"
        if isinstance(cause, ssl.SSLError) and "EOF" in (cause.reason or str(cause)).upper():
            return "reset"
    text = str(exc).lower()
    if "refused" in text:
        return "refused"
    if "eof" in text or "reset" in text:
        return "reset"
    return "error"
