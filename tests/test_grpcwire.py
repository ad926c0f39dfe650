"""The gRPC wire: varints, protobuf messages, message framing, statuses, timeouts, messages."""

from __future__ import annotations

from dataclasses import dataclass, field

import pytest
from hypothesis import given
from hypothesis import strategies as st

from pytest_meshgate._grpcwire import (
    Assertions,
    Context,
    EchoResponse,
    Header,
    Message,
    TLSAssertions,
    WireError,
    decode_varint,
    encode_timeout,
    encode_varint,
    frame,
    is_grpc,
    percent_decode,
    percent_encode,
    status_code,
    status_from_http,
    status_name,
    unframe,
)
from pytest_meshgate._grpcwire import _pb as pb


@pytest.mark.parametrize(
    ("value", "wire"),
    [(0, b"\x00"), (1, b"\x01"), (127, b"\x7f"), (128, b"\x80\x01"), (300, b"\xac\x02")],
)
def test_varints_as_the_protobuf_encoding_guide_writes_them(value: int, wire: bytes) -> None:
    assert encode_varint(value) == wire
    assert decode_varint(wire + b"rest", 0) == (value, len(wire))


def test_bad_varints_are_wire_errors() -> None:
    with pytest.raises(WireError, match="truncated"):
        decode_varint(b"\x80", 0)
    with pytest.raises(WireError, match="longer than 10 bytes"):
        decode_varint(b"\xff" * 11, 0)
    with pytest.raises(ValueError, match="non-negative"):
        encode_varint(-1)


def test_messages_encode_field_by_field_leaving_out_defaults() -> None:
    # field 1 (key 0x0a) "a", field 2 (key 0x12) "b": tag, length, bytes each.
    assert Header("a", "b").encode() == b"\x0a\x01a\x12\x01b"
    assert Header().encode() == b""
    nested = EchoResponse(assertions=Assertions(fully_qualified_method="/s/M"))
    assert nested.encode() == b"\x0a\x06" + b"\x0a\x04/s/M"
    # A set but empty message is still sent (length 0); repeated empty strings too.
    assert EchoResponse(assertions=Assertions()).encode() == b"\x0a\x00"
    assert TLSAssertions(peer_certificates=["", "x"]).encode() == b"\x2a\x00\x2a\x01x"
    # Field 1001 needs a two-byte key: (1001 << 3 | 2) = 8010 = 0xca 0x3e.
    assert Context(version="v1").encode() == b"\xca\x3e\x02v1"


@dataclass
class _UpstreamContext(Message):
    """Context as the upstream .proto declares it: without this project's fields."""

    namespace: str = field(default="", metadata=pb(1, "string"))
    ingress: str = field(default="", metadata=pb(2, "string"))
    service_name: str = field(default="", metadata=pb(3, "string"))
    pod: str = field(default="", metadata=pb(4, "string"))


def test_a_decoder_without_the_additions_skips_them() -> None:
    ours = Context(namespace="ns", service_name="svc", pod="p", version="v2", peer="1.2.3.4:5")
    upstream = _UpstreamContext.decode(ours.encode())
    assert upstream == _UpstreamContext(namespace="ns", service_name="svc", pod="p")


def test_unknown_fields_of_every_wire_type_are_skipped() -> None:
    unknown = (
        encode_varint(9 << 3 | 0)
        + encode_varint(150)
        + encode_varint(10 << 3 | 1)
        + b"12345678"
        + encode_varint(11 << 3 | 5)
        + b"1234"
        + encode_varint(12 << 3 | 2)
        + b"\x03abc"
    )
    assert Header.decode(unknown + Header("k", "v").encode()) == Header("k", "v")


def test_malformed_messages_are_wire_errors() -> None:
    with pytest.raises(WireError, match="wire type 0, expected 2"):
        Header.decode(encode_varint(1 << 3 | 0) + b"\x01")
    with pytest.raises(WireError, match="unsupported wire type 3"):
        Header.decode(encode_varint(7 << 3 | 3))
    with pytest.raises(WireError, match="announced"):
        Header.decode(b"\x0a\x05ab")
    with pytest.raises(WireError, match="field number 0"):
        Header.decode(b"\x02\x00")


