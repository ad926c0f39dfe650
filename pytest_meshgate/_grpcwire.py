"""gRPC on the wire for the conformance echo: status codes, framing, metadata, protobuf messages.

Shared by the echo (which answers gRPC calls) and the harness (which makes
them), and by the case model (status names), so it imports nothing at all.

The messages are those of the Gateway API conformance echo, package
``gateway_api_conformance.echo_basic.grpcecho`` (kubernetes-sigs/gateway-api
``conformance/echo-basic/grpcecho.proto``, now kept in
gateway-api-conformance-images): service ``GrpcEcho`` with ``Echo``,
``EchoTwo`` and the intentionally unimplemented ``EchoThree``, each taking an
empty ``EchoRequest`` and answering an ``EchoResponse`` whose ``Assertions``
say what the server saw (method, metadata, ``:authority``, its pod context,
TLS facts). The protobuf wire format is written by hand (varints and
length-delimited fields are all these messages use). ``Context`` carries two
additions of this project, ``version`` and ``peer``, at field numbers far from
upstream's; a client built from the upstream ``.proto`` skips them as unknown
fields, as protobuf requires.

Status codes, the HTTP-to-gRPC status mapping, ``grpc-timeout`` and the
percent-encoding of ``grpc-message`` follow grpc/grpc ``doc/statuscodes.md``,
``doc/http-grpc-status-mapping.md`` and ``doc/PROTOCOL-HTTP2.md``.
"""

from __future__ import annotations

import dataclasses
import math
import struct
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any, TypeVar

__all__ = [
    "ECHO_METHODS",
    "ECHO_SERVICE",
    "GRPC_CONTENT_TYPE",
    "STATUS_NAMES",
    "Assertions",
    "Context",
    "EchoRequest",
    "EchoResponse",
    "Header",
    "Message",
    "TLSAssertions",
    "WireError",
    "decode_varint",
    "encode_timeout",
    "encode_varint",
    "frame",
    "is_grpc",
    "percent_decode",
    "percent_encode",
    "status_code",
    "status_from_http",
    "status_name",
    "unframe",
]

ECHO_SERVICE = "gateway_api_conformance.echo_basic.grpcecho.GrpcEcho"
ECHO_METHODS = ("Echo", "EchoTwo", "EchoThree")
GRPC_CONTENT_TYPE = "application/grpc"

# doc/statuscodes.md: the code is the index.
STATUS_NAMES = (
    "OK",
    "CANCELLED",
    "UNKNOWN",
    "INVALID_ARGUMENT",
    "DEADLINE_EXCEEDED",
    "NOT_FOUND",
    "ALREADY_EXISTS",
    "PERMISSION_DENIED",
    "RESOURCE_EXHAUSTED",
    "FAILED_PRECONDITION",
    "ABORTED",
    "OUT_OF_RANGE",
    "UNIMPLEMENTED",
    "INTERNAL",
    "UNAVAILABLE",
    "DATA_LOSS",
    "UNAUTHENTICATED",
)

# doc/http-grpc-status-mapping.md: what a client makes of a non-200 HTTP answer.
_HTTP_TO_GRPC = {400: 13, 401: 16, 403: 7, 404: 12, 429: 14, 502: 14, 503: 14, 504: 14}


class WireError(ValueError):
    """Bytes that are not what gRPC or protobuf says they must be."""


def is_grpc(content_type: str) -> bool:
    """``application/grpc`` and its ``+proto``-style subtypes (doc/PROTOCOL-HTTP2.md)."""
    base = content_type.split(";", 1)[0].strip().lower()
    return base == GRPC_CONTENT_TYPE or base.startswith(GRPC_CONTENT_TYPE + "+")


def status_code(value: str | int) -> int:
    """A status code from its name (``UNIMPLEMENTED``, any case) or number."""
    if isinstance(value, int):
        if not 0 <= value < len(STATUS_NAMES):
            raise ValueError(f"gRPC status codes are 0-{len(STATUS_NAMES) - 1}, not {value}")
        return value
    name = value.strip().upper()
    if name.isdigit():
        return status_code(int(name))
    if name == "CANCELED":  # Go's spelling (codes.Canceled)
        name = "CANCELLED"
    if name not in STATUS_NAMES:
        raise ValueError(f"unknown gRPC status {value!r}; known: {', '.join(STATUS_NAMES)}")
    return STATUS_NAMES.index(name)


