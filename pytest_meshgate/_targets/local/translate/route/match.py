"""Istio ``HTTPMatchRequest`` -> Envoy route match, and the matches decided at build time.

``translate_match`` follows route.go ``TranslateRouteMatch()`` (uri, headers,
withoutHeaders, method, authority, scheme, queryParams, ignoreUriCase);
``source_matches`` the predicates Envoy never sees because the route is
only built for proxies they select (route.go ``sourceMatchHTTP()``).
"""

from __future__ import annotations

from ....._cases.model.istio import HTTPMatchRequest, StringMatch
from ...world import GatewayProxy
from ..common import Json
from ..hosts import resolve_gateway_name

__all__ = ["source_matches", "string_matcher", "translate_match"]


def string_matcher(m: StringMatch) -> Json:
    """util.ConvertToEnvoyMatch(): an Istio StringMatch as an Envoy StringMatcher."""
    if m.exact is not None:
        return {"exact": m.exact}
    if m.prefix is not None:
        return {"prefix": m.prefix}
    return {"safe_regex": {"regex": m.regex}}


def _is_present_match(m: StringMatch) -> bool:
    # route.go canBeConvertedToPresentMatch(): an empty match, or `regex: "*"`
    # (not an RE2 regex, istio#20629), means "present".
    return m.is_empty or m.regex == "*"


def _header_matcher(name: str, m: StringMatch) -> Json:
    if _is_present_match(m):
        return {"name": name, "present_match": True}
    return {"name": name, "string_match": string_matcher(m)}


def translate_match(match: HTTPMatchRequest | None, gateway_semantics: bool = False) -> Json:
    """route.go TranslateRouteMatch(); no match is prefix ``/``.

    With the Gateway API's semantics a prefix other than ``/`` matches whole
    path segments (``/foo`` matches ``/foo`` and ``/foo/bar``, not ``/foobar``).
    """
    out: Json = {"prefix": "/"}
    if match is None:
        return out
    headers: list[Json] = [_header_matcher(n, m) for n, m in match.headers.items()]
    for name, m in match.without_headers.items():
        matcher = _header_matcher(name, m)
        matcher["invert_match"] = True
        if not _is_present_match(m):  # conflicts with present_match
            matcher["treat_missing_header_as_empty"] = True
        headers.append(matcher)
    headers.sort(key=lambda h: str(h["name"]))
    uri = match.uri
    if uri is not None and not uri.is_empty:  # an empty uri match keeps prefix "/"
        out.pop("prefix")
        if uri.exact is not None:
            out["path"] = uri.exact
        elif uri.prefix is not None and gateway_semantics and uri.prefix != "/":
            out["path_separated_prefix"] = uri.prefix.removesuffix("/")
        elif uri.prefix is not None:
            out["prefix"] = uri.prefix  # plain string prefix: /foo matches /foobar
        else:
            out["safe_regex"] = {"regex": uri.regex}
    out["case_sensitive"] = not match.ignore_uri_case
    # Pseudo-header matchers go after the sorted headers, as Istio appends them.
    pseudo = ((":method", match.method), (":authority", match.authority), (":scheme", match.scheme))
    for name, pm in pseudo:
        if pm is not None:
            headers.append(_header_matcher(name, pm))
    if headers:
        out["headers"] = headers
    if match.query_params:
        query: list[Json] = []
        for name in sorted(match.query_params):  # Go iterates a map; sorted for determinism
            m = match.query_params[name]
            if _is_present_match(m):
                query.append({"name": name, "present_match": True})
            else:
                query.append({"name": name, "string_match": string_matcher(m)})
        out["query_parameters"] = query
    return out


def source_matches(match: HTTPMatchRequest | None, ns: str, gw: str, proxy: GatewayProxy) -> bool:
    """route.go sourceMatchHTTP(): match.gateways, else sourceLabels/sourceNamespace."""
    if match is None:
        return True
    if match.gateways:
        return gw in {resolve_gateway_name(g, ns) for g in match.gateways}
    if all(proxy.labels.get(k) == v for k, v in match.source_labels.items()):
        return not match.source_namespace or match.source_namespace == proxy.namespace
    return False
