"""Sending a check's request and capturing everything about what came back."""

from __future__ import annotations

import contextvars
import errno
import ipaddress
import json
import ssl
import time
import uuid
import warnings
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpcore
import httpx
from cryptography import x509

from ._model.case import Request

__all__ = [
    "ClientTLS",
    "Exchange",
    "HTTPClient",
    "ResponseRecord",
    "SentRequest",
    "TLSInfo",
    "describe_error",
    "echo_report",
    "failure_outcome",
    "proxy_protocol_header",
    "request_fields",
    "substitute",
    "wire_headers",
]

MESHGATE_ID_HEADER = "x-meshgate-id"


_TLS_VERSIONS = {
    "TLSv1.0": ssl.TLSVersion.TLSv1,
    "TLSv1.1": ssl.TLSVersion.TLSv1_1,
    "TLSv1.2": ssl.TLSVersion.TLSv1_2,
    "TLSv1.3": ssl.TLSVersion.TLSv1_3,
}


@dataclass(frozen=True)
class ClientTLS:
    """The client side of a TLS connection, resolved from a check and its case.

    ``server_name`` is the SNI sent (None: none at all); the certificate is
    verified against ``ca_pem`` and, when an SNI is sent, against that name.
    """

    server_name: str | None
    ca_pem: bytes
    client_cert: tuple[Path, Path] | None = None
    alpn: tuple[str, ...] | None = None
    min_version: str | None = None
    max_version: str | None = None
    ciphers: tuple[str, ...] | None = None
    http2: bool = False

    def context(self) -> ssl.SSLContext:
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        context.load_verify_locations(cadata=self.ca_pem.decode())
        # No SNI means nothing to check the name against (as `curl` to an IP).
        context.check_hostname = self.server_name is not None
        if self.min_version or self.max_version:
            # OpenSSL 3 refuses TLS 1.0/1.1 at its default security level; a
            # check that offers them must really offer them, to prove the
            # gateway refuses them.
            context.set_ciphers("DEFAULT:@SECLEVEL=0")
        with warnings.catch_warnings():
            # Offering TLS 1.0/1.1 is deliberate here (ssl deprecates the names).
            warnings.simplefilter("ignore", DeprecationWarning)
            if self.min_version:
                context.minimum_version = _TLS_VERSIONS[self.min_version]
            if self.max_version:
                context.maximum_version = _TLS_VERSIONS[self.max_version]
        if self.ciphers:
            context.set_ciphers(":".join(self.ciphers))
        default_alpn = ("h2", "http/1.1") if self.http2 else ("http/1.1",)
        context.set_alpn_protocols(list(self.alpn if self.alpn is not None else default_alpn))
        if self.client_cert is not None:
            context.load_cert_chain(*self.client_cert)
        return context

    def key(self) -> tuple[object, ...]:
        """What decides the SSL context (the SNI is per request, not per context)."""
        return (
            self.server_name is None,
            self.ca_pem,
            self.client_cert,
            self.alpn,
            self.min_version,
            self.max_version,
            self.ciphers,
            self.http2,
        )


@dataclass(frozen=True)
class TLSInfo:
    """What the client's handshake negotiated and the certificate the server showed."""

    version: str | None
    alpn: str | None
    cipher: str | None
    peer_subject: str | None = None
    peer_issuer: str | None = None
    peer_sans: tuple[str, ...] = ()

    def describe(self) -> str:
        sans = ", ".join(self.peer_sans) or "-"
        return (
            f"TLS {self.version}, ALPN {self.alpn or '-'}, cipher {self.cipher}; "
            f"server certificate {self.peer_subject} (SAN {sans}), issuer {self.peer_issuer}"
        )


def _tls_info(ssl_object: Any) -> TLSInfo:
    cipher = ssl_object.cipher()
    info = TLSInfo(
        version=ssl_object.version(),
        alpn=ssl_object.selected_alpn_protocol(),
        cipher=cipher[0] if cipher else None,
    )
    der = ssl_object.getpeercert(True)
    if not der:
        return info
    certificate = x509.load_der_x509_certificate(der)
    try:
        sans = certificate.extensions.get_extension_for_class(x509.SubjectAlternativeName)
        names = tuple(str(n.value) for n in sans.value)
    except x509.ExtensionNotFound:
        names = ()
    return TLSInfo(
        version=info.version,
        alpn=info.alpn,
        cipher=info.cipher,
        peer_subject=certificate.subject.rfc4514_string(),
        peer_issuer=certificate.issuer.rfc4514_string(),
        peer_sans=names,
    )


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
    tls: ClientTLS | None = None
    http2: bool = False
    original_destination: tuple[str, int] | None = None

    def describe(self) -> str:
        where = f"{self.address[0]}:{self.address[1]}"
        if self.original_destination is not None:
            host, port = self.original_destination
            where += f", original destination {host}:{port}"
        lines = [f"{self.method} {self.url}   (via {self.entry} at {where})"]
        if self.tls is not None:
            lines.append("  " + _describe_offer(self.tls))
        elif self.http2:
            lines.append("  HTTP/2 with prior knowledge (h2c)")
        lines += [f"  {name}: {value}" for name, value in self.headers]
        if self.body:
            lines.append(f"  body: {self.body[:200]!r}")
        return "\n".join(lines)


def _describe_offer(tls: ClientTLS) -> str:
    parts = [f"TLS offered: SNI {tls.server_name or '(none)'}"]
    if tls.min_version or tls.max_version:
        parts.append(f"versions {tls.min_version or 'any'}..{tls.max_version or 'any'}")
    parts.append(
        f"ALPN {','.join(tls.alpn) if tls.alpn else ('h2,http/1.1' if tls.http2 else 'http/1.1')}"
    )
    if tls.ciphers:
        parts.append(f"ciphers {':'.join(tls.ciphers)}")
    parts.append("client certificate " + ("sent" if tls.client_cert else "none"))
    return ", ".join(parts)


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
        return echo_report(self.headers, self.body)


def echo_report(headers: Sequence[tuple[str, str]], body: bytes) -> dict[str, Any] | None:
    """The echo backend's JSON report in a response with these headers and body, if any."""
    content_type = ",".join(v for k, v in headers if k.lower() == "content-type")
    if "application/json" not in content_type:
        return None
    try:
        data = json.loads(body)
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
    tls: TLSInfo | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    def describe_outcome(self) -> str:
        if self.response is None:
            took = f"{self.elapsed * 1000:.0f} ms"
            return f"no HTTP answer: {self.connection} ({self.error}) after {took}"
        r = self.response
        lines = [f"{r.http_version} {r.status} {r.reason}   ({self.elapsed * 1000:.0f} ms)"]
        if self.tls is not None:
            lines.append("  " + self.tls.describe())
        lines += [f"  {name}: {value}" for name, value in r.headers]
        echo = r.echo
        if echo is not None:
            lines.append("  echo: " + json.dumps(echo, indent=None, sort_keys=True)[:2000])
        elif r.body:
            text = r.body[:500].decode("utf-8", "replace")
            lines.append(f"  body: {text!r}")
        return "\n".join(lines)


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
    """

    def __init__(self, timeout: float = 10.0) -> None:
        self.timeout = timeout
        self._clients: dict[tuple[object, ...], httpx.Client] = {}

    def _client(self, tls: ClientTLS | None, http2: bool) -> httpx.Client:
        key = ("plain", http2) if tls is None else tls.key()
        client = self._clients.get(key)
        if client is None:
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
        tls_info: TLSInfo | None = None
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
                        tls_info = _tls_info(ssl_object)
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
        return Exchange(sent, record, elapsed=_since(start), tls=tls_info)


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
