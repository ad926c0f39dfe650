"""The VirtualService: hosts, gateways, delegation, TLS and TCP routes, unreachable rules.

``ValidateVirtualService`` in Istio's ``pkg/config/validation/validation.go``
with ``validateTLSRoute``, ``validateTCPRoute``, ``validateSniHost`` and the
``analyzeUnreachable*Rules`` warnings; HTTP routes are in ``httproute``.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field

from pydantic import BaseModel

from ..model.istio import (
    HTTPMatchRequest,
    HTTPRoute,
    L4MatchAttributes,
    RouteDestination,
    StringMatch,
    TCPRoute,
    TLSMatchAttributes,
    TLSRoute,
    VirtualService,
)
from .common import validate_export_to, validate_labels, validate_port
from .headers import is_jwt_claim
from .hosts import (
    host_matches,
    host_subset_of,
    is_valid_ip,
    validate_ip_subnet,
    validate_wildcard_domain,
    validate_wildcard_domain_for_gateway,
)
from .httproute import validate_destination, validate_gateway_names, validate_http_route
from .report import Report

__all__ = ["validate_virtual_service"]

# Set by Istio on VirtualServices it converts from Gateway API routes.
ROUTE_SEMANTICS = "internal.istio.io/route-semantics"


def validate_virtual_service(vs: VirtualService, r: Report) -> None:
    """``ValidateVirtualService``."""
    spec, s = vs.spec, r.at("spec")
    if not spec.hosts:
        # Without hosts, this is a delegate: only HTTP routes, reached from a root's delegate.
        if spec.gateways:
            s.error("delegate virtual service must have no gateways specified", "gateways")
        if spec.tls:
            s.error("delegate virtual service must have no tls route specified", "tls")
        if spec.tcp:
            s.error("delegate virtual service must have no tcp route specified", "tcp")
    semantics = vs.metadata.annotations.get(ROUTE_SEMANTICS) == "gateway"

    applies_to_gateway = False
    if spec.gateways:
        validate_gateway_names(spec.gateways, s.at("gateways"), gateway_semantics=semantics)
        applies_to_gateway = "mesh" not in spec.gateways
    applies_to_mesh = not applies_to_gateway

    if not applies_to_gateway:
        for i, route in enumerate(spec.http):
            for j, match in enumerate(route.match):
                for key, headers in (
                    ("headers", match.headers),
                    ("withoutHeaders", match.without_headers),
                ):
                    for name in headers:
                        if is_jwt_claim(name):
                            s.error(
                                f"JWT claim based routing (key: {name}) is only supported for "
                                f"gateway, found no gateways: [{' '.join(spec.gateways)}]",
                                "http",
                                i,
                                "match",
                                j,
                                key,
                                name,
                            )

    sni = any(m.sni_hosts for route in spec.tls for m in route.match)
    all_hosts_valid = True
    for i, host in enumerate(spec.hosts):
        if applies_to_gateway:
            problem = validate_wildcard_domain_for_gateway(sni, host)
        else:
            problem = validate_wildcard_domain(host)
        if problem:
            if not is_valid_ip(host):
                s.error(problem, "hosts", i)
                all_hosts_valid = False
        elif applies_to_mesh and host == "*":
            s.error(
                "wildcard host * is not allowed for virtual services bound to the mesh gateway",
                "hosts",
                i,
            )
            all_hosts_valid = False
    if all_hosts_valid:
        # Two hosts that share a name (*.foo.com and bar.foo.com) are one host twice.
        for i, first in enumerate(spec.hosts):
            for j in range(i + 1, len(spec.hosts)):
                if host_matches(first, spec.hosts[j]):
                    s.error(
                        f"duplicate hosts in virtual service: {first} & {spec.hosts[j]}", "hosts", j
                    )

    if not (spec.http or spec.tcp or spec.tls):
        s.error("http, tcp or tls must be provided in virtual service")
    for i, route in enumerate(spec.http):
        validate_http_route(
            route, delegate=not spec.hosts, gateway_semantics=semantics, r=s.at("http", i)
        )
    for i, tls_route in enumerate(spec.tls):
        _validate_tls_route(tls_route, vs, semantics, s.at("tls", i))
    for i, tcp_route in enumerate(spec.tcp):
        _validate_tcp_route(tcp_route, semantics, s.at("tcp", i))
    s.errors(validate_export_to(vs.namespace, spec.export_to), "exportTo")

    _warn_unreachable_http(spec.http, s)
    _warn_unreachable_l4(spec.tcp, "tcp", s)
    _warn_unreachable_l4(spec.tls, "tls", s)


def _validate_route_destinations(
    destinations: list[RouteDestination], semantics: bool, r: Report
) -> None:
    """``validateRouteDestinations`` (TLS and TCP routes)."""
    for i, destination in enumerate(destinations):
        if not semantics:
            validate_destination(destination.destination, r.at("route", i, "destination"))
        if destination.weight < 0:
            r.error(f"weight {destination.weight} < 0", "route", i, "weight")
    if len(destinations) > 1 and sum(d.weight for d in destinations) == 0:
        r.error("total destination weight = 0", "route")


def _validate_tls_route(route: TLSRoute, vs: VirtualService, semantics: bool, r: Report) -> None:
    """``validateTLSRoute`` and ``validateTLSMatch``."""
    if not route.match:
        r.error("TLS route must have at least one match condition", "match")
    for i, match in enumerate(route.match):
        m = r.at("match", i)
        if not match.sni_hosts:
            m.error("TLS match must have at least one SNI host", "sniHosts")
        for j, sni_host in enumerate(match.sni_hosts):
            _validate_sni_host(sni_host, vs, m.at("sniHosts", j))
        _validate_l4_match(match, m)
    if not route.route:
        r.error("TLS route is required", "route")
    _validate_route_destinations(route.route, semantics, r)


def _validate_sni_host(sni_host: str, vs: VirtualService, r: Report) -> None:
    """``validateSniHost``: a valid name within one of the VirtualService's hosts."""
    if "mesh" not in vs.spec.gateways:
        problem = validate_wildcard_domain_for_gateway(True, sni_host)
    else:
        problem = validate_wildcard_domain(sni_host)
    if problem:
        if is_valid_ip(sni_host):
            r.warn(
                f'using an IP address ("{sni_host}") goes against SNI spec and most clients do not '
                "support this"
            )
        else:
            r.error(problem)
        return
    if not any(host_subset_of(sni_host, host) for host in vs.spec.hosts):
        r.error(
            f'SNI host "{sni_host}" is not a compatible subset of any of the virtual service '
            f"hosts: [{', '.join(vs.spec.hosts)}]"
        )


