"""Istio's standard metrics as Prometheus samples: read, compared before and after a request.

Both targets hand the judge a ``MetricSnapshot`` (``_exchange.records``) per proxy: the cluster
targets parse the proxy's ``:15090/stats/prometheus`` exposition (Prometheus'
own text parser, ``prometheus_client.parser``); the local target aggregates
the samples the way Istio's stats filter would have counted them
(``_targets/local/stats``). Only the ``istio_*`` families are kept.
"""

from __future__ import annotations

from collections.abc import Mapping

from .._exchange.records import SeriesKey

__all__ = [
    "DEFAULT_BUCKETS",
    "format_bound",
    "parse_exposition",
    "series_key",
]

# Envoy's default histogram buckets (``Stats::HistogramSettingsImpl::defaultBuckets``),
# which Istio keeps for its histograms unless a pod annotation changes them.
DEFAULT_BUCKETS: tuple[float, ...] = (
    0.5,
    1,
    5,
    10,
    25,
    50,
    100,
    250,
    500,
    1000,
    2500,
    5000,
    10000,
    30000,
    60000,
    300000,
    600000,
    1800000,
    3600000,
)


def format_bound(bound: float) -> str:
    """A bucket's ``le`` as Envoy writes it: ``0.5``, ``100``, ``3600000``, ``+Inf``."""
    if bound == float("inf"):
        return "+Inf"
    return str(int(bound)) if float(bound).is_integer() else repr(float(bound))


def _normal_le(text: str) -> str:
    try:
        return format_bound(float(text))
    except ValueError:
        return text


def series_key(name: str, labels: Mapping[str, str]) -> SeriesKey:
    """The key of one series; ``le`` normalised so ``100`` and ``100.0`` are one bucket."""
    items = {k: (_normal_le(v) if k == "le" else v) for k, v in labels.items()}
    return name, tuple(sorted(items.items()))


def parse_exposition(text: str) -> dict[SeriesKey, float]:
    """The ``istio_*`` samples of a Prometheus text exposition (what Envoy's
    ``/stats/prometheus`` serves), by series."""
    from prometheus_client.parser import text_string_to_metric_families

    samples: dict[SeriesKey, float] = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if not sample.name.startswith("istio_"):
                continue
            samples[series_key(sample.name, sample.labels)] = float(sample.value)
    return samples
