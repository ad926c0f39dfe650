"""What a target reports of the resources' status: their conditions, as a controller wrote them."""

from __future__ import annotations

from dataclasses import dataclass, field

__all__ = ["Condition", "ObjectStatus"]


@dataclass(frozen=True)
class Condition:
    """One ``metav1.Condition``: type, status, reason, message."""

    type: str
    status: str  # "True" | "False"
    reason: str
    message: str


@dataclass
class ObjectStatus:
    """The conditions of one object, or of one part of it.

    ``resource`` is ``Kind/namespace/name`` (``Kind/name`` when cluster-scoped);
    ``parent`` the parentRef a route condition is about (``namespace/name``,
    plus ``/sectionName`` or ``:port`` when the reference names them);
    ``listener`` the Gateway listener a listener condition is about;
    ``details`` other status facts (``attachedRoutes``, ``supportedKinds``).
    """

    resource: str
    conditions: list[Condition]
    parent: str | None = None
    listener: str | None = None
    details: dict[str, object] = field(default_factory=dict)

    def describe(self) -> str:
        where = self.resource
        if self.parent is not None:
            where += f" parent {self.parent}"
        if self.listener is not None:
            where += f" listener {self.listener}"
        parts = [f"{c.type}={c.status} {c.reason} ({c.message})" for c in self.conditions]
        if "attachedRoutes" in self.details:
            parts.append(f"attachedRoutes={self.details['attachedRoutes']}")
        if "attachedListenerSets" in self.details:
            parts.append(f"attachedListenerSets={self.details['attachedListenerSets']}")
        kinds = self.details.get("supportedKinds")
        if isinstance(kinds, list):
            parts.append(f"supportedKinds={','.join(str(k).rsplit('/', 1)[-1] for k in kinds)}")
        return f"{where}: {'; '.join(parts) or 'no conditions'}"
