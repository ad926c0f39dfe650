"""Checks of a case side by side: which start together, what each item reports, what never runs.

In process against a recording target (the scheduler's own decisions), then
end to end on the real local target (a flaky replica still fails).
"""

from __future__ import annotations

import threading
from pathlib import Path

import pytest

from pytest_meshgate._cases.loader import LoadedCase, load_case_file
from pytest_meshgate._cases.model.request import Request
from pytest_meshgate._errors import CheckFailed
from pytest_meshgate._exchange.records import Exchange, ResponseRecord, SentRequest
from pytest_meshgate._judge.verdicts import Consistency
from pytest_meshgate._suite.schedule import close_schedule, run_scheduled, side_by_side
from pytest_meshgate._targets.base import Deployment, Target

pytest_plugins = ["pytester"]

CASE = """\
apiVersion: meshgate.dev/v1alpha1
kind: Case
metadata: {name: c}
spec:
  checks:
  - name: a
    request: {url: "http://a.example.com/a"}
  - name: b
    request: {url: "http://a.example.com/b"}
  - name: wrong
    request: {url: "http://a.example.com/wrong"}
  - name: counted
    request: {url: "http://a.example.com/counted", count: 3}
    expect: {counts: {status/200: {atLeast: 3}}}
  - name: skipped
    skip: not today
    request: {url: "http://a.example.com/skipped"}
"""


class Recording(Deployment):
    """Answers 200 (``/wrong``: 404); records what is sent and how much is in flight."""

    def __init__(self, gate: threading.Barrier | None) -> None:
        self.gate = gate
        self.lock = threading.Lock()
        self.paths: list[str] = []
        self.in_flight = 0
        self.peak = 0
        self.alone: list[int] = []  # in flight beside each /counted request

    def send(self, request: Request) -> Exchange:
        path = request.url.split("example.com", 1)[1]
        with self.lock:
            self.paths.append(path)
            self.in_flight += 1
            self.peak = max(self.peak, self.in_flight)
            if path == "/counted":
                self.alone.append(self.in_flight - 1)
        try:
            if self.gate is not None and path in ("/a", "/b"):
                self.gate.wait()
        finally:
            with self.lock:
                self.in_flight -= 1
        sent = SentRequest("GET", request.url, (), None, ("127.0.0.1", 1), "gw", path)
        status = 404 if path == "/wrong" else 200
        return Exchange(sent, ResponseRecord(status, "", "HTTP/1.1", (), b""))

    def teardown(self) -> None:
        pass


class RecordingTarget(Target):
    name = "recording"
    capabilities = frozenset({"statistics"})
    consistency = Consistency(timeout=0.3, successes=1, poll_interval=0.01)

    def __init__(self, concurrent: bool, gate: threading.Barrier | None = None) -> None:
        super().__init__()
        self.concurrent_checks = concurrent
        self.deployment = Recording(gate)
        self.deploys = 0

    def deploy(self, loaded: LoadedCase) -> Deployment:
        self.deploys += 1
        return self.deployment

    def release(self) -> None:
        pass


@pytest.fixture
def loaded(tmp_path: Path) -> LoadedCase:
    path = tmp_path / "c.yaml"
    path.write_text(CASE, encoding="utf-8")
    (case,) = load_case_file(path).cases
    return case


def run_items(target: Target, loaded: LoadedCase, indices: list[int]) -> dict[int, str]:
    """Run the items ``indices`` in order, as pytest would; each one's outcome."""
    outcomes: dict[int, str] = {}
    try:
        for index in indices:
            try:
                run_scheduled(target, loaded, index, (), lambda: indices)
                outcomes[index] = "passed"
            except CheckFailed as exc:  # the headline, attempts and seconds left out
                outcomes[index] = f"failed: {str(exc).splitlines()[0].split(':')[0]}"
            except pytest.skip.Exception as exc:
                outcomes[index] = f"skipped: {exc.msg}"
    finally:
        close_schedule(target)
    return outcomes


def test_independent_checks_of_a_case_are_in_flight_together(loaded: LoadedCase) -> None:
    # /a and /b each wait for the other: one after another, the barrier breaks.
    target = RecordingTarget(concurrent=True, gate=threading.Barrier(2, timeout=5))
    outcomes = run_items(target, loaded, [0, 1])
    assert outcomes == {0: "passed", 1: "passed"}
    assert target.deploys == 1


