"""WebSocket in checks: the messages a request sends after its upgrade, and those it must get."""

from __future__ import annotations

import base64
import binascii

from pydantic import Field, field_validator, model_validator

from .base import CaseModel

__all__ = ["WebSocketExpectation", "WebSocketMessage", "WebSocketRequest"]

# A check's messages are what a conformance test sends: a sentence, a few bytes. (The
# client and the echo accept up to 1 MiB on the wire, _exchange/websocket.py: a peer that
# echoes a case's message may add to it, a case file has no reason to be big.)
MAX_CASE_MESSAGE_BYTES = 65536
MAX_MESSAGES = 16


class WebSocketMessage(CaseModel):
    """One message: ``text`` (UTF-8) or ``binary`` (its bytes in base64), not both."""

    text: str | None = Field(default=None, max_length=MAX_CASE_MESSAGE_BYTES)
    binary: str | None = Field(
        default=None, description="The message's bytes, base64 (RFC 4648, with padding)."
    )

    @field_validator("binary")
    @classmethod
    def _base64(cls, value: str | None) -> str | None:
        if value is None:
            return None
        try:
            decoded = base64.b64decode(value, validate=True)
        except binascii.Error:
            raise ValueError(
                "binary is the message's bytes in base64 (A-Z a-z 0-9 + /, =)"
            ) from None
        if len(decoded) > MAX_CASE_MESSAGE_BYTES:
            raise ValueError(f"a binary message is at most {MAX_CASE_MESSAGE_BYTES} bytes")
        return value

    @model_validator(mode="after")
    def _one_kind(self) -> WebSocketMessage:
        if (self.text is None) == (self.binary is None):
            raise ValueError("a message is text or binary: give exactly one")
        return self

    @property
    def payload(self) -> bytes:
        if self.text is not None:
            return self.text.encode("utf-8")
        return base64.b64decode(self.binary or "")

    def __str__(self) -> str:
        return f"text {self.text!r}" if self.text is not None else f"binary {self.payload!r}"


class WebSocketRequest(CaseModel):
    """The upgrade, then each message sent in turn, each followed by reading one message back
    (as the Gateway API suite's WebSocket test does with golang.org/x/net/websocket)."""

    messages: list[WebSocketMessage] = Field(default_factory=list, max_length=MAX_MESSAGES)


class WebSocketExpectation(CaseModel):
    """The messages read back, one per message sent, in order; judged by their bytes, as
    ``websocket.Message.Receive`` reads a text or a binary frame alike."""

    messages: list[WebSocketMessage] = Field(default_factory=list, max_length=MAX_MESSAGES)
