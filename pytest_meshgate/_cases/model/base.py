"""Shared pieces of the case and Istio models: strict config, field types, error messages."""

from __future__ import annotations

import re
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    PlainSerializer,
    ValidationError,
    ValidationInfo,
    WithJsonSchema,
    field_validator,
)
from pydantic.alias_generators import to_camel

from ..._durations import format_duration, parse_duration

__all__ = [
    "NO_VALUE",
    "CaseModel",
    "Duration",
    "KeyPath",
    "PortNumber",
    "Slug",
    "StatusCode",
    "StrictModel",
    "TLSVersionName",
    "validation_problems",
]


class StrictModel(BaseModel):
    """camelCase keys as users write them; unknown keys are errors; immutable."""

    model_config = ConfigDict(
        extra="forbid",
        alias_generator=to_camel,
        populate_by_name=True,
        frozen=True,
    )


NO_VALUE = "no value: remove the key or give a value"


def _refuse_null_in_schema(schema: dict[str, Any]) -> None:
    """The JSON Schema says what the validator says: a key is given a value or left out."""
    for prop in schema.get("properties", {}).values():
        branches = prop.get("anyOf")
        if isinstance(branches, list):
            branches = [b for b in branches if b != {"type": "null"}]
            if len(branches) == 1 and "$ref" not in branches[0]:
                del prop["anyOf"]
                prop.update(branches[0])
            else:  # a lone $ref stays in anyOf: draft-07 ignores keys beside $ref
                prop["anyOf"] = branches
        if "default" in prop and prop["default"] is None:
            del prop["default"]


class CaseModel(StrictModel):
    """A part of the case contract: a key written without a value (YAML null) is an error.

    ``status:`` with nothing after it reads as "the default" to nobody but
    YAML; the case means something, so it must say it (or leave the key out).
    The Istio models keep ``StrictModel``: their nulls are the API's business.
    """

    model_config = ConfigDict(json_schema_extra=_refuse_null_in_schema)

    @field_validator("*", mode="before")
    @classmethod
    def _no_null(cls, value: Any, info: ValidationInfo) -> Any:
        if value is None:
            raise ValueError(NO_VALUE)
        return value


# Case files write durations with units, as Istio's API does: a bare ``2`` is
# ambiguous, so the schema (and this pattern) refuse it.
DURATION_PATTERN = r"^((\d+(\.\d+)?)(h|ms|m|s|us|µs|ns))+$"
_DURATION = re.compile(DURATION_PATTERN)


def _duration_field(value: Any) -> float:
    """A case file's duration (``"1.5s"``, ``"500ms"``, ``"1m30s"``) -> seconds."""
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        raise ValueError(f"a duration needs a unit, e.g. '{value}s' or '{value}ms'")
    if not isinstance(value, str) or not _DURATION.match(value.strip()):
        raise ValueError(f"not a duration: {value!r} (use e.g. '500ms', '2s', '1m')")
    return parse_duration(value)


Duration = Annotated[
    float,
    BeforeValidator(_duration_field),
    PlainSerializer(format_duration, return_type=str),
    WithJsonSchema({"type": "string", "pattern": DURATION_PATTERN, "examples": ["500ms", "2s"]}),
]
"""A duration written ``500ms``/``2s``/``1m``, held as seconds."""

_SLUG = r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$"

Slug = Annotated[str, Field(pattern=_SLUG, max_length=63)]
"""A name as Kubernetes writes them (DNS label): a case, a namespace, a version."""

StatusCode = Annotated[int, Field(ge=100, le=599)]
PortNumber = Annotated[int, Field(ge=1, le=65535)]

TLSVersionName = Literal["TLSv1.0", "TLSv1.1", "TLSv1.2", "TLSv1.3"]
"""A TLS version as case files write it (Python's ``SSLObject.version()`` names, except
that TLS 1.0 keeps its minor number: ``ssl`` says ``TLSv1``)."""


KeyPath = tuple[str | int, ...]

# Errors that only say "this union branch did not fit the input's type".
_TYPE_MISMATCH = {
    "string_type",
    "int_type",
    "int_parsing",
    "float_type",
    "float_parsing",
    "bool_type",
    "bool_parsing",
    "list_type",
    "dict_type",
    "model_type",
    "model_attributes_type",
    "literal_error",
    "none_required",
}


def validation_problems(exc: ValidationError, data: Any) -> list[tuple[KeyPath, str, bool]]:
    """Readable ``(key_path, message, at_key)`` triples from a pydantic error.

    pydantic puts union branch tags (``str``, ``BackendRef``) into ``loc``; they
    are stripped by walking ``data`` along the path, so only real keys remain.
    When one union branch failed on a deeper key, the "wrong type" errors of
    the other branches are noise and are dropped. ``at_key`` is true where the
    error is about the key itself (an unknown key), false for its value.
    """
    cleaned: list[tuple[KeyPath, str, str]] = []
    for error in exc.errors(include_url=False):
        kind = error["type"]
        key_path = _real_path(error["loc"], data, missing=kind == "missing")
        if kind == "extra_forbidden":
            message = "unknown key"
        elif kind == "missing":
            message = f"missing required key '{key_path[-1]}'"
            key_path = key_path[:-1]
        else:
            message = error["msg"]
            if message.startswith(("Value error, ", "Assertion failed, ")):
                message = message.split(", ", 1)[1]
        cleaned.append((key_path, message, kind))

    problems: list[tuple[KeyPath, str, bool]] = []
    seen: set[tuple[KeyPath, str]] = set()
    for key_path, message, kind in cleaned:
        if kind in _TYPE_MISMATCH and any(
            other_kind not in _TYPE_MISMATCH and other[: len(key_path)] == key_path
            for other, _, other_kind in cleaned
        ):
            continue
        if kind in _TYPE_MISMATCH and any(
            k == key_path and m != message and k2 in _TYPE_MISMATCH and (k, m) in seen
            for k, m, k2 in cleaned
        ):
            continue  # one "wrong type" message per key is enough
        if (key_path, message) in seen:
            continue
        seen.add((key_path, message))
        problems.append((key_path, message, kind == "extra_forbidden"))
    return problems


def _real_path(loc: tuple[str | int, ...], data: Any, *, missing: bool) -> KeyPath:
    out: list[str | int] = []
    current = data
    for i, part in enumerate(loc):
        if isinstance(current, dict) and part in current:
            current = current[part]
        elif isinstance(current, list) and isinstance(part, int) and 0 <= part < len(current):
            current = current[part]
        elif missing and i == len(loc) - 1 and isinstance(current, dict):
            pass  # a missing key names itself
        else:
            continue  # a union or validator tag, not a key
        out.append(part)
    return tuple(out)
