"""The sequential split judge: verdicts, stray traffic, the cap, messages and its error rates."""

from __future__ import annotations

import itertools
import random
from collections.abc import Callable, Iterable, Sequence

import pytest

from pytest_meshgate._judge.split import SplitPolicy, SplitVerdict, judge_split


def cycle(pattern: Iterable[str]) -> Callable[[int], list[str]]:
    """A deterministic gateway: repeats ``pattern`` forever (its shares are exact)."""
    source = itertools.cycle(list(pattern))
    return lambda n: list(itertools.islice(source, n))


def shares(truth: dict[str, float], seed: int) -> Callable[[int], list[str]]:
    """A random gateway that serves ``truth`` shares, seeded."""
    rng = random.Random(seed)
    labels, weights = list(truth), list(truth.values())
    return lambda n: rng.choices(labels, weights=weights, k=n)


def then(first: Sequence[str], rest: str) -> Callable[[int], list[str]]:
    """``first`` outcomes in order, then ``rest`` forever."""
    source = itertools.chain(first, itertools.repeat(rest))
    return lambda n: list(itertools.islice(source, n))


def test_exact_goal_passes_before_the_cap() -> None:
    verdict = judge_split(shares({"v1": 50, "v2": 50}, seed=1), {"v1": 50, "v2": 50})
    assert verdict.passed and verdict.decided
    assert verdict.samples < SplitPolicy().max_samples
    assert sum(verdict.counts.values()) == verdict.samples


def test_exact_three_way_goal_passes() -> None:
    verdict = judge_split(cycle(["a", "b", "c", "c"]), {"a": 25, "b": 25, "c": 50})
    assert verdict.passed and verdict.decided


def test_far_off_split_fails_quickly() -> None:
    verdict = judge_split(cycle(["v1"]), {"v1": 50, "v2": 50})
    assert not verdict.passed and verdict.decided
    # ln(0.65/0.5) per sample against ln(2/0.001): 29 samples, so three batches of 10.
    assert verdict.samples == 30
    assert verdict.counts == {"v1": 30}


def test_swapped_weights_fail() -> None:
    verdict = judge_split(shares({"v1": 20, "v2": 80}, seed=2), {"v1": 80, "v2": 20})
    assert not verdict.passed and verdict.decided
    assert verdict.samples <= 100


def test_share_off_in_one_of_three_labels_fails() -> None:
    verdict = judge_split(cycle(["a", "a", "b", "c"]), {"a": 25, "b": 25, "c": 50})
    assert not verdict.passed and verdict.decided
    assert "'c'" in verdict.reason or "'a'" in verdict.reason


def test_full_share_passes_once_the_tolerance_is_ruled_out() -> None:
    # 0.85 ** n <= 0.001 first at n = 43, so five batches of 10.
    verdict = judge_split(cycle(["v1"]), {"v1": 100, "v2": 0})
    assert verdict.passed and verdict.decided
    assert verdict.samples == 50


@pytest.mark.parametrize("goal", [{"v1": 90, "v2": 10}, {"v2": 10, "v1": 90}])
def test_alternatives_at_zero_and_one_share_decide_without_nan(goal: dict[str, float]) -> None:
    # Tolerance 10 puts one alternative at exactly 100 % and, label order reversed, 0 %.
    policy = SplitPolicy(tolerance=10)
    on_goal = judge_split(cycle(["v1"] * 9 + ["v2"]), goal, policy)
    assert on_goal.passed and on_goal.decided
    all_v1 = judge_split(cycle(["v1"]), goal, policy)
    assert not all_v1.passed and all_v1.decided
    assert "100.0 % explains the counts" in all_v1.reason or "0.0 % explains" in all_v1.reason


def test_weight_zero_fails_at_the_first_stray_sample() -> None:
    policy = SplitPolicy(batch=1)
    verdict = judge_split(then(["v1", "v2"] * 3, "v3"), {"v1": 50, "v2": 50, "v3": 0}, policy)
    assert not verdict.passed and verdict.decided
    assert verdict.samples == 7
    assert verdict.counts == {"v1": 3, "v2": 3, "v3": 1}
    assert "'v3' (weight 0)" in verdict.reason
    assert "v3  observed  14.3 % (1/7), goal   0.0 % (weight 0), gap +14.3 pp" in (
        verdict.describe()
    )


def test_label_not_in_the_goal_fails_at_once() -> None:
    policy = SplitPolicy(batch=1)
    verdict = judge_split(then(["v1", "v2"], "status/500"), {"v1": 1, "v2": 1}, policy)
    assert not verdict.passed and verdict.decided
    assert verdict.samples == 3
    assert "'status/500' (not in the goal)" in verdict.reason
    assert "(not in the goal)" in verdict.describe()


def test_goal_weights_are_normalised() -> None:
    verdict = judge_split(cycle(["a", "a", "a", "b"]), {"a": 3, "b": 1})
    assert verdict.goal == {"a": 75.0, "b": 25.0}
    assert verdict.passed
    scaled = judge_split(shares({"a": 3, "b": 1}, seed=5), {"a": 300, "b": 100})
    plain = judge_split(shares({"a": 3, "b": 1}, seed=5), {"a": 75, "b": 25})
    assert (scaled.passed, scaled.samples, scaled.counts) == (
        plain.passed,
        plain.samples,
        plain.counts,
    )


