"""The WebSocket wire (RFC 6455): the opening handshake's keys, frames, and messages from frames.

Shared by the checks' WebSocket client (``_exchange/websocket.py``) and the
echo's ``/ws`` endpoint (``_targets/echo/websocket.py``), and tested against
an independent implementation (websocket-client). Only what a conformance
check needs: text and binary messages, fragmented or not, with the control
frames (ping, pong, close) between them; no extensions (no
permessage-deflate), no subprotocols.
"""

from __future__ import annotations

import base64
import hashlib
import os
import struct
from dataclasses import dataclass

__all__ = [
    "BINARY",
    "CLOSE",
    "CONTINUATION",
    "MAX_MESSAGE_BYTES",
    "PING",
    "PONG",
    "TEXT",
    "Frame",
    "FrameReader",
    "Message",
    "MessageReader",
    "WireError",
    "accept_key",
    "close_payload",
    "encode_frame",
    "new_key",
]

CONTINUATION, TEXT, BINARY, CLOSE, PING, PONG = 0x0, 0x1, 0x2, 0x8, 0x9, 0xA
_CONTROL = frozenset({CLOSE, PING, PONG})
_KNOWN = frozenset({CONTINUATION, TEXT, BINARY, *_CONTROL})
# RFC 6455 1.3: the GUID the server appends to Sec-WebSocket-Key.
_GUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
# A check's messages are small; a peer that sends more is misbehaving, not echoing.
MAX_MESSAGE_BYTES = 1 << 20


class WireError(Exception):
    """A frame or message that breaks RFC 6455 (the peer must then close with 1002)."""


def new_key() -> str:
    """A fresh Sec-WebSocket-Key: 16 random bytes, base64 (RFC 6455 4.1)."""
    return base64.b64encode(os.urandom(16)).decode("ascii")


def accept_key(key: str) -> str:
    """The Sec-WebSocket-Accept a server answers ``key`` with (RFC 6455 4.2.2)."""
    digest = hashlib.sha1((key + _GUID).encode("ascii")).digest()
    return base64.b64encode(digest).decode("ascii")


def encode_frame(opcode: int, payload: bytes, *, mask: bool, fin: bool = True) -> bytes:
    """One frame; a client masks every frame it sends, a server none (RFC 6455 5.1)."""
    head = bytearray([(0x80 if fin else 0) | opcode])
    length = len(payload)
    mask_bit = 0x80 if mask else 0
    if length < 126:
        head.append(mask_bit | length)
    elif length < 1 << 16:
        head.append(mask_bit | 126)
        head += struct.pack("!H", length)
    else:
        head.append(mask_bit | 127)
        head += struct.pack("!Q", length)
    if not mask:
        return bytes(head) + payload
    key = os.urandom(4)
    return bytes(head) + key + _unmask(payload, key)


def close_payload(code: int, reason: str = "") -> bytes:
    """A close frame's payload: the status code, then a UTF-8 reason (RFC 6455 5.5.1)."""
    return struct.pack("!H", code) + reason.encode("utf-8")


def _unmask(data: bytes, key: bytes) -> bytes:
    # XOR with the key repeated: int arithmetic over the whole payload at once.
    repeated = (key * (len(data) // 4 + 1))[: len(data)]
    return (int.from_bytes(data, "big") ^ int.from_bytes(repeated, "big")).to_bytes(
        len(data), "big"
    )


@dataclass(frozen=True)
class Frame:
    fin: bool
    opcode: int
    payload: bytes


class FrameReader:
    """Frames out of a byte stream fed in pieces.

    ``masked``: whether the peer must mask its frames (a server reads masked
    frames from clients, a client unmasked ones from servers); a frame that
    does otherwise is a protocol error, as are reserved bits (no extension
    was negotiated), unknown opcodes, and control frames that are fragmented
    or longer than 125 bytes.
    """

    def __init__(self, *, masked: bool) -> None:
        self._masked = masked
        self._buffer = bytearray()

    def feed(self, data: bytes) -> list[Frame]:
        self._buffer += data
        frames: list[Frame] = []
        while True:
            frame = self._next()
            if frame is None:
                return frames
            frames.append(frame)

    def _next(self) -> Frame | None:
        buf = self._buffer
        if len(buf) < 2:
            return None
        first, second = buf[0], buf[1]
        if first & 0x70:
            raise WireError("reserved bits set without a negotiated extension")
        fin, opcode = bool(first & 0x80), first & 0x0F
        if opcode not in _KNOWN:
            raise WireError(f"unknown opcode {opcode:#x}")
        masked = bool(second & 0x80)
        if masked != self._masked:
            raise WireError("a client must mask its frames, a server must not")
        length, offset = second & 0x7F, 2
        if length == 126:
            if len(buf) < 4:
                return None
            (length,), offset = struct.unpack_from("!H", buf, 2), 4
        elif length == 127:
            if len(buf) < 10:
                return None
            (length,), offset = struct.unpack_from("!Q", buf, 2), 10
        if opcode in _CONTROL and (length > 125 or not fin):
            raise WireError("a control frame is at most 125 bytes and never fragmented")
        if length > MAX_MESSAGE_BYTES:
            raise WireError(f"a frame of {length} bytes is over the {MAX_MESSAGE_BYTES} limit")
        key = b""
        if masked:
            if len(buf) < offset + 4:
                return None
            key, offset = bytes(buf[offset : offset + 4]), offset + 4
        if len(buf) < offset + length:
            return None
        payload = bytes(buf[offset : offset + length])
        del buf[: offset + length]
        return Frame(fin, opcode, _unmask(payload, key) if masked else payload)


@dataclass(frozen=True)
class Message:
    """A whole message: ``TEXT`` or ``BINARY`` data, or a control frame (``PING``, ``PONG``,
    ``CLOSE``) passed on as it came."""

    opcode: int
    payload: bytes

    @property
    def kind(self) -> str:
        return {TEXT: "text", BINARY: "binary", PING: "ping", PONG: "pong", CLOSE: "close"}[
            self.opcode
        ]


class MessageReader:
    """Messages out of a byte stream: data frames reassembled, control frames as they come."""

    def __init__(self, *, masked: bool) -> None:
        self._frames = FrameReader(masked=masked)
        self._opcode: int | None = None
        self._parts: list[bytes] = []
        self._size = 0

    def feed(self, data: bytes) -> list[Message]:
        out: list[Message] = []
        for frame in self._frames.feed(data):
            if frame.opcode in _CONTROL:
                out.append(Message(frame.opcode, frame.payload))
                continue
            if frame.opcode == CONTINUATION:
                if self._opcode is None:
                    raise WireError("a continuation frame without a message to continue")
            elif self._opcode is not None:
                raise WireError("a new message began before the last one ended")
            else:
                self._opcode = frame.opcode
            self._size += len(frame.payload)
            if self._size > MAX_MESSAGE_BYTES:
                raise WireError(f"a message over the {MAX_MESSAGE_BYTES} byte limit")
            self._parts.append(frame.payload)
            if frame.fin:
                payload = b"".join(self._parts)
                if self._opcode == TEXT:
                    try:
                        payload.decode("utf-8")
                    except UnicodeDecodeError:
                        raise WireError("a text message that is not UTF-8") from None
                out.append(Message(self._opcode, payload))
                self._opcode, self._parts, self._size = None, [], 0
        return out
