"""AuthorizationPolicy and RequestAuthentication into Envoy filters, as Istio's
authz builder and authn policy applier write them (the seam ``security_filters``)."""

from __future__ import annotations

import json
from typing import Any

from pytest_meshgate._cases.model.resources import parse_resource
from pytest_meshgate._targets.local.translate.authz import applicable_policies, security_filters
from pytest_meshgate._targets.local.translate.authz.jwt import fail_closed_jwks
from pytest_meshgate._targets.local.world import GatewayProxy, ServicePortInfo, World

INGRESS = {"app": "istio-ingressgateway", "istio": "ingressgateway"}


def gateway(namespace: str = "istio-system", **labels: str) -> GatewayProxy:
    return GatewayProxy(
        name="gw",
        namespace=namespace,
        labels=labels or INGRESS,
        service_ports=(ServicePortInfo("http2", 80, 8080, "HTTP"),),
        bind=lambda port: ("127.0.0.1", 20000 + port),
    )


def policy(name: str, namespace: str = "istio-system", annotations: Any = None, **spec: Any) -> Any:
    metadata: dict[str, Any] = {"name": name, "namespace": namespace}
    if annotations:
        metadata["annotations"] = annotations
    return parse_resource(
        {"apiVersion": "security.istio.io/v1", "kind": "AuthorizationPolicy",
         "metadata": metadata, "spec": spec}
    )  # fmt: skip


def authn(name: str, rules: list[dict[str, Any]], namespace: str = "istio-system") -> Any:
    return parse_resource(
        {"apiVersion": "security.istio.io/v1", "kind": "RequestAuthentication",
         "metadata": {"name": name, "namespace": namespace}, "spec": {"jwtRules": rules}}
    )  # fmt: skip


def world(*resources: Any, jwks: dict[str, str] | None = None) -> World:
    return World(resources=resources, services=(), jwks=jwks or {})


def rbac(filters: tuple[Any, ...]) -> list[tuple[str, str | None, list[str]]]:
    """(filter name, enforced action, policy names) per RBAC filter."""
    out = []
    for f in filters:
        config = f["typed_config"]
        rules = config.get("rules")
        out.append(
            (
                f["name"],
                rules["action"] if rules else None,
                sorted((rules or {}).get("policies", {})),
            )
        )
    return out  # fmt: skip


def test_filters_come_in_istios_order_audit_deny_allow() -> None:
    w = world(
        policy("allow", rules=[{}]),
        policy("deny", action="DENY", rules=[{}, {"to": [{"operation": {"paths": ["/a"]}}]}]),
        policy("audit", action="AUDIT", rules=[{}]),
    )
    assert rbac(security_filters(w, gateway()).http) == [
        ("envoy.filters.http.rbac", "LOG", ["ns[istio-system]-policy[audit]-rule[0]"]),
        ("envoy.filters.http.rbac", "DENY", ["ns[istio-system]-policy[deny]-rule[0]",
                                             "ns[istio-system]-policy[deny]-rule[1]"]),
        ("envoy.filters.http.rbac", "ALLOW", ["ns[istio-system]-policy[allow]-rule[0]"]),
    ]  # fmt: skip


def test_allow_nothing_is_a_policy_that_never_matches() -> None:
    (only,) = security_filters(world(policy("allow-nothing")), gateway()).http
    rules = only["typed_config"]["rules"]
    assert rules["action"] == "ALLOW"
    assert rules["policies"]["ns[istio-system]-policy[allow-nothing]-rule[0]"] == {
        "permissions": [{"not_rule": {"any": True}}],
        "principals": [{"not_id": {"any": True}}],
    }


def test_dry_run_policies_are_shadow_rules_only() -> None:
    w = world(
        policy("deny-all", annotations={"istio.io/dry-run": "true"}, action="DENY", rules=[{}])
    )
    (only,) = security_filters(w, gateway()).http
    config = only["typed_config"]
    assert "rules" not in config
    assert config["shadow_rules"]["action"] == "DENY"
    assert config["shadow_rules_stat_prefix"] == "istio_dry_run_deny_"


