"""A case's JWT signing keys, generated per run in memory, and the tokens checks present.

PyJWT signs (RS256 with RSA 2048, ES256 with P-256); private keys never leave
this process's memory, and a token is minted per attempt, never stored. What a
proxy needs is the public key set (JWKS JSON): by key name for an inline
``${jwks:<name>}``, and by ``jwksUri`` for the local target's JWKS server to serve.
"""

from __future__ import annotations

import json
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from .._cases.model.case import Case
from .._cases.model.jwt import JwtKey, JwtToken
from .._cases.model.request import Request

__all__ = ["CaseJwtKeys", "jwks_of_case"]

# How long a minted token is valid (or, expired, how long ago it ran out).
_LIFETIME = 3600


@dataclass(frozen=True)
class _Key:
    spec: JwtKey
    private: Any = field(repr=False)  # a cryptography private key
    public_jwk: Mapping[str, Any]


def _generate(spec: JwtKey) -> _Key:
    from cryptography.hazmat.primitives.asymmetric import ec, rsa
    from jwt.algorithms import ECAlgorithm, RSAAlgorithm

    if spec.algorithm == "ES256":
        ec_key = ec.generate_private_key(ec.SECP256R1())
        jwk = json.loads(ECAlgorithm.to_jwk(ec_key.public_key()))
        private: Any = ec_key
    else:
        rsa_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        jwk = json.loads(RSAAlgorithm.to_jwk(rsa_key.public_key()))
        private = rsa_key
    jwk.update({"kid": spec.name, "alg": spec.algorithm, "use": "sig"})
    return _Key(spec, private, jwk)


class CaseJwtKeys:
    """The keys of one case: public key sets to publish, tokens to mint."""

    def __init__(self, keys: Mapping[str, _Key]) -> None:
        self._keys = dict(keys)

    @classmethod
    def generate(cls, case: Case) -> CaseJwtKeys:
        return cls({k.name: _generate(k) for k in case.spec.jwt_keys})

    def public_jwks(self, name: str) -> str:
        """The JWKS JSON of key ``name`` (its public half only)."""
        return json.dumps({"keys": [dict(self._keys[name].public_jwk)]}, sort_keys=True)

    def inline(self) -> dict[str, str]:
        """The key sets an inline ``jwks: "${jwks:<name>}"`` is filled in with, by
        ``key:<name>``."""
        return {f"key:{name}": self.public_jwks(name) for name in self._keys}

    def served(self) -> dict[str, str]:
        """The key sets served at the keys' ``jwksUri``s: by URI, the public set of every
        key that names it, in the case's order."""
        at: dict[str, list[Mapping[str, Any]]] = {}
        for key in self._keys.values():
            if key.spec.jwks_uri is not None:
                at.setdefault(str(key.spec.jwks_uri), []).append(dict(key.public_jwk))
        return {uri: json.dumps({"keys": keys}, sort_keys=True) for uri, keys in at.items()}

    def mint(self, token: JwtToken, now: float | None = None) -> str:
        """A signed token as ``token`` describes it."""
        import jwt

        key = self._keys[token.key]
        issued = int(now if now is not None else time.time())
        if token.expired:
            issued -= 2 * _LIFETIME
        claims: dict[str, Any] = {
            "iss": token.issuer,
            "sub": token.subject,
            "iat": issued,
            "exp": issued + _LIFETIME,
            **token.claims,
        }
        if token.audiences:
            claims["aud"] = token.audiences[0] if len(token.audiences) == 1 else token.audiences
        return jwt.encode(
            claims, key.private, algorithm=key.spec.algorithm, headers={"kid": key.spec.name}
        )

    def with_token(self, request: Request) -> Request:
        """``request`` carrying its minted token (in a header or the query), else as is."""
        token = request.jwt
        if token is None:
            return request
        minted = self.mint(token)
        if token.param is not None:
            parts = urlsplit(request.url)
            query = [*parse_qsl(parts.query, keep_blank_values=True), (token.param, minted)]
            url = urlunsplit(parts._replace(query=urlencode(query)))
            return request.model_copy(update={"url": url, "jwt": None})
        header = token.header or "Authorization"
        headers = {**request.headers, header: f"{token.prefix}{minted}"}
        return request.model_copy(update={"headers": headers, "jwt": None})


def jwks_of_case(case: Case) -> CaseJwtKeys:
    """A fresh set of keys for ``case`` (one per run of the case)."""
    return CaseJwtKeys.generate(case)
