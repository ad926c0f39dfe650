"""The records of an exchange: what was sent, over which TLS, and what came back."""

from __future__ import annotations

import json
import re
import ssl
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from cryptography import x509

from .._grpcwire import status_name
from .tlskeys import load_key_pair

__all__ = [
    "MESHGATE_ID_HEADER",
    "AccessLogLine",
    "ClientTLS",
    "Credential",
    "Exchange",
    "GrpcReply",
    "MetricSnapshot",
    "ResponseRecord",
    "SentRequest",
    "SeriesKey",
    "TLSInfo",
    "WebSocketSession",
    "echo_report",
    "redact_tokens",
    "tls_info",
    "tls_version_name",
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
    # The client certificate chain and its key, PEM: loaded from memory, never a file.
    client_cert: tuple[bytes, bytes] | None = field(default=None, repr=False)
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
            load_key_pair(context, *self.client_cert)
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
class Credential:
    """A secret a case's ``secrets:`` generated, as PEM, for a user's own TLS client.

    ``cert_pem`` is the leaf and its chain (server, mutual and client
    secrets), ``key_pem`` its private key, ``ca_pem`` the issuing CA (or, for
    ``ca`` and ``trust`` secrets, the CA itself); what a type lacks is None.
    """

    name: str
    type: str
    cert_pem: bytes | None
    key_pem: bytes | None = field(repr=False)
    ca_pem: bytes | None


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


# Python's ``SSLObject.version()`` says "TLSv1" for TLS 1.0; case files write
# every version with its minor number (``expect.tls.version: TLSv1.0``).
_CASE_VERSION_NAMES = {"TLSv1": "TLSv1.0"}


def tls_version_name(ssl_version: str | None) -> str | None:
    """A negotiated version as case files name it: ``TLSv1`` -> ``TLSv1.0``."""
    if ssl_version is None:
        return None
    return _CASE_VERSION_NAMES.get(ssl_version, ssl_version)


def tls_info(ssl_object: Any) -> TLSInfo:
    cipher = ssl_object.cipher()
    info = TLSInfo(
        version=tls_version_name(ssl_object.version()),
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
    grpc: str | None = None  # the :path of a gRPC call (/package.Service/Method)
    # A WebSocket's messages sent after the upgrade, described (None: not a WebSocket).
    websocket: tuple[str, ...] | None = None

    def describe(self) -> str:
        where = f"{self.address[0]}:{self.address[1]}"
        if self.original_destination is not None:
            host, port = self.original_destination
            where += f", original destination {host}:{port}"
        if self.grpc is not None:
            lines = [f"gRPC {self.grpc} to {self.url}   (via {self.entry} at {where})"]
        else:
            lines = [f"{self.method} {self.url}   (via {self.entry} at {where})"]
        if self.tls is not None:
            lines.append("  " + _describe_offer(self.tls))
        elif self.http2:
            lines.append("  HTTP/2 with prior knowledge (h2c)")
        lines += [f"  {name}: {value}" for name, value in self.headers]
        if self.body:
            lines.append(f"  body: {self.body[:200]!r}")
        for message in self.websocket or ():
            lines.append(f"  then WebSocket message: {message}")
        return redact_tokens("\n".join(lines))


# A JWT (three base64url parts, the first two JSON objects): never shown in reports.
_JWT = re.compile(r"eyJ[A-Za-z0-9_-]*\.eyJ[A-Za-z0-9_-]*\.[A-Za-z0-9_-]*")


def redact_tokens(text: str) -> str:
    """``text`` with every JWT replaced by ``<jwt redacted>`` (tokens are credentials)."""
    return _JWT.sub("<jwt redacted>", text)


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
class GrpcReply:
    """How a gRPC call ended, as a gRPC client sees it, and the echo's assertions.

    ``status`` comes from ``grpc-status``, else from what the client made of
    the answer (an HTTP status, a stream reset: ``source`` says which);
    ``echo`` is the echo's ``EchoResponse`` in the echo-basic JSON form
    (``path`` is the fully qualified method, ``host`` the ``:authority``).
    """

    status: int
    message: str = ""
    trailers: tuple[tuple[str, str], ...] = ()
    echo: dict[str, Any] | None = None
    source: str = "grpc-status"

    def trailer(self, name: str) -> str | None:
        values = [v for k, v in self.trailers if k.lower() == name.lower()]
        return ",".join(values) if values else None


@dataclass(frozen=True)
class WebSocketSession:
    """What a WebSocket read back after its upgrade: ``(kind, payload)`` of each message,
    ``text`` or ``binary``, in order; ``error`` says why it ended before all were read."""

    messages: tuple[tuple[str, bytes], ...] = ()
    error: str | None = None


@dataclass(frozen=True)
class ResponseRecord:
    status: int
    reason: str
    http_version: str
    headers: tuple[tuple[str, str], ...]
    body: bytes
    grpc: GrpcReply | None = None  # the answer to a gRPC call
    websocket: WebSocketSession | None = None  # after a 101 to a WebSocket upgrade

    def header(self, name: str) -> str | None:
        """All values of a header joined by ``,`` (names are case-insensitive)."""
        values = [v for k, v in self.headers if k.lower() == name.lower()]
        return ",".join(values) if values else None

    @property
    def echo(self) -> dict[str, Any] | None:
        """The echo backend's JSON report (a gRPC echo's, in the same form), if any."""
        if self.grpc is not None:
            return self.grpc.echo
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
class AccessLogLine:
    """What one proxy's access log holds for one request: its line, parsed, or none.

    ``note`` says why there is none, or what the target could not tell (a
    proxy that logs nothing, a request that never reached it). Not ``available``:
    there is no such log to read at all (a service whose pods have no sidecar), which
    fails a check whether or not it wants a line.
    """

    proxy: str
    line: str | None
    fields: dict[str, str] = field(default_factory=dict)
    note: str = ""
    available: bool = True

    @classmethod
    def unavailable(cls, proxy: str, note: str) -> AccessLogLine:
        return cls(proxy, None, note=note, available=False)

    def describe(self) -> str:
        if self.line is None:
            return f"{self.proxy}: no line for this request" + (
                f" ({self.note})" if self.note else ""
            )
        return f"{self.proxy}: {self.line}"


# One Prometheus series: the sample name (with _bucket/_count/_sum) and its sorted labels.
SeriesKey = tuple[str, tuple[tuple[str, str], ...]]


@dataclass(frozen=True)
class MetricSnapshot:
    """A proxy's ``istio_*`` Prometheus samples at one moment, or why the target has
    none (``available`` false, ``note`` says why)."""

    proxy: str
    samples: Mapping[SeriesKey, float] = field(default_factory=dict)
    note: str = ""
    available: bool = True

    @classmethod
    def unavailable(cls, proxy: str, note: str) -> MetricSnapshot:
        return cls(proxy, {}, note, available=False)


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
        if r.grpc is not None:
            if r.grpc.trailers != r.headers:  # not a Trailers-Only answer
                lines += [f"  trailer {name}: {value}" for name, value in r.grpc.trailers]
            lines.append(f"  gRPC status {_grpc_status(r.grpc)}")
        if r.websocket is not None:
            lines += [
                f"  WebSocket message: {kind} {data[:200]!r}" for kind, data in r.websocket.messages
            ]
            if r.websocket.error is not None:
                lines.append(f"  WebSocket ended: {r.websocket.error}")
        echo = r.echo
        if echo is not None:
            lines.append("  echo: " + json.dumps(echo, indent=None, sort_keys=True)[:2000])
        elif r.body and r.grpc is None:
            text = r.body[:500].decode("utf-8", "replace")
            lines.append(f"  body: {text!r}")
        return redact_tokens("\n".join(lines))


def _grpc_status(reply: GrpcReply) -> str:
    text = f"{reply.status} {status_name(reply.status)}"
    if reply.message:
        text += f": {reply.message!r}"
    if reply.source != "grpc-status":
        text += f" (from {reply.source})"
    return text
