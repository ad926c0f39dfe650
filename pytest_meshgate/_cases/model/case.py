"""The case file contract (``meshgate.dev/v1alpha1``): services, secrets, resources, checks."""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Iterable, Mapping
from typing import Annotated, Any, Literal
from urllib.parse import urlsplit

from pydantic import Field, ValidationInfo, field_validator, model_validator

from .base import Duration, StrictModel

__all__ = [
    "API_VERSION",
    "DEFAULT_GATEWAYS",
    "BackendRef",
    "BodyExpectation",
    "Case",
    "CaseMetadata",
    "CaseSpec",
    "Check",
    "Client",
    "ConnectionOutcome",
    "CountBound",
    "Expect",
    "GatewayPort",
    "GatewayWorkload",
    "Include",
    "LatencyExpectation",
    "MirrorExpectation",
    "Misbehaviour",
    "RedirectExpectation",
    "Request",
    "RequestExpectation",
    "RequestTLS",
    "ResponseExpectation",
    "Secret",
    "Service",
    "ServicePort",
    "ServicePortTLS",
    "TLSExpectation",
    "answer_labels",
    "port_protocol",
]

API_VERSION = "meshgate.dev/v1alpha1"

_SLUG = r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$"
_DNS_NAME = r"^[a-z0-9*]([-a-z0-9.*]*[a-z0-9])?$"
_TLS_VERSION = Literal["TLSv1.0", "TLSv1.1", "TLSv1.2", "TLSv1.3"]

Slug = Annotated[str, Field(pattern=_SLUG, max_length=63)]
StatusCode = Annotated[int, Field(ge=100, le=599)]
Port = Annotated[int, Field(ge=1, le=65535)]


# --------------------------------------------------------------------- workloads


class ServicePortTLS(StrictModel):
    """The echo terminates TLS itself on this port (passthrough, re-encryption)."""

    secret: str | None = Field(
        default=None,
        description="A spec.secrets entry of type server or mutual; default: a certificate "
        "for the service's names issued by the default CA.",
    )


class ServicePort(StrictModel):
    """A Service port; the protocol comes from the name prefix, as Istio does."""

    name: str = Field(description="http, http2, grpc, https, tls, tcp, ... optionally -suffix.")
    port: Port
    target_port: Port | None = Field(default=None, description="Container port; default: port.")
    app_protocol: str | None = None
    tls: ServicePortTLS | None = None

    @property
    def protocol(self) -> str:
        """Istio's protocol selection by port name: ``http-web`` -> ``HTTP``."""
        return port_protocol(self.name, self.app_protocol)


def port_protocol(name: str, app_protocol: str | None = None) -> str:
    """The protocol Istio infers for a Service port (appProtocol, else the name prefix)."""
    if app_protocol:
        return app_protocol.upper()
    prefix = name.split("-", 1)[0].lower()
    return {
        "http": "HTTP",
        "http2": "HTTP2",
        "grpc": "GRPC",
        "grpc-web": "GRPC-WEB",
        "https": "HTTPS",
        "tls": "TLS",
        "tcp": "TCP",
        "mongo": "MONGO",
        "redis": "REDIS",
        "mysql": "MYSQL",
    }.get(prefix, "UNSUPPORTED")


class Misbehaviour(StrictModel):
    """One replica that answers badly whatever it is asked (outlier detection cases)."""

    version: Slug | None = Field(default=None, description="Default: the first version.")
    replica: int = Field(default=0, ge=0, description="Which replica of that version, from 0.")
    status: StatusCode | None = Field(default=None, description="Answer this status.")
    delay: Duration | None = Field(default=None, description="Wait this long before answering.")
    reset: bool = Field(default=False, description="Answer with a TCP reset instead.")

    @model_validator(mode="after")
    def _some_misbehaviour(self) -> Misbehaviour:
        if self.status is None and self.delay is None and not self.reset:
            raise ValueError("give status, delay or reset")
        if self.status is not None and self.reset:
            raise ValueError("give status or reset, not both")
        return self


