"""Regexes as Istio and Envoy accept them: RE2 syntax, at most 1024 characters.

Istio checks with Go's ``regexp`` (RE2 syntax; ``validateStringRegexp`` in
``pkg/config/validation/validation.go``) and Envoy compiles every
``safe_regex`` with RE2 itself, rejecting the configuration (a NACK) if it
does not compile. Compiling with RE2 here finds both at collection, where a
Python ``re`` would accept look-arounds and back-references RE2 refuses.
"""

from __future__ import annotations

import functools
import re

import re2

from .common import go_quote

__all__ = ["MAX_REGEX_LENGTH", "validate_regex"]

# Istio approximates Envoy's re2.max_program_size by the length of the pattern.
MAX_REGEX_LENGTH = 1024


@functools.cache
def _options() -> re2.Options:
    options = re2.Options()
    options.log_errors = False  # RE2 would also print every error on stderr
    return options


# RE2 matches any byte with \C; Go's regexp (Istio's webhook) refuses it.
_ANY_BYTE = re.compile(r"(?<!\\)(?:\\\\)*\\C")


def _re2_error(pattern: str) -> str | None:
    if _ANY_BYTE.search(pattern):
        return "invalid escape sequence: \\C"
    try:
        re2.compile(pattern, options=_options())
    except re2.error as exc:
        reason = exc.args[0] if exc.args else exc
        return reason.decode("utf-8", "replace") if isinstance(reason, bytes) else str(reason)
    except UnicodeError as exc:
        return f"not UTF-8: {exc}"
    return None


def validate_regex(pattern: str, where: str) -> str | None:
    """``validateStringRegexp``: Istio's message if ``pattern`` is too long or not RE2."""
    if len(pattern) > MAX_REGEX_LENGTH:
        return f"{go_quote(where)}: regex is too large, max length allowed is {MAX_REGEX_LENGTH}"
    reason = _re2_error(pattern)
    if reason is None:
        return None
    return (
        f"{go_quote(where)}: error parsing regexp {go_quote(pattern)}: {reason}; "
        "Istio uses RE2 style regex-based match (https://github.com/google/re2/wiki/Syntax)"
    )
