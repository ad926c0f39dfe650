"""The security resources (``security.istio.io``): AuthorizationPolicy and RequestAuthentication.

Fields as in ``security/v1beta1/authorization.proto`` and
``request_authentication.proto`` (istio/api), served as ``v1`` and ``v1beta1``.
Lists that Istio tells apart from absent ones (``rules``, ``from``, ``to``) stay
``None`` when absent, so the webhook rules (``_cases/validation/security.py``)
can say what Istio says. PeerAuthentication is not modelled here.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from ..base import StrictModel
from .common import WorkloadSelector
from .resource import IstioResource
from .telemetry import PolicyTargetReference

__all__ = [
    "SECURITY_API_VERSIONS",
    "AuthorizationPolicy",
    "AuthorizationPolicySpec",
    "AuthorizationRule",
    "ClaimToHeader",
    "Condition",
    "ExtensionProvider",
    "JWTHeader",
    "JWTRule",
    "Operation",
    "RequestAuthentication",
    "RequestAuthenticationSpec",
    "RuleFrom",
    "RuleTo",
    "Source",
]

SECURITY_API_VERSIONS = ("security.istio.io/v1", "security.istio.io/v1beta1")
_SecurityApiVersion = Literal["security.istio.io/v1", "security.istio.io/v1beta1"]


class Source(StrictModel):
    """Who sends the request: peer identities, namespaces, addresses, JWT principals."""

    principals: list[str] = Field(default_factory=list)
    not_principals: list[str] = Field(default_factory=list)
    request_principals: list[str] = Field(default_factory=list)
    not_request_principals: list[str] = Field(default_factory=list)
    namespaces: list[str] = Field(default_factory=list)
    not_namespaces: list[str] = Field(default_factory=list)
    service_accounts: list[str] = Field(default_factory=list)
    not_service_accounts: list[str] = Field(default_factory=list)
    trust_domains: list[str] = Field(default_factory=list)
    not_trust_domains: list[str] = Field(default_factory=list)
    ip_blocks: list[str] = Field(default_factory=list)
    not_ip_blocks: list[str] = Field(default_factory=list)
    remote_ip_blocks: list[str] = Field(default_factory=list)
    not_remote_ip_blocks: list[str] = Field(default_factory=list)


class Operation(StrictModel):
    """What the request asks for: hosts, ports, methods, paths (and their ``not`` forms)."""

    hosts: list[str] = Field(default_factory=list)
    not_hosts: list[str] = Field(default_factory=list)
    ports: list[str] = Field(default_factory=list)
    not_ports: list[str] = Field(default_factory=list)
    methods: list[str] = Field(default_factory=list)
    not_methods: list[str] = Field(default_factory=list)
    paths: list[str] = Field(default_factory=list)
    not_paths: list[str] = Field(default_factory=list)


class RuleFrom(StrictModel):
    source: Source | None = None


class RuleTo(StrictModel):
    operation: Operation | None = None


class Condition(StrictModel):
    """A ``when`` condition: an attribute ``key`` and the values it must (not) have."""

    key: str = ""
    values: list[str] = Field(default_factory=list)
    not_values: list[str] = Field(default_factory=list)


class AuthorizationRule(StrictModel):
    # ``from`` is a Python keyword: the field keeps its YAML name by alias.
    from_: list[RuleFrom] | None = Field(default=None, alias="from")
    to: list[RuleTo] | None = None
    when: list[Condition] = Field(default_factory=list)


class ExtensionProvider(StrictModel):
    name: str = ""


class AuthorizationPolicySpec(StrictModel):
    selector: WorkloadSelector | None = None
    target_ref: PolicyTargetReference | None = None
    target_refs: list[PolicyTargetReference] = Field(default_factory=list)
    rules: list[AuthorizationRule] | None = None
    action: Literal["ALLOW", "DENY", "AUDIT", "CUSTOM"] = "ALLOW"
    provider: ExtensionProvider | None = None

    @property
    def all_target_refs(self) -> list[PolicyTargetReference]:
        """``targetRef`` and ``targetRefs`` together, as Istio's ``GetTargetRefs`` reads them."""
        return ([self.target_ref] if self.target_ref is not None else []) + list(self.target_refs)


class AuthorizationPolicy(IstioResource):
    api_version: _SecurityApiVersion  # type: ignore[assignment]
    kind: Literal["AuthorizationPolicy"]
    spec: AuthorizationPolicySpec = Field(default_factory=AuthorizationPolicySpec)

    @property
    def dry_run(self) -> str | None:
        """The ``istio.io/dry-run`` annotation as written (None: not set)."""
        return self.metadata.annotations.get("istio.io/dry-run")


class JWTHeader(StrictModel):
    name: str = ""
    prefix: str = ""


class ClaimToHeader(StrictModel):
    header: str = ""
    claim: str = ""


class JWTRule(StrictModel):
    issuer: str = ""
    audiences: list[str] = Field(default_factory=list)
    jwks_uri: str = ""
    jwks: str = ""
    from_headers: list[JWTHeader] = Field(default_factory=list)
    from_params: list[str] = Field(default_factory=list)
    from_cookies: list[str] = Field(default_factory=list)
    output_payload_to_header: str = ""
    forward_original_token: bool = False
    output_claim_to_headers: list[ClaimToHeader] = Field(default_factory=list)
    space_delimited_claims: list[str] | None = None
    timeout: str | None = None


class RequestAuthenticationSpec(StrictModel):
    selector: WorkloadSelector | None = None
    target_ref: PolicyTargetReference | None = None
    target_refs: list[PolicyTargetReference] = Field(default_factory=list)
    jwt_rules: list[JWTRule] = Field(default_factory=list)

    @property
    def all_target_refs(self) -> list[PolicyTargetReference]:
        return ([self.target_ref] if self.target_ref is not None else []) + list(self.target_refs)


class RequestAuthentication(IstioResource):
    api_version: _SecurityApiVersion  # type: ignore[assignment]
    kind: Literal["RequestAuthentication"]
    spec: RequestAuthenticationSpec = Field(default_factory=RequestAuthenticationSpec)
