"""The outcome a check must get: status, backend, request and response facts, counts."""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from typing import Annotated, Any, Literal

from pydantic import Field, ValidationInfo, field_validator, model_validator

from ..._grpcwire import STATUS_NAMES, status_name
from .base import CaseModel, PortNumber, StatusCode, TLSVersionName
from .conditions import ConditionExpectation
from .grpc import GrpcExpectation
from .metrics import MetricExpectation
from .values import AlpnProtocol, HeaderName, LatencyBound
from .websocket import WebSocketExpectation

__all__ = [
    "ACCESS_LOG_FIELD_NAMES",
    "AccessLogExpectation",
    "BackendExpectation",
    "BackendRef",
    "BodyExpectation",
    "ConnectionOutcome",
    "CountBound",
    "Expect",
    "LatencyExpectation",
    "MirrorExpectation",
    "RedirectExpectation",
    "RequestExpectation",
    "ResponseExpectation",
    "TLSExpectation",
    "answer_labels",
    "attribute_name",
]


class BackendRef(CaseModel):
    """An echo workload: service, and optionally version and namespace."""

    service: str
    version: str | None = None
    namespace: str | None = None

    def __str__(self) -> str:
        text = self.service if self.namespace is None else f"{self.namespace}/{self.service}"
        return text if self.version is None else f"{text} {self.version}"


class BackendExpectation(BackendRef):
    """The echo workload that answered: service, version, namespace, and which pod and port."""

    pod: str | None = Field(
        default=None,
        description="The pod that answered, by name (a headless service's pods: <name>-<i>).",
    )
    port: PortNumber | None = Field(
        default=None,
        description="The container port the answering pod received the request on (the "
        "Service port's targetPort), as the echo reports it (httpPort).",
    )

    def __str__(self) -> str:
        text = super().__str__()
        if self.pod is not None:
            text += f" pod {self.pod}"
        return text if self.port is None else f"{text} port {self.port}"


class TLSServerName(CaseModel):
    server_name: str


class RequestExpectation(CaseModel):
    """What the backend received."""

    method: str | None = None
    path: str | None = Field(default=None, description="Path with query, exactly.")
    host: str | None = None
    proto: str | None = Field(
        default=None, description="HTTP/1.1 or HTTP/2.0, as the backend (Go) writes it."
    )
    headers: dict[HeaderName, str] = Field(default_factory=dict)
    absent_headers: list[HeaderName] = Field(default_factory=list)
    headers_contain: dict[HeaderName, str | list[str]] = Field(
        default_factory=dict,
        description="Header -> text (or texts) its value must contain, e.g. the URI= of "
        "X-Forwarded-Client-Cert, whose Hash= changes each run.",
    )
    tls: TLSServerName | None = None


class BodyExpectation(CaseModel):
    equals: str | None = None
    contains: str | None = None


class ResponseExpectation(CaseModel):
    """What came back to the client besides the status."""

    protocol: str | None = Field(default=None, description="HTTP/1.1 or HTTP/2, as answered.")
    headers: dict[HeaderName, str] = Field(default_factory=dict)
    headers_one_of: dict[HeaderName, Annotated[list[str], Field(min_length=1, max_length=16)]] = (
        Field(
            default_factory=dict,
            description="Header -> the values it may have, one of them (the Gateway API "
            "suite's ValidHeaderValues).",
        )
    )
    ignore_whitespace: bool = Field(
        default=False,
        description="Compare headers and headersOneOf with every space removed from both "
        "sides (the Gateway API suite's IgnoreWhitespace).",
    )
    absent_headers: list[HeaderName] = Field(default_factory=list)
    body: BodyExpectation | None = None

    @model_validator(mode="after")
    def _one_way_per_header(self) -> ResponseExpectation:
        exact = {name.lower() for name in self.headers}
        for name in self.headers_one_of:
            if name.lower() in exact:
                raise ValueError(f"header {name!r} is in both headers and headersOneOf")
        absent = {name.lower() for name in self.absent_headers}
        for name in (*self.headers, *self.headers_one_of):
            if name.lower() in absent:
                raise ValueError(f"header {name!r} is expected and in absentHeaders")
        return self


