"""The case file contract (``meshgate.dev/v1alpha1``): a case and its checks.

A case names what it deploys (``workloads``), the Istio resources under test
and its checks: a ``request`` each and the outcome it must get (``expect``).
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field, field_validator, model_validator

from .base import CaseModel, Slug
from .expect import Expect, attribute_name
from .jwt import JwtKey
from .meshconfig import MeshConfig
from .request import Request
from .workloads import Client, GatewayWorkload, Secret, Service

__all__ = [
    "API_VERSION",
    "Case",
    "CaseMetadata",
    "CaseSpec",
    "CaseWithoutChecks",
    "Check",
    "Include",
]

API_VERSION = "meshgate.dev/v1alpha1"


class Include(CaseModel):
    """``- include: path``: manifests from another file, relative to this one."""

    include: str


class Check(CaseModel):
    """A request and the outcome it must get; or status conditions only."""

    name: str = Field(min_length=1, max_length=200)
    description: str | None = None
    skip: str | None = Field(default=None, description="Skip this check, with the reason.")
    request: Request | None = Field(
        default=None, description="Required unless the check expects only conditions."
    )
    expect: Expect = Field(default_factory=Expect)

    @field_validator("name")
    @classmethod
    def _usable_as_test_id(cls, name: str) -> str:
        # The name ends the pytest id <file>::<case>::<check>, which -k, --deselect
        # and JUnit reports must be able to spell.
        bad = next((c for c in name if not c.isprintable()), None)
        if bad is not None:
            raise ValueError(f"a check name holds no control characters (U+{ord(bad):04X})")
        if "::" in name or name != name.strip():
            raise ValueError("a check name has no '::' and no leading or trailing spaces")
        return name

    @model_validator(mode="after")
    def _latency_within_timeout(self) -> Check:
        latency = self.expect.latency
        timeout = self.request.timeout if self.request is not None else None
        at_least = latency.at_least if latency is not None else None
        if at_least is None or timeout is None:
            return self
        if self.request is not None and self.request.grpc is not None:
            # A gRPC call sends its timeout as grpc-timeout and waits past it for the
            # answer a deadline-enforcing server (Envoy) gives at the deadline: a
            # latency of at least the timeout is that answer.
            if at_least > timeout:
                raise ValueError(
                    "expect.latency.atLeast is above request.timeout, a gRPC call's "
                    "deadline: it could never pass"
                )
        elif at_least >= timeout:
            raise ValueError(
                "expect.latency.atLeast is not below request.timeout: it could never pass"
            )
        return self

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
    def _access_log_of_one_request(self) -> Check:
        # A line is found per request; a batch's lines would need a verdict of their own.
        request = self.request
        if (
            self.expect.access_log is not None
            and request is not None
            and (request.count is not None or request.concurrency is not None)
        ):
            raise ValueError("expect.accessLog judges single requests; drop request.count")
        if (
            self.expect.metrics is not None
            and request is not None
            and (request.count is not None or request.concurrency is not None)
        ):
            # The samples before and after one request: a batch would need its own delta.
            raise ValueError("expect.metrics judges single requests; drop request.count")
        if self.expect.metrics is not None and request is None:
            raise ValueError("expect.metrics judges a request's effect; give a request")
        return self

    @model_validator(mode="after")
    def _websocket_expectations(self) -> Check:
        if self.request is None:
            return self
        websocket, expect = self.request.websocket, self.expect
        if websocket is None:
            if expect.websocket is not None:
                raise ValueError("expect.websocket needs request.websocket")
            return self
        for key in ("redirect", "split", "mirroredTo", "counts", "pods"):
            if getattr(expect, attribute_name(key)) is not None:
                raise ValueError(f"a WebSocket check cannot have expect.{key}")
        for key in ("backend", "request", "via"):
            # The echo's JSON report is the answer to a plain request; a 101 has none.
            if getattr(expect, key) is not None:
                raise ValueError(
                    f"a WebSocket's answer carries no echo report: drop expect.{key} "
                    "(expect.websocket says what came back)"
                )
        if expect.websocket is not None and len(expect.websocket.messages) != len(
            websocket.messages
        ):
            raise ValueError(
                f"expect.websocket.messages: one reply per message sent "
                f"({len(websocket.messages)}), got {len(expect.websocket.messages)}"
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


class CaseMetadata(CaseModel):
    name: Slug = Field(description="Unique in the suite; the pytest id.")
    description: str | None = None
    features: list[str] = Field(default_factory=list)
    provisional: bool = False
    expected_warnings: list[str] = Field(
        default_factory=list,
        description=(
            "Warnings Istio gives about this case's resources, each a part of its message: "
            "expected, so not emitted; one that no resource causes is an error."
        ),
    )


class CaseSpec(CaseModel):
    services: list[Service] = Field(default_factory=list, max_length=64)
    clients: list[Client] = Field(default_factory=list, max_length=32)
    gateways: list[GatewayWorkload] = Field(default_factory=list, max_length=16)
    secrets: list[Secret] = Field(default_factory=list, max_length=64)
    jwt_keys: list[JwtKey] = Field(
        default_factory=list,
        max_length=16,
        description="JWT signing keys generated per run (request.jwt, RequestAuthentication).",
    )
    resources: list[dict[str, Any]] = Field(
        default_factory=list,
        description="Istio manifests as users write them, or {include: path}.",
    )
    mesh_config: MeshConfig = Field(
        default_factory=MeshConfig,
        description="Mesh-wide settings (Istio's MeshConfig): the access-log keys only.",
    )
    checks: list[Check] = Field(min_length=1, max_length=256)

    @field_validator("clients")
    @classmethod
    def _pod_ips_unique(cls, clients: list[Client]) -> list[Client]:
        seen: dict[str, int] = {}
        for i, client in enumerate(clients):
            if client.pod_ip is None:
                continue
            if client.pod_ip in seen:
                first = clients[seen[client.pod_ip]].name
                raise ValueError(
                    f"clients[{i}] ({client.name}): podIP {client.pod_ip} is already "
                    f"{first}'s; every pod has an address of its own"
                )
            seen[client.pod_ip] = i
        return clients

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

    @model_validator(mode="after")
    def _jwt_keys_exist(self) -> CaseSpec:
        names = [k.name for k in self.jwt_keys]
        if len(set(names)) != len(names):
            raise ValueError("jwtKeys: every key has a name of its own")
        for check in self.checks:
            token = check.request.jwt if check.request is not None else None
            if token is not None and token.key not in names:
                known = ", ".join(sorted(names)) or "none"
                raise ValueError(
                    f"check {check.name!r}: jwt key {token.key!r} is not in spec.jwtKeys "
                    f"(known: {known})"
                )
        return self

    def service_proxy(self, proxy: str) -> Service | None:
        """The service whose pods' sidecars ``expect.metrics.proxy`` or
        ``expect.accessLog.proxy`` names, if it names one: ``name.namespace`` (Istio's
        short host), or a bare ``spec.services`` name that no gateway or client has and
        one namespace holds."""
        if proxy in {"ingress", "egress"} | {g.name for g in self.gateways}:
            return None
        if proxy in {c.name for c in self.clients}:
            return None
        own = [s for s in self.services if not s.external and s.runs_pods]
        exact = [s for s in own if f"{s.name}.{s.namespace}" == proxy]
        if exact:
            return exact[0]
        bare = [s for s in own if s.name == proxy]
        return bare[0] if len(bare) == 1 else None

    @model_validator(mode="after")
    def _access_log_proxies_exist(self) -> CaseSpec:
        proxies = {"ingress", "egress"} | {g.name for g in self.gateways}
        proxies |= {c.name for c in self.clients}
        for check in self.checks:
            named = [("accessLog", e.proxy) for e in check.expect.access_logs]
            metrics = [("metrics", m.proxy) for m in check.expect.metrics or ()]
            for key, proxy in named + metrics:
                # namespace/name: a Gateway API Gateway (its deployment's proxy).
                if proxy in proxies or "/" in proxy:
                    continue
                if self.service_proxy(proxy) is not None:
                    continue
                known = ", ".join(sorted(proxies))
                services = ", a spec.services name (name.namespace when two namespaces have it)"
                raise ValueError(
                    f"check {check.name!r}: {key} proxy {proxy!r} is none of "
                    f"the case's proxies ({known}{services}, or namespace/name of a Gateway "
                    "API Gateway)"
                )
        return self


class Case(CaseModel):
    """One case: a document of a case file."""

    api_version: Literal["meshgate.dev/v1alpha1"]
    kind: Literal["Case"]
    metadata: CaseMetadata
    spec: CaseSpec

    @property
    def name(self) -> str:
        return self.metadata.name


class _SpecWithoutChecks(CaseSpec):
    checks: list[Check] = Field(default_factory=list, max_length=256)


class CaseWithoutChecks(Case):
    """A case built in Python (``pytest_meshgate.deploy``), whose checks a test sends itself.

    Not part of the file format: a case file's case has checks.
    """

    spec: _SpecWithoutChecks
