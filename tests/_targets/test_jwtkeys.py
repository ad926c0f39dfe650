"""A case's JWT keys: generated per run, public key sets published, tokens minted per request."""

from __future__ import annotations

import json
from typing import Any

import jwt
import pytest

from pytest_meshgate._cases.model.case import Case
from pytest_meshgate._cases.model.jwt import JwtToken
from pytest_meshgate._cases.model.request import Request
from pytest_meshgate._exchange.records import redact_tokens
from pytest_meshgate._targets.jwtkeys import CaseJwtKeys


def keys(**extra: Any) -> CaseJwtKeys:
    document = {
        "apiVersion": "meshgate.dev/v1alpha1",
        "kind": "Case",
        "metadata": {"name": "jwt"},
        "spec": {
            "jwtKeys": [
                {"name": "rsa"},
                {"name": "ec", "algorithm": "ES256", "jwksUri": "https://keys.example.com/jwks"},
            ],
            "checks": [{"name": "c", "request": {"url": "http://a.example.com/"}}],
            **extra,
        },
    }
    return CaseJwtKeys.generate(Case.model_validate(document))


def verify(store: CaseJwtKeys, name: str, token: str, **options: Any) -> dict[str, Any]:
    key = jwt.PyJWKSet.from_json(store.public_jwks(name)).keys[0]
    return jwt.decode(token, key.key, algorithms=[key.algorithm_name], **options)


@pytest.mark.parametrize("name", ["rsa", "ec"])
def test_a_minted_token_verifies_with_the_published_public_key(name: str) -> None:
    store = keys()
    token = store.mint(JwtToken(key=name, issuer="i@example.com", subject="alice",
                                audiences=["api"], claims={"groups": ["g1"]}))  # fmt: skip
    claims = verify(store, name, token, audience="api")
    assert (claims["iss"], claims["sub"], claims["aud"], claims["groups"]) == (
        "i@example.com", "alice", "api", ["g1"])  # fmt: skip
    assert jwt.get_unverified_header(token)["kid"] == name


def test_the_published_key_sets_hold_no_private_key() -> None:
    store = keys()
    assert set(store.inline()) == {"key:rsa", "key:ec"}
    assert set(store.served()) == {"https://keys.example.com/jwks"}
    for text in [*store.inline().values(), *store.served().values()]:
        for key in json.loads(text)["keys"]:
            assert not {"d", "p", "q", "dp", "dq", "qi"} & set(key)


def test_keys_differ_per_run_and_another_keys_token_does_not_verify() -> None:
    first, second = keys(), keys()
    token = first.mint(JwtToken(key="rsa", issuer="i"))
    with pytest.raises(jwt.InvalidSignatureError):
        verify(second, "rsa", token)


def test_an_expired_token_has_run_out() -> None:
    store = keys()
    token = store.mint(JwtToken(key="rsa", issuer="i", expired=True))
    with pytest.raises(jwt.ExpiredSignatureError):
        verify(store, "rsa", token)


def test_the_token_goes_in_a_header_with_its_prefix_or_in_the_query() -> None:
    store = keys()
    request = Request.model_validate({"url": "http://a.example.com/x?a=1",
                                      "jwt": {"key": "rsa", "issuer": "i"}})  # fmt: skip
    sent = store.with_token(request)
    assert sent.jwt is None and sent.headers["Authorization"].startswith("Bearer ey")
    custom = Request.model_validate({"url": "http://a.example.com/x", "jwt": {
        "key": "rsa", "issuer": "i", "header": "x-token", "prefix": "Token "}})  # fmt: skip
    assert store.with_token(custom).headers["x-token"].startswith("Token ey")
    param = Request.model_validate({"url": "http://a.example.com/x?a=1",
                                    "jwt": {"key": "rsa", "issuer": "i", "param": "access_token"}})  # fmt: skip
    url = store.with_token(param).url
    assert url.startswith("http://a.example.com/x?a=1&access_token=ey")


def test_tokens_are_redacted_in_reports() -> None:
    token = keys().mint(JwtToken(key="rsa", issuer="i"))
    text = redact_tokens(f"Authorization: Bearer {token}\nx: 1")
    assert token not in text and "<jwt redacted>" in text and "x: 1" in text


def test_a_check_naming_an_unknown_key_is_refused() -> None:
    with pytest.raises(ValueError, match=r"jwt key 'nope' is not in spec\.jwtKeys"):
        keys(
            checks=[
                {
                    "name": "c",
                    "request": {"url": "http://a/", "jwt": {"key": "nope", "issuer": "i"}},
                }
            ]
        )


@pytest.mark.parametrize(
    ("token", "message"),
    [
        ({"key": "rsa", "issuer": "i", "claims": {"exp": 1}}, "set by issuer, subject"),
        ({"key": "rsa", "issuer": "i", "header": "x", "param": "t"}, "give header or param"),
        ({"key": "rsa", "issuer": ""}, "at least 1 character"),
    ],
)
def test_token_requests_are_checked(token: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        JwtToken.model_validate(token)


def test_keys_naming_one_jwks_uri_are_served_there_as_one_set() -> None:
    uri = "http://jwt-server.istio-system.svc.cluster.local:8000/jwks"
    store = keys(jwtKeys=[{"name": "one", "jwksUri": uri}, {"name": "unserved"},
                          {"name": "two", "algorithm": "ES256", "jwksUri": uri}])  # fmt: skip
    served = json.loads(store.served()[uri])
    assert [k["kid"] for k in served["keys"]] == ["one", "two"]
    assert list(store.served()) == [uri]
