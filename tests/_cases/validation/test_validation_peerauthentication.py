"""PeerAuthentication validation: Istio's table (validation_test.go TestValidatePeerAuthentication)."""

from __future__ import annotations

from typing import Any

import pytest
from validating import check_row, outcome

SELECTOR = {"matchLabels": {"app": "httpbin", "version": "v1"}}


def peer_authentication(spec: dict[str, Any], version: str = "v1") -> dict[str, Any]:
    return {
        "apiVersion": f"security.istio.io/{version}",
        "kind": "PeerAuthentication",
        "metadata": {"name": "pa", "namespace": "foo"},
        "spec": spec,
    }


ROWS: list[tuple[str, dict[str, Any], str, str]] = [
    ("empty spec", {}, "", ""),
    ("empty mtls", {"selector": SELECTOR}, "", ""),
    ("namespace-wide STRICT", {"mtls": {"mode": "STRICT"}}, "", ""),
    (
        "port level without selector",
        {"portLevelMtls": {8080: {"mode": "DISABLE"}}},
        "mesh/namespace peer authentication cannot have port level mTLS",
        "",
    ),
    (
        "empty port level",
        {"selector": SELECTOR, "portLevelMtls": {}},
        "port level mTLS, if defined, must have at least one element",
        "",
    ),
    (
        "port out of range",
        {"selector": SELECTOR, "portLevelMtls": {0: {"mode": "DISABLE"}}},
        "port must be in range 1..65535",
        "",
    ),
    (
        "port level with selector",
        {"selector": SELECTOR, "mtls": {"mode": "STRICT"}, "portLevelMtls": {"80": {}}},
        "",
        "",
    ),
    ("selector without labels", {"selector": {}}, "", "workload selector specified without labels"),
    (
        "bad selector key",
        {"selector": {"matchLabels": {"": "x"}}},
        "empty key",
        "",
    ),
]


@pytest.mark.parametrize(
    ("spec", "error", "warning"), [r[1:] for r in ROWS], ids=[r[0] for r in ROWS]
)
def test_istio_table(spec: dict[str, Any], error: str, warning: str) -> None:
    check_row(peer_authentication(spec), error, warning)


def test_both_served_versions_and_no_other_mode() -> None:
    assert not outcome(peer_authentication({"mtls": {"mode": "STRICT"}}, "v1beta1")).rejected
    assert outcome(peer_authentication({"mtls": {"mode": "MUTUAL"}})).model
    assert outcome(peer_authentication({"portLevelMtls": {"http": {}}, "selector": SELECTOR})).model
