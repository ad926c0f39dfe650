"""Cases side by side on lanes: what runs together, what each item reports, what never runs.

In process against recording targets (the scheduler's own decisions), then
end to end on the real local target: a flaky replica still fails beside
passing cases, and an interrupted run leaves no process or file (test_plugin).
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from pathlib import Path

import pytest

from pytest_meshgate._cases.loader import LoadedCase, load_case_file
from pytest_meshgate._cases.model.request import Request
from pytest_meshgate._errors import CheckFailed
from pytest_meshgate._exchange.records import Exchange, ResponseRecord, SentRequest
from pytest_meshgate._judge.verdicts import Consistency
from pytest_meshgate._suite import lanes as lanes_module
from pytest_meshgate._suite.lanes import PlannedCase, auto_lanes
from pytest_meshgate._suite.schedule import close_schedule, leave_case, run_scheduled
from pytest_meshgate._targets.base import Deployment, Target

pytest_plugins = ["pytester"]


def case_text(name: str, extra: str = "") -> str:
    return f"""\
apiVersion: meshgate.dev/v1alpha1
kind: Case
metadata: {{name: {name}}}
spec:
  checks:
  - name: first
    request: {{url: "http://{name}.example.com/first"}}
  - name: wrong
    request: {{url: "http://{name}.example.com/wrong"}}
  - name: skipped
    skip: not today
    request: {{url: "http://{name}.example.com/skipped"}}
{extra}"""


class Machine:
    """What every lane's deployments saw: paths sent, cases in flight at once."""

    def __init__(self, gate: threading.Barrier | None = None) -> None:
        self.gate = gate
        self.lock = threading.Lock()
        self.paths: list[str] = []
        self.in_flight: dict[str, int] = {}
        self.beside_quiet: list[int] = []  # other cases in flight beside each quiet request
        self.peak_cases = 0


class Recording(Deployment):
    def __init__(self, machine: Machine, case: str) -> None:
        self.machine = machine
        self.case = case

    def send(self, request: Request) -> Exchange:
        machine, path = self.machine, request.url.split("example.com", 1)[1]
        with machine.lock:
            machine.paths.append(f"{self.case}{path}")
            machine.in_flight[self.case] = machine.in_flight.get(self.case, 0) + 1
            busy = [c for c, n in machine.in_flight.items() if n]
            machine.peak_cases = max(machine.peak_cases, len(busy))
            if self.case.startswith("quiet"):
                machine.beside_quiet.append(len(busy) - 1)
        try:
            if machine.gate is not None and path == "/first":
                machine.gate.wait()  # every case's first check waits for the others'
        finally:
            with machine.lock:
                machine.in_flight[self.case] -= 1
        sent = SentRequest("GET", request.url, (), None, ("127.0.0.1", 1), "gw", path)
        status = 404 if path == "/wrong" else 200
        return Exchange(sent, ResponseRecord(status, "", "HTTP/1.1", (), b""))

    def teardown(self) -> None:
        pass


class LaneTarget(Target):
    name = "recording"
    capabilities = frozenset({"statistics"})
    consistency = Consistency(timeout=0.3, successes=1, poll_interval=0.01)
    concurrent_checks = True

    def __init__(self, machine: Machine, lanes: bool = True, lane: int = 0) -> None:
        super().__init__()
        self.machine = machine
        self.concurrent_cases = lanes
        self.lane = lane
        self.made: list[LaneTarget] = []
        self.deployed: list[str] = []
        self.released = False

    def deploy(self, loaded: LoadedCase) -> Deployment:
        self.deployed.append(loaded.name)
        return Recording(self.machine, loaded.name)

    def new_lane(self, lane: int) -> Target:
        made = LaneTarget(self.machine, lane=lane)
        self.made.append(made)
        return made

    def release(self) -> None:
        self.released = True


def load(tmp_path: Path, *texts: str) -> list[LoadedCase]:
    cases: list[LoadedCase] = []
    for n, text in enumerate(texts):
        path = tmp_path / f"c{n}.yaml"
        path.write_text(text, encoding="utf-8")
        cases += load_case_file(path).cases
    return cases


