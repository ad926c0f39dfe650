"""Istio's webhook rules for AuthorizationPolicy and RequestAuthentication.

``ValidateAuthorizationPolicy``, ``ValidateRequestAuthentication`` and
``validateJwtRule`` in ``pkg/config/validation/validation.go``, over the value
checks of ``pkg/config/security/security.go`` (``ValidateAttribute``,
``ValidateIPs``, ``CheckValidPathTemplate``...). Each error is put at the key it
is about rather than in one multierror.
"""

from __future__ import annotations

import ipaddress
import json
import re
from collections.abc import Sequence
from urllib.parse import urlsplit

from ..model.istio import AuthorizationPolicy, RequestAuthentication
from ..model.istio.security import JWTRule, Operation, Source
from .common import validate_workload_selector
from .kubernetes import validate_target_ref
from .report import Report

__all__ = ["JWKS_PLACEHOLDER", "validate_authorization_policy", "validate_request_authentication"]

# An inline ``jwks`` the harness fills in with a case key's public JWKS (spec.jwtKeys).
JWKS_PLACEHOLDER = re.compile(r"\$\{jwks:([a-z0-9]([-a-z0-9]*[a-z0-9])?)\}")

_MATCH_ONE, _MATCH_ANY = "{*}", "{**}"
_VALID_LITERAL = re.compile(r"^[a-zA-Z0-9\-._~%!$&'()+,;:@=]+$")
_TOKEN = re.compile(r"^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$")

# ValidateAttribute's keys: exact names, and prefixes of the a[b] forms.
_PLAIN_KEYS = {
    "source.ip": "ips",
    "remote.ip": "ips",
    "source.namespace": None,
    "source.serviceAccount": "serviceAccount",
    "source.principal": None,
    "request.auth.principal": None,
    "request.auth.audiences": None,
    "request.auth.presenter": None,
    "destination.ip": "ips",
    "destination.port": "ports",
    "connection.sni": None,
}
_MAP_KEYS = ("request.headers", "request.auth.claims", "experimental.envoy.filters.")


def validate_authorization_policy(policy: AuthorizationPolicy, r: Report) -> None:
    """``ValidateAuthorizationPolicy``."""
    spec, s = policy.spec, r.at("spec")
    _selector_or_refs(spec.selector, spec.target_ref, spec.target_refs, s)
    if spec.action == "CUSTOM":
        if spec.rules is None:
            s.error(
                "CUSTOM action without `rules` is meaningless as it will never be triggered, "
                "add an empty rule `{}` if you want it be triggered for every request",
                "action",
            )
        elif spec.provider is None or not spec.provider.name:
            s.error("`provider.name` must not be empty", "provider")
        _custom_limits(policy, s)
    if spec.provider is not None and spec.action != "CUSTOM":
        s.error(f"`provider` must not be with non CUSTOM action, found {spec.action}", "provider")
    if spec.action == "DENY" and spec.rules is None:
        s.error(
            "DENY action without `rules` is meaningless as it will never be triggered, "
            "add an empty rule `{}` if you want it be triggered for every request",
            "action",
        )
    for i, rule in enumerate(spec.rules or ()):
        rr = s.at("rules", i)
        if rule.from_ is not None and not rule.from_:
            rr.error(f"`from` must not be empty, found at rule {i}", "from")
        if rule.to is not None and not rule.to:
            rr.error(f"`to` must not be empty, found at rule {i}", "to")
        tcp_in_from = tcp_in_to = from_exists = to_exists = False
        for j, entry in enumerate(rule.from_ or ()):
            if entry.source is None:
                rr.error(f"`from.source` must not be nil, found at rule {i}", "from", j)
                continue
            from_exists = True
            tcp_in_from |= _validate_source(entry.source, i, rr.at("from", j, "source"))
        for j, target in enumerate(rule.to or ()):
            if target.operation is None:
                rr.error(f"`to.operation` must not be nil, found at rule {i}", "to", j)
                continue
            to_exists = True
            tcp_in_to |= _validate_operation(target.operation, i, rr.at("to", j, "operation"))
        for j, condition in enumerate(rule.when):
            c = rr.at("when", j)
            if not condition.key:
                c.error("`key` must not be empty", "key")
            elif not condition.values and not condition.not_values:
                c.error(
                    f"at least one of `values` or `notValues` must be set for key {condition.key}"
                )
            else:
                problem = _attribute_problem(condition.key, condition.values)
                if problem:
                    c.error(f"invalid `value` for `key` {condition.key}: {problem}", "values")
                problem = _attribute_problem(condition.key, condition.not_values)
                if problem:
                    c.error(f"invalid `notValue` for `key` {condition.key}: {problem}", "notValues")
        only_http = (from_exists and not to_exists and not tcp_in_from) or (
            to_exists and not tcp_in_to
        )
        if only_http and spec.action == "DENY":
            rr.warn(
                "configured AuthorizationPolicy will deny all traffic to TCP ports under its "
                "scope due to the use of only HTTP attributes in a DENY rule; it is recommended "
                "to explicitly specify the port"
            )


