"""JWTs in cases: signing keys generated per run (``spec.jwtKeys``) and tokens a check
presents (``request.jwt``).

A key is named in the case and never written in it: the harness generates it for
the run (in memory), publishes its public half where a RequestAuthentication
looks for it (``jwksUri``, or an inline ``jwks: ${jwks:<name>}``), and signs the
token of every check that asks for one at the moment it is sent.
"""

from __future__ import annotations

import json
from typing import Any, Literal

from pydantic import Field, field_validator, model_validator

from .base import CaseModel, Slug
from .values import HeaderName, HttpURL

__all__ = ["MAX_CLAIMS_BYTES", "JwtKey", "JwtToken"]

# A token's claims stay small: they travel in one header of one request.
MAX_CLAIMS_BYTES = 4096


class JwtKey(CaseModel):
    """A signing key generated per run, and where its public key set is published."""

    name: Slug
    algorithm: Literal["RS256", "ES256"] = Field(
        default="RS256", description="RS256 (RSA 2048) or ES256 (P-256)."
    )
    jwks_uri: HttpURL | None = Field(
        default=None,
        description="A URI where the harness serves the key's public JWKS over HTTP(S), "
        "as a RequestAuthentication's jwksUri names it; keys naming the same URI are "
        "served there as one set. istiod's fetch reaches the harness's JWKS server for "
        "this URI's scheme, host and port, and 404 for another path there.",
    )


class JwtToken(CaseModel):
    """``request.jwt``: a token the harness mints for the request, signed by a case key."""

    key: str = Field(description="The spec.jwtKeys entry that signs it.")
    issuer: str = Field(min_length=1, max_length=253, description="The iss claim.")
    subject: str = Field(default="meshgate", max_length=253, description="The sub claim.")
    audiences: list[str] = Field(default_factory=list, max_length=16)
    claims: dict[str, Any] = Field(
        default_factory=dict, description="More claims (JSON values), e.g. groups."
    )
    expired: bool = Field(default=False, description="A token whose exp has passed.")
    header: HeaderName | None = Field(
        default=None, description="Where it goes (default Authorization, with prefix)."
    )
    prefix: str = Field(default="Bearer ", max_length=64)
    param: str | None = Field(
        default=None,
        pattern=r"^[A-Za-z0-9_.~-]{1,64}$",
        description="A query parameter to carry it instead of a header.",
    )

    @field_validator("claims")
    @classmethod
    def _small_json(cls, claims: dict[str, Any]) -> dict[str, Any]:
        size = len(json.dumps(claims))
        if size > MAX_CLAIMS_BYTES:
            raise ValueError(f"claims take {size} bytes as JSON; at most {MAX_CLAIMS_BYTES}")
        reserved = {"iss", "sub", "aud", "exp", "iat", "nbf"} & set(claims)
        if reserved:
            raise ValueError(
                f"claims {', '.join(sorted(reserved))}: set by issuer, subject, audiences "
                "and expired"
            )
        return claims

    @model_validator(mode="after")
    def _one_place(self) -> JwtToken:
        if self.param is not None and self.header is not None:
            raise ValueError("give header or param, not both")
        if any(c in self.prefix for c in "\r\n\x00"):
            raise ValueError("prefix holds no control characters")
        return self
