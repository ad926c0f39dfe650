"""One AuthorizationPolicy rule as an Envoy RBAC policy: ``pilot/pkg/security/authz/model``.

``from`` entries become principals (OR), ``to`` entries permissions (OR); each
is the AND of its fields and of the rule's ``when`` conditions, a field's values
an OR and its ``not`` values a NOT of their OR (``model.go`` ``New``,
``Generate``; the generators of ``generator.go``). A field that a TCP filter
chain cannot see (methods, paths, request principals, headers...) is an error
there: it drops the whole rule of an ALLOW policy and only that field of a
DENY or AUDIT one (``checkError``), as Istio does.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from ....._cases.model.istio import AuthorizationRule
from ..common import Json
from . import matchers as m

__all__ = ["RuleContext", "RuleError", "rule_policy"]

SPIFFE = "spiffe://"


class RuleError(ValueError):
    """A value the generator cannot use here (an HTTP-only key on TCP, a bad port)."""


# How a key becomes a matcher: (principal?, value -> Json), and whether the generator
# takes all values at once (Istio's "extended" generators) rather than one by one.
@dataclass(frozen=True)
class _Key:
    name: str
    values: Sequence[str]
    not_values: Sequence[str]
    principal: bool
    build: Callable[[str, str, bool], Json] | None = None  # (key, value, tcp) -> matcher
    build_all: Callable[[str, Sequence[str], bool], Json] | None = None


def _http_only(key: str, tcp: bool) -> None:
    if tcp:
        raise RuleError(f"{key!r} is HTTP only")


def _authenticated(matcher: Json) -> Json:
    return {"authenticated": {"principal_name": matcher}}


def _namespace(_k: str, value: str, _t: bool) -> Json:
    pattern = ".*".join(re.escape(part) for part in value.split("*"))
    return _authenticated(m.regex(f".*/ns/{pattern}/.*"))


def _service_account(namespace: str) -> Callable[[str, str, bool], Json]:
    def build(_k: str, value: str, _t: bool) -> Json:
        ns, _, sa = value.rpartition("/")
        ns = ns or namespace
        return _authenticated(
            m.regex(f"spiffe://.+/ns/{re.escape(ns)}/(.+/|)sa/{re.escape(sa)}(/.+)?")
        )

    return build


def _trust_domain(_k: str, value: str, _t: bool) -> Json:
    if value == "*":
        return _authenticated(m.prefix(SPIFFE))
    if "*" not in value:
        return _authenticated(m.prefix(f"{SPIFFE}{value}/"))
    head, tail = value.split("*", 1)
    return _authenticated(m.regex(f"spiffe://{re.escape(head)}[^/]*{re.escape(tail)}/.*"))


def _principal(_k: str, value: str, _t: bool) -> Json:
    return _authenticated(m.string_matcher(value, SPIFFE))


def _source_ip(_k: str, value: str, _t: bool) -> Json:
    return {"direct_remote_ip": m.cidr_range(value)}


def _remote_ip(_k: str, value: str, _t: bool) -> Json:
    return {"remote_ip": m.cidr_range(value)}


def _header(key: str, value: str, tcp: bool) -> Json:
    _http_only(key, tcp)
    name = key[len("request.headers") :]
    if not (name.startswith("[") and name.endswith("]")):
        raise RuleError(f"expecting format [<NAME>], but found {name}")
    return {"header": m.header_matcher(name[1:-1], value)}


_ANY = m.regex(".+")


def _request_principals(key: str, values: Sequence[str], tcp: bool) -> Json:
    """``requestPrincipalGenerator``: ``iss/sub`` (split at the last ``/``), with wildcards."""
    _http_only(key, tcp)
    alternatives: list[Json] = []
    for value in values:
        iss, found, sub = value.rpartition("/")
        if not found:
            iss, sub = value, ""
        if value == "*":
            match_iss, match_sub = _ANY, _ANY
        elif value.startswith("*"):
            if found:
                match_iss = _ANY if iss == "*" else m.suffix(iss[1:])
                match_sub = m.exact(sub)
            else:
                match_iss, match_sub = _ANY, m.suffix(value[1:])
        elif value.endswith("*"):
            if found:
                match_iss = m.exact(iss)
                match_sub = _ANY if sub == "*" else m.prefix(sub[:-1])
            else:
                match_iss, match_sub = m.prefix(value[:-1]), _ANY
        else:
            match_iss, match_sub = m.exact(iss), m.exact(sub)
        alternatives.append(
            {
                "and_ids": {
                    "ids": [
                        {"metadata": m.jwt_claim_string_matcher("iss", match_iss)},
                        {"metadata": m.jwt_claim_string_matcher("sub", match_sub)},
                    ]
                }
            }
        )
    return alternatives[0] if len(alternatives) == 1 else {"or_ids": {"ids": alternatives}}


def _claim_list(claim: str) -> Callable[[str, Sequence[str], bool], Json]:
    def build(key: str, values: Sequence[str], tcp: bool) -> Json:
        _http_only(key, tcp)
        return {"metadata": m.jwt_claim_list_matcher([claim], m.string_or_matcher(values))}

    return build


def _claims(key: str, values: Sequence[str], tcp: bool) -> Json:
    _http_only(key, tcp)
    names = _nested_names(key[len("request.auth.claims") :])
    return {"metadata": m.jwt_claim_list_matcher(names, m.string_or_matcher(values))}


def _nested_names(text: str) -> list[str]:
    """``extractNameInNestedBrackets``: ``[a][b]`` -> ``[a, b]``; ``[a.b]`` -> ``[a.b]``."""
    found = re.fullmatch(r"(\[[^\[\]]*\])+", text)
    if found:
        return re.findall(r"\[([^\[\]]*)\]", text)
    if text.startswith("[") and text.endswith("]"):
        return [text[1:-1]]
    raise RuleError(f"expecting format [<NAME>], but found {text}")


def _host(key: str, value: str, tcp: bool) -> Json:
    _http_only(key, tcp)
    return {"header": m.host_matcher(":authority", value)}


def _method(key: str, value: str, tcp: bool) -> Json:
    _http_only(key, tcp)
    return {"header": m.header_matcher(":method", value)}


def _path(key: str, value: str, tcp: bool) -> Json:
    _http_only(key, tcp)
    if m.contains_path_template(value):
        return {"uri_template": m.path_template(value)}
    return {"url_path": {"path": m.string_matcher(value)}}


def _port(port_of: Callable[[int], int]) -> Callable[[str, str, bool], Json]:
    def build(_k: str, value: str, _t: bool) -> Json:
        if not value.isdigit() or int(value) > 65535:
            raise RuleError(f"invalid port {value}")
        return {"destination_port": port_of(int(value))}

    return build


def _destination_ip(_k: str, value: str, _t: bool) -> Json:
    return {"destination_ip": m.cidr_range(value)}


def _sni(_k: str, value: str, _t: bool) -> Json:
    return {"requested_server_name": m.string_matcher(value)}


def _envoy_filter(key: str, value: str, _t: bool) -> Json:
    """``envoyFilterGenerator``: ``experimental.envoy.filters.a.b[c]`` reads filter metadata."""
    name, _, field = key[len("experimental.") :].removesuffix("]").partition("[")
    if not field:
        raise RuleError(f"invalid key: {key}")
    if value.startswith("[") and value.endswith("]"):
        inner = {"list_match": {"one_of": {"string_match": m.string_matcher(value[1:-1])}}}
        return {"metadata": {"filter": name, "path": [{"key": field}], "value": inner}}
    return {
        "metadata": {
            "filter": name,
            "path": [{"key": field}],
            "value": {"string_match": m.string_matcher(value)},
        }
    }


@dataclass(frozen=True)
class RuleContext:
    """What generating a rule needs besides the rule: the policy's namespace (service
    accounts without one) and the port a policy's port number is bound to."""

    namespace: str
    port_of: Callable[[int], int]