def test_each_item_reports_its_own_outcome_as_one_after_another_would(
    loaded: LoadedCase,
) -> None:
    side = run_items(RecordingTarget(concurrent=True), loaded, [0, 1, 2, 3, 4])
    sequential = run_items(RecordingTarget(concurrent=False), loaded, [0, 1, 2, 3, 4])
    assert side == sequential
    assert side[2] == "failed: check 'wrong' of case 'c' failed"
    assert side[4] == "skipped: not today"
    assert side[0] == side[1] == side[3] == "passed"


def test_a_target_without_concurrent_checks_runs_one_at_a_time(loaded: LoadedCase) -> None:
    target = RecordingTarget(concurrent=False)
    run_items(target, loaded, [0, 1, 2, 3])
    assert target.deployment.peak == 1


def test_a_check_that_runs_alone_has_nothing_else_of_its_case_in_flight(
    loaded: LoadedCase,
) -> None:
    target = RecordingTarget(concurrent=True, gate=threading.Barrier(2, timeout=5))
    run_items(target, loaded, [3, 0, 1, 2])  # the counted check's item comes first
    assert target.deployment.alone and set(target.deployment.alone) == {0}
    assert target.deployment.peak > 1  # the others did overlap


def test_checks_the_session_does_not_run_are_never_started(loaded: LoadedCase) -> None:
    target = RecordingTarget(concurrent=True)
    outcomes = run_items(target, loaded, [0, 2])  # as after -k or a deselection
    assert set(outcomes) == {0, 2}
    assert "/b" not in target.deployment.paths and "/counted" not in target.deployment.paths
    assert "/skipped" not in target.deployment.paths


def test_side_by_side_needs_two_checks_and_the_targets_promise(loaded: LoadedCase) -> None:
    assert side_by_side(RecordingTarget(concurrent=True), loaded, [0, 1, 2, 3, 4]) == [0, 1, 2]
    assert side_by_side(RecordingTarget(concurrent=True), loaded, [0, 3]) == []
    assert side_by_side(RecordingTarget(concurrent=False), loaded, [0, 1, 2]) == []


# Three replicas, round robin, one answering 503: two attempts in three pass, in
# any order, one after another or overlapping. The check must fail; its sibling
# checks still pass, and each item reports its own outcome.
FLAKY = """
apiVersion: meshgate.dev/v1alpha1
kind: Case
metadata: {name: flaky-replica}
spec:
  services:
  - name: echo
    ports: [{name: http, port: 8000}]
    replicas: 3
    misbehaving: [{replica: 0, status: 503}]
  - name: steady
    ports: [{name: http, port: 8000}]
  resources:
  - apiVersion: networking.istio.io/v1
    kind: Gateway
    metadata: {name: gw}
    spec:
      selector: {istio: ingressgateway}
      servers:
      - port: {number: 80, name: http, protocol: HTTP}
        hosts: ["*"]
  - apiVersion: networking.istio.io/v1
    kind: VirtualService
    metadata: {name: vs}
    spec:
      hosts: [flaky.example.com]
      gateways: [gw]
      http:
      - route: [{destination: {host: echo}}]
  - apiVersion: networking.istio.io/v1
    kind: VirtualService
    metadata: {name: steady}
    spec:
      hosts: [steady.example.com]
      gateways: [gw]
      http:
      - route: [{destination: {host: steady}}]
  - apiVersion: networking.istio.io/v1
    kind: DestinationRule
    metadata: {name: echo}
    spec:
      host: echo
      trafficPolicy: {loadBalancer: {simple: ROUND_ROBIN}}
  checks:
  - name: the flaky service always answers
    request: {url: "http://flaky.example.com/"}
    expect: {backend: echo}
  - name: the steady service answers
    request: {url: "http://steady.example.com/"}
    expect: {backend: steady}
  - name: the steady service answers slowly
    request: {url: "http://steady.example.com/?delay=200ms"}
    expect: {backend: steady, latency: {atLeast: 200ms}}
  - name: not run
    skip: left for later
    request: {url: "http://steady.example.com/"}
"""


def test_a_replica_right_two_times_in_three_fails_beside_passing_checks(
    pytester: pytest.Pytester,
) -> None:
    pytester.makefile(".yaml", flaky=FLAKY)
    result = pytester.runpytest_subprocess(
        "-p", "no:cacheprovider", "-rA", "--meshgate-consistency-timeout=2s"
    )
    result.assert_outcomes(passed=2, failed=1, skipped=1)
    text = result.stdout.str()
    assert "FAILED flaky.yaml::flaky-replica::the flaky service always answers" in text
    assert "needed 3 passing in a row" in text
    assert "status: expected 200, got 503" in text
    assert "PASSED flaky.yaml::flaky-replica::the steady service answers slowly" in text
    assert any(
        line.startswith("SKIPPED") and "left for later" in line for line in text.splitlines()
    )
