"""Expected status conditions, and checks that expect only them."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from pytest_meshgate._cases.model.case import Check
from pytest_meshgate._cases.model.conditions import ConditionExpectation


def expectation(**fields: object) -> ConditionExpectation:
    return ConditionExpectation.model_validate(fields)


def test_resource_names_a_gateway_api_kind() -> None:
    assert (
        expectation(resource="GatewayClass/istio", type="Accepted").resource == "GatewayClass/istio"
    )
    want = expectation(
        resource="HTTPRoute/ns/r", parent="ns/gw/http", type="Accepted", status="True"
    )
    assert want.describe() == "HTTPRoute/ns/r parent ns/gw/http: Accepted=True"
    for bad in ("Gateway/gw", "VirtualService/ns/vs", "HTTPRoute/ns/r/x", "GatewayClass/a/b"):
        with pytest.raises(ValidationError, match="not Kind/namespace/name"):
            expectation(resource=bad, type="Accepted")


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        (
            {"resource": "Gateway/ns/gw", "parent": "ns/x", "type": "Accepted"},
            "parent is for routes",
        ),
        (
            {"resource": "HTTPRoute/ns/r", "listener": "http", "type": "Accepted"},
            "listener is for Gateways",
        ),
        ({"resource": "Gateway/ns/gw", "attachedRoutes": 1}, "give listener"),
        ({"resource": "Gateway/ns/gw", "supportedKinds": ["TLSRoute"]}, "give listener"),
        (
            {"resource": "HTTPRoute/ns/r", "absent": True, "type": "Accepted"},
            "absent expects no status",
        ),
        ({"resource": "HTTPRoute/ns/r"}, "give type"),
        (
            {"resource": "ListenerSet/ns/s", "attachedListenerSets": 1},
            "attachedListenerSets is a Gateway's count",
        ),
        (
            {"resource": "Gateway/ns/gw", "listener": "http", "attachedListenerSets": 1},
            "attachedListenerSets is a Gateway's count",
        ),
        (
            {"resource": "ListenerSet/ns/s", "parent": "ns/gw", "type": "Accepted"},
            "parent is for routes",
        ),
        (
            {"resource": "Gateway/ns/gw", "listener": "l", "attachedRoutes": 0, "status": "True"},
            "need type",
        ),
        (
            {"resource": "HTTPRoute/ns/r", "type": "Accepted", "status": "Unknown"},
            "'True' or 'False'",
        ),
    ],
)
def test_what_an_expectation_can_say(fields: dict[str, object], message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        expectation(**fields)


def test_listener_counts_and_absence_describe_themselves() -> None:
    count = expectation(resource="Gateway/ns/gw", listener="http", attachedRoutes=2)
    assert count.describe() == "Gateway/ns/gw listener http: attachedRoutes=2"
    gone = expectation(resource="HTTPRoute/ns/r", parent="ns/other", absent=True)
    assert gone.describe() == "HTTPRoute/ns/r parent ns/other: no status"
    reason = expectation(
        resource="Gateway/ns/gw",
        type="Programmed",
        status="False",
        reason="Invalid",
        messageContains="x",
    )
    assert reason.describe() == "Gateway/ns/gw: Programmed=False Invalid message containing 'x'"


def test_a_check_without_request_expects_conditions_only() -> None:
    conditions = [{"resource": "Gateway/ns/gw", "type": "Accepted", "status": "True"}]
    check = Check.model_validate({"name": "status", "expect": {"conditions": conditions}})
    assert check.request is None and len(check.expect.conditions) == 1
    with pytest.raises(ValidationError, match="expects conditions only"):
        Check.model_validate({"name": "nothing"})
    with pytest.raises(ValidationError, match=r"drop status"):
        Check.model_validate({"name": "both", "expect": {"status": 404, "conditions": conditions}})
    # With a request, conditions and the answer are judged together.
    both = Check.model_validate(
        {
            "name": "both",
            "request": {"url": "http://a/"},
            "expect": {"status": 404, "conditions": conditions},
        }
    )
    assert both.expect.statuses == (404,)
