"""The expectation model: the statuses and connection outcomes an Expect accepts."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from pytest_meshgate._cases.model.expect import Expect


def test_expected_status_defaults() -> None:
    assert Expect().statuses == (200,)
    assert Expect.model_validate({"redirect": {"scheme": "https"}}).statuses == (
        301,
        302,
        303,
        307,
        308,
    )
    assert Expect.model_validate({"status": [404, 503]}).statuses == (404, 503)
    assert Expect.model_validate({"connection": "refused"}).connections == ("refused",)


@pytest.mark.parametrize("key", ["status", "connection", "counts", "mirroredTo"])
def test_an_empty_list_is_not_the_default(key: str) -> None:
    # `status: []` once meant 200 and `connection: []` nothing at all: silently the default.
    empty: object = {} if key == "counts" else []
    with pytest.raises(ValidationError, match="at least 1 item"):
        Expect.model_validate({key: empty})


def test_a_response_header_is_expected_one_way() -> None:
    with pytest.raises(ValidationError, match="in both headers and headersOneOf"):
        Expect.model_validate(
            {"response": {"headers": {"X-A": "1"}, "headersOneOf": {"x-a": ["1", "2"]}}}
        )
    with pytest.raises(ValidationError, match="expected and in absentHeaders"):
        Expect.model_validate(
            {"response": {"headersOneOf": {"x-a": ["1"]}, "absentHeaders": ["X-A"]}}
        )
    with pytest.raises(ValidationError, match="at least 1 item"):
        Expect.model_validate({"response": {"headersOneOf": {"x-a": []}}})
