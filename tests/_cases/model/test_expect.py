"""The expectation model: the statuses and connection outcomes an Expect accepts."""

from __future__ import annotations

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
