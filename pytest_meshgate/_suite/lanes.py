"""Cases side by side on lanes: copies of the target, each running one case at a time.

pytest runs items one after another. With lanes, the first item that runs
starts a dispatcher: it walks the session's cases in item order (pytest's
final list, after ``-k``, deselection and reordering plugins) and starts each
on a free lane (a copy of the target, ``Target.new_lane``: its own Envoys,
backends, secrets and run directory) in that lane's thread: the case deploys,
then its checks run as on one target (side by side where ``overlap`` allows,
the others one after another in item order). Each item waits for its own
check and reports its outcome: the same ``run_check``, skips, failure
messages and report entries, only earlier. So the waits of one case (delays,
timeouts, watch windows, Envoy starting) overlap with the work of others.

A case that needs a quiet machine (``overlap.needs_quiet_machine``) starts
only once every lane is idle, and nothing else starts until it is done.
Anything not planned (a rerun of an item, a check of a case the plan left
out) runs on the public target itself, with every lane idle meanwhile; so
does the Python API's deployment (``pause``).
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from typing import TYPE_CHECKING

import pytest

from .overlap import needs_quiet_machine, side_by_side
from .run import run_check

if TYPE_CHECKING:
    from .._cases.analysis import Finding
    from .._cases.loader import LoadedCase
    from .._targets.base import Target

__all__ = ["LaneSchedule", "PlannedCase", "auto_lanes", "deploy_side_by_side"]


# Lanes per core under ``auto``, and the most ``auto`` picks on any machine.
LANES_PER_CORE = 3
MAX_AUTO_LANES = 8


def auto_lanes(in_xdist_worker: bool, cores: int | None = None) -> int:
    """``--meshgate-lanes=auto``: lanes for this machine.

    A case mostly waits (on Envoy, on its delays, on the echo); its own CPU
    is the harness's Python, which holds one core at a time. Measured on two
    cores with the cases of 681cb13 (docs/architecture.md): 5 lanes finish
    about a quarter sooner than 3, 8 about a tenth sooner than 5 (each step
    for 5-10 % more CPU: more Envoys start), 12 later than 8. Each lane's
    Envoys also hold inotify instances, of which a user has 128 on the whole
    machine (``LocalTarget`` keeps no idle ones on a lane): three lanes per
    core, at most eight. An xdist worker does not know which cases it will
    be sent, so it runs one at a time, as before.
    """
    if in_xdist_worker:
        return 1
    cores = cores if cores is not None else (os.cpu_count() or 1)
    return max(1, min(MAX_AUTO_LANES, LANES_PER_CORE * cores))


def deploy_side_by_side(target: Target, loaded: LoadedCase, indices: Sequence[int]) -> list[int]:
    """Of the checks ``indices``, those to start together (``overlap.side_by_side``), with
    the case deployed for them; none when deploying fails (the target remembers the
    failure, so each check reports it as it would alone)."""
    together = side_by_side(target, loaded, indices)
    if together:
        try:
            target.activate(loaded)  # in the caller's thread: one deployment at a time per target
        except (Exception, pytest.skip.Exception):
            return []
    return together


@dataclass(frozen=True)
class PlannedCase:
    """A case this session runs, its checks in item order."""

    loaded: LoadedCase
    findings: Sequence[Finding]
    indices: tuple[int, ...]


class _Job:
    """One planned case: a future per check, set by the lane that runs it."""

    def __init__(self, planned: PlannedCase) -> None:
        self.planned = planned
        self.futures: dict[int, Future[None]] = {i: Future() for i in planned.indices}
        self.quiet = needs_quiet_machine(planned.loaded)

    def cancel(self) -> None:
        for future in self.futures.values():
            future.cancel()


class LaneSchedule:
    """The lanes of one public target, and the cases planned for them."""

    def __init__(
        self,
        target: Target,
        count: int,
        plan: Callable[[], Sequence[PlannedCase]],
        checks_at_once: int,
    ) -> None:
        self.target = target
        self.count = count
        self._plan = plan
        self._checks_at_once = checks_at_once
        self._jobs: dict[int, _Job] | None = None  # by id of the case
        self._taken: set[tuple[int, int]] = set()
        self._cond = threading.Condition()
        self._lanes: dict[int, Target] = {}
        self._free: list[int] = list(range(1, count + 1))
        self._queues: dict[int, list[_Job]] = {n: [] for n in self._free}
        self._running = 0  # jobs in flight
        self._quiet_running = False
        self._paused = 0
        self._stopping = False
        self._threads: list[threading.Thread] = []
        self._lane_threads: set[int] = set()
        self._held = False  # paused for the Python API until the next item (hold)

    # ------------------------------------------------------------ the items' side

    def report(self, loaded: LoadedCase, index: int, findings: Sequence[Finding]) -> None:
        """Check ``index`` of ``loaded``: its started run's outcome, or run it now."""
        if self._held:
            self._held = False
            self._resume()
        self._start()
        assert self._jobs is not None
        job = self._jobs.get(id(loaded))
        key = (id(loaded), index)
        future: Future[None] | None = None
        with self._cond:
            if job is not None and index in job.futures and key not in self._taken:
                self._taken.add(key)
                future = job.futures[index]
        if future is not None:
            future.result()  # raises what the check raised: CheckFailed, TargetError, skip
            return
        with self.paused():  # a rerun, or a check nobody planned: on the public target
            run_check(self.target, loaded, index, findings)

    def paused(self) -> _Paused:
        """A context in which no lane runs anything (those running finish first)."""
        return _Paused(self)

    def hold(self) -> None:
        """Pause the lanes until the next item reports (the Python API deploys on the
        public target meanwhile, on a machine as quiet as without lanes)."""
        if not self._held:
            self._pause()
            self._held = True

    def _pause(self) -> None:
        with self._cond:
            self._paused += 1
            while self._running:
                self._cond.wait()

    def _resume(self) -> None:
        with self._cond:
            self._paused -= 1
            self._cond.notify_all()

    # ------------------------------------------------------------ dispatching

    def _start(self) -> None:
        if self._jobs is not None:
            return
        planned = self._plan()
        jobs = [_Job(p) for p in planned if p.indices]
        self._jobs = {id(job.planned.loaded): job for job in jobs}
        dispatcher = threading.Thread(
            target=self._dispatch, args=(jobs,), name="meshgate-lanes", daemon=True
        )
        self._threads.append(dispatcher)
        dispatcher.start()

    def _dispatch(self, jobs: list[_Job]) -> None:
        for position, job in enumerate(jobs):
            with self._cond:
                while not self._stopping and (
                    self._paused or self._quiet_running or not self._free
                ):
                    self._cond.wait()
                while not self._stopping and job.quiet and self._running:
                    self._cond.wait()
                if self._stopping:
                    for rest in jobs[position:]:
                        rest.cancel()
                    return
                lane = min(self._free)
                self._free.remove(lane)
                self._running += 1
                self._quiet_running = job.quiet
                self._queues[lane].append(job)
                if lane not in self._lane_threads:
                    self._lane_threads.add(lane)
                    self._start_lane(lane)
                self._cond.notify_all()

    def _start_lane(self, lane: int) -> None:
        thread = threading.Thread(
            target=self._lane, args=(lane,), name=f"meshgate-lane-{lane}", daemon=True
        )
        self._threads.append(thread)
        thread.start()

    def _lane(self, lane: int) -> None:
        while True:
            with self._cond:
                while not self._queues[lane] and not self._stopping:
                    self._cond.wait()
                if not self._queues[lane]:
                    return  # stopping, nothing left
                job = self._queues[lane].pop(0)
                target = self._lanes.get(lane)
                if target is None and not self._stopping:
                    target = self._lanes[lane] = self.target.new_lane(lane)
            try:
                if target is None or self._stopping:
                    job.cancel()
                else:
                    self._run_job(target, job)
            finally:
                with self._cond:
                    self._running -= 1
                    if job.quiet:
                        self._quiet_running = False
                    self._free.append(lane)
                    self._cond.notify_all()

    def _run_job(self, target: Target, job: _Job) -> None:
        """Deploy the case on ``target`` and run its checks, each into its future."""
        planned = job.planned

        def run(index: int) -> None:
            future = job.futures[index]
            if self._stopping or not future.set_running_or_notify_cancel():
                future.cancel()
                return
            try:
                run_check(target, planned.loaded, index, planned.findings)
            except BaseException as exc:  # the item raises it: CheckFailed, a skip, ...
                future.set_exception(exc)
            else:
                future.set_result(None)

        together = deploy_side_by_side(target, planned.loaded, planned.indices)
        if together:
            workers = min(self._checks_at_once, len(together))
            with ThreadPoolExecutor(workers, thread_name_prefix="meshgate-check") as pool:
                list(pool.map(run, together))
        for index in planned.indices:
            if index not in together:
                run(index)

    # ------------------------------------------------------------ closing

    def close(self) -> None:
        """Start nothing more, wait for the checks in flight, close every lane's target."""
        with self._cond:
            self._stopping = True
            self._cond.notify_all()
        try:
            for thread in self._threads:
                thread.join()
        finally:
            for jobs in self._queues.values():
                for job in jobs:
                    job.cancel()
            lanes, self._lanes = dict(self._lanes), {}
            errors: list[BaseException] = []

            def close_lane(lane: Target) -> None:
                try:
                    lane.close()
                except Exception as exc:  # every lane is closed; the first error is raised
                    errors.append(exc)

            # Side by side: a lane's close mostly waits for its Envoys to exit.
            closing = [
                threading.Thread(target=close_lane, args=(lane,), name="meshgate-lane-close")
                for lane in lanes.values()
            ]
            for thread in closing:
                thread.start()
            for thread in closing:
                thread.join()
            if errors:
                raise errors[0]


class _Paused:
    def __init__(self, schedule: LaneSchedule) -> None:
        self.schedule = schedule

    def __enter__(self) -> None:
        self.schedule._pause()

    def __exit__(self, *exc_info: object) -> None:
        self.schedule._resume()
