"""Durations as Go and protobuf write them (``500ms``, ``1m30s``), parsed to seconds and back."""

from __future__ import annotations

import re

__all__ = ["format_duration", "parse_duration"]

_PART = re.compile(r"(\d+(?:\.\d*)?|\.\d+)(ns|us|µs|μs|ms|s|m|h)")
_UNIT_SECONDS = {
    "ns": 1e-9,
    "us": 1e-6,
    "µs": 1e-6,  # MICRO SIGN, as Go accepts it
    "μs": 1e-6,  # GREEK SMALL LETTER MU, likewise
    "ms": 1e-3,
    "s": 1.0,
    "m": 60.0,
    "h": 3600.0,
}


def parse_duration(text: str) -> float:
    """Go's ``time.ParseDuration`` in seconds: ``1s``, ``500ms``, ``1m30s``, ``.5s``, ``0``.

    Raises:
        ValueError: ``text`` is not such a duration (a bare number other than 0
            has no unit and is refused, as Go refuses it).
    """
    text = text.strip()
    if text == "0":
        return 0.0
    pos, total = 0, 0.0
    for match in _PART.finditer(text):
        if match.start() != pos:
            break
        total += float(match.group(1)) * _UNIT_SECONDS[match.group(2)]
        pos = match.end()
    if pos == 0 or pos != len(text):
        raise ValueError(f"invalid duration {text!r}")
    return total


def format_duration(seconds: float) -> str:
    """Seconds -> the shortest exact duration string (``0.5`` -> ``500ms``)."""
    if seconds >= 1 and float(seconds).is_integer():
        return f"{int(seconds)}s"
    ms = seconds * 1000
    if float(round(ms, 6)).is_integer():
        return f"{round(ms)}ms"
    return f"{seconds:g}s"
