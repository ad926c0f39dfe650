"""Status conditions a check expects of the case's resources (Gateway API status).

A Gateway API implementation writes conditions into the status of what it
reconciles: a GatewayClass, each Gateway and its listeners, each route per
parentRef (``apis/v1/shared_types.go``, ``gateway_types.go``). A check can
expect them beside, or instead of the meaning of, its request.
"""

from __future__ import annotations

import re
from typing import Literal

from pydantic import Field, field_validator, model_validator

from .base import StrictModel

__all__ = ["ConditionExpectation"]

_RESOURCE = re.compile(
    r"^(GatewayClass/[^/]+|(Gateway|ListenerSet|HTTPRoute|GRPCRoute|TLSRoute|TCPRoute"
    r"|BackendTLSPolicy)/[^/]+/[^/]+)$"
)


class ConditionExpectation(StrictModel):
    """One condition of one resource (of one parentRef or listener), or its absence."""

    resource: str = Field(
        description="Kind/namespace/name (GatewayClass/name): Gateway, ListenerSet, HTTPRoute, "
        "GRPCRoute, TLSRoute, TCPRoute, BackendTLSPolicy or GatewayClass."
    )
    parent: str | None = Field(
        default=None,
        description="Routes: the parentRef, namespace/name, with /sectionName and :port as the "
        "reference gives them. BackendTLSPolicies: the ancestor, a Gateway's namespace/name "
        "or Service/<name>[/<sectionName>] for a targetRef.",
    )
    listener: str | None = Field(
        default=None, description="Gateways and ListenerSets: a listener's name."
    )
    type: str | None = Field(default=None, description="Accepted, ResolvedRefs, Programmed, ...")
    status: Literal["True", "False"] | None = None
    reason: str | None = Field(default=None, description="Any reason when not given.")
    message_contains: str | None = None
    attached_routes: int | None = Field(
        default=None, ge=0, description="Listeners: how many routes attached (attachedRoutes)."
    )
    attached_listener_sets: int | None = Field(
        default=None,
        ge=0,
        description="Gateways: how many ListenerSets are attached (attachedListenerSets).",
    )
    supported_kinds: list[str] | None = Field(
        default=None,
        description="Listeners: route kinds among those it supports (supportedKinds), as Kind "
        "(of gateway.networking.k8s.io) or group/Kind.",
    )
    absent: bool = Field(
        default=False,
        description="No status at all for this resource (parent): the implementation ignored it.",
    )

    @field_validator("resource")
    @classmethod
    def _resource_form(cls, value: str) -> str:
        if not _RESOURCE.match(value):
            raise ValueError(
                "not Kind/namespace/name (or GatewayClass/name) of a Gateway API resource: "
                f"{value!r}"
            )
        return value

    @model_validator(mode="after")
    def _what_to_judge(self) -> ConditionExpectation:
        kind = self.resource.split("/", 1)[0]
        if self.parent is not None and kind in ("Gateway", "GatewayClass", "ListenerSet"):
            raise ValueError("parent is for routes; a Gateway's listener conditions take listener")
        if self.listener is not None and kind not in ("Gateway", "ListenerSet"):
            raise ValueError("listener is for Gateways and ListenerSets")
        if self.attached_listener_sets is not None and (kind != "Gateway" or self.listener):
            raise ValueError("attachedListenerSets is a Gateway's count (without listener)")
        if self.attached_routes is not None and self.listener is None:
            raise ValueError("attachedRoutes is a listener's count; give listener")
        if self.supported_kinds is not None and self.listener is None:
            raise ValueError("supportedKinds are a listener's; give listener")
        if self.absent:
            if any(
                v is not None for v in (self.type, self.status, self.reason, self.message_contains)
            ):
                raise ValueError("absent expects no status at all; drop type, status and reason")
            return self
        if (
            self.type is None
            and self.attached_routes is None
            and self.supported_kinds is None
            and self.attached_listener_sets is None
        ):
            raise ValueError(
                "give type (with status, reason), attachedRoutes, attachedListenerSets, "
                "supportedKinds, or absent: true"
            )
        if self.type is None and (self.status or self.reason or self.message_contains):
            raise ValueError("status, reason and messageContains need type")
        return self

    def kinds(self) -> set[str]:
        """``supportedKinds`` as ``group/Kind``."""
        return {
            k if "/" in k else f"gateway.networking.k8s.io/{k}" for k in self.supported_kinds or ()
        }

    def describe(self) -> str:
        where = self.resource
        if self.parent is not None:
            where += f" parent {self.parent}"
        if self.listener is not None:
            where += f" listener {self.listener}"
        if self.absent:
            return f"{where}: no status"
        parts = []
        if self.type is not None:
            parts.append(f"{self.type}={self.status or '*'}")
            if self.reason:
                parts.append(self.reason)
            if self.message_contains:
                parts.append(f"message containing {self.message_contains!r}")
        if self.attached_routes is not None:
            parts.append(f"attachedRoutes={self.attached_routes}")
        if self.attached_listener_sets is not None:
            parts.append(f"attachedListenerSets={self.attached_listener_sets}")
        if self.supported_kinds is not None:
            parts.append(f"supportedKinds={','.join(self.supported_kinds)}")
        return f"{where}: {' '.join(parts)}"