def _when_key(key: str, values: Sequence[str], nots: Sequence[str], ctx: RuleContext) -> _Key:
    plain: dict[str, tuple[bool, Callable[[str, str, bool], Json]]] = {
        "destination.ip": (False, _destination_ip),
        "destination.port": (False, _port(ctx.port_of)),
        "connection.sni": (False, _sni),
        "source.ip": (True, _source_ip),
        "remote.ip": (True, _remote_ip),
        "source.namespace": (True, _namespace),
        "source.trustDomain": (True, _trust_domain),
        "source.serviceAccount": (True, _service_account(ctx.namespace)),
        "source.principal": (True, _principal),
    }
    extended: dict[str, Callable[[str, Sequence[str], bool], Json]] = {
        "request.auth.principal": _request_principals,
        "request.auth.audiences": _claim_list("aud"),
        "request.auth.presenter": _claim_list("azp"),
    }
    if key in plain:
        principal, build = plain[key]
        return _Key(key, values, nots, principal, build=build)
    if key in extended:
        return _Key(key, values, nots, True, build_all=extended[key])
    if key.startswith("experimental.envoy.filters."):
        return _Key(key, values, nots, False, build=_envoy_filter)
    if key.startswith("request.headers"):
        return _Key(key, values, nots, True, build=_header)
    if key.startswith("request.auth.claims"):
        return _Key(key, values, nots, True, build_all=_claims)
    raise RuleError(f"unknown attribute {key}")


