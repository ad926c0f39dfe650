"""The in-pod sender's plan for a ``from:`` request, and how its JSON comes back as Exchanges.

Pure functions; the sender itself runs for real in test_k8s_echo_pod.py. What
this proves: the plan holds what ``HTTPClient`` puts on the wire (Host first,
httpx's defaults, placeholders for what differs per attempt), TLS settings
carry the case's PEMs, and results (answers, failures, a sender that died)
become the Exchanges the judge reads.
"""

from __future__ import annotations

import base64
import json

from pytest_meshgate._cases.model.request import Request
from pytest_meshgate._exchange.records import ClientTLS
from pytest_meshgate._targets.kubernetes.clients import exchanges_from_results, sender_plan

URL = "http://reviews.mg-1-default:9080/a/../b?x=${uuid}"


def request(**fields: object) -> Request:
    return Request.model_validate({"from": "sleep", "url": URL, **fields})


def test_the_plan_is_the_wire_request_with_per_attempt_placeholders() -> None:
    plan = sender_plan(
        request(method="POST", headers={"x-user": "jason", "x-id": "${uuid}"}, body="id=${uuid}"),
        URL, count=200, concurrency=8, timeout=2.5, tls=None,
    )  # fmt: skip
    assert plan["target"] == "/a/../b?x=${uuid}"  # verbatim: no dot-segment removal
    names = [k for k, _ in plan["headers"]]
    assert names[0].lower() == "host" and plan["headers"][0][1] == "reviews.mg-1-default:9080"
    assert ["x-user", "jason"] in plan["headers"] and ["x-id", "${uuid}"] in plan["headers"]
    assert ["x-meshgate-id", "${meshgate-id}"] in plan["headers"]
    # httpx computed a length for "id=${uuid}"; it must follow the filled-in body.
    assert ["Content-Length", "${body-length}"] in plan["headers"]
    assert plan["connect"] == ["reviews.mg-1-default", 9080]
    assert (plan["count"], plan["concurrency"], plan["keepalive"]) == (200, 8, True)
    single = sender_plan(request(), URL, 1, 1, 2.5, None)
    assert single["keepalive"] is False and single["tls"] is None


def test_tls_settings_go_into_the_plan_as_pem() -> None:
    tls = ClientTLS(server_name=None, ca_pem=b"CA", alpn=("h2",), min_version="TLSv1.2")
    plan = sender_plan(request(url="https://x:8443/"), "https://x:8443/", 1, 1, 1, tls, ("C", "K"))
    assert plan["tls"] == {"server_name": None, "ca": "CA", "cert": "C", "key": "K",
                           "alpn": ["h2"], "min_version": "TLSv1.2", "max_version": None,
                           "ciphers": None}  # fmt: skip
    assert plan["connect"] == ["x", 8443]


def test_results_become_exchanges_answers_and_failures_alike() -> None:
    plan = sender_plan(request(), URL, 2, 2, 1, None)
    body = json.dumps({"service": "reviews", "path": "/b", "pod": "reviews-v1-x"}).encode()
    results = {"results": [
        {"meshgate_id": "aa", "status": 503, "reason": "Service Unavailable", "version": "HTTP/1.1",
         "headers": [["content-type", "application/json"]], "body": base64.b64encode(body).decode(),
         "elapsed": 0.01},
        {"meshgate_id": "bb", "status": None, "outcome": "reset",
         "error": "ConnectionResetError: peer", "elapsed": 0.02},
    ]}  # fmt: skip
    first, second = exchanges_from_results(
        plan, URL, "client x/sleep", None, json.dumps(results), "", 0
    )
    assert first.response is not None and first.response.status == 503
    assert first.response.echo == {"service": "reviews", "path": "/b", "pod": "reviews-v1-x"}
    assert dict(first.request.headers)["x-meshgate-id"] == "aa"
    assert (second.response, second.connection) == (None, "reset")
    assert second.request.meshgate_id == "bb"


def test_a_sender_that_printed_no_result_is_an_error_for_every_attempt() -> None:
    plan = sender_plan(request(), URL, 3, 1, 1, None)
    exchanges = exchanges_from_results(
        plan, URL, "client", None, "", "python3: No module named pytest_meshgate", 1
    )
    assert len(exchanges) == 3
    assert all(e.connection == "error" for e in exchanges)
    assert "No module named pytest_meshgate" in (exchanges[0].error or "")
