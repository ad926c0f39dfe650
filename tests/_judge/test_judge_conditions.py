"""Judging expected conditions: which status an expectation is about, and why it fails."""

from __future__ import annotations

from pytest_meshgate._cases.model.conditions import ConditionExpectation
from pytest_meshgate._exchange.status import Condition, ObjectStatus
from pytest_meshgate._judge.conditions import judge_conditions, matching_status


def want(**fields: object) -> ConditionExpectation:
    return ConditionExpectation.model_validate(fields)


def accepted(status: str = "True", reason: str = "Accepted", message: str = "ok") -> Condition:
    return Condition("Accepted", status, reason, message)


ROUTE_A = ObjectStatus("HTTPRoute/ns/r", [accepted()], parent="ns/gw/http")
ROUTE_B = ObjectStatus(
    "HTTPRoute/ns/r", [accepted("False", "NotAllowedByListeners", "no")], parent="ns/other"
)
GATEWAY = ObjectStatus(
    "Gateway/ns/gw", [accepted(), Condition("Programmed", "True", "Programmed", "p")]
)
LISTENER = ObjectStatus(
    "Gateway/ns/gw",
    [accepted()],
    listener="http",
    details={"attachedRoutes": 1, "supportedKinds": ["gateway.networking.k8s.io/HTTPRoute"]},
)
REPORTS = [ROUTE_A, ROUTE_B, GATEWAY, LISTENER]


def test_parent_and_listener_select_the_status() -> None:
    assert matching_status(
        want(resource="HTTPRoute/ns/r", parent="ns/gw", type="Accepted"), ROUTE_A
    )
    assert not matching_status(
        want(resource="HTTPRoute/ns/r", parent="ns/gw/https", type="Accepted"), ROUTE_A
    )
    assert not matching_status(
        want(resource="HTTPRoute/ns/r", parent="ns/gw", type="Accepted"), ROUTE_B
    )
    assert matching_status(want(resource="Gateway/ns/gw", type="Accepted"), GATEWAY)
    assert not matching_status(want(resource="Gateway/ns/gw", type="Accepted"), LISTENER)
    assert matching_status(
        want(resource="Gateway/ns/gw", listener="http", type="Accepted"), LISTENER
    )


def test_met_expectations_yield_nothing() -> None:
    met = [
        want(
            resource="HTTPRoute/ns/r",
            parent="ns/gw",
            type="Accepted",
            status="True",
            reason="Accepted",
        ),
        want(resource="HTTPRoute/ns/r", parent="ns/other", type="Accepted", status="False"),
        want(resource="Gateway/ns/gw", type="Programmed", status="True", messageContains="p"),
        want(resource="Gateway/ns/gw", listener="http", attachedRoutes=1),
        want(resource="Gateway/ns/gw", listener="http", supportedKinds=["HTTPRoute"]),
        want(
            resource="Gateway/ns/gw",
            listener="http",
            supportedKinds=["gateway.networking.k8s.io/HTTPRoute"],
        ),
        want(resource="HTTPRoute/ns/r", parent="ns/third", absent=True),
        want(resource="TCPRoute/ns/t", absent=True),
    ]
    assert judge_conditions(met, REPORTS) == []


def test_failures_say_what_was_seen() -> None:
    (failure,) = judge_conditions(
        [want(resource="HTTPRoute/ns/r", parent="ns/other", type="Accepted", status="True")],
        REPORTS,
    )
    assert failure == (
        "conditions: HTTPRoute/ns/r parent ns/other: Accepted=True expected; "
        "Accepted has status False (False NotAllowedByListeners: no)"
    )
    (missing,) = judge_conditions([want(resource="Gateway/ns/nope", type="Accepted")], REPORTS)
    assert missing.endswith("but the target reports no such status")
    (count,) = judge_conditions(
        [want(resource="Gateway/ns/gw", listener="http", attachedRoutes=2)], REPORTS
    )
    assert "attachedRoutes is 1, not 2" in count
    (kinds,) = judge_conditions(
        [
            want(
                resource="Gateway/ns/gw", listener="http", supportedKinds=["HTTPRoute", "GRPCRoute"]
            )
        ],
        REPORTS,
    )
    assert kinds.endswith("supportedKinds are gateway.networking.k8s.io/HTTPRoute")
    assert (
        "listener http: Accepted=True Accepted (ok); attachedRoutes=1; supportedKinds=HTTPRoute"
        in LISTENER.describe()
    )
    (no_type,) = judge_conditions([want(resource="Gateway/ns/gw", type="ResolvedRefs")], REPORTS)
    assert "no ResolvedRefs condition" in no_type
    (present,) = judge_conditions(
        [want(resource="HTTPRoute/ns/r", parent="ns/gw", absent=True)], REPORTS
    )
    assert "no status expected, got HTTPRoute/ns/r parent ns/gw/http" in present
    (message,) = judge_conditions(
        [want(resource="Gateway/ns/gw", type="Accepted", messageContains="zzz")], REPORTS
    )
    assert "message 'ok'" in message


def test_a_route_without_parent_is_judged_at_every_parent() -> None:
    every = want(resource="HTTPRoute/ns/r", type="Accepted", status="True")
    (failure,) = judge_conditions([every], REPORTS)
    assert "status False" in failure
    assert judge_conditions([every], [ROUTE_A]) == []


def test_attached_listener_sets_and_policy_ancestors() -> None:
    gateway = ObjectStatus("Gateway/ns/gw", [accepted()], details={"attachedListenerSets": 2})
    assert (
        judge_conditions([want(resource="Gateway/ns/gw", attachedListenerSets=2)], [gateway]) == []
    )
    (failure,) = judge_conditions(
        [want(resource="Gateway/ns/gw", attachedListenerSets=1)], [gateway]
    )
    assert "attachedListenerSets is 2, not 1" in failure
    # No count reported means none attached.
    bare = ObjectStatus("Gateway/ns/gw", [accepted()])
    assert judge_conditions([want(resource="Gateway/ns/gw", attachedListenerSets=0)], [bare]) == []
    # A policy's entry without parent must hold at every ancestor, as a route's at every parent.
    ancestors = [
        ObjectStatus("BackendTLSPolicy/ns/p", [accepted()], parent="Service/svc"),
        ObjectStatus("BackendTLSPolicy/ns/p", [accepted("False", "Conflicted")], parent="ns/gw"),
    ]
    (failure,) = judge_conditions(
        [want(resource="BackendTLSPolicy/ns/p", type="Accepted", status="True")], ancestors
    )
    assert "Conflicted" in failure
    assert (
        judge_conditions(
            [
                want(
                    resource="BackendTLSPolicy/ns/p",
                    parent="Service/svc",
                    type="Accepted",
                    status="True",
                )
            ],
            ancestors,
        )
        == []
    )
