"""The Gateway resource: servers, their ports and TLS.

Fields as in ``networking/v1alpha3/gateway.proto`` (istio/api).
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from ..base import StrictModel
from .resource import IstioResource

__all__ = [
    "Gateway",
    "GatewaySpec",
    "Port",
    "Server",
    "ServerTLSSettings",
    "TLSCertificate",
    "TLSVersion",
]


class Port(StrictModel):
    """A Gateway server port; ``protocol`` is matched case-insensitively, as Istio does."""

    number: int = Field(ge=1, le=65535)
    protocol: str = Field(min_length=1)
    name: str | None = None
    target_port: int | None = Field(default=None, ge=1, le=65535)


TLSVersion = Literal["TLS_AUTO", "TLSV1_0", "TLSV1_1", "TLSV1_2", "TLSV1_3"]


class TLSCertificate(StrictModel):
    server_certificate: str | None = None
    private_key: str | None = None
    ca_certificates: str | None = None


class ServerTLSSettings(StrictModel):
    https_redirect: bool = False
    # The API's zero value: a server with `tls` but no mode passes TLS through.
    mode: Literal[
        "PASSTHROUGH", "SIMPLE", "MUTUAL", "AUTO_PASSTHROUGH", "ISTIO_MUTUAL", "OPTIONAL_MUTUAL"
    ] = "PASSTHROUGH"
    server_certificate: str | None = None
    private_key: str | None = None
    ca_certificates: str | None = None
    ca_crl: str | None = None
    credential_name: str | None = None
    credential_names: list[str] = Field(default_factory=list, max_length=2)
    ca_cert_credential_name: str | None = None
    # MUTUAL/OPTIONAL_MUTUAL: accept a client certificate no CA vouches for (what the
    # Gateway API's AllowInsecureFallback converts to).
    insecure_skip_verify: bool | None = None
    tls_certificates: list[TLSCertificate] = Field(default_factory=list, max_length=2)
    subject_alt_names: list[str] = Field(default_factory=list)
    verify_certificate_spki: list[str] = Field(default_factory=list)
    verify_certificate_hash: list[str] = Field(default_factory=list)
    min_protocol_version: TLSVersion | None = None
    max_protocol_version: TLSVersion | None = None
    cipher_suites: list[str] = Field(default_factory=list)


class Server(StrictModel):
    port: Port
    hosts: list[str] = Field(min_length=1)
    tls: ServerTLSSettings | None = None
    bind: str | None = None
    default_endpoint: str | None = None
    name: str | None = None


class GatewaySpec(StrictModel):
    selector: dict[str, str] | None = None
    servers: list[Server] = Field(default_factory=list)


class Gateway(IstioResource):
    kind: Literal["Gateway"]
    spec: GatewaySpec