class RedirectExpectation(CaseModel):
    """The Location header, whole or by parts."""

    location: str | None = None
    scheme: str | None = None
    host: str | None = None
    port: PortNumber | None = None
    path: str | None = Field(default=None, description="Without the query.")

    @model_validator(mode="after")
    def _whole_or_parts(self) -> RedirectExpectation:
        parts = (self.scheme, self.host, self.port, self.path)
        if self.location is not None and any(p is not None for p in parts):
            raise ValueError("give location, or its parts (scheme, host, port, path), not both")
        return self


class PeerCertificateExpectation(CaseModel):
    san: list[str] | None = None
    issuer: str | None = None


class TLSExpectation(CaseModel):
    """Facts of the client's TLS handshake with the gateway."""

    version: TLSVersionName | None = None
    alpn: AlpnProtocol | None = None
    peer_certificate: PeerCertificateExpectation | None = None


class LatencyExpectation(CaseModel):
    at_least: LatencyBound | None = None
    at_most: LatencyBound | None = None

    @model_validator(mode="after")
    def _ordered(self) -> LatencyExpectation:
        if self.at_least is not None and self.at_most is not None and self.at_least > self.at_most:
            raise ValueError("atLeast is above atMost")
        return self


ConnectionOutcome = Literal["refused", "reset", "tlsError"]

_LABEL = re.compile(
    r"^(status/[1-5][0-9][0-9]|connection/(refused|reset|tlsError|timeout|error)"
    r"|grpc/(" + "|".join(STATUS_NAMES) + ")"
    r"|header/[a-z0-9-]+"
    r"|[a-z0-9]([-a-z0-9.]*[a-z0-9])?(/[a-z0-9]([-a-z0-9]*[a-z0-9])?)?)$"
)


class CountBound(CaseModel):
    """How many of the ``count`` answers: at least and/or at most."""

    at_least: int | None = Field(default=None, ge=0)
    at_most: int | None = Field(default=None, ge=0)

    @model_validator(mode="after")
    def _some_bound(self) -> CountBound:
        if self.at_least is None and self.at_most is None:
            raise ValueError("give atLeast, atMost or both")
        if self.at_least is not None and self.at_most is not None and self.at_least > self.at_most:
            raise ValueError("atLeast is above atMost")
        return self

    def admits(self, value: int) -> bool:
        return (self.at_least is None or value >= self.at_least) and (
            self.at_most is None or value <= self.at_most
        )

    def __str__(self) -> str:
        if self.at_least is not None and self.at_most is not None:
            return f"{self.at_least}..{self.at_most}"
        return f">= {self.at_least}" if self.at_least is not None else f"<= {self.at_most}"


class MirrorExpectation(BackendRef):
    """A backend that must receive copies of the requests; ``share`` of them if given."""

    share: float | None = Field(
        default=None,
        ge=0,
        le=100,
        description="Percent of requests mirrored, judged statistically; default 100 (every one).",
    )
    host: str | None = Field(default=None, description="The Host the copies arrive with.")


def answer_labels(
    status: int | None,
    echo: Mapping[str, Any] | None,
    connection: str | None = None,
    header_names: Iterable[str] = (),
    grpc_status: int | None = None,
) -> list[str]:
    """The labels an answer counts under in ``split`` and ``counts``, most specific first.

    ``service/version`` and ``service`` of the echo that answered, then
    ``grpc/<STATUS>`` for the answer to a gRPC call, then ``status/NNN``; an
    answer without HTTP status is ``connection/<outcome>``. Last,
    ``header/<name>`` for each response header it carries (``counts`` only).
    """
    labels: list[str] = []
    if echo is not None:
        labels += [f"{echo.get('service')}/{echo.get('version')}", str(echo.get("service"))]
    if grpc_status is not None:
        labels.append(f"grpc/{status_name(grpc_status)}")
    labels.append(f"status/{status}" if status is not None else f"connection/{connection}")
    labels += sorted({f"header/{name.lower()}" for name in header_names})
    return labels


