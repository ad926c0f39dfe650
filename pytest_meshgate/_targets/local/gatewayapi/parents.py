"""Which listeners (or the mesh) a route's parentRefs reach, and whether each lets it attach.

``pilot/pkg/config/kube/gateway/conversion.go`` ``extractParentReferenceInfo``,
``referenceAllowed``, ``hostnameAllowedByIsolation`` and ``filteredReferences``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from ...._cases.model.gatewayapi import GATEWAY_GROUP, ParentReference
from ..translate.hosts import host_matches, is_subset_of
from .context import ConversionInputs
from .listeners import ParentInfo
from .status import (
    NO_MATCHING_LISTENER_HOSTNAME,
    NO_MATCHING_PARENT,
    NOT_ALLOWED_BY_LISTENERS,
    ParentError,
)

__all__ = [
    "LISTENER_SET_PREFIX",
    "MESH",
    "RouteParent",
    "filtered_references",
    "parent_ref_string",
    "route_parents",
]

MESH = "mesh"
# How a ListenerSet's listeners are keyed among the parents (Gateways are ``ns/name``).
LISTENER_SET_PREFIX = "ListenerSet/"
# The version of each route kind in Istio's gvk table (its "kind ... is not allowed" message).
_GVK_VERSION = {"TCPRoute": "v1alpha2"}


@dataclass(frozen=True)
class RouteParent:
    """``routeParentReference``: one listener (or the mesh) a parentRef reached."""

    internal_name: str  # ns/<gateway>~...~<listener>, or "mesh"
    internal_kind: str  # Gateway or Service
    hostname: str  # the listener's hostname as written ("" for none)
    denied: ParentError | None
    original: ParentReference
    section: str
    gateway_key: str  # ns/name of the Gateway (or of the Service, for the mesh)
    banned_hostnames: frozenset[str] = field(default_factory=frozenset)
    parent: ParentInfo | None = None

    @property
    def is_mesh(self) -> bool:
        return self.internal_name == MESH

    def hostname_allowed_by_isolation(self, route_host: str) -> bool:
        """Another listener on this port with a more exact hostname takes the host for itself."""
        ours = self.hostname
        if ours and not ours.startswith("*"):
            return True
        if ours and not host_matches(route_host, ours):
            return False
        for other in self.banned_hostnames:
            if len(ours) > len(other):
                continue
            if is_subset_of(route_host, other):
                return False
        return True


def parent_ref_string(ref: ParentReference, namespace: str) -> str:
    """``parentRefString``: ``group/kind/name/section/port.namespace``."""
    return (
        f"{ref.group}/{ref.kind}/{ref.name}/{ref.section_name or ''}/{ref.port or 0}."
        f"{ref.namespace or namespace}"
    )


def _reference_allowed(
    inputs: ConversionInputs,
    parent: ParentInfo,
    route_kind: str,
    ref: ParentReference,
    hostnames: Sequence[str],
    namespace: str,
) -> ParentError | None:
    """``referenceAllowed`` for a Gateway listener: port, section, hostnames, kind."""
    if ref.port is not None and ref.port != parent.port:
        return ParentError(NO_MATCHING_PARENT, f"port {ref.port} not found")
    if ref.section_name is not None and ref.section_name != parent.section_name:
        return ParentError(NO_MATCHING_PARENT, f'sectionName "{ref.section_name}" not found')
    route_hosts = list(hostnames) or ["*"]
    if parent.hostnames:
        matched = host_matched = False
        for route_host in route_hosts:
            for parent_host in parent.hostnames:
                if "/" in parent_host:
                    parent_ns, parent_name = parent_host.split("/", 1)
                else:
                    parent_ns, parent_name = "*", parent_host
                hostname_match = host_matches(parent_name, route_host)
                namespace_match = parent_ns in ("*", namespace)
                host_matched = host_matched or hostname_match
                if hostname_match and namespace_match:
                    matched = True
                    break
            if matched:
                break
        if not matched:
            if host_matched:
                return ParentError(
                    NOT_ALLOWED_BY_LISTENERS,
                    f'hostnames matched parent hostname "{parent.original_hostname}", '
                    f"but namespace "
                    f'"{namespace}" is not allowed by the parent',
                )
            return ParentError(
                NO_MATCHING_LISTENER_HOSTNAME,
                f'no hostnames matched parent hostname "{parent.original_hostname}"',
            )
    if (GATEWAY_GROUP, route_kind) not in parent.allowed_kinds:
        return ParentError(
            NOT_ALLOWED_BY_LISTENERS,
            f"kind {GATEWAY_GROUP}/{_GVK_VERSION.get(route_kind, 'v1')}/{route_kind} "
            "is not allowed",
        )
    return None


def route_parents(
    inputs: ConversionInputs,
    parents: Mapping[str, Sequence[ParentInfo]],
    route_kind: str,
    namespace: str,
    refs: Sequence[ParentReference],
    hostnames: Sequence[str],
) -> list[RouteParent]:
    """``extractParentReferenceInfo``: every listener each reference reaches, sorted.

    ``parents`` holds the listeners of Istio-managed Gateways by ``ns/name``;
    references to anything else (another class, a missing Gateway) reach
    nothing and so get no status, as in Istio.
    """
    out: list[tuple[str, RouteParent]] = []
    for ref in refs:
        target_ns = ref.namespace or namespace
        if (ref.group, ref.kind) in ((GATEWAY_GROUP, "Gateway"), (GATEWAY_GROUP, "ListenerSet")):
            prefix = LISTENER_SET_PREFIX if ref.kind == "ListenerSet" else ""
            current = list(parents.get(f"{prefix}{target_ns}/{ref.name}", ()))
            for info in current:
                banned = {
                    other.original_hostname
                    for other in current
                    if other is not info
                    and other.port == info.port
                    and other.protocol == info.protocol
                }
                banned.discard(info.original_hostname)
                denied = _reference_allowed(inputs, info, route_kind, ref, hostnames, namespace)
                parent = RouteParent(
                    internal_name=info.internal_name,
                    internal_kind=ref.kind,
                    hostname=info.original_hostname,
                    denied=denied,
                    original=ref,
                    section=info.section_name,
                    gateway_key=f"{prefix}{target_ns}/{ref.name}",
                    banned_hostnames=frozenset(banned),
                    parent=info,
                )
                out.append((parent_ref_string(ref, namespace), parent))
        elif (ref.group, ref.kind) == ("", "Service"):
            denied = None
            if inputs.service(target_ns, ref.name) is None:
                denied = ParentError(NO_MATCHING_PARENT, f'parent service: "{ref.name}" not found')
            parent = RouteParent(
                internal_name=MESH,
                internal_kind="Service",
                hostname="",
                denied=denied,
                original=ref,
                section="",
                gateway_key=f"{target_ns}/{ref.name}",
            )
            out.append((parent_ref_string(ref, namespace), parent))
        # Other parents (ServiceEntry, other kinds): not modelled here,
        # or "maybe it is for another controller, so we just ignore it".
    out.sort(key=lambda item: item[0])
    return [parent for _, parent in out]


def filtered_references(parents: Sequence[RouteParent]) -> list[RouteParent]:
    """``filteredReferences``: the accepted ones, by internal name."""
    return sorted((p for p in parents if p.denied is None), key=lambda p: p.internal_name)
