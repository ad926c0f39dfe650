"""Which checks of a case run alone, which cases share state, how many attempts overlap."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from pytest_meshgate._cases.loader import LoadedCase, load_case_file
from pytest_meshgate._judge.verdicts import Consistency
from pytest_meshgate._suite.overlap import (
    attempts_at_once,
    needs_quiet_machine,
    runs_alone,
    shares_state,
)

CASE = """\
apiVersion: meshgate.dev/v1alpha1
kind: Case
metadata: {{name: c}}
spec:
  services: [{{name: echo, ports: [{{name: http, port: 8000}}]}}]
  resources:
  - apiVersion: networking.istio.io/v1
    kind: DestinationRule
    metadata: {{name: echo}}
    spec:
      host: echo
{policy}
  checks:
  - name: single
    request: {{url: "http://a.example.com/"}}
  - name: counted
    request: {{url: "http://a.example.com/", count: 10}}
    expect: {{counts: {{status/200: {{atLeast: 10}}}}}}
  - name: burst
    request: {{url: "http://a.example.com/", count: 10, concurrency: 2}}
  - name: per-answer batch
    request: {{url: "http://a.example.com/", count: 10}}
    expect: {{mirroredTo: {{service: echo, share: 0}}}}
  - name: split
    request: {{url: "http://a.example.com/"}}
    expect: {{split: {{echo: 100}}}}
  - name: mirror share
    request: {{url: "http://a.example.com/", count: 100}}
    expect: {{mirroredTo: {{service: echo, share: 50}}}}
  - name: pods
    request: {{url: "http://a.example.com/", count: 10}}
    expect: {{pods: {{atLeast: 1}}}}
"""


@pytest.fixture
def case(tmp_path: Path) -> Callable[[str], LoadedCase]:
    def make(policy: str) -> LoadedCase:
        path = tmp_path / "case.yaml"
        path.write_text(CASE.format(policy=policy), encoding="utf-8")
        loaded = load_case_file(path)
        assert not loaded.invalid, [document.error.render() for document in loaded.invalid]
        return loaded.cases[0]

    return make


NO_STATE = "      trafficPolicy: {loadBalancer: {simple: ROUND_ROBIN}}"


def test_aggregates_and_bursts_run_alone(case: Callable[[str], LoadedCase]) -> None:
    checks = {c.name: c for c in case(NO_STATE).case.spec.checks}
    alone = {name for name, check in checks.items() if runs_alone(check)}
    assert alone == {"counted", "burst", "split", "mirror share", "pods"}


@pytest.mark.parametrize(
    "policy",
    [
        "      trafficPolicy: {connectionPool: {tcp: {maxConnections: 1}}}",
        "      trafficPolicy: {outlierDetection: {consecutive5xxErrors: 1}}",
        "      subsets:\n      - name: v1\n        labels: {version: v1}\n"
        "        trafficPolicy: {connectionPool: {tcp: {maxConnections: 1}}}",
        "      trafficPolicy:\n        portLevelSettings:\n        - port: {number: 8000}\n"
        "          outlierDetection: {consecutive5xxErrors: 1}",
    ],
)
def test_pools_and_ejections_anywhere_in_a_rule_share_state(
    case: Callable[[str], LoadedCase], policy: str
) -> None:
    assert shares_state(case(policy))


def test_a_rule_without_pools_or_ejections_shares_none(case: Callable[[str], LoadedCase]) -> None:
    assert not shares_state(case(NO_STATE))


class FakeTarget:
    def __init__(self, confirms: bool) -> None:
        self.confirms_configuration = confirms
        self.consistency = Consistency(successes=3)


def width(target: Any, loaded: LoadedCase, name: str) -> int:
    check = next(c for c in loaded.case.spec.checks if c.name == name)
    return attempts_at_once(target, loaded, check)


def test_attempts_overlap_only_where_the_target_confirms_its_configuration(
    case: Callable[[str], LoadedCase],
) -> None:
    loaded = case(NO_STATE)
    confirmed, cluster = FakeTarget(confirms=True), FakeTarget(confirms=False)
    assert width(confirmed, loaded, "single") == 3
    assert width(cluster, loaded, "single") == 1
    # A batch converges no wider than it is sent.
    assert width(confirmed, loaded, "per-answer batch") == 1
    assert width(confirmed, loaded, "burst") == 2


def test_attempts_of_a_case_that_shares_state_go_one_at_a_time(
    case: Callable[[str], LoadedCase],
) -> None:
    loaded = case("      trafficPolicy: {connectionPool: {tcp: {maxConnections: 1}}}")
    assert width(FakeTarget(confirms=True), loaded, "single") == 1
    assert width(FakeTarget(confirms=True), loaded, "burst") == 2  # as its batch is sent


QUIET = """\
apiVersion: meshgate.dev/v1alpha1
kind: Case
metadata: {{name: q}}
spec:
  checks:
  - name: bounded
    request: {{url: "http://a.example.com/"}}
    expect: {{latency: {latency}}}
"""


@pytest.mark.parametrize(
    ("latency", "quiet"),
    [
        ("{atMost: 100ms}", True),
        ("{atLeast: 50ms, atMost: 299ms}", True),
        ("{atMost: 900ms}", False),
        ("{atLeast: 2s}", False),
    ],
)
def test_only_a_tight_upper_latency_bound_needs_a_quiet_machine(
    tmp_path: Path, latency: str, quiet: bool
) -> None:
    path = tmp_path / "q.yaml"
    path.write_text(QUIET.format(latency=latency), encoding="utf-8")
    (loaded,) = load_case_file(path).cases
    assert needs_quiet_machine(loaded) is quiet


def test_no_case_of_the_suite_needs_a_quiet_machine() -> None:
    # Every latency bound of cases/ leaves room for other lanes' load; a new case
    # with a tighter one runs alone on the machine (and costs the suite its time).
    root = Path(__file__).resolve().parents[2] / "cases"
    cases = [c for f in sorted(root.glob("*.yaml")) for c in load_case_file(f).cases]
    assert cases and not [c.name for c in cases if needs_quiet_machine(c)]