# The values of Istio's access-log formats, named as its JSON format's keys in camelCase
# (pytest_meshgate._targets.accesslog maps each to the Envoy command that logs it).
ACCESS_LOG_FIELD_NAMES = (
    "authority",
    "bytesReceived",
    "bytesSent",
    "connectionTerminationDetails",
    "downstreamLocalAddress",
    "downstreamRemoteAddress",
    "duration",
    "method",
    "path",
    "protocol",
    "requestId",
    "requestedServerName",
    "responseCode",
    "responseCodeDetails",
    "responseFlags",
    "routeName",
    "startTime",
    "upstreamCluster",
    "upstreamHost",
    "upstreamLocalAddress",
    "upstreamServiceTime",
    "upstreamTransportFailureReason",
    "userAgent",
    "xForwardedFor",
)
AccessLogField = Literal[ACCESS_LOG_FIELD_NAMES]  # type: ignore[valid-type]


class AccessLogExpectation(CaseModel):
    """A proxy's access log has (or has not) a line for the request, with these values."""

    proxy: str = Field(
        min_length=1,
        max_length=253,
        description="ingress, egress, a spec.gateways name, a spec.clients name (its "
        "sidecar), namespace/name of a Gateway API Gateway, or a spec.services name "
        "(name.namespace when two namespaces have it): its pods' sidecars, at their "
        "inbound listeners (any pod's line counts).",
    )
    logged: bool = Field(default=True, description="false: the proxy logged no line for it.")
    fields: dict[AccessLogField, str | int] = Field(
        default_factory=dict,
        description="Values of the line, exactly as logged ('-' for an empty value).",
    )

    @model_validator(mode="after")
    def _fields_need_a_line(self) -> AccessLogExpectation:
        if not self.logged and self.fields:
            raise ValueError("fields describe a logged line; drop them or logged: false")
        return self


