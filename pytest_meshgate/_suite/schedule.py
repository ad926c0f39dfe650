"""Checks of one case side by side: started when the case deploys, reported by their own items.

pytest runs items one after another, so the first item of a case that
reaches its deployment starts every independent check of the case that this
session will run (``overlap.runs_alone`` and ``overlap.shares_state`` say
which are not) in a thread pool. Each item then waits for its own check and
reports its outcome: the same ``run_check``, with the same skips, failure
messages and report entries, only earlier. A check that must run alone waits
until the pool has drained. Moving on to another case, or ending the
session, drains the pool first, so a deployment never changes under a check.
"""

from __future__ import annotations

import threading
import weakref
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor, wait
from typing import TYPE_CHECKING

from .lanes import LaneSchedule, PlannedCase, deploy_side_by_side
from .overlap import side_by_side
from .run import run_check

if TYPE_CHECKING:
    from .._cases.analysis import Finding
    from .._cases.loader import LoadedCase
    from .._targets.base import Target

__all__ = ["CHECKS_AT_ONCE", "close_schedule", "leave_case", "run_scheduled", "side_by_side"]

# Checks of one case in flight together. Each is mostly waiting (on Envoy, on
# delays), but each attempt costs the harness some CPU: more than this buys
# nothing on a few cores.
CHECKS_AT_ONCE = 8


class _CaseRun:
    """The pool of one case's independent checks, by check index."""

    def __init__(
        self, loaded: LoadedCase, run: Callable[[int], None], indices: Sequence[int] = ()
    ) -> None:
        self.loaded = loaded
        self._pool: ThreadPoolExecutor | None = None
        self._futures: dict[int, Future[None]] = {}
        if indices:  # none: the case's checks run one by one, in their items
            self._pool = ThreadPoolExecutor(
                max_workers=min(CHECKS_AT_ONCE, len(indices)), thread_name_prefix="meshgate-check"
            )
            self._futures = {i: self._pool.submit(run, i) for i in indices}

    def take(self, index: int) -> Future[None] | None:
        """The started run of check ``index``, once (a rerun of the item runs it again)."""
        return self._futures.pop(index, None)

    def drain(self) -> None:
        """Wait until every started check has finished (their outcomes stay for their items)."""
        wait(list(self._futures.values()))

    def close(self) -> None:
        """Drop checks not yet started, wait for the running ones, stop the threads."""
        for future in self._futures.values():
            future.cancel()
        if self._pool is not None:
            self._pool.shutdown(wait=True)
        self._futures.clear()


class _Schedule:
    def __init__(self) -> None:
        self.current: _CaseRun | None = None  # the case whose items are running
        self.lock = threading.Lock()
        # (id of a case, check index) reported already: a case met again (items
        # reordered by a plugin) starts only the checks still to come.
        self.reported: set[tuple[int, int]] = set()

    def leave(self) -> None:
        if self.current is not None:
            current, self.current = self.current, None
            current.close()


_SCHEDULES: weakref.WeakKeyDictionary[Target, _Schedule] = weakref.WeakKeyDictionary()


_LANES: weakref.WeakKeyDictionary[Target, LaneSchedule] = weakref.WeakKeyDictionary()


def run_scheduled(
    target: Target,
    loaded: LoadedCase,
    index: int,
    findings: Sequence[Finding],
    selected: Callable[[], Sequence[int]],
    lanes: int = 1,
    plan: Callable[[], Sequence[PlannedCase]] | None = None,
) -> None:
    """Judge check ``index`` of ``loaded``: its started run's outcome, or run it now.

    ``selected`` gives the indices of the case's checks this session runs
    (after ``-k``, deselection and xdist's grouping). With ``lanes`` above 1,
    a target that runs cases concurrently and ``plan`` (the session's cases
    in item order), cases run ahead on lanes (``_suite/lanes.py``).
    """
    if lanes > 1 and plan is not None and target.concurrent_cases and target.concurrent_checks:
        lane_schedule = _LANES.get(target)
        if lane_schedule is None:
            lane_schedule = _LANES[target] = LaneSchedule(target, lanes, plan, CHECKS_AT_ONCE)
        lane_schedule.report(loaded, index, findings)
        return
    schedule = _SCHEDULES.setdefault(target, _Schedule())
    with schedule.lock:
        if schedule.current is None or schedule.current.loaded is not loaded:
            schedule.leave()
            to_come = [i for i in selected() if (id(loaded), i) not in schedule.reported]
            schedule.current = _start(target, loaded, findings, to_come)
        current = schedule.current
        schedule.reported.add((id(loaded), index))
    started = current.take(index)
    if started is not None:
        started.result()  # raises what the check raised: CheckFailed, TargetError, skip
        return
    current.drain()
    run_check(target, loaded, index, findings)


def _start(
    target: Target,
    loaded: LoadedCase,
    findings: Sequence[Finding],
    to_come: Sequence[int],
) -> _CaseRun:
    def run(i: int) -> None:
        run_check(target, loaded, i, findings)

    return _CaseRun(loaded, run, deploy_side_by_side(target, loaded, to_come))


def close_schedule(target: Target) -> None:
    """Finish the case running side by side on ``target`` (before the target closes)."""
    lane_schedule = _LANES.pop(target, None)
    try:
        if lane_schedule is not None:
            lane_schedule.close()
    finally:
        schedule = _SCHEDULES.pop(target, None)
        if schedule is not None:
            with schedule.lock:
                schedule.leave()


def leave_case(target: Target) -> None:
    """Finish the case running side by side on ``target`` before another deployment (the
    Python API's) replaces it; what was reported stays, and the case's other checks start
    again when their items come."""
    lane_schedule = _LANES.get(target)
    if lane_schedule is not None:
        lane_schedule.hold()  # lanes run nothing until the next case item
    schedule = _SCHEDULES.get(target)
    if schedule is not None:
        with schedule.lock:
            schedule.leave()
