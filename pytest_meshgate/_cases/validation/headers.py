"""HTTP header names and values in routes, matches and CORS, as Istio validates them.

From ``pkg/config/validation/validation.go`` (``ValidateHTTPHeaderNameOrJwtClaimRoute``,
``ValidateHTTPHeaderOperationName``, ``ValidateHTTPHeaderValue``, ...) and
``header_value_validator.go`` (Envoy's ``%VARIABLE%`` syntax in values).
"""

from __future__ import annotations

import re
from enum import Enum, auto

from .common import go_quote

__all__ = [
    "is_authority_header",
    "is_jwt_claim",
    "validate_cors_header_name",
    "validate_header_name",
    "validate_header_operation_name",
    "validate_header_value",
    "validate_request_header_operation_name",
]

# RFC 7230 tchar, as validation.go's validHeaderNameRegex.
_TOKEN = re.compile(r"[!#$%&'*+\-.^_`|~A-Za-z0-9]+")
_PSEUDO_HEADERS = frozenset({":method", ":scheme", ":authority", ":path", ":status"})
_JWT_CLAIM = "@request.auth.claims"
# No control characters but horizontal tab (validation.go httpHeaderValueRegexp).
_CONTROL = re.compile("[\x00-\x08\x0a-\x1f\x7f]")


def is_jwt_claim(name: str) -> bool:
    """``jwt.ToRoutingClaim(name).Match``: ``@request.auth.claims.a`` or ``...[a][b]``."""
    if not name.lower().startswith(_JWT_CLAIM):
        return False
    rest = name[len(_JWT_CLAIM) :]
    return (rest.startswith(".") and len(rest) > 1) or (
        rest.startswith("[") and rest.endswith("]") and len(rest) > 2
    )


def validate_header_name(name: str) -> str | None:
    """``ValidateHTTPHeaderNameOrJwtClaimRoute``: match keys (headers, withoutHeaders)."""
    if not name:
        return "header name cannot be empty"
    if is_jwt_claim(name) or name in _PSEUDO_HEADERS:
        return None
    if not _TOKEN.fullmatch(name):
        return f"header name {name} is not a valid header name"
    return None


def validate_cors_header_name(name: str) -> str | None:
    """``ValidateCORSHTTPHeaderName``: a token, or ``*``."""
    if not name:
        return "header name cannot be empty"
    if name == "*" or _TOKEN.fullmatch(name):
        return None
    return f"header name {name} is not a valid header name"


def _is_internal_header(name: str) -> bool:
    return name.startswith(":") or name.lower() == "host"


def is_authority_header(name: str) -> bool:
    return name.lower() in (":authority", "host")


def validate_request_header_operation_name(name: str) -> str | None:
    """``ValidateHTTPHeaderWithAuthorityOperationName``: request ``set``/``add`` keys."""
    if not name:
        return "header name cannot be empty"
    if _is_internal_header(name) and not is_authority_header(name):
        return f'invalid header {go_quote(name)}: header cannot have ":" prefix'
    return None


def validate_header_operation_name(name: str) -> str | None:
    """``ValidateHTTPHeaderOperationName``: request ``remove``, every response operation."""
    if not name:
        return "header name cannot be empty"
    if name.lower() == "host":
        return f"invalid header {go_quote(name)}: cannot set Host header"
    if _is_internal_header(name):
        return f'invalid header {go_quote(name)}: header cannot have ":" prefix'
    return None


def validate_header_value(value: str) -> str | None:
    """``ValidateHTTPHeaderValue``: no control characters, well-formed ``%VAR%`` expressions."""
    if _CONTROL.search(value):
        return f"header value configuration {value} is invalid"
    problem = _variable_syntax_problem(value)
    return f"header value configuration: {problem}" if problem else None


class _State(Enum):
    LITERAL = auto()  # plain text
    NAME = auto()  # inside %NAME...
    ARRAY = auto()  # after %NAME(, expecting [
    STRING_START = auto()  # expecting the " of an argument
    STRING = auto()  # inside an argument
    DELIMITER = auto()  # after an argument: , or ]
    ARGS_END = auto()  # after ], expecting )
    VARIABLE_END = auto()  # after ), expecting %


def _variable_syntax_problem(value: str) -> str | None:
    """Envoy's header formatter grammar (``source/common/router/header_parser.cc``)."""
    state = _State.LITERAL
    i = 0
    while i < len(value):
        char = value[i]
        has_next = i + 1 < len(value)
        if state is _State.LITERAL:
            if char == "%":
                if not has_next:
                    return "invalid header configuration. Un-escaped %"
                if value[i + 1] == "%":
                    i += 1  # %% is a literal %
                else:
                    state = _State.NAME
        elif state is _State.NAME:
            if char == "%":
                state = _State.LITERAL
            elif char == "(":
                state = _State.ARRAY
        elif state is _State.ARRAY:
            if char == "[":
                state = _State.STRING_START
            elif char != " ":
                state = _State.STRING  # a bare argument
        elif state is _State.DELIMITER:
            if char == ",":
                state = _State.STRING_START
            elif char == "]":
                state = _State.ARGS_END
            elif char != " ":
                return "invalid header configuration. Expecting ',', ']', or whitespace"
        elif state is _State.STRING_START:
            if char == '"':
                state = _State.STRING
            elif char != " ":
                return "invalid header configuration. Expecting '\"'"
        elif state is _State.STRING:
            if char == "\\":
                if not has_next:
                    return "invalid header configuration. Un-terminated backslash in JSON string"
                i += 1
            elif char == ")":
                state = _State.VARIABLE_END
            elif char == '"':
                state = _State.DELIMITER
        elif state is _State.ARGS_END:
            if char == ")":
                state = _State.VARIABLE_END
            elif char != " ":
                return (
                    "invalid header configuration. Expecting ')' or whitespace after '{}', "
                    "but found '{}'"
                )
        elif state is _State.VARIABLE_END:
            if char == "%":
                state = _State.LITERAL
            elif char != " ":
                return "invalid header configuration. Expecting '%' or whitespace after"
        i += 1
    if state is not _State.LITERAL:
        return f"invalid header configuration. Un-terminated variable expression '{value}'"
    return None
