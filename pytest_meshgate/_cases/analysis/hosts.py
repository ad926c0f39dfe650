"""Host names as the analyzers compare them: FQDNs, export scopes and the service registry.

As Istio's ``pkg/config/analysis/analyzers/util`` (``hosts.go``,
``service_lookup.go``, ``exportto.go``) and ``pkg/config/host/name.go``: a
registry entry is keyed by ``scope/fqdn`` where the scope is ``*`` (exported
to every namespace) or a namespace.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field

from .cluster import Cluster

__all__ = [
    "EXPORT_ALL",
    "EXPORT_LOCAL",
    "RegistryEntry",
    "convert_host_to_fqdn",
    "destination_host",
    "host_matches",
    "is_export_to_all",
    "registry",
    "resource_name_from_host",
    "scoped_fqdn",
    "split_scoped",
]

EXPORT_ALL = "*"
EXPORT_LOCAL = "."
_DOMAIN = "svc.cluster.local"
_FQDN = re.compile(r"^(.+)\.(.+)\.svc\.cluster\.local$")


@dataclass(frozen=True)
class RegistryEntry:
    """A ServiceEntry, or a Kubernetes Service seen as one (``InitServiceEntryHostMap``)."""

    ports: tuple[int, ...]
    workload_labels: dict[str, str] = field(default_factory=dict)


def convert_host_to_fqdn(namespace: str, host: str) -> str:
    """A short name (no dot, not a wildcard) as ``name.namespace.svc.cluster.local``."""
    if not host.startswith("*") and "." not in host:
        return f"{host}.{namespace}.{_DOMAIN}"
    return host


def scoped_fqdn(scope: str, namespace: str, host: str) -> str:
    return f"{scope}/{convert_host_to_fqdn(namespace, host)}"


def split_scoped(scoped: str) -> tuple[str, str]:
    scope, _, fqdn = scoped.partition("/")
    return scope, fqdn


def resource_name_from_host(default_namespace: str, host: str) -> tuple[str, str]:
    """``(namespace, name)`` of the Service a host names: from an FQDN, else the default one."""
    match = _FQDN.match(host)
    if match:
        return match.group(2), match.group(1)
    return default_namespace, host


def host_matches(one: str, other: str) -> bool:
    """``host.Name.Matches``: equal, or one wildcard covers the other (either way)."""
    if one.startswith("*"):
        if other.startswith("*"):
            if len(one) < len(other):
                return other[1:].endswith(one[1:])
            return one[1:].endswith(other[1:])
        return other.endswith(one[1:])
    if other.startswith("*"):
        return one.endswith(other[1:])
    return one == other


def is_export_to_all(export_to: Sequence[str]) -> bool:
    return not export_to or EXPORT_ALL in export_to


def registry(cluster: Cluster) -> dict[str, RegistryEntry]:
    """Every ServiceEntry host and Service by ``scope/fqdn``, as ``InitServiceEntryHostMap``."""
    entries: dict[str, RegistryEntry] = {}
    for instance in cluster.instances("ServiceEntry"):
        spec = instance.spec
        selector = spec.workload_selector.labels if spec.workload_selector else {}
        entry = RegistryEntry(tuple(p.number for p in spec.ports), dict(selector))
        for host in spec.hosts:
            if not spec.export_to:
                entries[scoped_fqdn(EXPORT_ALL, instance.namespace, host)] = entry
                continue
            for scope in spec.export_to:
                if scope == EXPORT_ALL:
                    entries[scoped_fqdn(EXPORT_ALL, instance.namespace, host)] = entry
                    break
                namespace = instance.namespace if scope == EXPORT_LOCAL else scope
                entries[scoped_fqdn(namespace, instance.namespace, host)] = entry
    for service in cluster.services:
        # No networking.istio.io/exportTo annotation in a case: exported to all.
        entry = RegistryEntry(tuple(p.port for p in service.ports))
        entries[scoped_fqdn(EXPORT_ALL, service.namespace, service.name)] = entry
    return entries


def destination_host(
    source_namespace: str,
    export_to: Sequence[str],
    host: str,
    entries: dict[str, RegistryEntry],
) -> RegistryEntry | None:
    """The registry entry a destination host of a resource in ``source_namespace`` reaches.

    ``GetDestinationHost``: exported to all, then to the scopes the resource's
    own ``exportTo`` names (its namespace when empty), then wildcard hosts
    visible in the source namespace.
    """
    found = entries.get(scoped_fqdn(EXPORT_ALL, source_namespace, host))
    if found is not None:
        return found
    scopes = [source_namespace] if not export_to else list(export_to)
    for scope in scopes:
        namespace = source_namespace if scope == EXPORT_LOCAL else scope
        found = entries.get(scoped_fqdn(namespace, source_namespace, host))
        if found is not None:
            return found
    bare = host.removeprefix("*")
    for scoped, entry in entries.items():
        scope, entry_host = split_scoped(scoped)
        if not entry_host.startswith("*"):
            continue
        if scope not in (EXPORT_ALL, source_namespace):
            continue
        if bare.endswith(entry_host.removeprefix("*")):
            return entry
    return None