def test_istio_weights_off_by_half_fail_after_normalising() -> None:
    verdict = judge_split(cycle(["a", "b"]), {"a": 3, "b": 1})  # 50/50 against 75/25
    assert not verdict.passed and verdict.decided


@pytest.mark.parametrize(
    "goal", [{}, {"a": 0.0}, {"a": -1.0, "b": 2.0}, {"a": float("nan")}, {"a": float("inf")}]
)
def test_bad_goals_are_refused(goal: dict[str, float]) -> None:
    with pytest.raises(ValueError):
        judge_split(cycle(["a"]), goal)


@pytest.mark.parametrize(
    "kwargs",
    [{"tolerance": 0}, {"tolerance": 100}, {"false_pass": 0}, {"false_fail": 1}, {"batch": 0}],
)
def test_bad_policies_are_refused(kwargs: dict[str, float]) -> None:
    with pytest.raises(ValueError):
        SplitPolicy(**kwargs)  # type: ignore[arg-type]


def test_cap_on_goal_passes_undecided_and_draws_exactly_the_cap() -> None:
    asked: list[int] = []
    source = cycle(["v1", "v2"])

    def draw(n: int) -> list[str]:
        asked.append(n)
        return source(n)

    verdict = judge_split(draw, {"v1": 50, "v2": 50}, SplitPolicy(max_samples=45))
    assert asked == [10, 10, 10, 10, 5]
    assert verdict.samples == 45 and not verdict.decided
    assert verdict.passed  # 23/45 = 51.1 %, within 7.5 points
    assert "sample cap of 45 reached undecided" in verdict.reason


def test_cap_off_by_more_than_half_the_tolerance_fails_undecided() -> None:
    verdict = judge_split(
        cycle(["v1", "v1", "v1", "v2", "v2"]), {"v1": 50, "v2": 50}, SplitPolicy(max_samples=40)
    )
    assert not verdict.decided and not verdict.passed  # 60 %: 10 points > 7.5
    assert "largest gap: 'v1' 10.0 points" in verdict.reason


def test_short_draw_is_a_programming_error() -> None:
    with pytest.raises(RuntimeError, match="returned 3 outcomes"):
        judge_split(lambda n: ["v1"] * 3, {"v1": 1, "v2": 1})


def test_message_shows_shares_gaps_samples_and_rule() -> None:
    verdict = judge_split(cycle(["v1"]), {"v1": 50, "v2": 50})
    text = verdict.describe()
    assert text.splitlines()[0] == (
        "split failed after 30 samples (tolerance 15 percentage points):"
    )
    assert "v1  observed 100.0 % (30/30), goal  50.0 %, gap +50.0 pp" in text
    assert "v2  observed   0.0 % (0/30), goal  50.0 %, gap -50.0 pp" in text
    assert "decided by: the share of 'v1' is above its goal of 50.0 %" in text
    assert "false fail at most 0.1 %" in text


def test_pass_message_names_the_false_pass_bound() -> None:
    text = judge_split(cycle(["v1"]), {"v1": 100, "v2": 0}).describe()
    assert text.startswith("split passed after 50 samples")
    assert "false pass at most 0.1 %" in text


def test_verdict_is_a_plain_value() -> None:
    verdict = SplitVerdict(passed=True, counts={"a": 2}, samples=2, goal={"a": 100.0}, decided=True)
    assert "a  observed 100.0 % (2/2), goal 100.0 %, gap +0.0 pp" in verdict.describe()


def error_rate(goal: dict[str, float], truth: dict[str, float], trials: int, seed: int) -> float:
    draw = shares(truth, seed)
    return sum(judge_split(draw, goal).passed for _ in range(trials)) / trials


@pytest.mark.parametrize(
    ("goal", "boundary"),
    [
        ({"v1": 50, "v2": 50}, {"v1": 65, "v2": 35}),
        ({"v1": 80, "v2": 20}, {"v1": 65, "v2": 35}),
        ({"a": 25, "b": 25, "c": 50}, {"a": 32.5, "b": 32.5, "c": 35}),
    ],
)
def test_simulated_error_rates_at_the_goal_and_the_boundary(
    goal: dict[str, float], boundary: dict[str, float]
) -> None:
    # 300 seeded trials each: a 0.1 % rate gives 0 or 1 errors; a broken test gives many.
    assert 1.0 - error_rate(goal, goal, trials=300, seed=11) <= 0.01
    assert error_rate(goal, boundary, trials=300, seed=12) <= 0.01


def test_summary_is_one_line_of_shares_against_goals() -> None:
    verdict = SplitVerdict(
        passed=False,
        counts={"reviews/v1": 52, "reviews/v2": 7, "status/503": 1},
        samples=60,
        goal={"reviews/v1": 50.0, "reviews/v2": 50.0},
        decided=True,
    )
    assert verdict.summary() == (
        "reviews/v1 86.7 % (goal 50 %), reviews/v2 11.7 % (goal 50 %), "
        "status/503 1.7 % (not in the goal) in 60 answers"
    )
