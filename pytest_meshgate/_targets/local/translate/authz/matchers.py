"""Envoy matchers as Istio writes them for authorization: ``pilot/pkg/security/authz/matcher``.

Strings with a leading or trailing ``*`` become suffix or prefix matches, ``*``
alone a presence (or ``.+``) match; hosts compare case-insensitively; paths with
``{*}``/``{**}`` become Envoy's URI template matcher.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Sequence

from ..common import Json

__all__ = [
    "JWT_FILTER",
    "JWT_PAYLOAD",
    "cidr_range",
    "header_matcher",
    "host_matcher",
    "jwt_claim_list_matcher",
    "jwt_claim_string_matcher",
    "path_template",
    "string_matcher",
    "string_or_matcher",
]

# filters.EnvoyJwtFilterName / EnvoyJwtFilterPayload: where jwt_authn puts the payload.
JWT_FILTER = "envoy.filters.http.jwt_authn"
JWT_PAYLOAD = "payload"
_MATCH_ONE, _MATCH_ANY = "{*}", "{**}"


def regex(pattern: str) -> Json:
    return {"safe_regex": {"regex": pattern}}


def exact(value: str, ignore_case: bool = False) -> Json:
    return _case({"exact": value}, ignore_case)


def prefix(value: str, ignore_case: bool = False) -> Json:
    return _case({"prefix": value}, ignore_case)


def suffix(value: str, ignore_case: bool = False) -> Json:
    return _case({"suffix": value}, ignore_case)


def _case(m: Json, ignore_case: bool) -> Json:
    if ignore_case:
        m["ignore_case"] = True
    return m


def string_matcher(value: str, with_prefix: str = "") -> Json:
    """``StringMatcherWithPrefix``."""
    if value == "*":
        return regex(".+")
    if value.startswith("*"):
        if not with_prefix:
            return suffix(value[1:])
        return regex(with_prefix + ".*" + re.escape(value[1:]))
    if value.endswith("*"):
        return prefix(with_prefix + value[:-1])
    return exact(with_prefix + value)


def string_or_matcher(values: Sequence[str]) -> Json:
    """``StringOrMatcher``: a ValueMatcher of the values, an or-match if more than one."""
    matchers: list[Json] = [{"string_match": string_matcher(v)} for v in values]
    if len(matchers) == 1:
        return matchers[0]
    return {"or_match": {"value_matchers": matchers}}


def _header(name: str, value: str, ignore_case: bool) -> Json:
    if value == "*":
        return {"name": name, "present_match": True}
    if value.startswith("*"):
        return {"name": name, "string_match": suffix(value[1:], ignore_case)}
    if value.endswith("*"):
        return {"name": name, "string_match": prefix(value[:-1], ignore_case)}
    return {"name": name, "string_match": exact(value, ignore_case)}


def header_matcher(name: str, value: str) -> Json:
    """``HeaderMatcher``."""
    return _header(name, value, False)


def host_matcher(name: str, value: str) -> Json:
    """``HostMatcher``: as a header, but case-insensitive."""
    return _header(name, value, True)


def path_template(path: str) -> Json:
    """``PathTemplateMatcher``: ``{*}`` -> ``*``, ``{**}`` -> ``**``."""
    template = path.replace(_MATCH_ANY, "**").replace(_MATCH_ONE, "*")
    return {
        "name": "uri-template",
        "typed_config": {
            "@type": "type.googleapis.com/envoy.extensions.path.match.uri_template.v3"
            ".UriTemplateMatchConfig",
            "path_template": template,
        },
    }


def contains_path_template(path: str) -> bool:
    return _MATCH_ONE in path or _MATCH_ANY in path


def cidr_range(value: str) -> Json:
    """``util.AddrStrToCidrRange``: an address is a /32 (/128) range."""
    if "/" in value:
        net = ipaddress.ip_network(value, strict=False)
        address, length = value.split("/", 1)[0], net.prefixlen
    else:
        addr = ipaddress.ip_address(value)
        address, length = str(addr), addr.max_prefixlen
    return {"address_prefix": address, "prefix_len": length}


def jwt_claim_string_matcher(claim: str, matcher: Json) -> Json:
    """``MetadataStringMatcherForJWTClaim``: payload[claim] is a string matching ``matcher``."""
    return {
        "filter": JWT_FILTER,
        "path": [{"key": JWT_PAYLOAD}, {"key": claim}],
        "value": {"string_match": matcher},
    }


def jwt_claim_list_matcher(claims: Sequence[str], value: Json) -> Json:
    """``MetadataListValueMatcherForJWTClaims`` (extended): the claim is a list holding a
    matching value, or itself a matching value."""
    return {
        "filter": JWT_FILTER,
        "path": [{"key": JWT_PAYLOAD}, *({"key": c} for c in claims)],
        "value": {"or_match": {"value_matchers": [{"list_match": {"one_of": value}}, value]}},
    }
