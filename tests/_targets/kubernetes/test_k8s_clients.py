"""The curl command a ``from:`` request becomes, and how its output is read back.

The outputs below are written the way curl >= 7.70 prints ``--include`` plus
``--write-out '%{json}'``; no pod, sidecar or curl ran here. What this proves:
the exact argv handed to the exec API and the parsing of answers and of
connection failures. What it does not: that a sidecar carries the request as
Istio should, which only a cluster run shows.
"""

from __future__ import annotations

import json

from pytest_meshgate._cases.model.request import Request
from pytest_meshgate._targets.kubernetes.clients import (
    CURL_MARKER,
    curl_command,
    parse_curl_output,
)


def request(**fields: object) -> Request:
    return Request.model_validate(
        {"from": "sleep", "url": "http://reviews.mg-1-default:9080/a/../b?x=1", **fields}
    )


def test_the_exact_curl_argv() -> None:
    command = curl_command(
        request(
            method="post",
            headers={"x-user": "jason", "x-empty": "", "x-id": "${uuid}"},
            body="{'a': 1}",
        ),
        "http://reviews.mg-1-default:9080/a/../b?x=1",
        "client mg-1-default/sleep (curl by exec)",
        timeout=2.5,
    )
    argv = command.argv
    meshgate_id = command.sent.meshgate_id
    uuid_header = next(v for k, v in command.sent.headers if k == "x-id")
    assert argv == [
        "curl", "--silent", "--show-error", "--include", "--path-as-is", "--http1.1",
        "--max-time", "2.5", "--request", "POST",
        "--header", "x-user: jason",
        "--header", "x-empty;",
        "--header", f"x-id: {uuid_header}",
        "--header", f"x-meshgate-id: {meshgate_id}",
        "--data-binary", "{'a': 1}",
        "--write-out", CURL_MARKER + "%{json}",
        "http://reviews.mg-1-default:9080/a/../b?x=1",
    ]  # fmt: skip
    assert uuid_header != "${uuid}" and len(uuid_header) == 36
    assert command.sent.address == ("reviews.mg-1-default", 9080)
    assert command.sent.headers[0] == ("host", "reviews.mg-1-default:9080")


def write_out(**info: object) -> str:
    return CURL_MARKER + json.dumps({"exitcode": 0, "errormsg": None, "time_total": 0.012, **info})


def test_an_answer_is_parsed_into_status_headers_and_echo_body() -> None:
    sent = curl_command(request(), "http://reviews:9080/", "client", 5).sent
    body = json.dumps(
        {"path": "/", "host": "reviews:9080", "service": "reviews", "pod": "reviews-v1-a-b"}
    )
    stdout = (
        "HTTP/1.1 100 Continue\r\n\r\n"
        "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\nx-envoy-upstream-service-time: 3\r\n\r\n"
        + body
        + write_out(http_code=200)
    )
    exchange = parse_curl_output(sent, stdout, "", 0)
    assert exchange.response is not None
    assert (exchange.response.status, exchange.response.reason) == (200, "OK")
    assert exchange.response.header("x-envoy-upstream-service-time") == "3"
    assert exchange.response.echo is not None and exchange.response.echo["pod"] == "reviews-v1-a-b"
    assert exchange.elapsed == 0.012


def test_connection_failures_map_to_the_outcomes_checks_name() -> None:
    sent = curl_command(request(), "http://reviews:9080/", "client", 5).sent
    for code, outcome in (
        (7, "refused"),
        (56, "reset"),
        (52, "reset"),
        (28, "timeout"),
        (35, "tlsError"),
        (6, "error"),
    ):
        out = write_out(http_code=0, exitcode=code, errormsg=f"curl error {code}")
        exchange = parse_curl_output(sent, out, f"curl: ({code}) ...", code)
        assert exchange.response is None
        assert exchange.connection == outcome, code
        assert exchange.error == f"curl: curl error {code}"


def test_no_result_at_all_is_an_error_with_what_was_printed() -> None:
    sent = curl_command(request(), "http://reviews:9080/", "client", 5).sent
    exchange = parse_curl_output(sent, "", "OCI runtime exec failed: curl not found", 126)
    assert exchange.connection == "error"
    assert "curl not found" in (exchange.error or "")
