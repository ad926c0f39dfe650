"""Istio's access-log formats: the strings Envoy is given, and their lines read back into fields.

Istio configures Envoy's file access log with its default TEXT format string
or its default JSON struct (``EnvoyTextLogFormat`` and
``EnvoyJSONLogFormatIstio`` in Istio's ``pilot/pkg/model/telemetry_logging.go``),
or with the mesh's ``accessLogFormat``. Both targets read the lines Envoy
wrote (the local target from its proxies' log files, the cluster targets
from the proxies' container logs) and name their values as the JSON format's
keys name them, in camelCase (``response_code`` is ``responseCode``).
"""

from __future__ import annotations

import functools
import json
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

__all__ = [
    "ACCESS_LOG_FIELDS",
    "ISTIO_JSON_FORMAT",
    "ISTIO_TEXT_FORMAT",
    "LogFormat",
    "find_line",
    "parse_line",
]

# Istio's EnvoyTextLogFormat, verbatim (with its trailing newline).
ISTIO_TEXT_FORMAT = (
    '[%START_TIME%] "%REQ(:METHOD)% %REQ(X-ENVOY-ORIGINAL-PATH?:PATH)% '
    '%PROTOCOL%" %RESPONSE_CODE% %RESPONSE_FLAGS% '
    "%RESPONSE_CODE_DETAILS% %CONNECTION_TERMINATION_DETAILS% "
    '"%UPSTREAM_TRANSPORT_FAILURE_REASON%" %BYTES_RECEIVED% %BYTES_SENT% '
    '%DURATION% %RESP(X-ENVOY-UPSTREAM-SERVICE-TIME)% "%REQ(X-FORWARDED-FOR)%" '
    '"%REQ(USER-AGENT)%" "%REQ(X-REQUEST-ID)%" "%REQ(:AUTHORITY)%" "%UPSTREAM_HOST%" '
    "%UPSTREAM_CLUSTER_RAW% %UPSTREAM_LOCAL_ADDRESS% %DOWNSTREAM_LOCAL_ADDRESS% "
    "%DOWNSTREAM_REMOTE_ADDRESS% %REQUESTED_SERVER_NAME% %ROUTE_NAME%\n"
)

# Istio's EnvoyJSONLogFormatIstio: key -> command.
ISTIO_JSON_FORMAT: Mapping[str, str] = {
    "start_time": "%START_TIME%",
    "route_name": "%ROUTE_NAME%",
    "method": "%REQ(:METHOD)%",
    "path": "%REQ(X-ENVOY-ORIGINAL-PATH?:PATH)%",
    "protocol": "%PROTOCOL%",
    "response_code": "%RESPONSE_CODE%",
    "response_flags": "%RESPONSE_FLAGS%",
    "response_code_details": "%RESPONSE_CODE_DETAILS%",
    "connection_termination_details": "%CONNECTION_TERMINATION_DETAILS%",
    "bytes_received": "%BYTES_RECEIVED%",
    "bytes_sent": "%BYTES_SENT%",
    "duration": "%DURATION%",
    "upstream_service_time": "%RESP(X-ENVOY-UPSTREAM-SERVICE-TIME)%",
    "x_forwarded_for": "%REQ(X-FORWARDED-FOR)%",
    "user_agent": "%REQ(USER-AGENT)%",
    "request_id": "%REQ(X-REQUEST-ID)%",
    "authority": "%REQ(:AUTHORITY)%",
    "upstream_host": "%UPSTREAM_HOST%",
    "upstream_cluster": "%UPSTREAM_CLUSTER_RAW%",
    "upstream_local_address": "%UPSTREAM_LOCAL_ADDRESS%",
    "downstream_local_address": "%DOWNSTREAM_LOCAL_ADDRESS%",
    "downstream_remote_address": "%DOWNSTREAM_REMOTE_ADDRESS%",
    "requested_server_name": "%REQUESTED_SERVER_NAME%",
    "upstream_transport_failure_reason": "%UPSTREAM_TRANSPORT_FAILURE_REASON%",
}


def _camel(key: str) -> str:
    head, *rest = key.split("_")
    return head + "".join(part.capitalize() for part in rest)


# What a case calls each value (the JSON key in camelCase) and the command that logs it.
_COMMAND_FIELDS: dict[str, str] = {
    command: _camel(key) for key, command in ISTIO_JSON_FORMAT.items()
}
# Older formats (and users' own) log the cluster with %UPSTREAM_CLUSTER%.
_COMMAND_FIELDS["%UPSTREAM_CLUSTER%"] = "upstreamCluster"
_COMMAND_FIELDS["%REQ(:PATH)%"] = "path"
ACCESS_LOG_FIELDS: tuple[str, ...] = tuple(sorted(set(_COMMAND_FIELDS.values())))

