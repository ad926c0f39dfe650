"""RequestAuthentications on a cluster: the case's key sets inlined, and what a cluster cannot redo.

Locally the harness plays istiod: it fills an inline ``jwks: "${jwks:<name>}"``
with the key's public set, and fetches a ``jwksUri`` from its own JWKS server
(``local/jwks.py``), inlining the answer (``PILOT_JWT_ENABLE_REMOTE_JWKS=false``,
``pilot/pkg/model/jwks_resolver.go``: istiod fetches and inlines, Envoy gets
``local_jwks``). On a cluster the real istiod does the fetching, and the
harness's server on this machine is nowhere it can reach. So the resource
applied says what istiod would have inlined:

- ``jwks: "${jwks:<name>}"`` becomes the public set of key ``name``;
- a rule with a ``jwksUri`` that some ``spec.jwtKeys`` entry serves (same
  origin and path, ``CaseJwtKeys.served_at``) gets that set as ``jwks`` and
  loses its ``jwksUri``, so istiod fetches nothing and Envoy sees the
  provider a successful fetch gives; the annotation
  ``meshgate.dev/jwks-inlined`` lists the URIs so replaced;
- a rule whose ``jwksUri`` no key serves (a host nothing is served at, another
  path of a served host: a failed fetch locally, so istiod's fail-closed key)
  is applied as written. What istiod's fetch of it gives on a cluster depends
  on that cluster (its DNS, a jwt-server someone installed, egress), so every
  check presenting a token of that rule's issuer is skipped with the reason
  (``unreproducible_issuers``, ``skip_reason``), never judged on an outcome
  the local target's model decided.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Iterable, Mapping
from typing import Any, Protocol

from ..._cases.model.request import Request
from ..._cases.validation.security import JWKS_PLACEHOLDER

__all__ = [
    "INLINED_ANNOTATION",
    "KeySets",
    "inline_key_sets",
    "skip_reason",
    "unreproducible_issuers",
]

INLINED_ANNOTATION = "meshgate.dev/jwks-inlined"
_ANY_ISSUER = ""  # a rule without an issuer: its provider is tried on any token


class KeySets(Protocol):
    """The case's public key sets (``Material``; ``CaseJwtKeys`` behind the trustme one)."""

    def public_jwks(self, name: str) -> str: ...

    def served_jwks(self, uri: str) -> str | None: ...


def _is_request_authentication(resource: Mapping[str, Any]) -> bool:
    return (
        str(resource.get("apiVersion", "")).startswith("security.istio.io/")
        and resource.get("kind") == "RequestAuthentication"
    )


def _rules(resource: Mapping[str, Any]) -> list[Any]:
    spec = resource.get("spec")
    rules = (spec.get("jwtRules") or []) if isinstance(spec, Mapping) else []
    return [r for r in rules if isinstance(r, Mapping)]


def inline_key_sets(resource: Mapping[str, Any], keys: KeySets) -> dict[str, Any]:
    """``resource`` (a copy) with its rules' key sets as istiod would inline them."""
    result = copy.deepcopy(dict(resource))
    if not _is_request_authentication(result):
        return result
    inlined: list[str] = []
    for rule in _rules(result):
        jwks = rule.get("jwks")
        if isinstance(jwks, str) and jwks:
            placeholder = JWKS_PLACEHOLDER.fullmatch(jwks)
            if placeholder is not None:
                rule["jwks"] = keys.public_jwks(placeholder.group(1))
            continue  # an inline set wins over a jwksUri (istiod fetches nothing)
        uri = rule.get("jwksUri")
        if isinstance(uri, str) and uri:
            served = keys.served_jwks(uri)
            if served is not None:
                rule["jwks"] = served
                del rule["jwksUri"]
                inlined.append(uri)
    if inlined:
        metadata = result.setdefault("metadata", {})
        annotations = metadata.setdefault("annotations", {})
        annotations[INLINED_ANNOTATION] = " ".join(sorted(set(inlined)))
    return result


def unreproducible_issuers(
    resources: Iterable[Mapping[str, Any]], served_at: Callable[[str], str | None]
) -> dict[str, str]:
    """Issuer -> ``jwksUri`` of the rules left to a cluster's own fetch (``served_at``
    answers None: no key serves the URI); the issuer ``""`` stands for a rule without
    one, which any token meets."""
    unserved: dict[str, str] = {}
    for resource in resources:
        if not _is_request_authentication(resource):
            continue
        for rule in _rules(resource):
            uri = rule.get("jwksUri")
            if rule.get("jwks") or not isinstance(uri, str) or not uri:
                continue
            if served_at(uri) is None:
                unserved.setdefault(str(rule.get("issuer") or _ANY_ISSUER), uri)
    return unserved


def skip_reason(request: Request, unreproducible: Mapping[str, str], target: str) -> str | None:
    """Why a check presenting ``request``'s token cannot be judged on ``target``, or None."""
    token = request.jwt
    if token is None or not unreproducible:
        return None
    issuer = token.issuer if token.issuer in unreproducible else _ANY_ISSUER
    uri = unreproducible.get(issuer)
    if uri is None:
        return None
    whose = f"issuer {issuer}" if issuer else "a rule without an issuer"
    return (
        f"target '{target}' lacks capability jwks-fetch-failure: the jwksUri {uri} of "
        f"{whose} is served by no spec.jwtKeys entry, so the cluster's istiod fetches it "
        "from wherever that host leads there; the outcome of a failed fetch (istiod's "
        "fail-closed key) cannot be reproduced on a cluster"
    )
