"""The case file contract (``meshgate.dev/v1alpha1``): a case and its checks.

A case names what it deploys (``workloads``), the Istio resources under test
and its checks: a ``request`` each and the outcome it must get (``expect``).
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field, model_validator

from .base import Slug, StrictModel
from .expect import Expect
from .request import Request
from .workloads import Client, GatewayWorkload, Secret, Service

__all__ = [
    "API_VERSION",
    "Case",
    "CaseMetadata",
    "CaseSpec",
    "Check",
    "Include",
]

API_VERSION = "meshgate.dev/v1alpha1"


class Include(StrictModel):
    """``- include: path``: manifests from another file, relative to this one."""

    include: str


class Check(StrictModel):
    """A request and the outcome it must get; or status conditions only."""

    name: str = Field(min_length=1, max_length=200)
    description: str | None = None
    skip: str | None = Field(default=None, description="Skip this check, with the reason.")
    request: Request | None = Field(
        default=None, description="Required unless the check expects only conditions."
    )
    expect: Expect = Field(default_factory=Expect)

    @model_validator(mode="after")
    def _count_for_aggregates(self) -> Check:
        expect = self.expect
        if self.request is None:
            # A status check: conditions and nothing about an answer.
            judged = [
                k for k, v in expect.model_dump(exclude_defaults=True).items() if k != "conditions"
            ]
            if not expect.conditions or judged:
                raise ValueError(
                    "a check without request expects conditions only"
                    + (f" (drop {', '.join(judged)})" if judged and expect.conditions else "")
                )
            return self
        if self.request.count is None:
            given = [k for k in ("counts", "pods") if getattr(expect, k) is not None]
            if given:
                raise ValueError(f"{', '.join(given)} need request.count")
        elif expect.counts is not None:
            for label, bound in expect.counts.items():
                if bound.at_least is not None and bound.at_least > self.request.count:
                    raise ValueError(
                        f"counts.{label}.atLeast {bound.at_least} is above "
                        f"request.count {self.request.count}"
                    )
        return self

    @model_validator(mode="after")
    def _grpc_expectations(self) -> Check:
        if self.request is None:
            return self  # a status check: _count_for_aggregates allows conditions only
        if self.request.grpc is None:
            if self.expect.grpc is not None:
                raise ValueError("expect.grpc needs request.grpc")
        elif self.expect.redirect is not None:
            raise ValueError("a gRPC call follows no redirect; drop expect.redirect")
        return self


class CaseMetadata(StrictModel):
    name: Slug = Field(description="Unique in the suite; the pytest id.")
    description: str | None = None
    features: list[str] = Field(default_factory=list)
    provisional: bool = False


class CaseSpec(StrictModel):
    services: list[Service] = Field(default_factory=list)
    clients: list[Client] = Field(default_factory=list)
    gateways: list[GatewayWorkload] = Field(default_factory=list)
    secrets: list[Secret] = Field(default_factory=list)
    resources: list[dict[str, Any]] = Field(
        default_factory=list,
        description="Istio manifests as users write them, or {include: path}.",
    )
    checks: list[Check] = Field(min_length=1)

    @model_validator(mode="after")
    def _clients_exist(self) -> CaseSpec:
        names = {c.name for c in self.clients}
        for check in self.checks:
            if (
                check.request is not None
                and check.request.from_ is not None
                and (check.request.from_ not in names)
            ):
                known = ", ".join(sorted(names)) or "none"
                raise ValueError(
                    f"check {check.name!r}: from {check.request.from_!r} is not in "
                    f"spec.clients (known: {known})"
                )
        return self


class Case(StrictModel):
    """One case: a document of a case file."""

    api_version: Literal["meshgate.dev/v1alpha1"]
    kind: Literal["Case"]
    metadata: CaseMetadata
    spec: CaseSpec

    @property
    def name(self) -> str:
        return self.metadata.name
