"""The case model: a case's spec ties its checks to its clients."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from pytest_meshgate._cases.model.case import CaseSpec


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