def status_name(code: int) -> str:
    """``12`` -> ``UNIMPLEMENTED``; codes outside the table stay numbers."""
    return STATUS_NAMES[code] if 0 <= code < len(STATUS_NAMES) else str(code)


def status_from_http(http_status: int) -> int:
    """The status a gRPC client reports for an answer with this HTTP status but no gRPC one."""
    return _HTTP_TO_GRPC.get(http_status, 2)  # UNKNOWN otherwise


# ------------------------------------------------------------------ framing


def frame(message: bytes) -> bytes:
    """A length-prefixed message: compressed flag 0, 4-byte big-endian length, the bytes."""
    return struct.pack(">BI", 0, len(message)) + message


def unframe(data: bytes) -> list[bytes]:
    """The messages of a request or response body (uncompressed only)."""
    messages: list[bytes] = []
    offset = 0
    while offset < len(data):
        if len(data) - offset < 5:
            raise WireError(f"truncated message prefix ({len(data) - offset} bytes)")
        compressed, length = struct.unpack_from(">BI", data, offset)
        if compressed:
            raise WireError("compressed message, but no grpc-encoding was agreed")
        offset += 5
        if len(data) - offset < length:
            raise WireError(f"message of {length} bytes truncated at {len(data) - offset}")
        messages.append(data[offset : offset + length])
        offset += length
    return messages


def encode_timeout(seconds: float) -> str:
    """``grpc-timeout``: at most 8 digits and a unit; the finest unit that fits, rounded up."""
    for unit, scale in _TIMEOUT_UNITS:
        value = max(math.ceil(seconds * scale), 1)
        if value < 100_000_000:
            return f"{value}{unit}"
    return "99999999H"


_TIMEOUT_UNITS = (("n", 1e9), ("u", 1e6), ("m", 1e3), ("S", 1.0), ("M", 1 / 60), ("H", 1 / 3600))


def percent_encode(message: str) -> str:
    """``grpc-message``: UTF-8, with bytes outside printable ASCII and ``%`` as ``%XX``."""
    out = []
    for byte in message.encode("utf-8"):
        if 0x20 <= byte <= 0x7E and byte != 0x25:
            out.append(chr(byte))
        else:
            out.append(f"%{byte:02X}")
    return "".join(out)


def percent_decode(value: str) -> str:
    """The inverse of ``percent_encode``; malformed escapes are kept as they are."""
    raw = value.encode("latin-1", "replace")
    out = bytearray()
    i = 0
    while i < len(raw):
        if raw[i] == 0x25 and _is_hex(raw[i + 1 : i + 3]):
            out.append(int(raw[i + 1 : i + 3], 16))
            i += 3
        else:
            out.append(raw[i])
            i += 1
    return out.decode("utf-8", "replace")


def _is_hex(pair: bytes) -> bool:
    return len(pair) == 2 and all(c in b"0123456789abcdefABCDEF" for c in pair)


# ------------------------------------------------------------------ protobuf

_VARINT, _FIXED64, _LENGTH, _FIXED32 = 0, 1, 2, 5


def encode_varint(value: int) -> bytes:
    """A base-128 varint, least significant group first (non-negative values)."""
    if value < 0:
        raise ValueError("only non-negative varints are used here")
    out = bytearray()
    while True:
        byte = value & 0x7F
        value >>= 7
        if value:
            out.append(byte | 0x80)
        else:
            out.append(byte)
            return bytes(out)


def decode_varint(data: bytes, offset: int) -> tuple[int, int]:
    """The varint at ``offset`` and the offset after it."""
    value = shift = 0
    while True:
        if offset >= len(data):
            raise WireError("truncated varint")
        byte = data[offset]
        offset += 1
        value |= (byte & 0x7F) << shift
        if not byte & 0x80:
            return value, offset
        shift += 7
        if shift >= 64:
            raise WireError("varint longer than 10 bytes")


def _fields(data: bytes) -> Iterator[tuple[int, int, Any]]:
    """(field number, wire type, value) of each field; values of length fields as bytes."""
    offset = 0
    while offset < len(data):
        key, offset = decode_varint(data, offset)
        number, wire_type = key >> 3, key & 7
        if number == 0:
            raise WireError("field number 0")
        value: Any
        if wire_type == _VARINT:
            value, offset = decode_varint(data, offset)
        elif wire_type == _LENGTH:
            length, offset = decode_varint(data, offset)
            if offset + length > len(data):
                raise WireError(f"field {number}: {length} bytes announced, fewer left")
            value, offset = data[offset : offset + length], offset + length
        elif wire_type in (_FIXED64, _FIXED32):
            size = 8 if wire_type == _FIXED64 else 4
            if offset + size > len(data):
                raise WireError(f"field {number}: truncated fixed-size value")
            value, offset = data[offset : offset + size], offset + size
        else:
            raise WireError(f"field {number}: unsupported wire type {wire_type}")
        yield number, wire_type, value


