"""Sending a case's requests into its proxies, and the Exchanges the judge reads of them.

The client TLS settings of a request are here rather than with addressing:
they are how the harness speaks (SNI, the CA it trusts, its certificate,
ALPN, versions) once the entry is known, resolved against the case's
secrets, as is the lookup that reads the handshake back (the case CA that
issued the peer's certificate).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Collection
from typing import Any, Protocol
from urllib.parse import urlsplit

from cryptography import x509

from ..._cases.model.expect import BackendRef
from ..._cases.model.request import Request, RequestTLS
from ..._exchange.client import HTTPClient
from ..._exchange.grpc import GrpcClient
from ..._exchange.records import (
    MESHGATE_ID_HEADER,
    ClientTLS,
    Exchange,
    ResponseRecord,
    SentRequest,
)
from ..._exchange.websocket import WebSocketClient
from ..secrets import CaseSecrets
from .addressing import Router
from .proxy import LOOPBACK

__all__ = [
    "Sender",
    "Transport",
    "ca_subjects",
    "client_tls",
    "received",
    "sample_exchange",
    "unresolved",
]


class Transport(Protocol):
    """What sending borrows from the session: its clients, and who connects from an address."""

    @property
    def client(self) -> HTTPClient: ...

    @property
    def bulk(self) -> Any: ...  # BulkSender, made on first use

    def workload_at(self, address: str) -> str | None: ...


class Sender:
    """Sends a case's requests through the entry ``router`` picks for each.

    ``tls_for`` gives a request's client TLS settings, ``issuer_ca`` the
    name of the case CA whose subject issued a peer certificate (if any).
    """

    def __init__(
        self,
        transport: Transport,
        router: Router,
        tls_for: Callable[[Request], ClientTLS],
        issuer_ca: Callable[[str], str | None],
    ) -> None:
        self._transport = transport
        self._router = router
        self._tls_for = tls_for
        self._issuer_ca = issuer_ca
        self._grpc: GrpcClient | None = None
        self._grpc_lock = threading.Lock()

    def _tls(self, request: Request) -> ClientTLS | None:
        return self._tls_for(request) if request.url.startswith("https:") else None

    def _grpc_client(self) -> GrpcClient:
        with self._grpc_lock:  # attempts may overlap (threads)
            if self._grpc is None:
                self._grpc = GrpcClient(self._transport.client.timeout)
            return self._grpc

    def _send_one(
        self,
        request: Request,
        address: tuple[str, int],
        entry: str,
        tls: ClientTLS | None,
        original_destination: tuple[str, int] | None = None,
    ) -> Exchange:
        """One attempt: a gRPC call through the gRPC client, a WebSocket through the
        WebSocket client, anything else through HTTP's."""
        if request.grpc is not None:
            return self._grpc_client().call(
                request, address, entry, request.timeout, tls, original_destination
            )
        if request.websocket is not None:
            client = WebSocketClient(self._transport.client.timeout)
            return client.open(request, address, entry, request.timeout, tls, original_destination)
        return self._transport.client.send(
            request, address, entry, request.timeout, tls, original_destination
        )

    def send(self, request: Request) -> Exchange:
        if request.from_ is not None:
            return self._send_from_client(request)
        entry = self._router.gateway_entry(request)
        tls = self._tls(request)
        exchange = self._send_one(request, entry.address, entry.description, tls)
        exchange.extra.update(gateway=request.gateway or "ingress", service_port=entry.service_port)
        return self.annotate(exchange)

    def _send_from_client(self, request: Request) -> Exchange:
        """Through the client's sidecar, to where the URL's host resolves in the pod."""
        entry = self._router.sidecar_entry(request)
        tls = self._tls(request)
        if entry.destination is None:
            return unresolved(request, entry.address, entry.description, tls)
        exchange = self._send_one(request, entry.address, entry.description, tls, entry.destination)
        exchange.extra.update(client=request.from_, service_port=entry.service_port)
        return self.annotate(exchange)

    def send_many(self, request: Request, count: int, concurrency: int = 1) -> list[Exchange]:
        """``count`` attempts through the bulk sender, ``concurrency`` connections at once."""
        if count == 1:
            return [self.send(request)]
        tls = self._tls(request)
        if request.from_ is not None:
            entry = self._router.sidecar_entry(request)
            if entry.destination is None:
                return [
                    unresolved(request, entry.address, entry.description, tls) for _ in range(count)
                ]
            extra: dict[str, Any] = {"client": request.from_, "service_port": entry.service_port}
        else:
            entry = self._router.gateway_entry(request)
            extra = {"gateway": request.gateway or "ingress", "service_port": entry.service_port}
        if request.grpc is not None:
            calls = self._grpc_client().call_many(
                request,
                entry.address,
                entry.description,
                count=count,
                concurrency=concurrency,
                timeout=request.timeout,
                tls=tls,
                original_destination=entry.destination,
            )
            for exchange in calls:
                exchange.extra.update(extra)
                self.annotate(exchange)
            return list(calls)
        samples = self._transport.bulk.send(
            request,
            entry.address,
            count=count,
            concurrency=concurrency,
            tls=tls,
            original_destination=entry.destination,
        )
        exchanges = [
            sample_exchange(s, request, entry.address, entry.description, tls, entry.destination)
            for s in samples
        ]
        for exchange in exchanges:
            exchange.extra.update(extra)
            self.annotate(exchange)
        return exchanges

    def annotate(self, exchange: Exchange) -> Exchange:
        """Facts the judge needs: the CA that issued the peer's certificate; ``via``."""
        if exchange.tls is not None and exchange.tls.peer_issuer is not None:
            exchange.extra["issuer_ca"] = self._issuer_ca(exchange.tls.peer_issuer)
        echo = exchange.response.echo if exchange.response is not None else None
        peer = echo.get("peer") if echo is not None else None
        if isinstance(peer, str) and peer:
            ip = peer.rsplit(":", 1)[0].strip("[]")
            exchange.extra["peer"] = peer
            exchange.extra["via"] = self._transport.workload_at(ip) or (
                "the harness itself (no proxy)" if ip == LOOPBACK else ip
            )
        return exchange


