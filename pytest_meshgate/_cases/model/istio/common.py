"""Messages several Istio resources share: string matches, destinations, selectors.

Istio defines most of them in ``networking/v1alpha3/virtual_service.proto``
(istio/api); ``WorkloadSelector`` is ``type/v1beta1/selector.proto``.
"""

from __future__ import annotations

from pydantic import Field, model_validator

from ..base import StrictModel

__all__ = [
    "Destination",
    "LabelSelector",
    "Percent",
    "PortSelector",
    "StringMatch",
    "WorkloadSelector",
]


class StringMatch(StrictModel):
    """Istio ``StringMatch``: at most one of exact, prefix and regex (the CRD's oneOf)."""

    exact: str | None = None
    prefix: str | None = None
    regex: str | None = None

    @model_validator(mode="after")
    def _one_of(self) -> StringMatch:
        # A oneOf: at most one. An empty match is valid: for headers and query
        # parameters it means "present" (route.go canBeConvertedToPresentMatch).
        count = sum(v is not None for v in (self.exact, self.prefix, self.regex))
        if count > 1:
            raise ValueError("set only one of exact, prefix or regex")
        # Empty prefixes and regexes, and what RE2 refuses: _cases/validation.
        return self

    @property
    def is_empty(self) -> bool:
        return self.exact is None and self.prefix is None and self.regex is None


class PortSelector(StrictModel):
    number: int = Field(ge=1, le=65535)


class Percent(StrictModel):
    value: float = Field(ge=0, le=100)


class Destination(StrictModel):
    host: str = Field(min_length=1)
    subset: str | None = None
    port: PortSelector | None = None


class WorkloadSelector(StrictModel):
    """``istio.type.v1beta1.WorkloadSelector`` (DestinationRule): ``matchLabels``."""

    match_labels: dict[str, str] = Field(default_factory=dict)


class LabelSelector(StrictModel):
    """``networking.v1.WorkloadSelector`` (Sidecar, ServiceEntry): ``labels``."""

    labels: dict[str, str] = Field(default_factory=dict)