def _pb(number: int, kind: str, message: type[Message] | None = None) -> dict[str, Any]:
    """A field's protobuf metadata: its number, ``string`` or ``message`` (of which type),
    maybe ``repeated ``."""
    meta: dict[str, Any] = {
        "number": number,
        "kind": kind.removeprefix("repeated "),
        "repeated": kind.startswith("repeated "),
    }
    if message is not None:
        meta["message"] = message
    return meta


M = TypeVar("M", bound="Message")


class Message:
    """A proto3 message of string and message fields, their metadata from ``_pb``.

    Encoding leaves out empty strings and unset messages, as proto3 does;
    decoding keeps the last value of a singular field, appends repeated ones
    and skips unknown fields.
    """

    def encode(self) -> bytes:
        out = bytearray()
        for spec in dataclasses.fields(self):  # type: ignore[arg-type]
            meta = spec.metadata
            values = getattr(self, spec.name)
            for value in values if meta["repeated"] else [values]:
                if meta["kind"] == "string":
                    if not value and not meta["repeated"]:
                        continue
                    payload = value.encode("utf-8")
                else:
                    if value is None:
                        continue
                    payload = value.encode()
                out += encode_varint(meta["number"] << 3 | _LENGTH)
                out += encode_varint(len(payload)) + payload
        return bytes(out)

    @classmethod
    def decode(cls: type[M], data: bytes) -> M:
        by_number = {f.metadata["number"]: f for f in dataclasses.fields(cls)}  # type: ignore[arg-type]
        values: dict[str, Any] = {}
        for number, wire_type, raw in _fields(data):
            spec = by_number.get(number)
            if spec is None:
                continue  # unknown field: skipped, as protobuf requires
            if wire_type != _LENGTH:
                raise WireError(f"{cls.__name__}.{spec.name}: wire type {wire_type}, expected 2")
            meta = spec.metadata
            value: Any = (
                raw.decode("utf-8", "replace")
                if meta["kind"] == "string"
                else meta["message"].decode(raw)
            )
            if meta["repeated"]:
                values.setdefault(spec.name, []).append(value)
            else:
                values[spec.name] = value
        return cls(**values)


@dataclass
class Header(Message):
    key: str = field(default="", metadata=_pb(1, "string"))
    value: str = field(default="", metadata=_pb(2, "string"))


@dataclass
class Context(Message):
    """Who answered: the pod's namespace, ingress, Service and pod name (and, here, more)."""

    namespace: str = field(default="", metadata=_pb(1, "string"))
    ingress: str = field(default="", metadata=_pb(2, "string"))
    service_name: str = field(default="", metadata=_pb(3, "string"))
    pod: str = field(default="", metadata=_pb(4, "string"))
    # This project's additions; upstream clients skip them.
    version: str = field(default="", metadata=_pb(1001, "string"))
    peer: str = field(default="", metadata=_pb(1002, "string"))


@dataclass
class TLSAssertions(Message):
    version: str = field(default="", metadata=_pb(1, "string"))
    negotiated_protocol: str = field(default="", metadata=_pb(2, "string"))
    server_name: str = field(default="", metadata=_pb(3, "string"))
    cipher_suite: str = field(default="", metadata=_pb(4, "string"))
    peer_certificates: list[str] = field(default_factory=list, metadata=_pb(5, "repeated string"))


@dataclass
class Assertions(Message):
    fully_qualified_method: str = field(default="", metadata=_pb(1, "string"))
    headers: list[Header] = field(default_factory=list, metadata=_pb(2, "repeated message", Header))
    authority: str = field(default="", metadata=_pb(3, "string"))
    context: Context | None = field(default=None, metadata=_pb(4, "message", Context))
    tls_assertions: TLSAssertions | None = field(
        default=None, metadata=_pb(5, "message", TLSAssertions)
    )


@dataclass
class EchoRequest(Message):
    pass


@dataclass
class EchoResponse(Message):
    assertions: Assertions | None = field(default=None, metadata=_pb(1, "message", Assertions))
    request: EchoRequest | None = field(default=None, metadata=_pb(2, "message", EchoRequest))