def test_principals_namespaces_and_request_principals_as_istio_writes_them() -> None:
    w = world(
        policy(
            "p",
            rules=[
                {
                    "from": [
                        {
                            "source": {
                                "principals": ["cluster.local/ns/ns1/sa/a"],
                                "namespaces": ["team-*"],
                                "requestPrincipals": ["https://issuer.example.com/sub-1"],
                                "notIpBlocks": ["10.0.0.0/8"],
                            }
                        }
                    ]
                }
            ],
        )
    )
    (only,) = security_filters(w, gateway()).http
    (principal,) = only["typed_config"]["rules"]["policies"]["ns[istio-system]-policy[p]-rule[0]"][
        "principals"
    ]
    ids = principal["and_ids"]["ids"]
    assert ids[0] == {
        "or_ids": {
            "ids": [
                {
                    "authenticated": {
                        "principal_name": {"exact": "spiffe://cluster.local/ns/ns1/sa/a"}
                    }
                }
            ]
        }
    }
    metadata = [m["metadata"] for m in ids[1]["and_ids"]["ids"]]
    assert [(m["path"][1]["key"], m["value"]["string_match"]) for m in metadata] == [
        ("iss", {"exact": "https://issuer.example.com"}),
        ("sub", {"exact": "sub-1"}),
    ]
    assert ids[2]["or_ids"]["ids"][0]["authenticated"]["principal_name"] == {
        "safe_regex": {"regex": ".*/ns/team\\-.*/.*"}
    }
    assert ids[3] == {
        "not_id": {
            "or_ids": {
                "ids": [{"direct_remote_ip": {"address_prefix": "10.0.0.0", "prefix_len": 8}}]
            }
        }
    }


def test_trust_domains_match_the_peer_uri_after_the_service_account() -> None:
    source = {"serviceAccounts": ["ns1/a"], "trustDomains": ["cluster.local", "td-*"],
              "notTrustDomains": ["*"]}  # fmt: skip
    w = world(policy("p", rules=[{"from": [{"source": source}]}]))
    (only,) = security_filters(w, gateway()).http
    (principal,) = only["typed_config"]["rules"]["policies"]["ns[istio-system]-policy[p]-rule[0]"][
        "principals"
    ]
    account, domains, not_domains = principal["and_ids"]["ids"]
    assert "/ns/ns1/" in json.dumps(account)
    names = [p["authenticated"]["principal_name"] for p in domains["or_ids"]["ids"]]
    assert names == [
        {"prefix": "spiffe://cluster.local/"},
        {"safe_regex": {"regex": "spiffe://td\\-[^/]*/.*"}},
    ]
    (anything,) = not_domains["not_id"]["or_ids"]["ids"]
    assert anything["authenticated"]["principal_name"] == {"prefix": "spiffe://"}


def test_paths_hosts_and_templates_become_envoy_matchers() -> None:
    w = world(
        policy(
            "p",
            rules=[
                {
                    "to": [
                        {
                            "operation": {
                                "hosts": ["*.example.com"],
                                "paths": ["/files/{**}", "/exact"],
                                "ports": ["8080", "9999"],
                            }
                        }
                    ]
                }
            ],
        )
    )
    bound = {8080: 28080}
    (only,) = security_filters(w, gateway(), port_of=lambda port: bound.get(port, port)).http
    (permission,) = only["typed_config"]["rules"]["policies"]["ns[istio-system]-policy[p]-rule[0]"][
        "permissions"
    ]
    hosts, paths, ports = (r["or_rules"]["rules"] for r in permission["and_rules"]["rules"])
    assert hosts == [
        {
            "header": {
                "name": ":authority",
                "string_match": {"suffix": ".example.com", "ignore_case": True},
            }
        }
    ]
    assert paths[0]["uri_template"]["typed_config"]["path_template"] == "/files/**"
    assert paths[1] == {"url_path": {"path": {"exact": "/exact"}}}
    # A policy names container ports; the listener of 8080 binds 28080 here.
    assert ports == [{"destination_port": 28080}, {"destination_port": 9999}]


