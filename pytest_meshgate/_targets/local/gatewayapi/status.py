"""The status conditions Istio's Gateway API controller writes, and how it composes them.

``pilot/pkg/config/kube/gateway/conditions.go``: a condition is set to its
success reason unless an error is attached, which inverts its status and
takes the error's reason and message (``setConditions``); a route's status
has one entry per parentRef, the most favourable result of its listeners
(``createRouteStatus``).
"""

from __future__ import annotations

from dataclasses import dataclass

from ...._exchange.status import Condition, ObjectStatus

__all__ = [
    "Condition",
    "ConfigError",
    "ObjectStatus",
    "ParentError",
    "Pending",
    "join_errors",
    "set_conditions",
]

# conditions.go ParentErrorReason (the Route reasons of apis/v1/shared_types.go)
NO_MATCHING_PARENT = "NoMatchingParent"
NOT_ALLOWED_BY_LISTENERS = "NotAllowedByListeners"
NO_MATCHING_LISTENER_HOSTNAME = "NoMatchingListenerHostname"

# conditions.go ConfigErrorReason
INVALID_DESTINATION = "InvalidDestination"
REF_NOT_PERMITTED = "RefNotPermitted"
INVALID_KIND = "InvalidKind"
BACKEND_NOT_FOUND = "BackendNotFound"
INVALID_FILTER = "InvalidFilter"
INVALID_CERTIFICATE_REF = "InvalidCertificateRef"
INVALID_CA_CERTIFICATE_REF = "InvalidCACertificateRef"
INVALID_CA_CERTIFICATE_KIND = "InvalidCACertificateKind"
INVALID_CONFIGURATION = "InvalidConfiguration"
UNSUPPORTED_ADDRESS = "UnsupportedAddress"


@dataclass(frozen=True)
class ConfigError:
    """``ConfigError``: why a condition is not in its success state."""

    reason: str
    message: str


@dataclass(frozen=True)
class ParentError:
    """``ParentError``: why a route is not accepted by one listener."""

    reason: str
    message: str


def join_errors(a: ConfigError | None, b: ConfigError | None) -> ConfigError | None:
    """``joinErrors``: the first reason, both messages."""
    if b is None:
        return a
    if a is None:
        return b
    return ConfigError(a.reason, f"{a.message}; {b.message}")


@dataclass
class Pending:
    """A condition before ``setConditions``: its success state, and an error if any."""

    reason: str
    message: str
    status: str = "True"
    error: ConfigError | None = None


def set_conditions(conditions: dict[str, Pending]) -> list[Condition]:
    """``setConditions``: sorted by type; an error inverts the status."""
    out = []
    for kind in sorted(conditions):
        c = conditions[kind]
        if c.error is not None:
            inverted = "False" if c.status == "True" else "True"
            out.append(Condition(kind, inverted, c.error.reason, c.error.message))
        else:
            out.append(Condition(kind, c.status, c.reason, c.message))
    return out
