"""The types every Gateway API resource shares: names, hostnames, parent and backend references.

As ``apis/v1/shared_types.go`` and ``apis/v1/object_reference_types.go``
(kubernetes-sigs/gateway-api v1.6) define them, with the patterns, bounds
and CEL rules of the CRDs in ``config/crd/standard/``.
"""

from __future__ import annotations

import re
from typing import Annotated

from pydantic import AfterValidator, Field, model_validator

from ..base import StrictModel
from ..kubernetes import DNS_LABEL, DNS_SUBDOMAIN

__all__ = [
    "GATEWAY_GROUP",
    "BackendObjectReference",
    "CommonRouteSpec",
    "GatewayDuration",
    "Group",
    "HTTPHeader",
    "HTTPHeaderFilter",
    "HeaderName",
    "Hostname",
    "Kind",
    "LocalObjectReference",
    "NamespaceName",
    "ObjectName",
    "ParentReference",
    "PortNumber",
    "PreciseHostname",
    "RouteBackendRef",
    "SecretObjectReference",
    "SectionName",
    "duration_seconds",
    "unique",
]

GATEWAY_GROUP = "gateway.networking.k8s.io"

_HOSTNAME = re.compile(r"^(\*\.)?[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")
_PRECISE_HOSTNAME = re.compile(DNS_SUBDOMAIN)


def _hostname(value: str, *, wildcard: bool = True) -> str:
    pattern = _HOSTNAME if wildcard else _PRECISE_HOSTNAME
    if 1 <= len(value) <= 253 and pattern.match(value):
        return value
    hint = ""
    if ":" in value:
        hint = " (a hostname has no port)"
    elif "*" in value:
        hint = (
            " (a wildcard is allowed only as the whole first label, '*.')"
            if wildcard
            else " (no wildcard allowed here)"
        )
    elif value != value.lower():
        hint = " (hostnames are lowercase)"
    raise ValueError(f"invalid hostname {value!r}: should match '{pattern.pattern}'{hint}")


Hostname = Annotated[str, AfterValidator(_hostname)]
"""``Hostname``: a DNS name, optionally with a ``*.`` wildcard first label; no port, no IP port."""
PreciseHostname = Annotated[str, AfterValidator(lambda v: _hostname(v, wildcard=False))]
"""``PreciseHostname``: a DNS name without wildcard (redirect and rewrite hostnames)."""

ObjectName = Annotated[str, Field(min_length=1, max_length=253)]
SectionName = Annotated[str, Field(min_length=1, max_length=253, pattern=DNS_SUBDOMAIN)]
NamespaceName = Annotated[str, Field(min_length=1, max_length=63, pattern=DNS_LABEL)]
Group = Annotated[str, Field(max_length=253, pattern=r"^$|" + DNS_SUBDOMAIN)]
Kind = Annotated[
    str, Field(min_length=1, max_length=63, pattern=r"^[a-zA-Z]([-a-zA-Z0-9]*[a-zA-Z0-9])?$")
]
PortNumber = Annotated[int, Field(ge=1, le=65535)]
HeaderName = Annotated[
    str, Field(min_length=1, max_length=256, pattern=r"^[A-Za-z0-9!#$%&'*+\-.^_`|~]+$")
]

_GATEWAY_DURATION = re.compile(r"^([0-9]{1,5}(h|m|s|ms)){1,4}$")
_DURATION_PART = re.compile(r"([0-9]{1,5})(h|ms|m|s)")
_UNIT_SECONDS = {"h": 3600.0, "m": 60.0, "s": 1.0, "ms": 0.001}


def _gateway_duration(value: str) -> str:
    # shared_types.go Duration: GEP-2257, a subset of Go's time.ParseDuration.
    if not _GATEWAY_DURATION.match(value):
        raise ValueError(
            f"invalid duration {value!r}: should match '{_GATEWAY_DURATION.pattern}' "
            "(GEP-2257: up to four parts of 1-5 digits and h, m, s or ms, e.g. 1h30m, 500ms)"
        )
    return value


