"""What the echo answers to a gRPC call: the conformance ``GrpcEcho`` service, as echo-basic does.

``Echo`` and ``EchoTwo`` answer an ``EchoResponse`` whose assertions carry the
fully qualified method, the request metadata, ``:authority``, the pod context
and, over TLS, the handshake facts (echo-basic's ``grpc/grpc.go``
``doEcho``). ``EchoThree`` is unimplemented on purpose; any other method or
service is unknown. Each of those is UNIMPLEMENTED, as grpc-go says it.

The metadata is what grpc-go hands a server (``metadata.FromIncomingContext``):
every header but the pseudo-headers and the ones gRPC reserves for itself
(``te``, ``grpc-timeout``, ``grpc-encoding``, ...), with ``:authority`` added.
The ``X-Echo-Set-Header`` knob sets response metadata, as it sets response
headers over HTTP; a misbehaving listener (``EchoFault``) delays, answers its
HTTP status (which a gRPC client maps to a gRPC status) or resets.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import Any

from ..._grpcwire import (
    ECHO_SERVICE,
    Assertions,
    Context,
    EchoRequest,
    EchoResponse,
    Header,
    TLSAssertions,
    WireError,
    status_code,
    status_from_http,
    unframe,
)
from .handler import EchoFault, EchoIdentity
from .tls import tls_facts

__all__ = ["GrpcAnswer", "GrpcCall", "answer_grpc", "server_metadata"]

# grpc-go internal/transport isReservedHeader(): kept out of the metadata a server sees
# (content-type and user-agent are reserved too, but grpc-go hands them on all the same).
_RESERVED = frozenset(
    {
        "grpc-message-type",
        "grpc-encoding",
        "grpc-message",
        "grpc-status",
        "grpc-timeout",
        "grpc-status-details-bin",
        "te",
    }
)
_UNIMPLEMENTED = status_code("UNIMPLEMENTED")
_INTERNAL = status_code("INTERNAL")


@dataclass(frozen=True)
class GrpcCall:
    """A unary call as it arrived: ``:path``, ``:authority``, the other headers, the body."""

    path: str
    authority: str
    headers: tuple[tuple[str, str], ...]
    body: bytes = b""


@dataclass
class GrpcAnswer:
    """What to answer: a gRPC status, its message and response; or an HTTP status; or a reset."""

    status: int = 0
    message: str = ""
    response: bytes | None = None  # the serialized response message, unframed
    metadata: list[tuple[str, str]] = field(default_factory=list)
    http_status: int = 200
    reset: bool = False


def server_metadata(call: GrpcCall) -> list[tuple[str, str]]:
    """The metadata grpc-go gives a handler: ``:authority`` first, then the headers it keeps."""
    metadata = [(":authority", call.authority)] if call.authority else []
    for name, value in call.headers:
        lower = name.lower()
        if lower.startswith(":") or lower in _RESERVED:
            continue
        metadata.append((lower, value))
    return metadata


async def answer_grpc(
    identity: EchoIdentity,
    fault: EchoFault | None,
    call: GrpcCall,
    ssl_object: Any,
    peer: str,
) -> GrpcAnswer:
    """The answer of a ``GrpcEcho`` server that is ``identity`` to ``call``."""
    if fault is not None:
        if fault.delay:
            await asyncio.sleep(fault.delay)
        if fault.reset:
            return GrpcAnswer(reset=True)
        if fault.status is not None:
            return GrpcAnswer(status=status_from_http(fault.status), http_status=fault.status)

    service, _, method = call.path.removeprefix("/").partition("/")
    if service != ECHO_SERVICE:
        return GrpcAnswer(_UNIMPLEMENTED, f"unknown service {service}")
    if method == "EchoThree":
        return GrpcAnswer(_UNIMPLEMENTED, "method EchoThree not implemented")
    if method not in ("Echo", "EchoTwo"):
        return GrpcAnswer(_UNIMPLEMENTED, f"unknown method {method} for service {service}")
    try:
        messages = unframe(call.body)
        if len(messages) != 1:
            raise WireError(f"a unary call carries one request message, not {len(messages)}")
        request = EchoRequest.decode(messages[0])
    except WireError as exc:
        return GrpcAnswer(_INTERNAL, f"grpc: error unmarshalling request: {exc}")

    metadata = server_metadata(call)
    assertions = Assertions(
        fully_qualified_method=f"/{service}/{method}",
        headers=[Header(key, value) for key, value in metadata],
        authority=call.authority,
        context=Context(
            namespace=identity.namespace,
            service_name=identity.service,
            pod=identity.pod,
            version=identity.version,
            peer=peer,
        ),
    )
    if ssl_object is not None:
        facts = tls_facts(ssl_object)
        assertions.tls_assertions = TLSAssertions(
            version=facts["version"],
            negotiated_protocol=facts["negotiatedProtocol"],
            server_name=facts["serverName"],
            cipher_suite=facts["cipherSuite"],
            peer_certificates=list(facts["peerCertificates"]),
        )
    response = EchoResponse(assertions=assertions, request=request).encode()
    return GrpcAnswer(0, response=response, metadata=_set_headers(call))


def _set_headers(call: GrpcCall) -> list[tuple[str, str]]:
    """``X-Echo-Set-Header: Name:value,...`` as response metadata (names lower-cased)."""
    out: list[tuple[str, str]] = []
    for name, value in call.headers:
        if name.lower() != "x-echo-set-header":
            continue
        for item in value.split(","):
            key, sep, text = item.partition(":")
            if sep and key.strip():
                out.append((key.strip().lower(), text.strip()))
    return out
