"""gRPC in checks: the unary call a request makes, and the status it must end with."""

from __future__ import annotations

import re
from collections.abc import Collection
from typing import Annotated, Any
from urllib.parse import urlsplit

from pydantic import BeforeValidator, Field, PlainSerializer, WithJsonSchema, field_validator

from ..._grpcwire import ECHO_SERVICE, STATUS_NAMES, status_code, status_name
from .base import StrictModel

__all__ = ["GrpcExpectation", "GrpcRequest", "GrpcStatus", "check_grpc_request"]

# Protobuf full names (package.Service) and method names.
_IDENT = r"[A-Za-z_][A-Za-z0-9_]*"
_SERVICE = rf"^{_IDENT}(\.{_IDENT})*$"
_METHOD = rf"^{_IDENT}$"
# doc/PROTOCOL-HTTP2.md Header-Name; metadata.New lower-cases keys, and so do we.
_METADATA_KEY = re.compile(r"^[0-9a-z_.-]+$")


def _status(value: Any) -> int:
    """A status by its name as grpc/grpc ``doc/statuscodes.md`` spells it, or its number."""
    if isinstance(value, bool):
        raise ValueError(f"not a gRPC status: {value!r}")
    if isinstance(value, str) and value != value.upper():
        raise ValueError(f"gRPC status names are upper case: {value.upper()!r}")
    if not isinstance(value, (str, int)):
        raise ValueError(f"not a gRPC status: {value!r}")
    return status_code(value)


GrpcStatus = Annotated[
    int,
    BeforeValidator(_status),
    PlainSerializer(status_name, return_type=str),
    WithJsonSchema(
        {
            "anyOf": [
                {"enum": list(STATUS_NAMES)},
                {"type": "integer", "minimum": 0, "maximum": len(STATUS_NAMES) - 1},
            ]
        }
    ),
]
"""A gRPC status code, written ``UNIMPLEMENTED`` or ``12``."""


class GrpcRequest(StrictModel):
    """One unary gRPC call: ``/<service>/<method>``, an empty request message, metadata."""

    service: str = Field(
        default=ECHO_SERVICE,
        pattern=_SERVICE,
        description=f"The fully qualified service; default the conformance echo's {ECHO_SERVICE}.",
    )
    method: str = Field(
        pattern=_METHOD, description="Echo, EchoTwo, EchoThree (unimplemented) or any other."
    )
    metadata: dict[str, str] = Field(
        default_factory=dict, description="Request metadata (header fields); keys lower-cased."
    )

    @field_validator("metadata")
    @classmethod
    def _metadata_keys(cls, metadata: dict[str, str]) -> dict[str, str]:
        out: dict[str, str] = {}
        for key, value in metadata.items():
            name = key.lower()
            if not _METADATA_KEY.match(name):
                raise ValueError(
                    f"metadata key {key!r}: gRPC allows digits, letters, '_', '-' and '.' only"
                )
            if name.startswith("grpc-"):
                raise ValueError(f"metadata key {key!r}: grpc- names are reserved for gRPC itself")
            if name.endswith("-bin"):
                raise ValueError(f"metadata key {key!r}: binary (-bin) metadata is not supported")
            if name in out:
                raise ValueError(f"metadata key {key!r} given twice (keys are case-insensitive)")
            out[name] = value
        return out

    @property
    def path(self) -> str:
        """The call's ``:path``."""
        return f"/{self.service}/{self.method}"


class GrpcExpectation(StrictModel):
    """How the call must end, as a gRPC client sees it."""

    status: GrpcStatus | list[GrpcStatus] = Field(
        default=0, description="The gRPC status (a name or number), or one of a list; default OK."
    )
    message: str | None = Field(default=None, description="The grpc-message, exactly.")

    @property
    def statuses(self) -> tuple[int, ...]:
        return (self.status,) if isinstance(self.status, int) else tuple(self.status)


def check_grpc_request(given: Collection[str], url: str) -> None:
    """A request with ``grpc`` leaves its path, method, body and protocol to gRPC.

    ``given``: the keys the request sets. Raises ``ValueError`` naming the first clash.
    """
    for key, why in (
        ("method", "a gRPC call is a POST"),
        ("body", "the request message is the echo's empty EchoRequest"),
        ("headers", "use grpc.metadata"),
        ("http2", "gRPC is always HTTP/2"),
    ):
        if key in given:
            raise ValueError(f"grpc: drop {key} ({why})")
    parts = urlsplit(url)
    if parts.path not in ("", "/") or parts.query:
        raise ValueError(
            f"grpc: the URL gives scheme, host and port only; the path is "
            f"/<service>/<method> (got {parts.path + ('?' + parts.query if parts.query else '')!r})"
        )
