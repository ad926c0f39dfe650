"""AuthorizationPolicy and RequestAuthentication validation: Istio's webhook rules
(ValidateAuthorizationPolicy, ValidateRequestAuthentication, checkDryRunAnnotation)."""

from __future__ import annotations

from typing import Any

import pydantic
import pytest

from pytest_meshgate._cases.model.base import validation_problems
from pytest_meshgate._cases.model.resources import parse_resource
from pytest_meshgate._cases.validation import Report, check_resource
from pytest_meshgate._cases.yamlpos import format_key_path


def findings(
    spec: dict[str, Any],
    kind: str = "AuthorizationPolicy",
    api: str = "security.istio.io/v1",
    annotations: dict[str, str] | None = None,
) -> tuple[list[str], list[str]]:
    metadata: dict[str, Any] = {"name": "p", "namespace": "foo"}
    if annotations:
        metadata["annotations"] = annotations
    manifest = {"apiVersion": api, "kind": kind, "metadata": metadata, "spec": spec}
    try:
        resource = parse_resource(manifest)
    except pydantic.ValidationError as exc:
        return [f"{format_key_path(k)}: {m}" for k, m, _ in validation_problems(exc, manifest)], []
    report = Report()
    check_resource(resource, report)
    errors = [
        f"{format_key_path(f.key_path)}: {f.message}" for f in report.findings if not f.warning
    ]
    warnings = [f"{format_key_path(f.key_path)}: {f.message}" for f in report.findings if f.warning]
    return errors, warnings


ROWS: list[tuple[str, dict[str, Any], str]] = [
    ("allow-nothing", {}, ""),
    ("deny without rules", {"action": "DENY"}, "spec.action: DENY action without `rules`"),
    ("deny-all", {"action": "DENY", "rules": [{}]}, ""),
    ("custom without provider", {"action": "CUSTOM", "rules": [{}]},
     "spec.provider: `provider.name` must not be empty"),
    ("provider with ALLOW", {"provider": {"name": "x"}, "rules": [{}]},
     "spec.provider: `provider` must not be with non CUSTOM action, found ALLOW"),
    ("custom with principals", {"action": "CUSTOM", "provider": {"name": "x"},
                                "rules": [{"from": [{"source": {"principals": ["a"]}}]}]},
     "From.Principals is currently not supported with CUSTOM action"),
    ("empty from", {"rules": [{"from": []}]}, "spec.rules[0].from: `from` must not be empty"),
    ("empty source", {"rules": [{"from": [{"source": {}}]}]},
     "spec.rules[0].from[0].source: `from.source` must not be empty, found at rule 0"),
    ("nil source", {"rules": [{"from": [{}]}]},
     "spec.rules[0].from[0]: `from.source` must not be nil, found at rule 0"),
    ("bad ip block", {"rules": [{"from": [{"source": {"ipBlocks": ["10.0.0.0/33"]}}]}]},
     "spec.rules[0].from[0].source.ipBlocks: bad CIDR range (10.0.0.0/33)"),
    ("bad remote ip", {"rules": [{"from": [{"source": {"remoteIpBlocks": ["1.2.3"]}}]}]},
     "spec.rules[0].from[0].source.remoteIpBlocks: bad IP address (1.2.3)"),
    ("empty principal", {"rules": [{"from": [{"source": {"principals": [""]}}]}]},
     "empty value not allowed, found in Principals"),
    ("service accounts with namespaces",
     {"rules": [{"from": [{"source": {"serviceAccounts": ["a"], "namespaces": ["b"]}}]}]},
     "cannot set serviceAccounts with namespaces or principals, found at rule 0"),
    ("wildcard service account", {"rules": [{"from": [{"source": {"serviceAccounts": ["a*"]}}]}]},
     "wildcard not allowed, found in ServiceAccounts"),
    ("trust domains", {"rules": [{"from": [{"source": {"trustDomains": ["cluster.local", "*.example.com", "td-*", "*"],
                                                    "notTrustDomains": ["bad.example.com"]}}]}]}, ""),
    ("trust domain alone is a source", {"rules": [{"from": [{"source": {"notTrustDomains": ["x"]}}]}]}, ""),
    ("empty trust domain", {"rules": [{"from": [{"source": {"trustDomains": [""]}}]}]},
     "spec.rules[0].from[0].source.trustDomains: empty value not allowed, found in TrustDomains"),
    ("inner wildcard trust domain", {"rules": [{"from": [{"source": {"trustDomains": ["a*b"]}}]}]},
     'wildcard is only allowed at the start or end, found in TrustDomains: "a*b"'),
    ("two wildcards", {"rules": [{"from": [{"source": {"notTrustDomains": ["*a*"]}}]}]},
     'at most one wildcard is allowed, found in NotTrustDomains: "*a*"'),
    ("trust domain with a slash", {"rules": [{"from": [{"source": {"trustDomains": ["td/ns"]}}]}]},
     "trust domain must not contain '/', found in TrustDomains: \"td/ns\""),
    ("custom with trust domains", {"action": "CUSTOM", "provider": {"name": "x"},
                                   "rules": [{"from": [{"source": {"trustDomains": ["a"]}}]}]},
     "From.TrustDomains is currently not supported with CUSTOM action"),
    ("empty operation", {"rules": [{"to": [{"operation": {}}]}]},
     "spec.rules[0].to[0].operation: `to.operation` must not be empty, found at rule 0"),
    ("bad port", {"rules": [{"to": [{"operation": {"ports": ["65536"]}}]}]},
     "spec.rules[0].to[0].operation.ports: bad port (65536)"),
    ("{**} not last", {"rules": [{"to": [{"operation": {"paths": ["/a/{**}/{*}"]}}]}]},
     "{**} is not the last operator"),
    ("brace beyond a template", {"rules": [{"to": [{"operation": {"paths": ["/a/{x}"]}}]}]},
     "Contains '{' or '}' beyond a supported path template"),
    ("bad literal with a template", {"rules": [{"to": [{"operation": {"paths": ["/a b/{*}"]}}]}]},
     "Contains segment a b with invalid string literal"),
    ("templates", {"rules": [{"to": [{"operation": {"paths": ["/a/{*}/b/{**}"]}}]}]}, ""),
    ("unknown attribute", {"rules": [{"when": [{"key": "source.foo", "values": ["x"]}]}]},
     "spec.rules[0].when[0].values: invalid `value` for `key` source.foo: unknown attribute: source.foo"),
    ("condition without values", {"rules": [{"when": [{"key": "source.ip"}]}]},
     "at least one of `values` or `notValues` must be set for key source.ip"),
    ("bad header key", {"rules": [{"when": [{"key": "request.headers[]", "values": ["x"]}]}]},
     "bad key (request.headers[]): should have format a[b]"),
    ("destination.namespace", {"rules": [{"when": [{"key": "destination.namespace", "values": ["x"]}]}]},
     "attribute destination.namespace is replaced by the metadata.namespace"),
    ("selector and targetRefs", {"selector": {"matchLabels": {"app": "a"}},
                                 "targetRefs": [{"kind": "Gateway", "group": "gateway.networking.k8s.io", "name": "g"}]},
     "spec.selector: only one of targetRefs or workloadSelector can be set"),
    ("targetRef to a Deployment", {"targetRefs": [{"kind": "Deployment", "group": "apps", "name": "g"}]},
     "spec.targetRefs[0].kind: targetRef must be to one of"),
]  # fmt: skip


