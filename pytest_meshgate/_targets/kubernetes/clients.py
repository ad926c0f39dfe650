"""How a cluster case speaks: client TLS from the case's secrets, and ``from:`` requests in a pod.

An outside client cannot take the mesh path, so mesh and egress requests are
sent from a pod whose sidecar carries them, as Gateway API's mesh tests do
(``MeshPod.request`` in ``conformance/utils/echo/pod.go`` runs a client in the
pod through the exec API). Here that client is the project's own in-pod
sender (``_targets/echo/sender.py``): a plan of what ``HTTPClient`` would put
on the wire (target, header fields in order, ``${uuid}`` and the
``x-meshgate-id`` left to fill in per attempt) goes in on stdin, and one JSON
document with every attempt comes back, so a split of 2000 requests is one
exec call with real concurrency, not 2000.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Mapping
from typing import Any
from urllib.parse import urlsplit

from cryptography import x509

from ..._cases.model.request import Request, RequestTLS
from ..._exchange.client import request_fields, wire_headers
from ..._exchange.records import (
    ClientTLS,
    Exchange,
    ResponseRecord,
    SentRequest,
    TLSInfo,
)
from ..secrets import CaseSecrets, SecretStore

__all__ = [
    "ca_subjects",
    "client_tls",
    "exchanges_from_results",
    "sender_plan",
    "tls_info_from_pem",
]

_UUID = "${uuid}"
_MESHGATE_ID = "${meshgate-id}"
_BODY_LENGTH = "${body-length}"


def client_tls(request: Request, secrets: CaseSecrets, store: SecretStore, key: str) -> ClientTLS:
    """The check's TLS settings resolved against the case's secrets, as the local target does.

    SNI and the name verified are the URL host unless ``tls.sni`` says
    otherwise (``none``: no SNI). ``key`` names this deployment's private
    key files in ``store``.
    """
    wanted = request.tls or RequestTLS()
    host = urlsplit(request.url).hostname or ""
    if wanted.sni is None:
        server_name: str | None = host
    else:
        server_name = None if wanted.sni == "none" else wanted.sni
    client_cert = None
    if wanted.client_cert is not None:
        # Held in memory, never written to disk (_exchange/tlskeys.py).
        material = secrets.materials[wanted.client_cert]
        assert material.cert_pem is not None and material.key_pem is not None  # a client secret
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


def sender_plan(
    request: Request,
    url: str,
    count: int,
    concurrency: int,
    timeout: float,
    tls: ClientTLS | None,
    client_pem: tuple[str, str] | None = None,
) -> dict[str, Any]:
    """The in-pod sender's plan for ``count`` attempts of ``request`` to ``url``.

    ``url`` is the check's URL with cluster namespaces mapped in; what goes on
    the wire is what ``HTTPClient`` sends (``wire_headers``: httpx's defaults,
    Host first), with placeholders for what differs per attempt.
    """
    mapped = request.model_copy(update={"url": url})
    _, target, headers, body = request_fields(mapped, _UUID, _MESHGATE_ID)
    wire = wire_headers(request.method, headers, body.encode() if body is not None else None)
    own_length = any(k.lower() == "content-length" for k in request.headers)
    fields: list[list[str]] = []
    for name, value in sorted(wire, key=lambda kv: kv[0].lower() != "host"):
        if name == "Content-Length" and not own_length and body is not None and _UUID in body:
            value = _BODY_LENGTH  # follows the body once ${uuid} is filled in
        fields.append([name, value])
    parts = urlsplit(url)
    plan: dict[str, Any] = {
        "method": request.method,
        "target": target,
        "headers": fields,
        "body": body,
        "connect": [parts.hostname or "", parts.port or (443 if parts.scheme == "https" else 80)],
        "count": count,
        "concurrency": concurrency,
        "timeout": timeout,
        # Many attempts keep their connections, as the bulk sender does; one is fresh.
        "keepalive": count > 1,
        "tls": None,
    }
    if tls is not None:
        plan["tls"] = {
            "server_name": tls.server_name,
            "ca": tls.ca_pem.decode(),
            "cert": client_pem[0] if client_pem else None,
            "key": client_pem[1] if client_pem else None,
            "alpn": list(tls.alpn) if tls.alpn is not None else None,
            "min_version": tls.min_version,
            "max_version": tls.max_version,
            "ciphers": list(tls.ciphers) if tls.ciphers is not None else None,
        }
    return plan


def tls_info_from_pem(facts: Mapping[str, Any]) -> TLSInfo:
    """The sender's ``tls`` facts as the ``TLSInfo`` the judge reads."""
    info = TLSInfo(version=facts.get("version"), alpn=facts.get("alpn"), cipher=facts.get("cipher"))
    pem = facts.get("peer_certificate")
    if not pem:
        return info
    certificate = x509.load_pem_x509_certificate(str(pem).encode())
    try:
        sans = certificate.extensions.get_extension_for_class(x509.SubjectAlternativeName)
        names = tuple(str(n.value) for n in sans.value)
    except x509.ExtensionNotFound:
        names = ()
    return TLSInfo(
        version=info.version,
        alpn=info.alpn,
        cipher=info.cipher,
        peer_subject=certificate.subject.rfc4514_string(),
        peer_issuer=certificate.issuer.rfc4514_string(),
        peer_sans=names,
    )


def exchanges_from_results(
    plan: Mapping[str, Any],
    url: str,
    entry: str,
    tls: ClientTLS | None,
    stdout: str,
    stderr: str,
    exit_code: int,
) -> list[Exchange]:
    """One Exchange per attempt the sender reports; a sender that failed is one error each."""
    host, port = plan["connect"]

    def sent(meshgate_id: str) -> SentRequest:
        headers = tuple((k, meshgate_id if v == _MESHGATE_ID else v) for k, v in plan["headers"])
        return SentRequest(
            method=plan["method"],
            url=url,
            headers=headers,
            body=plan["body"],
            address=(host, int(port)),
            entry=entry,
            meshgate_id=meshgate_id,
            tls=tls,
        )

    try:
        results = json.loads(stdout)["results"]
    except (ValueError, KeyError, TypeError):
        why = (stderr or stdout).strip()[-500:] or f"exit status {exit_code}"
        return [
            Exchange(sent("-"), None, "error", f"the in-pod sender failed: {why}")
            for _ in range(int(plan["count"]))
        ]
    exchanges = []
    for result in results:
        request = sent(str(result["meshgate_id"]))
        elapsed = float(result.get("elapsed") or 0.0)
        if result.get("status") is None:
            outcome = str(result.get("outcome") or "error")
            exchanges.append(Exchange(request, None, outcome, str(result.get("error")), elapsed))
            continue
        record = ResponseRecord(
            status=int(result["status"]),
            reason=str(result.get("reason") or ""),
            http_version=str(result.get("version") or "HTTP/1.1"),
            headers=tuple((str(k), str(v)) for k, v in result.get("headers") or []),
            body=base64.b64decode(result.get("body") or ""),
        )
        facts = result.get("tls")
        negotiated = tls_info_from_pem(facts) if facts else None
        exchanges.append(Exchange(request, record, elapsed=elapsed, tls=negotiated))
    return exchanges