def _selector_or_refs(selector: object, ref: object, refs: Sequence[object], s: Report) -> None:
    """``validateOneOfSelectorType``, ``validateWorkloadSelector``, the target references."""
    if sum([selector is not None, ref is not None, bool(refs)]) > 1:
        s.error("only one of targetRefs or workloadSelector can be set", "selector")
    labels = getattr(selector, "match_labels", None)
    if selector is not None and labels is not None:
        errors, warning = validate_workload_selector(labels)
        s.errors(errors, "selector", "matchLabels")
        s.warn(warning, "selector")
    if ref is not None:
        validate_target_ref(ref, s.at("targetRef"))  # type: ignore[arg-type]
    for i, one in enumerate(refs):
        validate_target_ref(one, s.at("targetRefs", i))  # type: ignore[arg-type]


def _custom_limits(policy: AuthorizationPolicy, s: Report) -> None:
    """What CUSTOM rules may not use (``is currently not supported with CUSTOM action``)."""
    named = (
        ("namespaces", "From.Namespaces"),
        ("not_namespaces", "From.NotNamespaces"),
        ("service_accounts", "From.ServiceAccounts"),
        ("not_service_accounts", "From.NotServiceAccounts"),
        ("trust_domains", "From.TrustDomains"),
        ("not_trust_domains", "From.NotTrustDomains"),
        ("principals", "From.Principals"),
        ("not_principals", "From.NotPrincipals"),
        ("request_principals", "From.RequestPrincipals"),
        ("not_request_principals", "From.NotRequestPrincipals"),
    )
    for i, rule in enumerate(policy.spec.rules or ()):
        for j, entry in enumerate(rule.from_ or ()):
            for field, text in named:
                if entry.source is not None and getattr(entry.source, field):
                    s.error(
                        f"{text} is currently not supported with CUSTOM action",
                        "rules",
                        i,
                        "from",
                        j,
                    )
        for j, condition in enumerate(rule.when):
            key = condition.key
            if key in (
                "source.namespace",
                "source.serviceAccount",
                "source.trustDomain",
                "source.principal",
            ) or key.startswith("request.auth."):
                s.error(
                    f"{key} is currently not supported with CUSTOM action", "rules", i, "when", j
                )


def _validate_source(src: Source, i: int, r: Report) -> bool:
    """One ``from.source``; True when it holds a TCP attribute."""
    if (src.principals or src.not_principals or src.namespaces or src.not_namespaces) and (
        src.service_accounts or src.not_service_accounts
    ):
        r.error(f"cannot set serviceAccounts with namespaces or principals, found at rule {i}")
    if not any(getattr(src, f) for f in Source.model_fields):
        r.error(f"`from.source` must not be empty, found at rule {i}")
    for field, key in (
        ("ip_blocks", "ipBlocks"),
        ("not_ip_blocks", "notIpBlocks"),
        ("remote_ip_blocks", "remoteIpBlocks"),
        ("not_remote_ip_blocks", "notRemoteIpBlocks"),
    ):
        for problem in _ip_problems(getattr(src, field)):
            r.error(problem, key)
    for field in Source.model_fields:
        values = getattr(src, field)
        alias = Source.model_fields[field].alias or field
        if "service_accounts" in field:
            r.error(_service_account_problem(_title(alias), values), alias)
        elif "trust_domains" in field:
            r.error(_trust_domain_problem(_title(alias), values), alias)
        elif "" in values:
            r.error(f"empty value not allowed, found in {_title(alias)}", alias)
    return bool(
        src.principals
        or src.not_principals
        or src.ip_blocks
        or src.not_ip_blocks
        or src.namespaces
        or src.not_namespaces
        or src.remote_ip_blocks
        or src.not_remote_ip_blocks
        or src.service_accounts
        or src.not_service_accounts
    )