_text = st.text(max_size=20)


@given(
    method=_text,
    headers=st.lists(st.tuples(_text, _text), max_size=4),
    authority=_text,
    context=st.none() | st.builds(Context, namespace=_text, pod=_text, version=_text),
    certificates=st.none() | st.lists(_text, max_size=3),
)
def test_echo_responses_survive_a_round_trip(
    method: str,
    headers: list[tuple[str, str]],
    authority: str,
    context: Context | None,
    certificates: list[str] | None,
) -> None:
    tls = None if certificates is None else TLSAssertions(peer_certificates=certificates)
    original = EchoResponse(
        assertions=Assertions(
            fully_qualified_method=method,
            headers=[Header(k, v) for k, v in headers],
            authority=authority,
            context=context,
            tls_assertions=tls,
        )
    )
    assert EchoResponse.decode(original.encode()) == original


def test_messages_are_framed_with_a_five_byte_prefix() -> None:
    assert frame(b"abc") == b"\x00\x00\x00\x00\x03abc"
    assert frame(b"") == b"\x00\x00\x00\x00\x00"
    assert unframe(frame(b"abc") + frame(b"") + frame(b"d")) == [b"abc", b"", b"d"]
    with pytest.raises(WireError, match="truncated message prefix"):
        unframe(b"\x00\x00")
    with pytest.raises(WireError, match="truncated at 1"):
        unframe(b"\x00\x00\x00\x00\x03a")
    with pytest.raises(WireError, match="compressed"):
        unframe(b"\x01\x00\x00\x00\x00")


def test_statuses_by_name_and_number() -> None:
    assert status_code("UNIMPLEMENTED") == 12
    assert status_code("unavailable") == 14
    assert status_code("CANCELED") == status_code("CANCELLED") == 1
    assert status_code(16) == status_code("16") == 16
    assert [status_name(c) for c in (0, 4, 16, 99)] == [
        "OK",
        "DEADLINE_EXCEEDED",
        "UNAUTHENTICATED",
        "99",
    ]
    with pytest.raises(ValueError, match="unknown gRPC status 'NOPE'"):
        status_code("NOPE")
    with pytest.raises(ValueError, match="0-16"):
        status_code(17)


def test_http_statuses_map_as_the_grpc_doc_says() -> None:
    mapped = {code: status_name(status_from_http(code)) for code in (400, 401, 403, 404, 429)}
    assert mapped == {
        400: "INTERNAL",
        401: "UNAUTHENTICATED",
        403: "PERMISSION_DENIED",
        404: "UNIMPLEMENTED",
        429: "UNAVAILABLE",
    }
    assert {status_from_http(c) for c in (502, 503, 504)} == {14}
    assert status_from_http(418) == status_from_http(500) == 2  # UNKNOWN


def test_timeouts_use_the_finest_unit_within_eight_digits() -> None:
    assert encode_timeout(10) == "10000000u"
    assert encode_timeout(0.0005) == "500000n"
    assert encode_timeout(1e-12) == "1n"
    assert encode_timeout(100_000) == "100000S"  # 100000000m would be nine digits
    assert encode_timeout(10**9) == "16666667M"  # rounded up, never shorter
    assert encode_timeout(10**12) == "99999999H"  # the longest there is


def test_grpc_messages_are_percent_encoded_utf8() -> None:
    assert percent_encode("nope é%") == "nope %C3%A9%25"
    assert percent_encode("tab\there") == "tab%09here"
    assert percent_decode("nope %C3%A9%25") == "nope é%"
    assert percent_decode("100%zz%4") == "100%zz%4"  # malformed escapes stay


def test_grpc_content_types() -> None:
    assert is_grpc("application/grpc")
    assert is_grpc("application/grpc+proto; charset=x")
    assert is_grpc("Application/GRPC")
    assert not is_grpc("application/grpc-web")
    assert not is_grpc("application/json")
