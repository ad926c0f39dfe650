"""The sequential judge for ``split`` checks: sample until the evidence decides, then stop.

The question
------------
A ``split`` goal gives each outcome label (a backend such as ``reviews/v1``, or
a status such as ``status/503``) a weight. Weights are normalised to
percentages (Istio weights need not sum to 100). The judge draws outcomes in
batches and decides between:

- **pass**: the gateway splits traffic as the goal says;
- **fail**: some label's share is off the goal by at least the *tolerance*
  ``T`` percentage points, or traffic reached a label the goal gives nothing.

Guarantees (what "tolerance" means)
-----------------------------------
The tolerance is an *indifference zone*, not a pass band:

1. If the true shares equal the goal exactly, the judge passes with
   probability at least ``1 - false_fail`` (default 99.9 %).
2. If some label's true share differs from its goal by ``T`` points or more,
   the judge fails with probability at least ``1 - false_pass`` (99.9 %).
3. Between the two (some share off by less than ``T``), either verdict may
   come out; the further off, the likelier a fail.
4. A label whose weight is 0, or that the goal does not name, must receive
   nothing: the first such sample fails the check. Stray traffic at a rate of
   ``T`` or more is therefore caught by (2); stray traffic at a lower rate
   ``s`` is caught only if one of the ``n`` samples hits it (probability
   ``1 - (1 - s) ** n``), which no bounded sample can promise for tiny ``s``.

Guarantees 1 and 2 are exact bounds for the test without its sample cap (see
"Why the bounds hold"). The cap adds the error of its fallback rule on the
rare runs that reach it; the simulation in ``benchmarks/split.py`` counts those
runs in its measured rates.

The test
--------
For each label ``i`` with goal share ``g`` and each side where a share off by
``T`` is possible (``g + T <= 1``, ``g - T >= 0``), one Wald sequential
probability ratio test (SPRT) compares the Bernoulli likelihood of the
label's count under ``g`` (null) against ``g + T`` or ``g - T`` (alternative)::

    LLR(n, h) = h * ln(p1 / g) + (n - h) * ln((1 - p1) / (1 - g))

with ``n`` samples so far and ``h`` hits on the label. A side *rejects* the
goal when ``LLR >= ln(m / false_fail)`` (``m`` sides in all) and *accepts* it
when ``LLR <= ln(false_pass)``; an accepted side is settled and no longer
watched. The judge fails as soon as any side rejects, and passes once every
side has accepted. With two labels, the second label's count is ``n - h``,
so its sides duplicate the first's and only the first label is tested.

Why the bounds hold
-------------------
Each likelihood ratio is a nonnegative martingale with mean 1 under its own
null (or, inverted, under its own alternative), so Ville's inequality bounds
the chance that it *ever* crosses ``1/a`` by ``a``: for any stopping rule,
batch size or cap, not just Wald's approximation. Under the goal, a false fail
needs one of ``m`` sides to cross ``m / false_fail``, at most ``false_fail``
in all (Bonferroni over sides; the measured rates in the docs show how
little it gives away). When a share is off by ``T`` or more, a
false pass needs that label's side on that direction to accept, at most
``false_pass``; no Bonferroni share is needed because one side detecting
suffices. For shares further off than ``T`` the chance only falls (monotone
likelihood ratio: a path with more hits crosses the accept line later).

Why this test and not another
-----------------------------
Wald's SPRT minimises the expected sample size at both of its hypotheses
among all tests with the same error rates, and the correct configuration
(shares equal the goal) is the common case in a conformance suite, so the
test is optimal where it is used most. A multinomial generalised likelihood
ratio or a mixture confidence sequence handles many labels jointly but needs
more samples at the goal point itself; with at most ``2k`` sides the
Bonferroni split costs ``ln(2k)`` nats of threshold on the fail side only.

Limits
------
Binomial information bounds every test: telling ``0.50`` from ``0.55`` at
0.1 % errors takes about 1400 samples on average even for the SPRT, and the
two-sided question (off in either direction) costs more than one side. A
5-point tolerance therefore cannot be judged in a few hundred requests; the
default tolerance is 15 points (see ``docs/split-judge.md`` for the measured
sample sizes per scenario).

Sample cap
----------
After ``max_samples`` outcomes without a decision the judge stops and decides
by the nearest simple rule: pass if and only if every observed share is
within ``T / 2`` points of its goal (the midpoint of the indifference zone).
The verdict then says ``decided=False``.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

__all__ = ["SplitPolicy", "SplitVerdict", "judge_split"]

# Float slack when a goal share plus or minus the tolerance lands on 0 or 1.
_EDGE = 1e-9
DEFAULT_TOLERANCE = 15.0  # percentage points; docs/split-judge.md shows why not 5


@dataclass(frozen=True)
class SplitPolicy:
    """How sure the judge must be, how close counts as on goal, and how much it may sample."""

    tolerance: float = DEFAULT_TOLERANCE  # points: a share off by this much must fail
    false_pass: float = 0.001  # bound on passing when a share is off by >= tolerance
    false_fail: float = 0.001  # bound on failing when the shares equal the goal
    max_samples: int = 1000  # cap; reached undecided, the T/2 rule decides
    batch: int = 10  # outcomes requested per draw() call (sent concurrently)

    def __post_init__(self) -> None:
        if not 0.0 < self.tolerance < 100.0:
            raise ValueError(f"tolerance must be between 0 and 100 points, not {self.tolerance}")
        for name in ("false_pass", "false_fail"):
            rate = getattr(self, name)
            if not 0.0 < rate < 1.0:
                raise ValueError(f"{name} must be a probability between 0 and 1, not {rate}")
        if self.max_samples < 1 or self.batch < 1:
            raise ValueError("max_samples and batch must be at least 1")


@dataclass(frozen=True)
class SplitVerdict:
    """What the judge saw and decided; ``describe()`` is the failure message."""

    passed: bool
    counts: Mapping[str, int]  # label -> observed count, including labels not in the goal
    samples: int
    goal: Mapping[str, float]  # normalised percentages
    decided: bool  # False when the sample cap was hit
    reason: str = ""  # the rule that decided, in words
    tolerance: float = DEFAULT_TOLERANCE

    def summary(self) -> str:
        """One line: each label's observed share against its goal, and the samples.

        ``reviews/v1 86.7 % (goal 50 %), reviews/v2 13.3 % (goal 50 %) in 60 answers``;
        a label outside the goal reads ``(not in the goal)``.
        """
        labels = list(self.goal) + sorted(set(self.counts) - set(self.goal))
        parts: list[str] = []
        for label in labels:
            count = self.counts.get(label, 0)
            observed = 100.0 * count / self.samples if self.samples else 0.0
            goal = (
                f"goal {_number(round(self.goal[label], 1))} %"
                if label in self.goal
                else "not in the goal"
            )
            parts.append(f"{label} {observed:.1f} % ({goal})")
        return f"{', '.join(parts)} in {self.samples} answers"

    def describe(self) -> str:
        """Observed share against goal per label, the gap in points, samples and the rule."""
        verdict = "passed" if self.passed else "failed"
        lines = [
            f"split {verdict} after {self.samples} samples "
            f"(tolerance {_number(self.tolerance)} percentage points):"
        ]
        labels = list(self.goal) + sorted(set(self.counts) - set(self.goal))
        width = max(len(label) for label in labels)
        for label in labels:
            count = self.counts.get(label, 0)
            observed = 100.0 * count / self.samples if self.samples else 0.0
            if label not in self.goal:
                target, note = 0.0, " (not in the goal)"
            else:
                target = self.goal[label]
                note = " (weight 0)" if target == 0.0 else ""
            lines.append(
                f"  {label:<{width}}  observed {observed:5.1f} % ({count}/{self.samples}), "
                f"goal {target:5.1f} %{note}, gap {observed - target:+.1f} pp"
            )
        lines.append(f"decided by: {self.reason}")
        return "\n".join(lines)


@dataclass(frozen=True)
class _Side:
    """One SPRT: a label's goal share against the share ``tolerance`` above or below it."""

    label: str
    goal: float
    alternative: float
    hit: float  # log-likelihood ratio added per sample on the label
    miss: float  # ... and per sample elsewhere
    reject: float  # LLR at or above which the goal is rejected (fail)
    accept: float  # LLR at or below which the alternative is rejected (settled)

    def llr(self, hits: int, samples: int) -> float:
        # Skip empty terms: a hit or miss weight may be infinite (alternative 0 or 1).
        total = 0.0
        if hits:
            total += hits * self.hit
        if samples - hits:
            total += (samples - hits) * self.miss
        return total