def _title(alias: str) -> str:
    """Istio names the fields in Go: ``ipBlocks`` -> ``IpBlocks``."""
    return alias[:1].upper() + alias[1:]


def _validate_operation(op: Operation, i: int, r: Report) -> bool:
    """One ``to.operation``; True when it holds ports."""
    if not any(getattr(op, f) for f in Operation.model_fields):
        r.error(f"`to.operation` must not be empty, found at rule {i}")
    for key, values in (("ports", op.ports), ("notPorts", op.not_ports)):
        for problem in _port_problems(values):
            r.error(problem, key)
    for field in Operation.model_fields:
        alias = Operation.model_fields[field].alias or field
        if "" in getattr(op, field):
            r.error(f"empty value not allowed, found in {_title(alias)}", alias)
    for key, paths in (("paths", op.paths), ("notPaths", op.not_paths)):
        r.error(_path_template_problem(_title(key), paths), key)
    return bool(op.ports or op.not_ports)


def _ip_problems(values: Sequence[str]) -> list[str]:
    """``ValidateIPs``."""
    problems = []
    for value in values:
        try:
            if "/" in value:
                ipaddress.ip_network(value, strict=False)
            else:
                ipaddress.ip_address(value)
        except ValueError:
            kind = "bad CIDR range" if "/" in value else "bad IP address"
            problems.append(f"{kind} ({value})")
    return problems


def _port_problems(values: Sequence[str]) -> list[str]:
    """``ValidatePorts``."""
    return [
        f"bad port ({v})" for v in values if not (v.isdigit() and len(v) <= 10 and int(v) <= 65535)
    ]


def _trust_domain_problem(key: str, values: Sequence[str]) -> str | None:
    """``CheckTrustDomainValues``: ``CheckWildcardValues``, and no ``/``."""
    for value in values:
        if not value:
            return f"empty value not allowed, found in {key}"
        stars = value.count("*")
        if stars > 1:
            return f"at most one wildcard is allowed, found in {key}: {json.dumps(value)}"
        if stars == 1 and value != "*" and not value.startswith("*") and not value.endswith("*"):
            return (
                f"wildcard is only allowed at the start or end, found in {key}: {json.dumps(value)}"
            )
    for value in values:
        if "/" in value:
            return f"trust domain must not contain '/', found in {key}: {json.dumps(value)}"
    return None


def _service_account_problem(key: str, values: Sequence[str]) -> str | None:
    """``CheckServiceAccount``."""
    if len(values) > 16:
        return "may not have more than 16 values"
    for value in values:
        if not value:
            return f"empty value not allowed, found in {key}"
        if "*" in value:
            return f"wildcard not allowed, found in {key}"
        if value.count("/") > 1:
            return (
                f"expected format 'serviceAccount' or 'namespace/serviceAccount', found "
                f"{value!r} in {key}"
            )
        if len(value) > 320:
            return f"value cannot exceed 320 characters, found {value!r} in {key}"
        ns, _, sa = value.rpartition("/")
        if "/" in value and not ns:
            return (
                "expected format 'serviceAccount' or 'namespace/serviceAccount', found empty "
                f"namespace {value!r} in {key}"
            )
        if not sa:
            return (
                "expected format 'serviceAccount' or 'namespace/serviceAccount', found empty "
                f"serviceAccount {value!r} in {key}"
            )
    return None


def _path_template_problem(key: str, paths: Sequence[str]) -> str | None:
    """``CheckValidPathTemplate``: ``{*}`` and a last ``{**}`` as whole segments only."""
    for original in paths:
        has_template = _MATCH_ONE in original or _MATCH_ANY in original
        found_any = False
        path = original.strip("/")
        for glob in path.split("/"):
            if glob in (_MATCH_ONE, _MATCH_ANY):
                if found_any:
                    return (
                        f"invalid or unsupported path {path}, found in {key}. "
                        "{**} is not the last operator"
                    )
                found_any = glob == _MATCH_ANY
                continue
            if "{" in glob or "}" in glob:
                return (
                    f"invalid or unsupported path {path}, found in {key}. "
                    "Contains '{' or '}' beyond a supported path template"
                )
            if has_template and not _VALID_LITERAL.match(glob):
                return (
                    f"invalid or unsupported path {path}, found in {key}. "
                    f"Contains segment {glob} with invalid string literal"
                )
    return None