GatewayDuration = Annotated[str, AfterValidator(_gateway_duration)]


def duration_seconds(value: str) -> float:
    """A GEP-2257 duration (``1m30s``, ``500ms``) in seconds."""
    return sum(int(n) * _UNIT_SECONDS[unit] for n, unit in _DURATION_PART.findall(value))


def unique(values: list[str], what: str) -> None:
    """Kubernetes list-type set/map semantics: the API server rejects duplicates."""
    seen: set[str] = set()
    for value in values:
        if value in seen:
            raise ValueError(f"duplicate {what} {value!r}")
        seen.add(value)


class ParentReference(StrictModel):
    """A route's parent: a Gateway (default) or, for the mesh, a Service."""

    group: Group = GATEWAY_GROUP
    kind: Kind = "Gateway"
    namespace: NamespaceName | None = None
    name: ObjectName
    section_name: SectionName | None = None
    port: PortNumber | None = None


class BackendObjectReference(StrictModel):
    """A backend: a Service (default) or another kind an implementation supports."""

    group: Group = ""
    kind: Kind = "Service"
    name: ObjectName
    namespace: NamespaceName | None = None
    port: PortNumber | None = None

    @model_validator(mode="after")
    def _port_for_services(self) -> BackendObjectReference:
        if self.group == "" and self.kind == "Service" and self.port is None:
            raise ValueError("Must have port for Service reference")
        return self


class RouteBackendRef(BackendObjectReference):
    """A weighted backend of a TCPRoute or TLSRoute rule."""

    weight: int = Field(default=1, ge=0, le=1000000)


class SecretObjectReference(StrictModel):
    group: Group = ""
    kind: Kind = "Secret"
    name: ObjectName
    namespace: NamespaceName | None = None


class LocalObjectReference(StrictModel):
    group: Group
    kind: Kind
    name: ObjectName


class HTTPHeader(StrictModel):
    name: HeaderName
    value: str = Field(min_length=1, max_length=4096)


class HTTPHeaderFilter(StrictModel):
    """RequestHeaderModifier and ResponseHeaderModifier: set, add, remove."""

    set: list[HTTPHeader] = Field(default_factory=list, max_length=16)
    add: list[HTTPHeader] = Field(default_factory=list, max_length=16)
    remove: list[str] = Field(default_factory=list, max_length=16)

    @model_validator(mode="after")
    def _unique_names(self) -> HTTPHeaderFilter:
        unique([h.name for h in self.set], "set header")
        unique([h.name for h in self.add], "add header")
        unique(self.remove, "removed header")
        return self


def _same_parent(a: ParentReference, b: ParentReference) -> bool:
    return (a.group, a.kind, a.name, a.namespace or "") == (
        b.group,
        b.kind,
        b.name,
        b.namespace or "",
    )


class CommonRouteSpec(StrictModel):
    """``CommonRouteSpec``: the parents a route attaches to."""

    parent_refs: list[ParentReference] = Field(default_factory=list, max_length=32)

    @model_validator(mode="after")
    def _distinct_parents(self) -> CommonRouteSpec:
        # The CEL rules on spec.parentRefs of the experimental channel CRDs, which also
        # tell references to one parent apart by port (the standard ones by sectionName only).
        refs = self.parent_refs
        for a in refs:
            for b in refs:
                if (
                    a is not b
                    and _same_parent(a, b)
                    and (
                        (a.section_name is None) != (b.section_name is None)
                        or (a.port is None) != (b.port is None)
                    )
                ):
                    raise ValueError(
                        "parentRefs: sectionName or port must be specified when parentRefs "
                        "includes 2 or more references to the same parent"
                    )
            twins = [
                b
                for b in refs
                if _same_parent(a, b) and (b.section_name, b.port) == (a.section_name, a.port)
            ]
            if len(twins) != 1:
                raise ValueError(
                    "parentRefs: sectionName or port must be unique when parentRefs includes 2 "
                    "or more references to the same parent"
                )
        return self
