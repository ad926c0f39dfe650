"""The case model: a case's spec ties its checks to its clients."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from pytest_meshgate._cases.model.case import CaseSpec, Check


def test_mesh_keys_are_validated() -> None:
    check = {"name": "c", "request": {"from": "slep", "url": "http://a/"}}
    with pytest.raises(ValidationError, match=r"from 'slep' is not in spec\.clients"):
        CaseSpec.model_validate({"clients": [{"name": "sleep"}], "checks": [check]})
    spec = CaseSpec.model_validate(
        {"clients": [{"name": "sleep", "labels": {"tier": "a"}}], "checks": [check | {
            "request": {"from": "sleep", "url": "https://a.example.com/"}}]}
    )  # fmt: skip
    assert spec.clients[0].pod_labels == {"app": "sleep", "tier": "a"}
    assert spec.checks[0].request.port == 443


REQUEST = {"url": "http://a.example.com/"}


@pytest.mark.parametrize(
    "check",
    [
        {"name": "c", "request": REQUEST, "expect": {"status": None}},
        {"name": "c", "request": REQUEST, "expect": None},
        {"name": "c", "request": REQUEST | {"method": None}},
        {"name": "c", "request": REQUEST | {"tls": {"sni": None}}},
        {"name": "c", "request": REQUEST, "description": None},
        {"name": "c", "request": REQUEST, "expect": {"backend": {"service": "a", "version": None}}},
    ],
)
def test_a_key_without_a_value_is_an_error(check: dict[str, object]) -> None:
    with pytest.raises(ValidationError, match="no value: remove the key or give a value"):
        CaseSpec.model_validate({"checks": [check]})


def test_a_key_left_out_takes_its_default() -> None:
    (check,) = CaseSpec.model_validate({"checks": [{"name": "c", "request": REQUEST}]}).checks
    assert (check.expect.status, check.expect.statuses, check.request.method) == (
        None,
        (200,),
        "GET",
    )


@pytest.mark.parametrize("name", ["a::b", "a\nb", "tab\there", " padded", "padded ", "bell\a"])
def test_check_names_must_be_usable_in_test_ids(name: str) -> None:
    with pytest.raises(ValidationError, match="check name"):
        CaseSpec.model_validate({"checks": [{"name": name, "request": REQUEST}]})
    assert CaseSpec.model_validate({"checks": [{"name": "a: b [x] / é", "request": REQUEST}]})


def test_a_latency_floor_at_or_above_the_timeout_could_never_pass() -> None:
    check = {
        "name": "c",
        "request": REQUEST | {"timeout": "1s"},
        "expect": {"latency": {"atLeast": "1s"}},
    }
    with pytest.raises(ValidationError, match=r"atLeast is not below request\.timeout"):
        CaseSpec.model_validate({"checks": [check]})
    check["expect"] = {"latency": {"atLeast": "999ms"}}
    assert CaseSpec.model_validate({"checks": [check]})
    check["expect"] = {"latency": {"atLeast": "2s", "atMost": "1s"}}
    with pytest.raises(ValidationError, match="atLeast is above atMost"):
        CaseSpec.model_validate({"checks": [check]})


def test_a_grpc_call_may_take_its_whole_deadline_but_not_more() -> None:
    # Envoy answers DEADLINE/UNAVAILABLE at the grpc-timeout, and the client waits for it.
    request = {"url": "http://grpc.example.com", "timeout": "300ms", "grpc": {"method": "Echo"}}
    check = {"name": "c", "request": request, "expect": {"latency": {"atLeast": "300ms"}}}
    assert CaseSpec.model_validate({"checks": [check]})
    check["expect"] = {"latency": {"atLeast": "301ms"}}
    with pytest.raises(ValidationError, match=r"atLeast is above request\.timeout, a gRPC"):
        CaseSpec.model_validate({"checks": [check]})


def test_lists_of_workloads_and_checks_are_bounded() -> None:
    checks = [{"name": f"c{i}", "request": REQUEST} for i in range(256)]
    assert len(CaseSpec.model_validate({"checks": checks}).checks) == 256
    with pytest.raises(ValidationError, match="at most 256 items"):
        CaseSpec.model_validate({"checks": [*checks, {"name": "one more", "request": REQUEST}]})
    clients = [{"name": f"c{i}"} for i in range(33)]
    with pytest.raises(ValidationError, match="at most 32 items"):
        CaseSpec.model_validate({"clients": clients, "checks": checks[:1]})


def test_websocket_expectations_need_a_websocket_and_one_reply_per_message() -> None:
    sent = {"url": "http://a/ws", "websocket": {"messages": [{"text": "a"}, {"text": "b"}]}}
    Check.model_validate(
        {
            "name": "c",
            "request": sent,
            "expect": {"websocket": {"messages": [{"text": "a"}, {"text": "b"}]}},
        }
    )
    with pytest.raises(ValidationError, match="one reply per message sent"):
        Check.model_validate(
            {"name": "c", "request": sent, "expect": {"websocket": {"messages": [{"text": "a"}]}}}
        )
    with pytest.raises(ValidationError, match=r"expect\.websocket needs request\.websocket"):
        Check.model_validate(
            {"name": "c", "request": {"url": "http://a/"}, "expect": {"websocket": {}}}
        )
    with pytest.raises(ValidationError, match=r"no echo report: drop expect\.via"):
        Check.model_validate({"name": "c", "request": sent, "expect": {"via": "ingress"}})
    with pytest.raises(ValidationError, match=r"cannot have expect\.redirect"):
        Check.model_validate(
            {"name": "c", "request": sent, "expect": {"redirect": {"scheme": "https"}}}
        )
