"""What a check sends: the request, and how its client side of TLS behaves."""

from __future__ import annotations

import re
from urllib.parse import urlsplit

from pydantic import Field, model_validator

from .base import CaseModel, TLSVersionName
from .grpc import GrpcRequest, check_grpc_request
from .jwt import JwtToken
from .values import (
    AlpnProtocol,
    Body,
    CipherName,
    Headers,
    HttpURL,
    Method,
    RequestTimeout,
    ServerName,
)
from .websocket import WebSocketRequest

__all__ = ["Request", "RequestTLS"]

_TLS_ORDER = ("TLSv1.0", "TLSv1.1", "TLSv1.2", "TLSv1.3")


class RequestTLS(CaseModel):
    """How the client side of a TLS connection behaves."""

    sni: ServerName | None = Field(
        default=None, description="A host name to send instead of the URL's, or 'none'."
    )
    ca: str = Field(default="default", description="The issuer the client trusts.")
    client_cert: str | None = Field(default=None, description="A client secret to present.")
    alpn: list[AlpnProtocol] | None = Field(default=None, max_length=16)
    min_version: TLSVersionName | None = None
    max_version: TLSVersionName | None = None
    ciphers: list[CipherName] | None = Field(default=None, min_length=1, max_length=64)

    @model_validator(mode="after")
    def _versions_in_order(self) -> RequestTLS:
        if (
            self.min_version is not None
            and self.max_version is not None
            and _TLS_ORDER.index(self.min_version) > _TLS_ORDER.index(self.max_version)
        ):
            raise ValueError(
                f"minVersion {self.min_version} is above maxVersion {self.max_version}"
            )
        return self


class Request(CaseModel):
    """What a check sends."""

    gateway: str | None = Field(
        default=None,
        description="ingress (default), egress, a spec.gateways name, or namespace/name of a "
        "Gateway API Gateway (the URL's port is then a listener port).",
    )
    from_: str | None = Field(
        default=None, alias="from", description="A spec.clients name: leave through its sidecar."
    )
    url: HttpURL
    method: Method = "GET"
    headers: Headers = Field(default_factory=dict)
    body: Body | None = None
    http2: bool = False
    grpc: GrpcRequest | None = Field(
        default=None, description="Make a unary gRPC call instead of an HTTP request."
    )
    websocket: WebSocketRequest | None = Field(
        default=None,
        description="Open a WebSocket (an HTTP/1.1 GET with Upgrade: websocket) and send "
        "these messages, reading one back after each.",
    )
    tls: RequestTLS | None = None
    jwt: JwtToken | None = Field(
        default=None, description="A JWT the harness mints with a spec.jwtKeys key and sends."
    )
    timeout: RequestTimeout | None = None
    count: int | None = Field(default=None, ge=1, le=100000)
    concurrency: int | None = Field(default=None, ge=1, le=256)

    @model_validator(mode="after")
    def _framing_headers(self) -> Request:
        # What h11 and h2 refuse to send: every attempt would be an "error".
        for name, value in self.headers.items():
            lowered = name.lower()
            if lowered == "content-length" and not re.fullmatch(r"[0-9]{1,19}", value):
                raise ValueError(f"headers.{name}: a Content-Length is a number of bytes")
            if lowered == "transfer-encoding" and value.lower() != "chunked":
                raise ValueError(
                    f"headers.{name}: only 'chunked' can be sent (the client frames the body)"
                )
            if lowered == "te" and self.http2 and value.lower() != "trailers":
                raise ValueError(f"headers.{name}: over HTTP/2 only 'trailers' (RFC 9113 8.2.2)")
        return self

    @model_validator(mode="after")
    def _gateway_or_from(self) -> Request:
        if self.gateway is not None and self.from_ is not None:
            raise ValueError("give either gateway or from, not both")
        return self

    @model_validator(mode="after")
    def _grpc_owns_the_call(self) -> Request:
        if self.grpc is not None:
            check_grpc_request(self.model_fields_set, self.url)
        return self

    @model_validator(mode="after")
    def _websocket_owns_the_connection(self) -> Request:
        if self.websocket is None:
            return self
        given = [
            k for k in ("grpc", "body", "count", "concurrency") if getattr(self, k) is not None
        ]
        if self.http2:
            given.append("http2")
        if given:
            raise ValueError(
                f"a WebSocket is one HTTP/1.1 upgrade and its messages; drop {', '.join(given)}"
            )
        if self.method != "GET":
            raise ValueError("a WebSocket opens with a GET (RFC 6455 4.1); drop method")
        reserved = {"upgrade", "connection", "sec-websocket-key", "sec-websocket-version"}
        for name in self.headers:
            if name.lower() in reserved:
                raise ValueError(f"headers.{name}: the client writes the WebSocket handshake")
        return self

    @property
    def workload(self) -> str:
        """The gateway short name or client name the request enters through."""
        return self.from_ or self.gateway or "ingress"

    @property
    def port(self) -> int:
        """The URL's port, else the scheme's (80, 443)."""
        parts = urlsplit(self.url)
        return parts.port or (443 if parts.scheme == "https" else 80)
