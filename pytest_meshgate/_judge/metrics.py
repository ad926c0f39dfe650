"""``expect.metrics``: each named proxy's Prometheus samples before and after the request."""

from __future__ import annotations

from collections.abc import Mapping

from .._cases.model.expect import Expect
from .._cases.model.metrics import LabelMatch, MetricExpectation
from .._exchange.records import Exchange, MetricSnapshot, SeriesKey

__all__ = ["METRICS_KEY", "describe_series", "growth", "judge_metrics", "matching_growth"]

# Exchange.extra key: proxy -> (snapshot before, snapshot after), put there by the suite.
METRICS_KEY = "metrics"

# How many grown series a failure names.
_SHOWN = 6


def growth(
    before: Mapping[SeriesKey, float], after: Mapping[SeriesKey, float]
) -> dict[SeriesKey, float]:
    """Each series' growth (a new series grew from 0); unchanged series left out."""
    grown: dict[SeriesKey, float] = {}
    for key, value in after.items():
        change = value - before.get(key, 0.0)
        if change:
            grown[key] = change
    return grown


def describe_series(key: SeriesKey) -> str:
    name, labels = key
    return name + "{" + ",".join(f'{k}="{v}"' for k, v in labels) + "}"


def _label_ok(want: str | LabelMatch, value: str | None) -> bool:
    if value is None:
        return False
    if isinstance(want, LabelMatch):
        return want.matches(value)
    if want != value:
        try:  # a bucket bound written 100 or 100.0
            return float(want) == float(value)
        except ValueError:
            return False
    return True


def matching_growth(want: MetricExpectation, grown: Mapping[SeriesKey, float]) -> float:
    """The summed growth of the series of ``want.name`` that carry ``want``'s labels."""
    wanted = want.wanted_labels()
    total = 0.0
    for (name, labels), change in grown.items():
        if name != want.name:
            continue
        have = dict(labels)
        if any(label in have for label in want.absent_labels):
            continue
        if all(_label_ok(value, have.get(label)) for label, value in wanted.items()):
            total += change
    return total


def _format(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else f"{value:g}"


def judge_metrics(expect: Expect, exchange: Exchange) -> list[str]:
    """One line per ``metrics`` entry whose growth is not what it says."""
    failures: list[str] = []
    found: dict[str, tuple[MetricSnapshot, MetricSnapshot]] = exchange.extra.get(METRICS_KEY, {})
    for i, want in enumerate(expect.metrics or ()):
        where = f"metrics[{i}] {want.proxy} {want.name}"
        pair = found.get(want.proxy)
        if pair is None:
            failures.append(f"{where}: the target read no metrics of that proxy")
            continue
        before, after = pair
        if not (before.available and after.available):
            note = before.note if not before.available else after.note
            failures.append(f"{where}: no metrics ({note})")
            continue
        grown = growth(before.samples, after.samples)
        total = matching_growth(want, grown)
        if want.growth_ok(total):
            continue
        labels = ", ".join(f"{k}={v}" for k, v in want.wanted_labels().items())
        absent = f"; without {', '.join(want.absent_labels)}" if want.absent_labels else ""
        same_name = [(k, v) for k, v in grown.items() if k[0] == want.name]
        shown = "; ".join(f"{describe_series(k)} +{_format(v)}" for k, v in same_name[:_SHOWN])
        more = f" (and {len(same_name) - _SHOWN} more)" if len(same_name) > _SHOWN else ""
        failures.append(
            f"{where}{{{labels}{absent}}}: expected growth {want.describe_bound()}, "
            f"grew {_format(total)}; "
            + (f"series of {want.name} that grew: {shown}{more}" if shown else "none grew")
        )
    return failures
