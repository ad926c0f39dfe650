"""Istio host-name rules: wildcards, intersection, ``ns/host`` scoping, short names."""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable, Sequence

__all__ = [
    "host_matches",
    "intersection",
    "is_subset_of",
    "more_specific",
    "most_specific_match",
    "names_for_namespace",
    "resolve_gateway_name",
    "resolve_shortname",
    "sanitize_server_hosts",
]


def host_matches(a: str, b: str) -> bool:
    """``host.Name.Matches``: equal, or a wildcard on either side covering the other."""
    a_wild, b_wild = a.startswith("*"), b.startswith("*")
    if a_wild and b_wild:
        return a[1:].endswith(b[1:]) if len(a) >= len(b) else b[1:].endswith(a[1:])
    if a_wild:
        return b.endswith(a[1:])
    if b_wild:
        return a.endswith(b[1:])
    return a == b


def is_subset_of(a: str, b: str) -> bool:
    """Every name ``a`` matches is matched by ``b`` (``pkg/config/host/name.go`` SubsetOf).

    ``example.com`` is not a subset of ``*.example.com``: the wildcard needs a label.
    """
    a_wild, b_wild = a.startswith("*"), b.startswith("*")
    if a_wild:
        if b_wild:
            return len(a) >= len(b) and a[1:].endswith(b[1:])
        return False
    if b_wild:
        return a.endswith(b[1:])
    return a == b


def intersection(left: Iterable[str], right: Iterable[str]) -> list[str]:
    """The more specific host of every matching pair, first-seen order, no duplicates.

    Same walk as ``host.Names.Intersection`` (``pkg/config/host/names.go``): for
    server ``*.example.com`` and VS ``a.example.com`` the result is ``a.example.com``.
    """
    right = list(right)
    result: list[str] = []
    for h in left:
        for o in right:
            if is_subset_of(h, o):
                if h not in result:
                    result.append(h)
            elif is_subset_of(o, h) and o not in result:
                result.append(o)
    return result


def names_for_namespace(hosts: Iterable[str], namespace: str) -> list[str]:
    """Server hosts a VirtualService in ``namespace`` may bind (``host.NamesForNamespace``).

    ``ns/host`` only admits VSs from ``ns``; ``*/host`` and bare hosts admit all.
    """
    result: list[str] = []
    for h in hosts:
        if "/" in h:
            ns, name = h.split("/", 1)
            if ns not in (namespace, "*"):
                continue
            h = name
        result.append(h)
    return result


def sanitize_server_hosts(hosts: Sequence[str], gateway_namespace: str) -> list[str]:
    """``./h`` -> ``<gwNs>/h``, ``*/h`` -> ``h``, ``*/*`` -> ``*``.

    ``model/gateway.go`` ``sanitizeServerHostNamespace()``; other ``ns/h`` stay.
    """
    out: list[str] = []
    for h in hosts:
        if "/" in h:
            ns, name = h.split("/", 1)
            if ns == ".":
                h = f"{gateway_namespace}/{name}"
            elif ns == "*":
                h = name
        out.append(h)
    return out


def resolve_shortname(hostname: str, namespace: str, domain_suffix: str) -> str:
    """``reviews`` -> ``reviews.<ns>.svc.<domain>``; names with a dot, ``*`` and IPs stay.

    ``model/config.go`` ``ResolveShortnameToFQDN()``.
    """
    if not hostname or hostname == "*":
        return hostname
    try:
        ipaddress.ip_address(hostname)
    except ValueError:
        pass
    else:
        return hostname
    if "." not in hostname:
        return f"{hostname}.{namespace}.svc.{domain_suffix}"
    return hostname


def resolve_gateway_name(name: str, namespace: str) -> str:
    """A VS ``gateways`` entry -> ``ns/name`` (``model/config.go`` ``resolveGatewayName()``).

    Short names resolve in the VS namespace; ``./name`` likewise; the legacy FQDN
    ``name.ns.svc.cluster.local`` becomes ``ns/name``. ``mesh`` stays as is.
    """
    if name == "mesh":
        return name
    if "/" not in name:
        if "." not in name:
            return f"{namespace}/{name}"
        first, rest = name.split(".", 1)
        return f"{rest.split('.', 1)[0]}/{first}"
    ns, rest = name.split("/", 1)
    if ns == ".":
        return f"{namespace}/{rest}"
    return name


def more_specific(a: str, b: str) -> bool:
    """``host.MoreSpecific``: non-wildcards first, then longer, then lexical."""
    a_wild, b_wild = a.startswith("*"), b.startswith("*")
    if a_wild != b_wild:
        return not a_wild
    if len(a) == len(b):
        return a < b
    return len(a) > len(b)


def most_specific_match(needle: str, candidates: Iterable[str]) -> str | None:
    """The candidate host that matches ``needle`` best (``model.MostSpecificHostMatch``)."""
    candidates = list(candidates)
    if needle in candidates:
        return needle
    best: str | None = None
    for c in candidates:
        if not c.startswith("*"):
            continue
        if needle.startswith("*"):
            matches = len(needle) >= len(c) and needle[1:].endswith(c[1:])
        else:
            matches = needle.endswith(c[1:])
        if matches and (best is None or more_specific(c, best)):
            best = c
    return best
