"""JWT cases on a cluster: key sets inlined into the applied RequestAuthentications, tokens
minted per attempt, and the checks a cluster cannot reproduce skipped with their reason.

Against the fake API server (k8s_fakeapi.py) with the project's echo behind the
gateway's host port: what is proven is what the target applies (the public set
where the case says ``${jwks:<name>}`` or names a served ``jwksUri``) and what it
sends (a token that verifies with that applied set, by PyJWT here). Whether the
cluster's istiod and Envoy then accept it is only shown by a run on a real
cluster, which did not happen (docs/kubernetes.md).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import jwt
import pytest
from k8s_fakeapi import FakeAPI
from k8s_fakecluster import FakeProvider
from k8s_standins import StandIns

from pytest_meshgate._cases.loader import LoadedCase, load_case_file
from pytest_meshgate._cases.model.request import Request
from pytest_meshgate._exchange.records import Exchange
from pytest_meshgate._targets.kubernetes.jwtrules import (
    INLINED_ANNOTATION,
    inline_key_sets,
    skip_reason,
    unreproducible_issuers,
)
from pytest_meshgate._targets.kubernetes.target import KubernetesTarget

pytest.importorskip("kubernetes")

CASES = Path(__file__).parents[3] / "cases"
RA_PATH = "/apis/security.istio.io/v1/namespaces/istio-system/requestauthentications/"


def case(file: str, name: str) -> LoadedCase:
    return next(c for c in load_case_file(CASES / file).cases if c.name == name)


def request_of(loaded: LoadedCase, check: str) -> Request:
    request = next(c.request for c in loaded.case.spec.checks if c.name == check)
    assert request is not None
    return request


def presented_token(exchange: Exchange) -> str:
    """The bearer token the echo behind the gateway received."""
    assert exchange.response is not None and exchange.response.echo is not None
    [value] = exchange.response.echo["headers"]["Authorization"]
    scheme, _, token = value.partition(" ")
    assert scheme == "Bearer"
    return token


def verify(token: str, jwks: str) -> dict[str, Any]:
    """``token``'s claims if it verifies with the key of ``jwks`` its header names."""
    kid = jwt.get_unverified_header(token)["kid"]
    key = next(k for k in jwt.PyJWKSet.from_json(jwks).keys if k.key_id == kid)
    claims: dict[str, Any] = jwt.decode(token, key.key, algorithms=[key.algorithm_name])
    return claims


def public_only(jwks: str) -> bool:
    return all("d" not in key for key in json.loads(jwks)["keys"])


def test_an_inline_placeholder_is_applied_as_the_public_set_the_tokens_verify_with(
    target: tuple[KubernetesTarget, FakeProvider, StandIns], api: FakeAPI
) -> None:
    kubernetes_target, _, _ = target
    loaded = case("request-authentication.yaml", "jwt-ingress-require-token")
    deployment = kubernetes_target.activate(loaded)
    applied = api.objects[RA_PATH + "jwt-example"]
    [rule] = applied["spec"]["jwtRules"]
    assert "${jwks:" not in rule["jwks"] and public_only(rule["jwks"])
    assert [k["kid"] for k in json.loads(rule["jwks"])["keys"]] == ["testing"]

    exchange = deployment.send(
        request_of(loaded, "where a principal is required, a valid token passes")
    )
    token = presented_token(exchange)
    claims = verify(token, rule["jwks"])
    assert (claims["iss"], claims["sub"]) == ("testing@secure.istio.io", "testing@secure.istio.io")
    # Never in what a report shows.
    assert token not in exchange.request.describe() and token not in exchange.describe_outcome()

    # The attacker's token is the other key's: the applied set does not verify it.
    attacker = deployment.send(
        request_of(loaded, "a token signed by another key is refused with 401").model_copy(
            update={"gateway": None}
        )
    )
    with pytest.raises(StopIteration):  # no key of the applied set has its kid
        verify(presented_token(attacker), rule["jwks"])
    expired = deployment.send(
        request_of(loaded, "where a principal is required, an expired token is still 401")
    )
    with pytest.raises(jwt.ExpiredSignatureError):
        verify(presented_token(expired), rule["jwks"])
    kubernetes_target.deactivate()


def test_a_served_jwks_uri_is_inlined_and_a_failed_fetch_is_a_skip_naming_it(
    target: tuple[KubernetesTarget, FakeProvider, StandIns], api: FakeAPI
) -> None:
    kubernetes_target, _, _ = target
    loaded = case("request-authentication.yaml", "jwt-jwks-uri")
    deployment = kubernetes_target.activate(loaded)
    applied = api.objects[RA_PATH + "jwt"]
    rules = {r["issuer"]: r for r in applied["spec"]["jwtRules"]}
    # Served URIs: istiod would have fetched and inlined the set; the target inlines it.
    for issuer, kids in [
        ("https://auth.example.com", ["published"]),
        ("testing@secure.istio.io", ["jwt-server-1", "jwt-server-2"]),
    ]:
        assert "jwksUri" not in rules[issuer] and public_only(rules[issuer]["jwks"])
        assert [k["kid"] for k in json.loads(rules[issuer]["jwks"])["keys"]] == kids
    assert applied["metadata"]["annotations"][INLINED_ANNOTATION] == (
        "http://jwt-server.istio-system.svc.cluster.local:8000/jwks "
        "https://auth.example.com/.well-known/jwks.json"
    )
    # Unserved ones are applied as written: the cluster's own fetch decides them.
    assert rules["https://gone.example.com"] == {
        "issuer": "https://gone.example.com",
        "jwksUri": "https://gone.example.com/jwks.json",
    }
    assert "jwks" not in rules["https://moved.example.com"]

    second = deployment.send(request_of(loaded, "a token of the second key of that set passes"))
    claims = verify(presented_token(second), rules["testing@secure.istio.io"]["jwks"])
    assert claims["iss"] == "testing@secure.istio.io"
    assert jwt.get_unverified_header(presented_token(second))["alg"] == "ES256"
    tls_set = deployment.send(
        request_of(loaded, "a token verified with the key set fetched over TLS passes")
    )
    verify(presented_token(tls_set), rules["https://auth.example.com"]["jwks"])
    for check, uri in [
        ("a token of the issuer whose host serves nothing is refused",
         "https://gone.example.com/jwks.json"),
        ("a token of the issuer whose jwksUri answers 404 is refused",
         "http://jwt-server.istio-system.svc.cluster.local:8000/old-jwks"),
    ]:  # fmt: skip
        with pytest.raises(pytest.skip.Exception, match=f"jwks-fetch-failure: the jwksUri {uri}"):
            deployment.send(request_of(loaded, check))
    none = deployment.send(request_of(loaded, "without a token the request passes"))
    assert (
        none.response is not None and "Authorization" not in (none.response.echo or {})["headers"]
    )
    kubernetes_target.deactivate()