def test_http_only_fields_on_tcp_skip_an_allow_rule_and_widen_a_deny_rule() -> None:
    w = world(
        policy("allow-paths", rules=[{"to": [{"operation": {"paths": ["/a"]}}]}]),
        policy("deny-get", action="DENY", rules=[{"to": [{"operation": {"methods": ["GET"]}}]}]),
    )
    deny, allow = security_filters(w, gateway()).network
    assert deny["name"] == "envoy.filters.network.rbac"
    assert deny["typed_config"]["stat_prefix"] == "tcp."
    (denied,) = deny["typed_config"]["rules"]["policies"].values()
    assert denied["permissions"] == [{"and_rules": {"rules": [{"any": True}]}}]
    assert allow["typed_config"]["rules"] == {"action": "ALLOW", "policies": {}}


def test_which_policies_apply_to_a_workload() -> None:
    w = world(
        policy("mesh-wide"),
        policy("selects-ingress", selector={"matchLabels": {"istio": "ingressgateway"}}),
        policy("selects-other", selector={"matchLabels": {"istio": "other"}}),
        policy("other-namespace", namespace="foo"),
        policy("target-ref", namespace="foo", targetRefs=[
            {"group": "gateway.networking.k8s.io", "kind": "Gateway", "name": "web"}]),
    )  # fmt: skip
    from pytest_meshgate._cases.model.istio import AuthorizationPolicy

    names = [p.name for p in applicable_policies(w, gateway(), AuthorizationPolicy)]
    assert names == ["mesh-wide", "selects-ingress"]
    web = gateway("foo", **{"gateway.networking.k8s.io/gateway-name": "web"})
    assert [p.name for p in applicable_policies(w, web, AuthorizationPolicy)] == [
        "mesh-wide", "other-namespace", "target-ref"]  # fmt: skip
    other = gateway("foo", **{"gateway.networking.k8s.io/gateway-name": "other"})
    assert "target-ref" not in [p.name for p in applicable_policies(w, other, AuthorizationPolicy)]


def test_custom_is_reported_not_translated() -> None:
    w = world(policy("ext", action="CUSTOM", provider={"name": "opa"}, rules=[{}]))
    filters = security_filters(w, gateway())
    assert filters.http == () and filters.network == ()
    assert filters.problems and "CUSTOM" in filters.problems[0]


def test_jwt_providers_as_istio_configures_them() -> None:
    w = world(
        authn("a", [{"issuer": "z@example.com", "jwks": "${jwks:main}", "fromParams": ["t"]},
                    {"issuer": "a@example.com", "jwksUri": "https://keys.example.com/jwks",
                     "fromHeaders": [{"name": "x-token", "prefix": "Token "}],
                     "outputClaimToHeaders": [{"header": "x-team", "claim": "team"}]}]),
        jwks={"key:main": '{"keys": ["main"]}'},
    )  # fmt: skip
    jwt_filter = security_filters(w, gateway()).http[0]
    assert jwt_filter["name"] == "envoy.filters.http.jwt_authn"
    config = jwt_filter["typed_config"]
    first, second = config["providers"]["origins-0"], config["providers"]["origins-1"]
    # Sorted by issuer; the unknown jwksUri gets the fail-closed key.
    assert first["issuer"] == "a@example.com"
    assert first["local_jwks"]["inline_string"] == fail_closed_jwks()
    assert first["from_headers"] == [{"name": "x-token", "value_prefix": "Token "}]
    assert first["claim_to_headers"] == [{"header_name": "x-team", "claim_name": "team"}]
    assert second["local_jwks"]["inline_string"] == '{"keys": ["main"]}'
    assert second["from_params"] == ["t"]
    assert first["payload_in_metadata"] == "payload"
    requires = config["rules"][0]["requires"]["requires_any"]["requirements"]
    assert requires[:2] == [{"provider_name": "origins-0"}, {"provider_name": "origins-1"}]
    each = requires[2]["requires_all"]["requirements"]
    assert each[0] == {"requires_any": {"requirements": [
        {"provider_name": "origins-0"}, {"allow_missing": {}}]}}  # fmt: skip
    assert config["bypass_cors_preflight"] is True


def test_the_fail_closed_key_is_a_public_key_only() -> None:
    (key,) = json.loads(fail_closed_jwks())["keys"]
    assert key["kty"] == "RSA" and "d" not in key and "p" not in key