_COMMAND = re.compile(r"%[A-Z_0-9]+(\([^)%]*\))?(:[0-9]+)?%")


@dataclass(frozen=True)
class LogFormat:
    """How one access log writes its lines: TEXT with a format string, or JSON with a struct."""

    encoding: str = "TEXT"  # TEXT | JSON
    text: str = ISTIO_TEXT_FORMAT
    json_format: Mapping[str, Any] = field(default_factory=lambda: dict(ISTIO_JSON_FORMAT))

    @classmethod
    def from_mesh(cls, encoding: str, custom: str) -> LogFormat:
        """The format ``accessLogEncoding`` and ``accessLogFormat`` give (Istio's
        ``FileAccessLogFromMeshConfig``): the default unless a format is set; a TEXT
        format always ends with a newline."""
        if encoding == "JSON":
            struct = dict(ISTIO_JSON_FORMAT)
            if custom:
                parsed = json.loads(custom)
                if isinstance(parsed, dict):
                    struct = parsed
            return cls("JSON", json_format=struct)
        text = custom or ISTIO_TEXT_FORMAT
        if not text.endswith("\n"):
            text += "\n"
        return cls("TEXT", text=text)

    def envoy(self) -> dict[str, Any]:
        """The ``log_format`` (SubstitutionFormatString) of Envoy's FileAccessLog."""
        if self.encoding == "JSON":
            return {"json_format": dict(self.json_format), "json_format_options": {}}
        return {"text_format_source": {"inline_string": self.text}}

    def fields_of(self, record: Mapping[str, Any]) -> dict[str, str]:
        """A JSON line's values by field name: each key whose value is one command."""
        fields: dict[str, str] = {}
        for key, template in self.json_format.items():
            name = _COMMAND_FIELDS.get(template) if isinstance(template, str) else None
            value = record.get(key)
            text = "-" if value is None or value == "" else str(value)
            fields[name or key] = text
        return fields

    def pattern(self) -> tuple[re.Pattern[str], tuple[str, ...]]:
        """A TEXT line's regex (the format's literal text, one group per command) and
        the field each group holds."""
        return _text_pattern(self.text)


@functools.lru_cache(maxsize=64)
def _text_pattern(text: str) -> tuple[re.Pattern[str], tuple[str, ...]]:
    text = text.rstrip("\n")
    parts: list[str] = []
    groups: list[str] = []
    position = 0
    for match in _COMMAND.finditer(text):
        literal = text[position : match.start()]
        parts.append(re.escape(literal))
        # A quoted value may hold spaces (a user agent); an unquoted one has none.
        parts.append("(.*?)" if literal.endswith('"') else r"(\S*)")
        groups.append(_COMMAND_FIELDS.get(match.group(0), match.group(0)))
        position = match.end()
    parts.append(re.escape(text[position:]))
    return re.compile("^" + "".join(parts) + "$"), tuple(groups)


def parse_line(line: str, log_format: LogFormat) -> dict[str, str] | None:
    """The fields of one access-log line, or None when it is not a line of this format."""
    line = line.rstrip("\n")
    if log_format.encoding == "JSON":
        try:
            record = json.loads(line)
        except ValueError:
            return None
        return log_format.fields_of(record) if isinstance(record, dict) else None
    pattern, groups = log_format.pattern()
    match = pattern.match(line)
    if match is None:
        return None
    return dict(zip(groups, match.groups(), strict=True))


def find_line(
    lines: Iterable[str],
    request_ids: Iterable[str],
    log_format: LogFormat,
    field_name: str = "requestId",
) -> tuple[str, dict[str, str]] | None:
    """The last line logging one of ``request_ids`` (``%REQ(X-REQUEST-ID)%``), parsed;
    or, with another ``field_name``, the last whose value there is one of them (a TCP
    connection's line by ``upstreamLocalAddress``, the address its backend saw)."""
    wanted = {rid for rid in request_ids if rid}
    found: tuple[str, dict[str, str]] | None = None
    for line in lines:
        if not any(rid in line for rid in wanted):
            continue  # cheap: most lines are other requests'
        fields = parse_line(line, log_format)
        if fields is not None and fields.get(field_name) in wanted:
            found = (line.rstrip("\n"), fields)
    return found