def judge_split(
    draw: Callable[[int], Sequence[str]],
    goal: Mapping[str, float],
    policy: SplitPolicy | None = None,
) -> SplitVerdict:
    """Draw outcomes until the split is shown on goal or off by the tolerance (see module doc)."""
    policy = policy or SplitPolicy()
    percentages = normalise(goal)
    shares = {label: pct / 100.0 for label, pct in percentages.items()}
    allowed = frozenset(label for label, share in shares.items() if share > 0.0)
    sides = _sides(shares, policy)
    counts: Counter[str] = Counter()
    samples = 0
    open_sides = sides

    def verdict(passed: bool, decided: bool, reason: str) -> SplitVerdict:
        return SplitVerdict(
            passed=passed,
            counts=dict(counts),
            samples=samples,
            goal=percentages,
            decided=decided,
            reason=reason,
            tolerance=policy.tolerance,
        )

    while True:
        want = min(policy.batch, policy.max_samples - samples)
        outcomes = draw(want)
        if len(outcomes) != want:
            raise RuntimeError(f"draw({want}) returned {len(outcomes)} outcomes, not {want}")
        counts.update(outcomes)
        samples += want
        if not allowed.issuperset(outcomes):
            stray = sorted(set(outcomes) - allowed)
            named = ", ".join(
                f"{label!r} ({'weight 0' if label in shares else 'not in the goal'})"
                for label in stray
            )
            return verdict(
                False, True, f"traffic reached {named}; a label with weight 0 must receive nothing"
            )
        still_open = []
        for side in open_sides:
            llr = side.llr(counts[side.label], samples)
            if llr >= side.reject:
                return verdict(False, True, _rejection(side, llr, policy))
            if llr > side.accept:
                still_open.append(side)
        open_sides = still_open
        if not open_sides:
            return verdict(
                True,
                True,
                f"every share off the goal by {_number(policy.tolerance)} points or more was "
                f"ruled out at likelihood ratio {1 / policy.false_pass:.0f}:1 "
                f"(false pass at most {_percent(policy.false_pass)})",
            )
        if samples >= policy.max_samples:
            return _capped(verdict, counts, samples, shares, policy)


