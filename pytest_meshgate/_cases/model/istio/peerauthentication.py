"""The PeerAuthentication resource (``security.istio.io``): mutual TLS a workload accepts.

Fields as in ``security/v1beta1/peer_authentication.proto`` (istio/api), served
as ``security.istio.io/v1`` and ``v1beta1`` (``security.SECURITY_API_VERSIONS``).
``portLevelMtls`` is keyed by the workload's (container) port number; YAML keys
arrive as strings or integers.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field, field_validator

from ..base import StrictModel
from .common import WorkloadSelector
from .resource import IstioResource

__all__ = [
    "MutualTLS",
    "PeerAuthentication",
    "PeerAuthenticationSpec",
]

MutualTLSMode = Literal["UNSET", "DISABLE", "PERMISSIVE", "STRICT"]


class MutualTLS(StrictModel):
    """``PeerAuthentication.MutualTLS``: UNSET inherits from the parent level."""

    mode: MutualTLSMode = "UNSET"


class PeerAuthenticationSpec(StrictModel):
    selector: WorkloadSelector | None = None
    mtls: MutualTLS | None = None
    port_level_mtls: dict[int, MutualTLS] | None = Field(
        default=None, description="By the workload's port (targetPort), not the Service's."
    )

    @field_validator("port_level_mtls", mode="before")
    @classmethod
    def _integer_keys(cls, value: object) -> object:
        # map<uint32, MutualTLS>: "8080" and 8080 both name port 8080.
        if isinstance(value, dict):
            out: dict[object, object] = {}
            for key, entry in value.items():
                if isinstance(key, str) and key.strip().isdigit():
                    key = int(key)
                if not isinstance(key, int) or isinstance(key, bool):
                    raise ValueError(f"portLevelMtls key {key!r} is not a port number")
                out[key] = entry
            return out
        return value

    @property
    def has_selector(self) -> bool:
        return self.selector is not None and bool(self.selector.match_labels)


class PeerAuthentication(IstioResource):
    api_version: Literal["security.istio.io/v1", "security.istio.io/v1beta1"]  # type: ignore[assignment]
    kind: Literal["PeerAuthentication"]
    spec: PeerAuthenticationSpec = Field(default_factory=PeerAuthenticationSpec)
