"""What a check sends: the request, and how its client side of TLS behaves."""

from __future__ import annotations

import re
from urllib.parse import urlsplit

from pydantic import Field, field_validator, model_validator

from .base import Duration, StrictModel, TLSVersionName

__all__ = ["Request", "RequestTLS"]


class RequestTLS(StrictModel):
    """How the client side of a TLS connection behaves."""

    sni: str | None = Field(default=None, description="Override, or 'none' to send no SNI.")
    ca: str = Field(default="default", description="The issuer the client trusts.")
    client_cert: str | None = Field(default=None, description="A client secret to present.")
    alpn: list[str] | None = None
    min_version: TLSVersionName | None = None
    max_version: TLSVersionName | None = None
    ciphers: list[str] | None = None


class Request(StrictModel):
    """What a check sends."""

    gateway: str | None = Field(
        default=None,
        description="ingress (default), egress, a spec.gateways name, or namespace/name of a "
        "Gateway API Gateway (the URL's port is then a listener port).",
    )
    from_: str | None = Field(
        default=None, alias="from", description="A spec.clients name: leave through its sidecar."
    )
    url: str
    method: str = "GET"
    headers: dict[str, str] = Field(default_factory=dict)
    body: str | None = None
    http2: bool = False
    tls: RequestTLS | None = None
    timeout: Duration | None = None
    count: int | None = Field(default=None, ge=1, le=100000)
    concurrency: int | None = Field(default=None, ge=1, le=256)

    @field_validator("url")
    @classmethod
    def _http_url(cls, url: str) -> str:
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError(f"not an http(s) URL with a host: {url!r}")
        try:
            parts.port  # noqa: B018 - raises on a bad port
        except ValueError as exc:
            raise ValueError(f"bad port in {url!r}: {exc}") from None
        return url

    @field_validator("method")
    @classmethod
    def _method(cls, method: str) -> str:
        if not re.fullmatch(r"[A-Za-z]+", method):
            raise ValueError(f"not an HTTP method: {method!r}")
        return method.upper()

    @model_validator(mode="after")
    def _gateway_or_from(self) -> Request:
        if self.gateway is not None and self.from_ is not None:
            raise ValueError("give either gateway or from, not both")
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