def normalise(goal: Mapping[str, float]) -> dict[str, float]:
    """Weights to percentages summing to 100, in the goal's order."""
    if not goal:
        raise ValueError("a split goal needs at least one label")
    for label, weight in goal.items():
        if not math.isfinite(weight) or weight < 0:
            raise ValueError(f"weight of {label!r} must be a finite number >= 0, not {weight}")
    total = math.fsum(goal.values())
    if total <= 0:
        raise ValueError("a split goal needs at least one label with a weight above 0")
    return {label: 100.0 * weight / total for label, weight in goal.items()}


def _sides(shares: Mapping[str, float], policy: SplitPolicy) -> list[_Side]:
    positive = [(label, share) for label, share in shares.items() if share > 0.0]
    if len(positive) == 2:
        positive = positive[:1]  # the other label's count is the complement: same test
    tolerance = policy.tolerance / 100.0
    pairs: list[tuple[str, float, float]] = []
    for label, share in positive:
        for alternative in (share + tolerance, share - tolerance):
            if alternative > 1.0 + _EDGE or alternative < -_EDGE:
                continue  # no share that far off exists on this side
            pairs.append((label, share, min(1.0, max(0.0, alternative))))
    reject = math.log(len(pairs) / policy.false_fail) if pairs else math.inf
    accept = math.log(policy.false_pass)
    return [
        _Side(
            label=label,
            goal=share,
            alternative=alt,
            hit=_log_ratio(alt, share),
            miss=_log_ratio(1.0 - alt, 1.0 - share),
            reject=reject,
            accept=accept,
        )
        for label, share, alt in pairs
    ]


def _log_ratio(numerator: float, denominator: float) -> float:
    if numerator <= _EDGE:
        return -math.inf
    if denominator <= _EDGE:
        return math.inf
    return math.log(numerator / denominator)


def _rejection(side: _Side, llr: float, policy: SplitPolicy) -> str:
    direction = "above" if side.alternative > side.goal else "below"
    ratio = "infinite" if math.isinf(llr) else f"{math.exp(llr):.0f}:1"
    return (
        f"the share of {side.label!r} is {direction} its goal of {100 * side.goal:.1f} %: "
        f"{100 * side.alternative:.1f} % explains the counts better by likelihood ratio "
        f"{ratio} (false fail at most {_percent(policy.false_fail)})"
    )


def _capped(
    verdict: Callable[[bool, bool, str], SplitVerdict],
    counts: Mapping[str, int],
    samples: int,
    shares: Mapping[str, float],
    policy: SplitPolicy,
) -> SplitVerdict:
    half = policy.tolerance / 2.0
    worst_label, worst_gap = max(
        (
            (label, abs(100.0 * (counts.get(label, 0) / samples - share)))
            for label, share in shares.items()
        ),
        key=lambda item: item[1],
    )
    passed = worst_gap <= half
    return verdict(
        passed,
        False,
        f"sample cap of {policy.max_samples} reached undecided; fallback rule: pass if every "
        f"observed share is within {_number(half)} points of its goal (largest gap: "
        f"{worst_label!r} {worst_gap:.1f} points)",
    )


def _number(value: float) -> str:
    return f"{value:g}"


def _percent(rate: float) -> str:
    return f"{100 * rate:g} %"