def client_tls(request: Request, secrets: CaseSecrets) -> ClientTLS:
    """The check's TLS settings resolved against the case's secrets.

    SNI and the name verified are the URL host unless ``tls.sni`` says
    otherwise (``none``: no SNI, and the chain alone is verified).
    """
    wanted = request.tls or RequestTLS()
    host = urlsplit(request.url).hostname or ""
    if wanted.sni is None:
        server_name: str | None = host
    else:
        server_name = None if wanted.sni == "none" else wanted.sni
    client_cert = None
    if wanted.client_cert is not None:
        material = secrets.materials[wanted.client_cert]
        assert material.cert_pem is not None and material.key_pem is not None
        client_cert = (material.cert_pem, material.key_pem)
    return ClientTLS(
        server_name=server_name,
        ca_pem=secrets.ca_pem(wanted.ca),
        client_cert=client_cert,
        # A gRPC client offers h2 alone (grpc-go requires it to be chosen).
        alpn=tuple(wanted.alpn)
        if wanted.alpn is not None
        else (("h2",) if request.grpc is not None else None),
        min_version=wanted.min_version,
        max_version=wanted.max_version,
        ciphers=tuple(wanted.ciphers) if wanted.ciphers is not None else None,
        http2=request.http2 or request.grpc is not None,
    )


def ca_subjects(secrets: CaseSecrets) -> dict[str, str]:
    """The case's CAs by subject (RFC 4514), to name the issuer of a peer certificate."""
    return {
        x509.load_pem_x509_certificate(ca.cert_pem.bytes()).subject.rfc4514_string(): name
        for name, ca in secrets.cas.items()
    }


def received(
    echo: Any,
    backend: BackendRef,
    meshgate_ids: Collection[str],
    wait: float,
    settle: float | None = None,
) -> dict[str, str]:
    """The requests ``echo`` logged for ``backend``, by ``x-meshgate-id``, with their Host."""
    wanted = set(meshgate_ids)
    now = time.monotonic()
    deadline, changed = now + wait, now
    seen: dict[str, str] = {}
    while True:
        found: dict[str, str] = {}
        for record in echo.requests():
            identity = record.identity
            if (
                identity.service == backend.service
                and (backend.version is None or identity.version == backend.version)
                and (backend.namespace is None or identity.namespace == backend.namespace)
            ):
                for meshgate_id in record.header(MESHGATE_ID_HEADER):
                    if meshgate_id in wanted:
                        found[meshgate_id] = record.host
        now = time.monotonic()
        if len(found) != len(seen):
            seen, changed = found, now
        if (
            len(seen) == len(wanted)
            or now >= deadline
            or (settle is not None and now - changed >= settle)
        ):
            return seen
        time.sleep(0.05)


def unresolved(
    request: Request, address: tuple[str, int], entry: str, tls: ClientTLS | None
) -> Exchange:
    """A mesh client's attempt at a host its pod cannot resolve: it never leaves the pod."""
    host = urlsplit(request.url).hostname or ""
    sent = SentRequest(
        method=request.method,
        url=request.url,
        headers=(),
        body=request.body,
        address=address,
        entry=entry,
        meshgate_id="-",
        tls=tls,
    )
    return Exchange(sent, None, "error", f"{host}: no such host (nothing in the mesh or outside)")


def sample_exchange(
    sample: Any,
    request: Request,
    address: tuple[str, int],
    entry: str,
    tls: ClientTLS | None,
    original_destination: tuple[str, int] | None = None,
) -> Exchange:
    """A bulk sender's ``Sample`` as the ``Exchange`` the judge reads."""
    sent = SentRequest(
        method=request.method,
        url=request.url,
        headers=tuple(request.headers.items()),
        body=request.body,
        address=address,
        entry=entry,
        meshgate_id=sample.meshgate_id,
        tls=tls,
        http2=request.http2,
        original_destination=original_destination,
    )
    if sample.status is None:
        outcome = sample.connection or "error"
        return Exchange(sent, None, outcome, sample.error or outcome, sample.elapsed)
    record = ResponseRecord(
        status=sample.status,
        reason="",
        # The bulk sender speaks what the request asks for.
        http_version="HTTP/2" if request.http2 else "HTTP/1.1",
        headers=tuple(sample.headers),
        body=sample.body,
    )
    return Exchange(sent, record, elapsed=sample.elapsed)