class Service(StrictModel):
    """An echo workload (one per version) and its Kubernetes Service."""

    name: str = Field(pattern=_DNS_NAME, description="Service name, or a host for external ones.")
    namespace: Slug = "default"
    ports: list[ServicePort] = Field(min_length=1)
    versions: list[Slug] = Field(
        default_factory=lambda: ["v1"],
        min_length=1,
        description="One workload per version, labelled app=<name>, version=<v>.",
    )
    replicas: int = Field(
        default=1,
        ge=1,
        le=16,
        description="Pods per version: same labels, distinct pod names "
        "(<name>-<version>-<hash>-<i>).",
    )
    misbehaving: list[Misbehaviour] = Field(
        default_factory=list, description="Replicas that answer badly (outlier detection)."
    )
    external: bool = Field(
        default=False,
        description="Outside the mesh (egress cases): not a Kubernetes Service; its name is "
        "a host that resolves, outside the mesh, to its echo servers.",
    )
    addresses: list[str] = Field(
        default_factory=list,
        description="External services only: IP addresses that also lead to its echo servers "
        "(as ServiceEntry endpoints or addresses name them), e.g. 203.0.113.10.",
    )
    labels: dict[str, str] = Field(default_factory=dict, description="Extra pod labels.")

    @model_validator(mode="after")
    def _misbehaving_replicas_exist(self) -> Service:
        for i, bad in enumerate(self.misbehaving):
            if bad.version is not None and bad.version not in self.versions:
                raise ValueError(f"misbehaving[{i}].version {bad.version!r} is not in versions")
            if bad.replica >= self.replicas:
                raise ValueError(
                    f"misbehaving[{i}].replica {bad.replica} needs replicas > {bad.replica}"
                )
        return self

    def misbehaviour(self, version: str, replica: int) -> Misbehaviour | None:
        """How replica ``replica`` of ``version`` misbehaves, if it does."""
        for bad in self.misbehaving:
            if (bad.version or self.versions[0]) == version and bad.replica == replica:
                return bad
        return None

    @field_validator("versions")
    @classmethod
    def _unique_versions(cls, versions: list[str]) -> list[str]:
        duplicated = sorted({v for v in versions if versions.count(v) > 1})
        if duplicated:
            raise ValueError(f"duplicate version {', '.join(duplicated)}")
        return versions

    @field_validator("addresses")
    @classmethod
    def _ip_addresses(cls, addresses: list[str]) -> list[str]:
        for address in addresses:
            try:
                ipaddress.ip_address(address)
            except ValueError:
                raise ValueError(f"not an IP address: {address!r}") from None
        return addresses

    @model_validator(mode="after")
    def _addresses_only_outside(self) -> Service:
        if self.addresses and not self.external:
            raise ValueError("addresses are for external services (external: true)")
        return self


class Client(StrictModel):
    """An in-mesh workload whose requests leave through its sidecar."""

    name: Slug
    namespace: Slug = "default"
    labels: dict[str, str] = Field(
        default_factory=dict, description="Pod labels besides app=<name> (sourceLabels, Sidecar)."
    )

    @property
    def pod_labels(self) -> dict[str, str]:
        return {"app": self.name, **self.labels}


class GatewayPort(StrictModel):
    """A port of a gateway's Service: clients reach ``port``, Envoy listens on ``targetPort``."""

    name: str
    port: Port
    target_port: Port | None = None


class GatewayWorkload(StrictModel):
    """A gateway deployment besides the default ingress and egress gateways."""

    name: Slug
    namespace: Slug = "istio-system"
    labels: dict[str, str] = Field(min_length=1)
    ports: list[GatewayPort] = Field(
        default_factory=lambda: [
            GatewayPort(name="http2", port=80, target_port=8080),
            GatewayPort(name="https", port=443, target_port=8443),
        ]
    )


DEFAULT_GATEWAYS: dict[str, GatewayWorkload] = {
    "ingress": GatewayWorkload(
        name="istio-ingressgateway",
        labels={"app": "istio-ingressgateway", "istio": "ingressgateway"},
    ),
    "egress": GatewayWorkload(
        name="istio-egressgateway",
        labels={"app": "istio-egressgateway", "istio": "egressgateway"},
    ),
}
"""The gateways every case has, by the short name requests use (``gateway: ingress``)."""


class Secret(StrictModel):
    """TLS material generated per run with trustme; never written into the repository."""

    name: Slug
    namespace: Slug | None = Field(
        default=None, description="Where the Kubernetes Secret lives; none: not published."
    )
    type: Literal["server", "mutual", "client", "ca", "trust"]
    hosts: list[str] = Field(default_factory=list)
    issuer: str = Field(default="default", description="The CA that signs it.")
    format: Literal["tls", "generic"] = Field(
        default="tls",
        description="Key names: tls.crt/tls.key/ca.crt, or generic cert/key/cacert.",
    )
    expired: bool = Field(default=False, description="Issue a certificate that has expired.")

    @model_validator(mode="after")
    def _hosts_where_needed(self) -> Secret:
        if self.type in ("server", "mutual", "client") and not self.hosts:
            raise ValueError(f"a {self.type} secret needs hosts")
        if self.type == "ca" and self.hosts:
            raise ValueError("a ca secret has no hosts")
        return self