def run_items(
    target: Target,
    items: Sequence[tuple[LoadedCase, int]],
    lanes: int,
    plan: Sequence[PlannedCase] | None = None,
) -> dict[tuple[str, int], str]:
    """Run ``items`` in order, as pytest would (the plan: every case's items); outcomes."""
    if plan is None:
        indices: dict[int, tuple[LoadedCase, list[int]]] = {}
        for loaded, index in items:
            indices.setdefault(id(loaded), (loaded, []))[1].append(index)
        plan = [PlannedCase(c, (), tuple(i)) for c, i in indices.values()]
    outcomes: dict[tuple[str, int], str] = {}
    try:
        for loaded, index in items:
            in_case = [i for c, i in items if c is loaded]
            try:
                run_scheduled(target, loaded, index, (), lambda c=in_case: c, lanes, lambda: plan)
                outcome = "passed"
            except CheckFailed as exc:
                outcome = f"failed: {str(exc).splitlines()[0].split(':')[0]}"
            except pytest.skip.Exception as exc:
                outcome = f"skipped: {exc.msg}"
            outcomes[(loaded.name, index)] = outcome
    finally:
        close_schedule(target)
    return outcomes


def every_item(cases: Sequence[LoadedCase]) -> list[tuple[LoadedCase, int]]:
    return [(c, i) for c in cases for i in range(len(c.case.spec.checks))]


def test_cases_run_side_by_side_on_lanes_of_their_own(tmp_path: Path) -> None:
    # Each case's first check waits for the other two cases' first checks: one case
    # at a time, the barrier breaks.
    machine = Machine(threading.Barrier(3, timeout=5))
    cases = load(tmp_path, case_text("a"), case_text("b"), case_text("c"))
    target = LaneTarget(machine)
    outcomes = run_items(target, every_item(cases), lanes=3)
    assert outcomes[("a", 0)] == outcomes[("b", 0)] == outcomes[("c", 0)] == "passed"
    assert machine.peak_cases == 3
    assert target.deployed == []  # the public target runs nothing itself
    assert sorted(d for lane in target.made for d in lane.deployed) == ["a", "b", "c"]
    assert all(lane.released for lane in target.made)  # closed with the schedule


def test_each_item_reports_what_one_case_at_a_time_would(tmp_path: Path) -> None:
    cases = load(tmp_path, case_text("a"), case_text("b"), case_text("c"))
    on_lanes = run_items(LaneTarget(Machine()), every_item(cases), lanes=2)
    one_lane = run_items(LaneTarget(Machine()), every_item(cases), lanes=1)
    no_lanes = run_items(LaneTarget(Machine(), lanes=False), every_item(cases), lanes=3)
    assert on_lanes == one_lane == no_lanes
    assert on_lanes[("b", 1)] == "failed: check 'wrong' of case 'b' failed"
    assert on_lanes[("c", 2)] == "skipped: not today"