@pytest.mark.parametrize(("spec", "error"), [(s, e) for _, s, e in ROWS], ids=[r[0] for r in ROWS])
def test_authorization_policy_rules(spec: dict[str, Any], error: str) -> None:
    errors, _ = findings(spec)
    if error:
        assert any(error in e for e in errors), errors
    else:
        assert errors == []


def test_an_http_only_deny_rule_warns_as_istio_does() -> None:
    _, warnings = findings(
        {"action": "DENY", "rules": [{"to": [{"operation": {"paths": ["/a"]}}]}]}
    )
    assert any("will deny all traffic to TCP ports" in w for w in warnings)
    _, warnings = findings(
        {"action": "DENY", "rules": [{"to": [{"operation": {"paths": ["/a"], "ports": ["80"]}}]}]}
    )
    assert warnings == []


@pytest.mark.parametrize(
    ("spec", "value", "error"),
    [
        ({}, "true", ""),
        ({"action": "DENY", "rules": [{}]}, "False", ""),
        ({}, "yes", "has annotation istio.io/dry-run with invalid value (yes)"),
        ({"action": "AUDIT", "rules": [{}]}, "true", "currently only supports action ALLOW/DENY"),
    ],
)
def test_dry_run_annotation(spec: dict[str, Any], value: str, error: str) -> None:
    errors, _ = findings(spec, annotations={"istio.io/dry-run": value})
    if error:
        assert any(error in e for e in errors), errors
    else:
        assert errors == []


def test_dry_run_on_another_kind_is_refused() -> None:
    errors, _ = findings(
        {"jwtRules": [{"issuer": "a"}]},
        kind="RequestAuthentication",
        annotations={"istio.io/dry-run": "true"},
    )
    assert any("has unsupported annotation istio.io/dry-run" in e for e in errors)


JWT_ROWS: list[tuple[str, dict[str, Any], str]] = [
    ("issuer and inline jwks placeholder", {"issuer": "a", "jwks": "${jwks:main}"}, ""),
    ("neither issuer nor jwksUri", {"audiences": ["x"]}, "issuer or jwksUri must be non-empty string"),
    ("empty audience", {"issuer": "a", "audiences": [""]}, "audience must be non-empty string"),
    ("bad scheme", {"issuer": "a", "jwksUri": "ftp://x/jwks"}, 'URI scheme "ftp" is not supported'),
    ("jwks not JSON", {"issuer": "a", "jwks": "{nope"}, "spec.jwtRules[0].jwks: jwks parse error"),
    ("jwks with a bad key", {"issuer": "a", "jwks": '{"keys": [{"kty": "RSA"}]}'}, "jwks parse error"),
    ("empty header name", {"issuer": "a", "fromHeaders": [{"prefix": "x"}]},
     "spec.jwtRules[0].fromHeaders[0].name: location header name must be non-empty string"),
    ("empty param", {"issuer": "a", "fromParams": [""]}, "location query must be non-empty string"),
    ("claim to a bad header", {"issuer": "a", "outputClaimToHeaders": [{"header": "a b", "claim": "c"}]},
     "header name a b is not a valid header name"),
    ("claim without header", {"issuer": "a", "outputClaimToHeaders": [{"claim": "c"}]},
     "outputClaimToHeaders header and claim value must be non-empty string"),
]  # fmt: skip


@pytest.mark.parametrize(
    ("rule", "error"), [(r, e) for _, r, e in JWT_ROWS], ids=[r[0] for r in JWT_ROWS]
)
def test_request_authentication_rules(rule: dict[str, Any], error: str) -> None:
    errors, _ = findings({"jwtRules": [rule]}, kind="RequestAuthentication")
    if error:
        assert any(error in e for e in errors), errors
    else:
        assert errors == []


def test_both_served_versions_are_modelled() -> None:
    for api in ("security.istio.io/v1", "security.istio.io/v1beta1"):
        assert findings({}, api=api) == ([], [])
    with pytest.raises(ValueError, match="not served as apiVersion"):
        findings({}, api="security.istio.io/v1alpha1")