class Include(StrictModel):
    """``- include: path``: manifests from another file, relative to this one."""

    include: str


# --------------------------------------------------------------------- requests


class RequestTLS(StrictModel):
    """How the client side of a TLS connection behaves."""

    sni: str | None = Field(default=None, description="Override, or 'none' to send no SNI.")
    ca: str = Field(default="default", description="The issuer the client trusts.")
    client_cert: str | None = Field(default=None, description="A client secret to present.")
    alpn: list[str] | None = None
    min_version: _TLS_VERSION | None = None
    max_version: _TLS_VERSION | None = None
    ciphers: list[str] | None = None


class Request(StrictModel):
    """What a check sends."""

    gateway: str | None = Field(
        default=None, description="ingress (default), egress or a spec.gateways name."
    )
    from_: str | None = Field(
        default=None, alias="from", description="A spec.clients name: leave through its sidecar."
    )
    url: str
    method: str = "GET"
    headers: dict[str, str] = Field(default_factory=dict)
    body: str | None = None
    http2: bool = False
    tls: RequestTLS | None = None
    timeout: Duration | None = None
    count: int | None = Field(default=None, ge=1, le=100000)
    concurrency: int | None = Field(default=None, ge=1, le=256)

    @field_validator("url")
    @classmethod
    def _http_url(cls, url: str) -> str:
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError(f"not an http(s) URL with a host: {url!r}")
        try:
            parts.port  # noqa: B018 - raises on a bad port
        except ValueError as exc:
            raise ValueError(f"bad port in {url!r}: {exc}") from None
        return url

    @field_validator("method")
    @classmethod
    def _method(cls, method: str) -> str:
        if not re.fullmatch(r"[A-Za-z]+", method):
            raise ValueError(f"not an HTTP method: {method!r}")
        return method.upper()

    @model_validator(mode="after")
    def _gateway_or_from(self) -> Request:
        if self.gateway is not None and self.from_ is not None:
            raise ValueError("give either gateway or from, not both")
        return self

    @property
    def workload(self) -> str:
        """The gateway short name or client name the request enters through."""
        return self.from_ or self.gateway or "ingress"

    @property
    def port(self) -> int:
        """The URL's port, else the scheme's (80, 443)."""
        parts = urlsplit(self.url)
        return parts.port or (443 if parts.scheme == "https" else 80)


# --------------------------------------------------------------------- expectations


class BackendRef(StrictModel):
    """An echo workload: service, and optionally version and namespace."""

    service: str
    version: str | None = None
    namespace: str | None = None

    def __str__(self) -> str:
        text = self.service if self.namespace is None else f"{self.namespace}/{self.service}"
        return text if self.version is None else f"{text} {self.version}"


class TLSServerName(StrictModel):
    server_name: str


class RequestExpectation(StrictModel):
    """What the backend received."""

    method: str | None = None
    path: str | None = Field(default=None, description="Path with query, exactly.")
    host: str | None = None
    proto: str | None = Field(default=None, description="HTTP/1.1 or HTTP/2, as the backend saw.")
    headers: dict[str, str] = Field(default_factory=dict)
    absent_headers: list[str] = Field(default_factory=list)
    tls: TLSServerName | None = None


class BodyExpectation(StrictModel):
    equals: str | None = None
    contains: str | None = None


class ResponseExpectation(StrictModel):
    """What came back to the client besides the status."""

    protocol: str | None = Field(default=None, description="HTTP/1.1 or HTTP/2, as answered.")
    headers: dict[str, str] = Field(default_factory=dict)
    absent_headers: list[str] = Field(default_factory=list)
    body: BodyExpectation | None = None


class RedirectExpectation(StrictModel):
    """The Location header, whole or by parts."""

    location: str | None = None
    scheme: str | None = None
    host: str | None = None
    port: Port | None = None
    path: str | None = Field(default=None, description="Without the query.")

    @model_validator(mode="after")
    def _whole_or_parts(self) -> RedirectExpectation:
        parts = (self.scheme, self.host, self.port, self.path)
        if self.location is not None and any(p is not None for p in parts):
            raise ValueError("give location, or its parts (scheme, host, port, path), not both")
        return self


class PeerCertificateExpectation(StrictModel):
    san: list[str] | None = None
    issuer: str | None = None


class TLSExpectation(StrictModel):
    """Facts of the client's TLS handshake with the gateway."""

    version: _TLS_VERSION | None = None
    alpn: str | None = None
    peer_certificate: PeerCertificateExpectation | None = None