def _validate_l4_match(match: TLSMatchAttributes | L4MatchAttributes, r: Report) -> None:
    """What ``validateTLSMatch`` and ``validateTCPMatch`` share."""
    for i, subnet in enumerate(match.destination_subnets):
        r.error(validate_ip_subnet(subnet), "destinationSubnets", i)
    if match.port is not None:
        r.error(validate_port(match.port), "port")
    r.errors(validate_labels(match.source_labels), "sourceLabels")
    validate_gateway_names(match.gateways, r.at("gateways"), gateway_semantics=False)


def _validate_tcp_route(route: TCPRoute, semantics: bool, r: Report) -> None:
    """``validateTCPRoute`` and ``validateTCPMatch``."""
    for i, match in enumerate(route.match):
        _validate_l4_match(match, r.at("match", i))
    if not route.route:
        r.error("TCP route is required", "route")
    _validate_route_destinations(route.route, semantics, r)


# ------------------------------------------------------------------ unreachable rules (warnings)


def _unused(r: Report, rule: str, reason: str, index: int) -> None:
    r.warn(f"virtualService rule {rule} not used ({reason})", index)


def _ineffective(r: Report, rule: str, match: str, prior: str, *keys: str | int) -> None:
    r.warn(
        f"virtualService rule {rule} match {match} is not used (duplicate/overlapping match in "
        f"rule {prior})",
        *keys,
    )


def _rule_name(route: HTTPRoute | None, index: int) -> str:
    if route is not None and route.name:
        return json.dumps(route.name)
    return f"#{index}"


def _match_name(match: HTTPMatchRequest | None, index: int) -> str:
    if match is not None and match.name:
        return json.dumps(match.name)
    return f"#{index}"


def _match_key(match: BaseModel) -> str:
    """What Istio compares matches by (``asJSON``): every set field but the name."""
    data = match.model_dump(mode="json", by_alias=True, exclude_defaults=True, exclude={"name"})
    return json.dumps(data, sort_keys=True)