def _attribute_problem(key: str, values: Sequence[str]) -> str | None:
    """``ValidateAttribute``."""
    if "" in values:
        return f"empty value not allowed, found in {key}"
    if key.startswith(_MAP_KEYS):
        opening = key.find("[")
        if key.endswith("]") and 0 < opening < len(key) - 2:
            return None
        return f"bad key ({key}): should have format a[b]"
    if key == "source.trustDomain":
        for value in values:
            stars = value.count("*")
            if stars > 1:
                return f"at most one wildcard is allowed, found in {key}: {value!r}"
            if (
                stars == 1
                and value != "*"
                and not value.startswith("*")
                and not value.endswith("*")
            ):
                return f"wildcard is only allowed at the start or end, found in {key}: {value!r}"
        return None
    if key not in _PLAIN_KEYS:
        if key == "destination.namespace":
            return f"attribute {key} is replaced by the metadata.namespace"
        if key.startswith("destination.labels"):
            return f"attribute {key} is replaced by the workload selector"
        if key in ("destination.name", "destination.user"):
            return f"deprecated attribute {key}: only supported in v1alpha1"
        return f"unknown attribute: {key}"
    check = _PLAIN_KEYS[key]
    if check == "ips":
        problems = _ip_problems(values)
        return "; ".join(problems) or None
    if check == "ports":
        return "; ".join(_port_problems(values)) or None
    if check == "serviceAccount":
        return _service_account_problem(key, values)
    return None


def validate_request_authentication(policy: RequestAuthentication, r: Report) -> None:
    """``ValidateRequestAuthentication``: the selector or targetRefs, then each JWT rule."""
    spec, s = policy.spec, r.at("spec")
    _selector_or_refs(spec.selector, spec.target_ref, spec.target_refs, s)
    for i, rule in enumerate(spec.jwt_rules):
        _validate_jwt_rule(rule, s.at("jwtRules", i))


def _validate_jwt_rule(rule: JWTRule, r: Report) -> None:
    """``validateJwtRule``."""
    for j, audience in enumerate(rule.audiences):
        if not audience:
            r.error("audience must be non-empty string", "audiences", j)
    if not rule.issuer and not rule.jwks_uri:
        r.error("issuer or jwksUri must be non-empty string", "issuer")
    if rule.jwks_uri:
        scheme = urlsplit(rule.jwks_uri).scheme
        if scheme not in ("http", "https"):
            r.error(f'URI scheme "{scheme}" is not supported', "jwksUri")
    if rule.jwks and not JWKS_PLACEHOLDER.fullmatch(rule.jwks):
        problem = _jwks_problem(rule.jwks)
        if problem:
            r.error(f"jwks parse error: {problem}", "jwks")
    for j, header in enumerate(rule.from_headers):
        if not header.name:
            r.error("location header name must be non-empty string", "fromHeaders", j, "name")
    for j, param in enumerate(rule.from_params):
        if not param:
            r.error("location query must be non-empty string", "fromParams", j)
    for j, cookie in enumerate(rule.from_cookies):
        if not cookie:
            r.error("cookie name must be non-empty string", "fromCookies", j)
    for j, pair in enumerate(rule.output_claim_to_headers):
        if not pair.claim or not pair.header:
            r.error(
                "outputClaimToHeaders header and claim value must be non-empty string",
                "outputClaimToHeaders",
                j,
            )
        elif not _TOKEN.fullmatch(pair.header):
            r.error(
                f"header name {pair.header} is not a valid header name",
                "outputClaimToHeaders",
                j,
                "header",
            )


def _jwks_problem(text: str) -> str | None:
    """Whether ``text`` parses as a JWK set or a single JWK (``jwk.Parse``)."""
    import json

    from jwt import PyJWK, PyJWKSet
    from jwt.exceptions import PyJWKError, PyJWKSetError

    try:
        data = json.loads(text)
    except ValueError as exc:
        return f"not JSON: {exc}"
    try:
        if isinstance(data, dict) and "keys" in data:
            PyJWKSet.from_dict(data)
        else:
            PyJWK.from_dict(data)
    except (PyJWKError, PyJWKSetError, ValueError, TypeError, KeyError) as exc:
        return str(exc) or type(exc).__name__
    return None