def test_a_case_that_needs_a_quiet_machine_runs_with_no_other_case(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(
        lanes_module, "needs_quiet_machine", lambda loaded: loaded.name.startswith("quiet")
    )
    machine = Machine()
    texts = [case_text(n) for n in ("a", "b", "quiet", "c", "d")]
    cases = load(tmp_path, *texts)
    outcomes = run_items(LaneTarget(machine), every_item(cases), lanes=3)
    assert outcomes[("quiet", 0)] == "passed"
    assert machine.beside_quiet and set(machine.beside_quiet) == {0}


def test_checks_the_session_does_not_run_are_never_started(tmp_path: Path) -> None:
    machine = Machine()
    a, b = load(tmp_path, case_text("a"), case_text("b"))
    outcomes = run_items(LaneTarget(machine), [(a, 0), (b, 1)], lanes=2)
    assert set(outcomes) == {("a", 0), ("b", 1)}
    assert set(machine.paths) == {"a/first", "b/wrong"}


def test_a_rerun_runs_again_on_the_public_target_with_the_lanes_idle(tmp_path: Path) -> None:
    machine = Machine()
    a, b = load(tmp_path, case_text("a"), case_text("b"))
    target = LaneTarget(machine)
    items = [(a, 0), (a, 1), (a, 1), (b, 0)]  # a's wrong check reported twice (a rerun)
    plan = [PlannedCase(a, (), (0, 1)), PlannedCase(b, (), (0,))]
    outcomes = run_items(target, items, lanes=2, plan=plan)
    assert outcomes[("a", 1)] == "failed: check 'wrong' of case 'a' failed"
    assert target.deployed == ["a"]  # the rerun, on the public target
    assert machine.paths.count("a/wrong") >= 2


def test_the_python_api_holds_the_lanes_until_the_next_item(tmp_path: Path) -> None:
    machine = Machine()
    cases = load(tmp_path, *(case_text(n) for n in "abcd"))
    target = LaneTarget(machine)
    plan = [PlannedCase(c, (), (0,)) for c in cases]
    try:
        run_scheduled(target, cases[0], 0, (), lambda: [0], 2, lambda: plan)
        leave_case(target)  # what the API does before it deploys on the public target
        sent = list(machine.paths)
        lanes = sum(len(lane.deployed) for lane in target.made)
        # Held: whatever was in flight has finished, and nothing new starts (given time to).
        threading.Event().wait(0.3)
        assert sum(len(lane.deployed) for lane in target.made) == lanes
        assert machine.paths == sent
        # Every case's item comes, so each check must have run: a case whose item never came
        # may be cancelled by the close while it deploys (that is test_closing_...'s subject).
        for case in cases[1:]:
            run_scheduled(target, case, 0, (), lambda: [0], 2, lambda: plan)
    finally:
        close_schedule(target)
    assert {p for p in machine.paths} == {"a/first", "b/first", "c/first", "d/first"}


def test_closing_starts_nothing_more_and_closes_every_lane(tmp_path: Path) -> None:
    machine = Machine()
    cases = load(tmp_path, *(case_text(n) for n in "abcdefgh"))
    target = LaneTarget(machine)
    plan = [PlannedCase(c, (), (0, 1)) for c in cases]
    run_scheduled(target, cases[0], 0, (), lambda: [0, 1], 2, lambda: plan)
    close_schedule(target)  # as after -x: the other items never come
    assert target.made and all(lane.released for lane in target.made)
    sent = len(machine.paths)
    deployed = [d for lane in target.made for d in lane.deployed]
    assert len(deployed) < len(cases)  # the cases to come were dropped, not run
    threading.Event().wait(0.3)
    assert len(machine.paths) == sent  # nothing runs after the close
    assert not target.released  # the public target is the fixture's to close


def test_auto_lanes_by_cores_and_one_in_an_xdist_worker() -> None:
    assert auto_lanes(in_xdist_worker=True, cores=2) == 1
    assert auto_lanes(in_xdist_worker=False, cores=1) == 2
    assert auto_lanes(in_xdist_worker=False, cores=2) == 3
    assert auto_lanes(in_xdist_worker=False, cores=64) == 8


# Three replicas, round robin, one answering 503 (two attempts in three pass): the
# check must still fail while other cases pass on other lanes.
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
    kind: DestinationRule
    metadata: {name: echo}
    spec:
      host: echo
      trafficPolicy: {loadBalancer: {simple: ROUND_ROBIN}}
  checks:
  - name: the flaky service always answers
    request: {url: "http://flaky.example.com/"}
    expect: {backend: echo}
"""

STEADY = """
apiVersion: meshgate.dev/v1alpha1
kind: Case
metadata: {{name: steady-{n}}}
spec:
  services:
  - name: steady
    ports: [{{name: http, port: 8000}}]
  resources:
  - apiVersion: networking.istio.io/v1
    kind: Gateway
    metadata: {{name: gw}}
    spec:
      selector: {{istio: ingressgateway}}
      servers:
      - port: {{number: 80, name: http, protocol: HTTP}}
        hosts: ["*"]
  - apiVersion: networking.istio.io/v1
    kind: VirtualService
    metadata: {{name: steady}}
    spec:
      hosts: [steady.example.com]
      gateways: [gw]
      http:
      - route: [{{destination: {{host: steady}}}}]
  checks:
  - name: the steady service answers
    request: {{url: "http://steady.example.com/?delay=200ms"}}
    expect: {{backend: steady, latency: {{atLeast: 200ms}}}}
  - name: from its own lane's echo
    request: {{url: "http://steady.example.com/"}}
    expect: {{backend: steady, via: ingress}}
"""


def test_on_real_lanes_a_flaky_replica_still_fails_beside_passing_cases(
    pytester: pytest.Pytester,
) -> None:
    pytester.makefile(".yaml", a=STEADY.format(n=1), b=FLAKY, c=STEADY.format(n=2))
    pytester.makefile(".yaml", d=STEADY.format(n=3))
    result = pytester.runpytest_subprocess(
        "-p", "no:cacheprovider", "-rA", "--meshgate-lanes=3", "--meshgate-consistency-timeout=2s"
    )
    result.assert_outcomes(passed=6, failed=1)
    text = result.stdout.str()
    assert "FAILED b.yaml::flaky-replica::the flaky service always answers" in text
    assert "status: expected 200, got 503" in text