def _warn_unreachable_http(routes: Sequence[HTTPRoute], r: Report) -> None:
    """``analyzeUnreachableHTTPRules``: rules after a catch-all, matches repeated or covered."""
    h = r.at("http")
    seen: dict[str, int] = {}
    catch_all = -1
    prefixed: list[_PrefixMatch] = []
    for i, route in enumerate(routes):
        name = _rule_name(route, i)
        if not route.match:
            if catch_all >= 0:
                _unused(h, name, "only the last rule can have no matches", i)
            catch_all = i
            continue
        duplicates = 0
        for j, match in enumerate(route.match):
            if catch_all >= 0:
                _unused(h, name, "route without matches defined before", i)
                continue
            key = _match_key(match)
            if key in seen:
                prior = seen[key]
                _ineffective(
                    h, name, _match_name(match, j), _rule_name(routes[prior], prior), i, "match", j
                )
                duplicates += 1
                continue
            seen[key] = i
            prefix = _PrefixMatch.of(route, i, match, j)
            if prefix is not None:
                prefixed.append(prefix)
        if duplicates == len(route.match):
            _unused(h, name, "all matches used by prior rules", i)
    for a_index, a in enumerate(prefixed):
        for b in prefixed[a_index + 1 :]:
            if b.prefix != a.prefix and a.covers(b):
                _ineffective(
                    h,
                    b.rule,
                    f"{b.match} of prefix {b.prefix}",
                    f"{a.match} of prefix {a.prefix} on {a.rule}",
                    b.rule_index,
                    "match",
                    b.match_index,
                )


def _exact_or_prefix(match: StringMatch | None) -> str:
    """``assignExactOrPrefix``."""
    if match is not None and match.exact:
        return "exact:" + match.exact
    if match is not None and match.prefix:
        return "prefix:" + match.prefix
    return ""


@dataclass
class _PrefixMatch:
    """``OverlappingMatchValidationForHTTPRoute``: a uri prefix match and what else it asks."""

    rule: str
    rule_index: int
    match: str
    match_index: int
    prefix: str
    port: int
    method: str
    authority: str
    headers: dict[str, str] = field(default_factory=dict)
    query_params: dict[str, str] = field(default_factory=dict)
    without_headers: dict[str, str] = field(default_factory=dict)

    @classmethod
    def of(cls, route: HTTPRoute, i: int, match: HTTPMatchRequest, j: int) -> _PrefixMatch | None:
        """``genMatchHTTPRoutes``: only uri prefix matches take part."""
        if match.uri is None or not match.uri.prefix:
            return None
        return cls(
            rule=_rule_name(route, i),
            rule_index=i,
            match=_match_name(match, j),
            match_index=j,
            prefix=match.uri.prefix,
            port=match.port or 0,
            # No method: Istio assumes GET.
            method=_exact_or_prefix(match.method) or "exact:GET",
            authority=_exact_or_prefix(match.authority),
            headers={k: _exact_or_prefix(v) for k, v in match.headers.items()},
            query_params={k: _exact_or_prefix(v) for k, v in match.query_params.items()},
            without_headers={k: _exact_or_prefix(v) for k, v in match.without_headers.items()},
        )

    def covers(self, other: _PrefixMatch) -> bool:
        """``coveredValidation``: whether this earlier match takes every request of ``other``."""
        if not other.prefix.startswith(self.prefix) or other.port != self.port:
            return False
        for mine, theirs in ((self.method, other.method), (self.authority, other.authority)):
            if mine != theirs and not mine.startswith(theirs):
                return False
        for mine_map, theirs_map in (
            (self.headers, other.headers),
            (self.query_params, other.query_params),
            (self.without_headers, other.without_headers),
        ):
            if len(mine_map) != len(theirs_map):
                return False
            for key, value in mine_map.items():
                if key not in theirs_map:
                    return False
                if value != theirs_map[key] and not value.startswith(theirs_map[key]):
                    return False
        return True


def _warn_unreachable_l4(routes: Sequence[TLSRoute | TCPRoute], key: str, r: Report) -> None:
    """``analyzeUnreachableTCPRules`` / ``analyzeUnreachableTLSRules``."""
    k = r.at(key)
    seen: dict[str, int] = {}
    catch_all = -1
    for i, route in enumerate(routes):
        name = f"#{i}"
        if not route.match:
            if catch_all >= 0:
                _unused(k, name, "only the last rule can have no matches", i)
            catch_all = i
            continue
        duplicates = 0
        for j, match in enumerate(route.match):
            if catch_all >= 0:
                _unused(k, name, "route without matches defined before", i)
                continue
            match_key = _match_key(match)
            if match_key in seen:
                _ineffective(k, name, f"#{j}", f"#{seen[match_key]}", i, "match", j)
                duplicates += 1
            else:
                seen[match_key] = i
        if duplicates == len(route.match):
            _unused(k, name, "all matches used by prior rules", i)
