"""Which attempts and checks of a case may overlap, and which must run alone.

Overlap is a target's promise plus a property of the case. The target
promises (``Target.confirms_configuration``) that a case's configuration is
served before its first attempt, so attempts in flight together judge the
same configuration; and (``Target.concurrent_checks``) that its senders may
be used from several threads. The case decides the rest:

- Checks that judge an aggregate of answers (``counts``, ``pods``, ``split``,
  a mirror ``share`` between 0 and 100) run alone: other requests in flight
  would change what they count (a round robin's turn, which replica answers).
  So do bursts (``count`` at a ``concurrency`` above 1): their load would
  slow the answers of checks that judge latency.
- Checks of ``metrics`` run alone, one attempt at a time: a proxy's counters
  grow with every request it handles, so another request in flight would
  count as theirs.
- Mirror checks of share 0 or 100 read the backend's request log for their
  own ``x-meshgate-id`` values only, so others' requests cannot pass them
  (the log keeps the last 10,000 requests, far more than a case sends in
  the watch window).
- A case whose DestinationRules set a ``connectionPool`` or an
  ``outlierDetection`` shares state between requests (circuit breakers,
  ejections), so its checks and their attempts keep to one at a time.
- Everything else (single requests, status conditions) is independent: each
  attempt opens its own connection and the echo tells requests apart by
  ``x-meshgate-id``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from .._cases.model.case import Check
from .._targets.base import required_capabilities

if TYPE_CHECKING:
    from .._cases.loader import LoadedCase
    from .._targets.base import Target

__all__ = [
    "QUIET_LATENCY",
    "attempts_at_once",
    "needs_quiet_machine",
    "runs_alone",
    "shares_state",
    "side_by_side",
]


def runs_alone(check: Check) -> bool:
    """A check judging an aggregate, or sending a burst: nothing else of its case runs meanwhile."""
    request, expect = check.request, check.expect
    if request is None:
        return False
    return (
        expect.split is not None
        or expect.mirror_share is not None
        or expect.counts is not None
        or expect.pods is not None
        or expect.metrics is not None
        or (request.concurrency or 1) > 1
    )


def side_by_side(target: Target, loaded: LoadedCase, indices: Sequence[int]) -> list[int]:
    """Of the checks ``indices`` (those this session runs), the ones to start together:
    on a target that runs checks concurrently, those that neither run alone nor
    share state, when there are two or more."""
    if not target.concurrent_checks or shares_state(loaded):
        return []
    checks = loaded.case.spec.checks
    chosen = [
        i
        for i in indices
        if not checks[i].skip
        and not runs_alone(checks[i])
        and required_capabilities(checks[i]) <= target.capabilities
    ]
    return chosen if len(chosen) > 1 else []


def shares_state(loaded: LoadedCase) -> bool:
    """Whether a DestinationRule of the case keeps state across requests (pools, ejections)."""
    for resource in loaded.resources:
        if getattr(resource, "kind", "") != "DestinationRule":
            continue
        spec = resource.spec
        policies: list[Any] = [spec.traffic_policy]
        policies += [subset.traffic_policy for subset in spec.subsets]
        for policy in [p for p in policies if p is not None]:
            policies += policy.port_level_settings
        for policy in policies:
            if policy is None:
                continue
            if policy.connection_pool is not None or policy.outlier_detection is not None:
                return True
    return False


def attempts_at_once(target: Target, loaded: LoadedCase, check: Check) -> int:
    """How many attempts of ``check`` may be in flight together while it converges.

    A check of ``count`` answers converges at most ``concurrency`` at a time
    (its batch is sent that way anyway, and must pass the same per-answer
    expectations); a single request overlaps all its passing attempts unless
    its case shares state between requests.
    """
    if not target.confirms_configuration or check.request is None:
        return 1
    if check.expect.metrics is not None:
        return 1
    successes = target.consistency.successes
    request = check.request
    if request.count is not None or check.expect.mirrored_to is not None:
        return max(1, min(successes, request.concurrency or 1))
    if shares_state(loaded):
        return 1
    return successes


# An upper latency bound this tight judges the machine as much as the gateway;
# such a case gets the cores to itself. Other lanes share only the cores (never
# a proxy or a backend), and on two loaded cores they add tens of milliseconds
# to an answer; the tightest bound in cases/ is 900 ms.
QUIET_LATENCY = 0.3


def needs_quiet_machine(loaded: LoadedCase) -> bool:
    """Whether the case must run with no other case in flight on other lanes.

    A busier machine only makes answers slower and bursts less simultaneous,
    which can fail a check but not pass one: a missing delay cannot look
    like one for three attempts in a row, a missing circuit breaker cannot
    overflow, and absence windows (a mirror share of 0, ``logged: false``)
    wait a second for what arrives within milliseconds. Only an upper
    latency bound under ``QUIET_LATENCY`` is left to chance, so only such a
    case runs alone on the machine.
    """
    for check in loaded.case.spec.checks:
        latency = check.expect.latency
        if latency is not None and latency.at_most is not None and latency.at_most < QUIET_LATENCY:
            return True
    return False