def _generate(keys: Sequence[_Key], tcp: bool, allow: bool, permission: bool) -> Json:
    """``generatePermission``/``generatePrincipal``: the AND of every key's matchers."""
    and_: list[Json] = []
    for key in keys:
        try:
            and_.extend(_key_matchers(key, tcp, permission))
        except RuleError:
            if allow:
                raise
            # DENY and AUDIT: the key is left out, so the policy matches more.
    if not and_:
        and_.append({"any": True})
    return {"and_rules": {"rules": and_}} if permission else {"and_ids": {"ids": and_}}


def _key_matchers(key: _Key, tcp: bool, permission: bool) -> list[Json]:
    def any_of(items: list[Json]) -> Json:
        return {"or_rules": {"rules": items}} if permission else {"or_ids": {"ids": items}}

    def negate(item: Json) -> Json:
        return {"not_rule": item} if permission else {"not_id": item}

    out: list[Json] = []
    if key.build_all is not None:
        if key.values:
            out.append(key.build_all(key.name, key.values, tcp))
        if key.not_values:
            out.append(negate(key.build_all(key.name, key.not_values, tcp)))
        return out
    assert key.build is not None
    if key.values:
        out.append(any_of([key.build(key.name, v, tcp) for v in key.values]))
    if key.not_values:
        out.append(negate(any_of([key.build(key.name, v, tcp) for v in key.not_values])))
    return out


def rule_policy(rule: AuthorizationRule, ctx: RuleContext, tcp: bool, allow: bool) -> Json:
    """The RBAC ``Policy`` of one rule (raises ``RuleError`` when it is skipped)."""
    base_permission: list[_Key] = []
    base_principal: list[_Key] = []
    for condition in rule.when:
        key = _when_key(condition.key, condition.values, condition.not_values, ctx)
        (base_principal if key.principal else base_permission).append(key)
    principals: list[list[_Key]] = []
    for entry in rule.from_ or ():
        src = entry.source
        if src is None:
            principals.append(list(base_principal))
            continue
        front = [
            _Key("source.principal", src.principals, src.not_principals, True, build=_principal),
            _Key(
                "request.auth.principal",
                src.request_principals,
                src.not_request_principals,
                True,
                build_all=_request_principals,
            ),
            _Key(
                "source.serviceAccount",
                src.service_accounts,
                src.not_service_accounts,
                True,
                build=_service_account(ctx.namespace),
            ),
            _Key(
                "source.trustDomain",
                src.trust_domains,
                src.not_trust_domains,
                True,
                build=_trust_domain,
            ),
            _Key("source.namespace", src.namespaces, src.not_namespaces, True, build=_namespace),
            _Key(
                "remote.ip", src.remote_ip_blocks, src.not_remote_ip_blocks, True, build=_remote_ip
            ),
            _Key("source.ip", src.ip_blocks, src.not_ip_blocks, True, build=_source_ip),
        ]
        principals.append([k for k in front if k.values or k.not_values] + base_principal)
    if not rule.from_:
        principals.append(base_principal)
    permissions: list[list[_Key]] = []
    for target in rule.to or ():
        op = target.operation
        if op is None:
            permissions.append(list(base_permission))
            continue
        front = [
            _Key(":authority", op.hosts, op.not_hosts, False, build=_host),
            _Key(":method", op.methods, op.not_methods, False, build=_method),
            _Key("path-matcher", op.paths, op.not_paths, False, build=_path),
            _Key("destination.port", op.ports, op.not_ports, False, build=_port(ctx.port_of)),
        ]
        permissions.append([k for k in front if k.values or k.not_values] + base_permission)
    if not rule.to:
        permissions.append(base_permission)
    return {
        "permissions": [_generate(keys, tcp, allow, True) for keys in permissions],
        "principals": [_generate(keys, tcp, allow, False) for keys in principals],
    }