def test_a_check_from_a_client_pod_hands_the_in_pod_sender_a_minted_token(
    target: tuple[KubernetesTarget, FakeProvider, StandIns],
    monkeypatch: pytest.MonkeyPatch,
    api: FakeAPI,
) -> None:
    kubernetes_target, _, _ = target
    plans: list[dict[str, Any]] = []

    def exec_in_pod(*args: Any) -> tuple[str, str, int]:
        plans.append(json.loads(args[5]))
        result = {"meshgate_id": "m-1", "status": 200, "headers": [], "body": ""}
        return json.dumps({"results": [result]}), "", 0

    monkeypatch.setattr("pytest_meshgate._targets.kubernetes.transport.exec_in_pod", exec_in_pod)
    loaded = case("egress-authorization.yaml", "authz-egress-gateway")
    deployment = kubernetes_target.activate(loaded)
    [rule, _] = api.objects[RA_PATH + "default"]["spec"]["jwtRules"]
    exchange = deployment.send(
        request_of(loaded, "jwt-only.com with a token of issuer 1 is allowed")
    )
    assert exchange.response is not None and exchange.response.status == 200
    [plan] = plans
    [value] = [v for k, v in plan["headers"] if k == "Authorization"]
    claims = verify(value.removeprefix("Bearer "), rule["jwks"])
    assert (claims["iss"], claims["sub"]) == ("test-issuer-1@istio.io", "sub-1")
    assert value.removeprefix("Bearer ") not in exchange.request.describe()
    kubernetes_target.deactivate()


class _Sets:
    def public_jwks(self, name: str) -> str:
        return f'{{"keys": [{{"kid": "{name}"}}]}}'

    def served_jwks(self, uri: str) -> str | None:
        return '{"keys": []}' if uri == "https://served.example.com/jwks" else None


def _authn(*rules: dict[str, Any]) -> dict[str, Any]:
    return {
        "apiVersion": "security.istio.io/v1",
        "kind": "RequestAuthentication",
        "metadata": {"name": "r"},
        "spec": {"jwtRules": list(rules)},
    }


def test_only_placeholders_and_served_uris_are_replaced() -> None:
    literal = '{"keys": []}'
    resource = _authn(
        {"issuer": "a", "jwks": "${jwks:one}"},
        {"issuer": "b", "jwks": literal, "jwksUri": "https://served.example.com/jwks"},
        {"issuer": "c", "jwksUri": "https://served.example.com/jwks"},
        {"issuer": "d", "jwksUri": "https://elsewhere.example.com/jwks"},
    )
    inlined = inline_key_sets(resource, _Sets())
    assert inlined["spec"]["jwtRules"] == [
        {"issuer": "a", "jwks": '{"keys": [{"kid": "one"}]}'},
        {"issuer": "b", "jwks": literal, "jwksUri": "https://served.example.com/jwks"},
        {"issuer": "c", "jwks": '{"keys": []}'},
        {"issuer": "d", "jwksUri": "https://elsewhere.example.com/jwks"},
    ]
    assert resource["spec"]["jwtRules"][0]["jwks"] == "${jwks:one}"  # a copy, not edited
    other = {"apiVersion": "v1", "kind": "ConfigMap", "data": {"jwks": "${jwks:one}"}}
    assert inline_key_sets(other, _Sets()) == other


def test_a_rule_without_an_issuer_left_to_the_cluster_skips_every_token_check() -> None:
    served = _Sets().served_jwks
    with_issuer = unreproducible_issuers(
        [_authn({"issuer": "x", "jwksUri": "https://elsewhere.example.com/jwks"})], served
    )
    token = Request.model_validate(
        {"url": "http://a.example.com/", "jwt": {"key": "k", "issuer": "x"}}
    )
    other = token.model_copy(update={"jwt": token.jwt.model_copy(update={"issuer": "y"})})  # type: ignore[union-attr]
    assert "issuer x" in (skip_reason(token, with_issuer, "kind") or "")
    assert skip_reason(other, with_issuer, "kind") is None
    assert skip_reason(token.model_copy(update={"jwt": None}), with_issuer, "kind") is None
    anonymous = unreproducible_issuers(
        [_authn({"jwksUri": "https://elsewhere.example.com/jwks"})], served
    )
    assert "a rule without an issuer" in (skip_reason(other, anonymous, "cluster") or "")
    served_only = unreproducible_issuers(
        [_authn({"issuer": "x", "jwksUri": "https://served.example.com/jwks"})], served
    )
    assert served_only == {}