class Expect(CaseModel):
    """The outcome a check must get. Empty: status 200."""

    status: StatusCode | Annotated[list[StatusCode], Field(min_length=1)] | None = None
    backend: str | BackendExpectation | None = None
    request: RequestExpectation | None = None
    response: ResponseExpectation | None = None
    redirect: RedirectExpectation | None = None
    connection: (
        ConnectionOutcome | Annotated[list[ConnectionOutcome], Field(min_length=1)] | None
    ) = None
    tls: TLSExpectation | None = None
    via: str | None = Field(
        default=None,
        description="The workload whose connection reached the backend: ingress, egress, a "
        "spec.gateways name or a spec.clients name (its sidecar).",
    )
    latency: LatencyExpectation | None = None
    grpc: GrpcExpectation | None = Field(
        default=None,
        description="With request.grpc: the gRPC status the call ends with (default OK).",
    )
    websocket: WebSocketExpectation | None = Field(
        default=None,
        description="With request.websocket: the messages read back, one per message sent.",
    )
    split: dict[str, Annotated[float, Field(ge=0, le=100)]] | None = Field(
        default=None,
        description="Percent of answers per label (service/version, service, status/NNN or "
        "connection/<outcome>), judged statistically; the shares add up to 100.",
    )
    counts: Annotated[dict[str, CountBound], Field(min_length=1)] | None = Field(
        default=None,
        description="With request.count: how many answers carry each label "
        "(service/version, service, status/NNN, connection/<outcome>, or header/<name> "
        "for a response header).",
    )
    pods: CountBound | None = Field(
        default=None,
        description="With request.count: how many distinct pods (replicas) answered.",
    )
    mirrored_to: (
        str
        | MirrorExpectation
        | Annotated[list[str | MirrorExpectation], Field(min_length=1)]
        | None
    ) = Field(default=None, description="Backends that receive a copy of the request.")
    conditions: list[ConditionExpectation] | None = Field(
        default=None,
        description="Status conditions of the case's Gateway API resources, judged before the "
        "request is sent.",
    )
    access_log: (
        AccessLogExpectation | Annotated[list[AccessLogExpectation], Field(min_length=1)] | None
    ) = Field(
        default=None,
        description="The request's line in a proxy's access log (or its absence), or a list "
        "of such for several proxies.",
    )
    metrics: Annotated[list[MetricExpectation], Field(min_length=1, max_length=64)] | None = Field(
        default=None,
        description="How Istio's standard metrics changed at named proxies for the request "
        "(each proxy's Prometheus samples just before and just after it).",
    )

    @field_validator("split", "counts")
    @classmethod
    def _labels(cls, value: dict[str, Any] | None, info: ValidationInfo) -> dict[str, Any] | None:
        for label in value or {}:
            if info.field_name == "split" and label.startswith("header/"):
                raise ValueError(f"label {label[:80]!r}: header labels are for counts, not split")
            if not _LABEL.match(label):
                raise ValueError(
                    f"label {label[:80]!r}: "
                    "use service/version, service, status/NNN or grpc/<STATUS>"
                )
        return value

    @model_validator(mode="after")
    def _split_alone(self) -> Expect:
        if self.split is not None:
            total = sum(self.split.values())
            if abs(total - 100) > 0.01:
                raise ValueError(f"split shares add up to {total:g}, not 100")
            per_answer = (
                "status",
                "backend",
                "counts",
                "pods",
                "mirroredTo",
                "grpc",
                "accessLog",
                "metrics",
            )
            given = [k for k in per_answer if getattr(self, attribute_name(k)) is not None]
            if given:
                raise ValueError(
                    f"split judges the answers' shares alone; drop {', '.join(given)} or use counts"
                )
        shares = [m.share for m in self.mirrors if m.share not in (None, 0.0, 100.0)]
        if len(shares) > 1:
            raise ValueError("at most one mirroredTo entry can have a share other than 0 or 100")
        return self

    @model_validator(mode="after")
    def _connection_excludes_http(self) -> Expect:
        if self.connection is not None:
            http = (
                "status",
                "backend",
                "request",
                "response",
                "redirect",
                "split",
                "mirroredTo",
                "grpc",
                "websocket",
            )
            given = [k for k in http if getattr(self, attribute_name(k)) is not None]
            if given:
                raise ValueError(
                    f"connection expects no HTTP answer; drop {', '.join(given)} or connection"
                )
        return self

    @property
    def statuses(self) -> tuple[int, ...]:
        """Accepted statuses: as given; else any redirect with ``redirect``; else 200."""
        if isinstance(self.status, int):
            return (self.status,)
        if self.status:
            return tuple(self.status)
        if self.redirect is not None:
            return (301, 302, 303, 307, 308)
        return (200,)

    @property
    def backend_ref(self) -> BackendExpectation | None:
        if isinstance(self.backend, str):
            return BackendExpectation(service=self.backend)
        return self.backend

    @property
    def connections(self) -> tuple[str, ...]:
        if self.connection is None:
            return ()
        return (self.connection,) if isinstance(self.connection, str) else tuple(self.connection)

    @property
    def mirrors(self) -> tuple[MirrorExpectation, ...]:
        """``mirroredTo`` as a tuple of full references."""
        items = self.mirrored_to
        if items is None:
            return ()
        entries = items if isinstance(items, list) else [items]
        return tuple(MirrorExpectation(service=e) if isinstance(e, str) else e for e in entries)

    @property
    def access_logs(self) -> tuple[AccessLogExpectation, ...]:
        """``accessLog`` as a tuple."""
        entries = self.access_log
        if entries is None:
            return ()
        return tuple(entries) if isinstance(entries, list) else (entries,)

    @property
    def mirror_share(self) -> MirrorExpectation | None:
        """The mirror judged statistically (a share strictly between 0 and 100), if any."""
        return next((m for m in self.mirrors if m.share not in (None, 0.0, 100.0)), None)


def attribute_name(key: str) -> str:
    """The model attribute of an ``expect`` key as case files spell it."""
    return {"mirroredTo": "mirrored_to", "accessLog": "access_log"}.get(key, key)
