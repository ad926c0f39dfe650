"""Istio's webhook rules for Telemetry (``ValidateTelemetry`` in ``pkg/config/validation``)."""

from __future__ import annotations

import functools
from typing import Any

from ..model.istio import Metrics, Telemetry
from .common import validate_workload_selector
from .kubernetes import validate_target_ref
from .report import Report

__all__ = ["validate_telemetry"]


def validate_telemetry(telemetry: Telemetry, r: Report) -> None:
    """``ValidateTelemetry``: selector or targetRefs, providers, the CEL filter, tracing."""
    spec, s = telemetry.spec, r.at("spec")
    chosen = [spec.selector is not None, spec.target_ref is not None, bool(spec.target_refs)]
    if sum(chosen) > 1:
        s.error("only one of targetRefs or workloadSelector can be set", "selector")
    if spec.selector is not None:
        errors, warning = validate_workload_selector(spec.selector.match_labels)
        s.errors(errors, "selector", "matchLabels")
        s.warn(warning, "selector")
    if spec.target_ref is not None:
        validate_target_ref(spec.target_ref, s.at("targetRef"))
    for i, ref in enumerate(spec.target_refs):
        validate_target_ref(ref, s.at("targetRefs", i))
    for i, metrics in enumerate(spec.metrics):
        _validate_metrics(metrics, s.at("metrics", i))
    if len(spec.tracing) > 1:
        s.warn("multiple tracing is not currently supported", "tracing")
    for i, tracing in enumerate(spec.tracing):
        t = s.at("tracing", i)
        providers = tracing.get("providers")
        if isinstance(providers, list) and len(providers) > 1:
            t.warn("multiple providers is not currently supported", "providers")
        _validate_providers(providers, t)
        percentage = tracing.get("randomSamplingPercentage")
        if isinstance(percentage, (int, float)) and not 0 <= percentage <= 100:
            t.error(
                "randomSamplingPercentage must be in range [0.0, 100.0]",
                "randomSamplingPercentage",
            )
    for i, logging in enumerate(spec.access_logging):
        a = s.at("accessLogging", i)
        if logging.filter is not None:
            a.error(_cel_problem(logging.filter.expression), "filter", "expression")
        for j, provider in enumerate(logging.providers):
            if not provider.name:
                a.error("providers.name may not be empty", "providers", j)
                break


def _validate_metrics(metrics: Metrics, r: Report) -> None:
    """``validateTelemetryMetrics``."""
    for j, provider in enumerate(metrics.providers):
        if not provider.name:
            r.error("providers.name may not be empty", "providers", j)
            break
    for j, override in enumerate(metrics.overrides):
        o = r.at("overrides", j)
        if override is None:
            o.error("tagOverrides may not be null")
            continue
        for name, tag in override.tag_overrides.items():
            if name == "":
                o.warn("tagOverrides.name may not be empty", "tagOverrides")
            if tag is None:
                o.error("tagOverrides may not be null", "tagOverrides", name)
                continue
            if tag.operation == "UPSERT" and not tag.value:
                o.error(
                    "tagOverrides.value must be set when operation is UPSERT",
                    "tagOverrides",
                    name,
                )
            if tag.operation == "REMOVE" and tag.value:
                o.error(
                    "tagOverrides.value may only be set when operation is UPSERT",
                    "tagOverrides",
                    name,
                )
        if override.match is not None and override.match.custom_metric == "":
            o.error("customMetric may not be empty", "match", "customMetric")


def _validate_providers(providers: Any, r: Report) -> None:
    """``validateTelemetryProviders``: every provider is named (the first unnamed one is said)."""
    if not isinstance(providers, list):
        return
    for j, provider in enumerate(providers):
        if not isinstance(provider, dict) or not provider.get("name"):
            r.error("providers.name may not be empty", "providers", j)
            return


@functools.lru_cache(maxsize=1)
def _cel_parser() -> Any:
    # The parser alone: celpy's Environment raises the interpreter's recursion limit
    # for evaluation, which validating must not do to the process.
    from celpy.celparser import CELParser  # only cases with a filter pay for the grammar

    return CELParser()


def _cel_problem(expression: str) -> str | None:
    """``validateTelemetryFilter``: the expression parses as CEL (cel-go's ``Parse``)."""
    from celpy.celparser import CELParseError

    try:
        _cel_parser().parse(expression)
    except CELParseError as exc:
        # cel-go says where: "ERROR: <input>:1:16: Syntax error: ..."; say where too.
        where = f"{getattr(exc, 'line', '?')}:{getattr(exc, 'column', '?')}"
        return f"must be a valid CEL expression, syntax error at <input>:{where}"
    return None