class LatencyExpectation(StrictModel):
    at_least: Duration | None = None
    at_most: Duration | None = None


ConnectionOutcome = Literal["refused", "reset", "tlsError"]

_LABEL = re.compile(
    r"^(status/[1-5][0-9][0-9]|connection/(refused|reset|tlsError|timeout|error)"
    r"|header/[a-z0-9-]+"
    r"|[a-z0-9]([-a-z0-9.]*[a-z0-9])?(/[a-z0-9]([-a-z0-9]*[a-z0-9])?)?)$"
)


class CountBound(StrictModel):
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
) -> list[str]:
    """The labels an answer counts under in ``split`` and ``counts``, most specific first.

    ``service/version`` and ``service`` of the echo that answered, then
    ``status/NNN``; an answer without HTTP status is ``connection/<outcome>``.
    Last, ``header/<name>`` for each response header it carries (``counts`` only).
    """
    labels: list[str] = []
    if echo is not None:
        labels += [f"{echo.get('service')}/{echo.get('version')}", str(echo.get("service"))]
    labels.append(f"status/{status}" if status is not None else f"connection/{connection}")
    labels += sorted({f"header/{name.lower()}" for name in header_names})
    return labels


class Expect(StrictModel):
    """The outcome a check must get. Empty: status 200."""

    status: StatusCode | list[StatusCode] | None = None
    backend: str | BackendRef | None = None
    request: RequestExpectation | None = None
    response: ResponseExpectation | None = None
    redirect: RedirectExpectation | None = None
    connection: ConnectionOutcome | list[ConnectionOutcome] | None = None
    tls: TLSExpectation | None = None
    via: str | None = Field(
        default=None,
        description="The workload whose connection reached the backend: ingress, egress, a "
        "spec.gateways name or a spec.clients name (its sidecar).",
    )
    latency: LatencyExpectation | None = None
    split: dict[str, Annotated[float, Field(ge=0, le=100)]] | None = Field(
        default=None,
        description="Percent of answers per label (service/version, service, status/NNN or "
        "connection/<outcome>), judged statistically; the shares add up to 100.",
    )
    counts: dict[str, CountBound] | None = Field(
        default=None,
        description="With request.count: how many answers carry each label "
        "(service/version, service, status/NNN, connection/<outcome>, or header/<name> "
        "for a response header).",
    )
    pods: CountBound | None = Field(
        default=None,
        description="With request.count: how many distinct pods (replicas) answered.",
    )
    mirrored_to: str | MirrorExpectation | list[str | MirrorExpectation] | None = Field(
        default=None, description="Backends that receive a copy of the request."
    )

    @field_validator("split", "counts")
    @classmethod
    def _labels(cls, value: dict[str, Any] | None, info: ValidationInfo) -> dict[str, Any] | None:
        for label in value or {}:
            if info.field_name == "split" and label.startswith("header/"):
                raise ValueError(f"label {label!r}: header labels are for counts, not split")
            if not _LABEL.match(label):
                raise ValueError(f"label {label!r}: use service/version, service or status/NNN")
        return value

    @model_validator(mode="after")
    def _split_alone(self) -> Expect:
        if self.split is not None:
            total = sum(self.split.values())
            if abs(total - 100) > 0.01:
                raise ValueError(f"split shares add up to {total:g}, not 100")
            per_answer = ("status", "backend", "counts", "pods", "mirroredTo")
            given = [k for k in per_answer if getattr(self, _attr(k)) is not None]
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
            http = ("status", "backend", "request", "response", "redirect", "split", "mirroredTo")
            given = [k for k in http if getattr(self, _attr(k)) is not None]
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
    def backend_ref(self) -> BackendRef | None:
        if isinstance(self.backend, str):
            return BackendRef(service=self.backend)
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
    def mirror_share(self) -> MirrorExpectation | None:
        """The mirror judged statistically (a share strictly between 0 and 100), if any."""
        return next((m for m in self.mirrors if m.share not in (None, 0.0, 100.0)), None)


def _attr(key: str) -> str:
    return {"mirroredTo": "mirrored_to"}.get(key, key)


class Check(StrictModel):
    """A request and the outcome it must get."""

    name: str = Field(min_length=1, max_length=200)
    description: str | None = None
    skip: str | None = Field(default=None, description="Skip this check, with the reason.")
    request: Request
    expect: Expect = Field(default_factory=Expect)

    @model_validator(mode="after")
    def _count_for_aggregates(self) -> Check:
        expect = self.expect
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


# --------------------------------------------------------------------- the case


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
            if check.request.from_ is not None and check.request.from_ not in names:
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
