"""The RBAC filters of the policies that apply to a workload: ``authz/builder/builder.go``.

One RBAC filter per action, in Istio's order AUDIT (Envoy's LOG: decides
nothing), DENY, ALLOW; each holds the enforced policies as ``rules`` and the
dry-run ones (``istio.io/dry-run: "true"``) as ``shadow_rules``, which Envoy
evaluates and records without deciding. A policy without rules is a policy that
never matches (so an ALLOW without rules allows nothing). CUSTOM policies need
an ext_authz provider, which the local target does not run: they are reported
by ``custom_problem`` so the case is skipped, never silently passed.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

from ....._cases.model.istio import AuthorizationPolicy
from ..common import Json
from .rules import RuleContext, RuleError, rule_policy

__all__ = ["HTTP_RBAC", "TCP_RBAC", "custom_problem", "http_rbac_filters", "tcp_rbac_filters"]

log = logging.getLogger(__name__)

HTTP_RBAC = "envoy.filters.http.rbac"
TCP_RBAC = "envoy.filters.network.rbac"
_HTTP_TYPE = "type.googleapis.com/envoy.extensions.filters.http.rbac.v3.RBAC"
_TCP_TYPE = "type.googleapis.com/envoy.extensions.filters.network.rbac.v3.RBAC"
_ENVOY_ACTION = {"AUDIT": "LOG", "DENY": "DENY", "ALLOW": "ALLOW"}
_SHADOW_PREFIX = {"ALLOW": "istio_dry_run_allow_", "DENY": "istio_dry_run_deny_"}

# rbacPolicyMatchNever
_MATCH_NEVER: Json = {
    "permissions": [{"not_rule": {"any": True}}],
    "principals": [{"not_id": {"any": True}}],
}


def _dry_run(policy: AuthorizationPolicy) -> bool:
    """``isDryRun``: strconv.ParseBool of the annotation (the webhook refuses other values)."""
    return (policy.dry_run or "") in ("1", "t", "T", "TRUE", "true", "True")


def _policy_name(policy: AuthorizationPolicy, index: int) -> str:
    return f"ns[{policy.namespace}]-policy[{policy.name}]-rule[{index}]"


def _rule_sets(
    policies: Sequence[AuthorizationPolicy], action: str, tcp: bool, port_of: object
) -> tuple[Json | None, Json | None]:
    """``Builder.build``: the enforced and the shadow RBAC of one action (None: none)."""
    enforced: Json = {"action": _ENVOY_ACTION[action], "policies": {}}
    shadow: Json = {"action": _ENVOY_ACTION[action], "policies": {}}
    any_enforced = any_shadow = False
    for policy in policies:
        dry = _dry_run(policy)
        target = shadow if dry else enforced
        any_shadow |= dry
        any_enforced |= not dry
        ctx = RuleContext(policy.namespace, port_of)  # type: ignore[arg-type]
        rules = policy.spec.rules or []
        for i, rule in enumerate(rules):
            name = _policy_name(policy, i)
            try:
                target["policies"][name] = rule_policy(rule, ctx, tcp, action == "ALLOW")
            except RuleError as exc:
                chain = "TCP" if tcp else "HTTP"
                log.info(
                    "AuthorizationPolicy %s: skipped rule %s on %s: %s",
                    policy.key,
                    name,
                    chain,
                    exc,
                )
        if not rules:
            target["policies"][_policy_name(policy, 0)] = _MATCH_NEVER
    return (enforced if any_enforced else None), (shadow if any_shadow else None)


def _filters(policies: Sequence[AuthorizationPolicy], tcp: bool, port_of: object) -> list[Json]:
    out: list[Json] = []
    for action in ("AUDIT", "DENY", "ALLOW"):
        chosen = [p for p in policies if p.spec.action == action]
        if not chosen:
            continue
        rules, shadow = _rule_sets(chosen, action, tcp, port_of)
        config: Json = {"@type": _TCP_TYPE if tcp else _HTTP_TYPE}
        if rules is not None:
            config["rules"] = rules
        if tcp:
            config["stat_prefix"] = "tcp."
        if shadow is not None:
            config["shadow_rules"] = shadow
            if action in _SHADOW_PREFIX:
                config["shadow_rules_stat_prefix"] = _SHADOW_PREFIX[action]
        out.append({"name": TCP_RBAC if tcp else HTTP_RBAC, "typed_config": config})
    return out


def http_rbac_filters(policies: Sequence[AuthorizationPolicy], port_of: object) -> list[Json]:
    """``BuildHTTP``: the HTTP RBAC filters, AUDIT, DENY, ALLOW."""
    return _filters(policies, False, port_of)


def tcp_rbac_filters(policies: Sequence[AuthorizationPolicy], port_of: object) -> list[Json]:
    """``BuildTCP``: the network RBAC filters, HTTP-only fields handled as Istio does."""
    return _filters(policies, True, port_of)


def custom_problem(policies: Sequence[AuthorizationPolicy]) -> str | None:
    """Why the workload's policies cannot be honoured here: a CUSTOM action."""
    custom = [p.key for p in policies if p.spec.action == "CUSTOM"]
    if not custom:
        return None
    return (
        f"AuthorizationPolicy {', '.join(custom)}: action CUSTOM needs an ext_authz provider "
        "(meshConfig.extensionProviders), which the local target does not run"
    )
