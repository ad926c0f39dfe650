"""The WebSocket wire (RFC 6455): keys, frames both ways, messages from fragments, refusals."""

from __future__ import annotations

import struct

import pytest

from pytest_meshgate._wswire import (
    BINARY,
    CLOSE,
    CONTINUATION,
    MAX_MESSAGE_BYTES,
    PING,
    TEXT,
    FrameReader,
    MessageReader,
    WireError,
    accept_key,
    close_payload,
    encode_frame,
    new_key,
)


def test_the_accept_key_of_rfc_6455s_example() -> None:
    # RFC 6455 1.3: the sample nonce and its answer.
    assert accept_key("dGhlIHNhbXBsZSBub25jZQ==") == "s3pPLMBiTxaQ9kYGzzhZRbK+xOo="
    assert len(new_key()) == 24 and new_key() != new_key()


@pytest.mark.parametrize("size", [0, 5, 125, 126, 65535, 65536, 70000])
@pytest.mark.parametrize("mask", [True, False])
def test_frames_of_every_length_encoding_read_back(size: int, mask: bool) -> None:
    payload = bytes(range(256)) * (size // 256) + bytes(range(size % 256))
    wire = encode_frame(BINARY, payload, mask=mask)
    reader = FrameReader(masked=mask)
    # Fed a byte at a time for the head, then the rest: nothing comes out early.
    frames = [f for b in wire[:12] for f in reader.feed(bytes([b]))] + reader.feed(wire[12:])
    assert [(f.fin, f.opcode, f.payload) for f in frames] == [(True, BINARY, payload)]
    # The mask bit is set exactly when masking, and the key precedes the payload.
    assert bool(wire[1] & 0x80) is mask


def test_a_client_masks_and_a_server_does_not() -> None:
    with pytest.raises(WireError, match="must mask"):
        FrameReader(masked=True).feed(encode_frame(TEXT, b"hi", mask=False))
    with pytest.raises(WireError, match="must mask"):
        FrameReader(masked=False).feed(encode_frame(TEXT, b"hi", mask=True))


def test_fragments_make_one_message_with_control_frames_between() -> None:
    reader = MessageReader(masked=False)
    wire = (
        encode_frame(TEXT, b"Web", mask=False, fin=False)
        + encode_frame(PING, b"p", mask=False)
        + encode_frame(CONTINUATION, b"socket", mask=False)
    )
    messages = reader.feed(wire)
    assert [(m.kind, m.payload) for m in messages] == [("ping", b"p"), ("text", b"Websocket")]
    assert reader.feed(encode_frame(BINARY, b"\x01", mask=False))[0].kind == "binary"


@pytest.mark.parametrize(
    ("wire", "error"),
    [
        (bytes([0xC1, 0x00]), "reserved bits"),
        (bytes([0x83, 0x00]), "unknown opcode"),
        (bytes([0x09, 0x00]), "control frame"),
        (bytes([0x89, 126]) + struct.pack("!H", 200) + b"x" * 200, "control frame"),
        (bytes([0x80, 0x01, 0x61]), "continuation frame without"),
        (
            encode_frame(TEXT, b"a", mask=False, fin=False) + encode_frame(TEXT, b"b", mask=False),
            "new message began",
        ),
        (encode_frame(TEXT, b"\xff", mask=False), "not UTF-8"),
        (bytes([0x82, 127]) + struct.pack("!Q", MAX_MESSAGE_BYTES + 1), "over the"),
    ],
)
def test_frames_that_break_the_rfc_are_refused(wire: bytes, error: str) -> None:
    with pytest.raises(WireError, match=error):
        MessageReader(masked=False).feed(wire)


def test_a_close_carries_its_code_and_reason() -> None:
    (message,) = MessageReader(masked=True).feed(
        encode_frame(CLOSE, close_payload(1000, "bye"), mask=True)
    )
    assert message.kind == "close" and message.payload == b"\x03\xe8bye"
