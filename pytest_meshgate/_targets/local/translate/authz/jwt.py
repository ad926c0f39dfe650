"""The ``jwt_authn`` filter of a workload's RequestAuthentications: ``authn/policy_applier.go``.

Every JWT rule of the policies that apply becomes a provider ``origins-<i>``
(rules sorted by issuer), each required as "this provider or no token at all"
(``allow_missing``): a request without a token passes authentication, and only
an AuthorizationPolicy that asks for a request principal refuses it; a token
that fails verification is refused with 401. The verified payload goes into
the filter's dynamic metadata under ``payload``, which the RBAC filter's
request-principal and claim matchers read.

JWKS: by default (``PILOT_JWT_ENABLE_REMOTE_JWKS=false``) istiod fetches a
``jwksUri`` and inlines the key set into the proxy's configuration; where the
fetch fails it inlines a key whose private half is gone (``PublicOnlyJwks``), so
every token is refused. The local target plays istiod: ``jwks_for`` answers the
key set published at a URI (or None, and the fail-closed key applies).
"""

from __future__ import annotations

import functools
import json
from collections.abc import Callable, Sequence

from ....._cases.model.istio import JWTRule, RequestAuthentication
from ....._cases.validation.security import JWKS_PLACEHOLDER
from ..common import Json
from .matchers import JWT_FILTER, JWT_PAYLOAD

__all__ = ["fail_closed_jwks", "jwt_filter"]

_TYPE = "type.googleapis.com/envoy.extensions.filters.http.jwt_authn.v3.JwtAuthentication"


@functools.lru_cache(maxsize=1)
def fail_closed_jwks() -> str:
    """A public key whose private half was generated and dropped at once (Istio's
    ``PublicOnlyJwks`` plays the same part): no token verifies against it."""
    from cryptography.hazmat.primitives.asymmetric import rsa
    from jwt.algorithms import RSAAlgorithm

    public = rsa.generate_private_key(public_exponent=65537, key_size=2048).public_key()
    key = json.loads(RSAAlgorithm.to_jwk(public))
    # Only kty, n and e, as PublicOnlyJwks: without a kid Envoy tries the key against
    # any RS256 token ("Jwt verification fails"), as it does on Istio.
    return json.dumps({"keys": [{k: key[k] for k in ("kty", "n", "e")}]}, sort_keys=True)


def _space_delimited(claims: Sequence[str] | None) -> list[str]:
    """``buildSpaceDelimitedClaims``: ``permission`` and ``scope`` always, sorted."""
    return sorted({"permission", "scope", *(claims or ())})


def _timeout(rule: JWTRule) -> str:
    return rule.timeout or "5s"


def _jwks(rule: JWTRule, jwks_for: Callable[[str], str | None]) -> str:
    """The inline key set Istio's resolver gives the proxy for ``rule``."""
    if rule.jwks:
        placeholder = JWKS_PLACEHOLDER.fullmatch(rule.jwks)
        if placeholder is None:
            return rule.jwks
        return jwks_for(f"key:{placeholder.group(1)}") or fail_closed_jwks()
    if rule.jwks_uri:
        return jwks_for(rule.jwks_uri) or fail_closed_jwks()
    return fail_closed_jwks()  # nothing to fetch: istiod has no key either


def _provider(rule: JWTRule, jwks_for: Callable[[str], str | None]) -> Json:
    provider: Json = {"issuer": rule.issuer} if rule.issuer else {}
    if rule.audiences:
        provider["audiences"] = list(rule.audiences)
    if rule.forward_original_token:
        provider["forward"] = True
    if rule.output_payload_to_header:
        provider["forward_payload_header"] = rule.output_payload_to_header
    provider["payload_in_metadata"] = JWT_PAYLOAD
    provider["normalize_payload_in_metadata"] = {
        "space_delimited_claims": _space_delimited(rule.space_delimited_claims)
    }
    if rule.output_claim_to_headers:
        provider["claim_to_headers"] = [
            {"header_name": c.header, "claim_name": c.claim} for c in rule.output_claim_to_headers
        ]
    if rule.from_headers:
        provider["from_headers"] = [
            {"name": h.name, **({"value_prefix": h.prefix} if h.prefix else {})}
            for h in rule.from_headers
        ]
    if rule.from_params:
        provider["from_params"] = list(rule.from_params)
    if rule.from_cookies:
        provider["from_cookies"] = list(rule.from_cookies)
    provider["local_jwks"] = {"inline_string": _jwks(rule, jwks_for)}
    return provider


def jwt_filter(
    policies: Sequence[RequestAuthentication], jwks_for: Callable[[str], str | None]
) -> Json | None:
    """``convertToEnvoyJwtConfig``: the ``jwt_authn`` HTTP filter, or None without rules."""
    rules = sorted(
        (rule for policy in policies for rule in policy.spec.jwt_rules), key=lambda r: r.issuer
    )
    if not rules:
        return None
    providers: Json = {}
    each_or_missing: list[Json] = []
    any_provider: list[Json] = []
    for i, rule in enumerate(rules):
        name = f"origins-{i}"
        providers[name] = _provider(rule, jwks_for)
        each_or_missing.append(
            {"requires_any": {"requirements": [{"provider_name": name}, {"allow_missing": {}}]}}
        )
        any_provider.append({"provider_name": name})
    if len(each_or_missing) == 1:
        requires = each_or_missing[0]
    else:
        requires = {
            "requires_any": {
                "requirements": [
                    *any_provider,
                    {"requires_all": {"requirements": each_or_missing}},
                ]
            }
        }
    return {
        "name": JWT_FILTER,
        "typed_config": {
            "@type": _TYPE,
            "providers": providers,
            "rules": [{"match": {"prefix": "/"}, "requires": requires}],
            "bypass_cors_preflight": True,
        },
    }
