"""Judging expected status conditions against the status a target reports."""

from __future__ import annotations

from collections.abc import Sequence

from .._cases.model.conditions import ConditionExpectation
from .._exchange.status import ObjectStatus

__all__ = ["judge_conditions", "matching_status"]


# Kinds whose status is per parent: routes (parentRefs) and policies (ancestors).
_PER_PARENT_KINDS = ("HTTPRoute/", "GRPCRoute/", "TLSRoute/", "TCPRoute/", "BackendTLSPolicy/")


def matching_status(want: ConditionExpectation, status: ObjectStatus) -> bool:
    """Whether ``status`` is the object (parent, listener) ``want`` is about.

    A route's ``parent`` given as ``namespace/name`` matches every parentRef to
    that parent; with ``/section`` or ``:port`` only the reference naming them.
    A route expectation without ``parent`` is about every parent the route has.
    """
    if status.resource != want.resource:
        return False
    if want.listener is not None:
        return status.listener == want.listener
    if status.listener is not None:
        return False
    if want.parent is None:
        return status.parent is None or want.resource.startswith(_PER_PARENT_KINDS)
    if status.parent is None:
        return False
    if status.parent == want.parent:
        return True
    bare = want.parent.count("/") == 1 and ":" not in want.parent
    return bare and status.parent.split(":", 1)[0].split("/")[:2] == want.parent.split("/")


def _verdict(want: ConditionExpectation, status: ObjectStatus) -> str | None:
    """Why ``status`` does not bear ``want`` out; None when it does."""
    if want.attached_routes is not None:
        attached = status.details.get("attachedRoutes")
        if attached != want.attached_routes:
            return f"attachedRoutes is {attached}, not {want.attached_routes}"
    if want.attached_listener_sets is not None:
        attached_sets = status.details.get("attachedListenerSets", 0)
        if attached_sets != want.attached_listener_sets:
            return f"attachedListenerSets is {attached_sets}, not {want.attached_listener_sets}"
    if want.supported_kinds is not None:
        kinds = status.details.get("supportedKinds")
        # Among them, as the Go suite checks them (conformance/utils/kubernetes/helpers.go).
        got = {str(k) for k in kinds} if isinstance(kinds, list) else set()
        if not want.kinds() <= got:
            return f"supportedKinds are {', '.join(sorted(got)) or 'none'}"
    if want.type is None:
        return None
    condition = next((c for c in status.conditions if c.type == want.type), None)
    if condition is None:
        return f"no {want.type} condition ({status.describe()})"
    wrong = []
    if want.status is not None and condition.status != want.status:
        wrong.append(f"status {condition.status}")
    if want.reason is not None and condition.reason != want.reason:
        wrong.append(f"reason {condition.reason}")
    if want.message_contains is not None and want.message_contains not in condition.message:
        wrong.append(f"message {condition.message!r}")
    if not wrong:
        return None
    seen = f"{condition.status} {condition.reason}: {condition.message}"
    return f"{want.type} has {', '.join(wrong)} ({seen})"


def _judge_one(want: ConditionExpectation, reports: Sequence[ObjectStatus]) -> str | None:
    found = [s for s in reports if matching_status(want, s)]
    if want.absent:
        return f"{want.describe()} expected, got {found[0].describe()}" if found else None
    if not found:
        return f"{want.describe()} expected, but the target reports no such status"
    verdicts = [_verdict(want, s) for s in found]
    every_parent = want.parent is None and want.resource.startswith(_PER_PARENT_KINDS)
    problems = [v for v in verdicts if v is not None]
    if (every_parent and not problems) or (not every_parent and len(problems) < len(verdicts)):
        return None
    return f"{want.describe()} expected; {'; '.join(problems)}"


def judge_conditions(
    expected: Sequence[ConditionExpectation], reports: Sequence[ObjectStatus]
) -> list[str]:
    """One failure line per expected condition the reports do not bear out."""
    failures = []
    for want in expected:
        failure = _judge_one(want, reports)
        if failure is not None:
            failures.append(f"conditions: {failure}")
    return failures
