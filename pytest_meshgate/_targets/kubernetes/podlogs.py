"""A proxy's access log on a cluster: the ``istio-proxy`` container log of its pods.

Istio's proxies write their access log to ``/dev/stdout`` (the demo profile's
``accessLogFile``, the built-in ``envoy`` provider), which is their
container's log. The harness reads it through the API server
(``GET /api/v1/namespaces/<ns>/pods/<pod>/log?container=istio-proxy``) and
finds the request's line by the ``x-request-id`` the backend saw, which every
proxy on the path logged (``%REQ(X-REQUEST-ID)%`` in Istio's formats; Envoy
passes the id on). A request no backend saw (the proxy answered it itself: a
404 without route, a 503 without endpoints, a 403 of a policy) has no id the
harness knows, since a gateway may replace an external client's id, so that
check is skipped with the reason rather than judged on a guess.

The line is read as the installed mesh writes it (``LogFormat.from_mesh``).
When the case's own mesh config would log differently from the installed
one (on the demo profile every proxy logs; a case without ``meshConfig``
means Istio's default, no access log), an access-log check is skipped with
the difference: the cluster cannot show what the case means.

Tested against a fake API server serving lines a real Envoy wrote in Istio's
TEXT format; never against a real cluster.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from typing import Any

import pytest

from ..._cases.model.meshconfig import MeshConfig
from ..._exchange.records import AccessLogLine, Exchange
from ..accesslog import LogFormat, find_line

__all__ = ["PROXY_CONTAINER", "mesh_config_difference", "proxy_access_log", "seen_request_id"]

PROXY_CONTAINER = "istio-proxy"
SINCE_SECONDS = 600  # a check's attempts lie well within this
LINE_WAIT_S = 5.0  # Envoy flushes its log every second; the kubelet adds its own delay
ABSENT_WAIT_S = 3.0  # how long a line that is not there is waited for
POLL_S = 0.25


def _access_log_settings(mesh: MeshConfig) -> dict[str, Any]:
    return {
        "accessLogFile": mesh.access_log_file,
        "accessLogEncoding": mesh.access_log_encoding,
        "accessLogFormat": mesh.access_log_format,
        "defaultProviders.accessLogging": list(mesh.default_providers.access_logging),
    }


def mesh_config_difference(case: MeshConfig, installed: MeshConfig) -> str | None:
    """How the case's mesh config differs from the installed mesh's in what the harness
    honours (access logs, providers, ProxyConfig), or None."""
    want, have = _access_log_settings(case), _access_log_settings(installed)
    differing = [
        f"{key} {want[key]!r} (installed: {have[key]!r})" for key in want if want[key] != have[key]
    ]
    if case.default_config != installed.default_config:
        differing.append("defaultConfig (installed: Istio's default)")
    installed_providers = installed.providers()
    for provider in case.extension_providers:
        if installed_providers.get(provider.name) != provider:
            differing.append(f"extensionProviders {provider.name!r} (not installed as written)")
    return "; ".join(differing) or None


def seen_request_id(exchange: Exchange) -> str | None:
    """The ``x-request-id`` the backend saw for this request, if one answered."""
    echo = exchange.response.echo if exchange.response is not None else None
    headers = echo.get("headers") if isinstance(echo, Mapping) else None
    if not isinstance(headers, Mapping):
        return None
    for name, values in headers.items():
        if str(name).lower() == "x-request-id" and isinstance(values, list) and values:
            return str(values[0])
    return None


def proxy_access_log(
    kube: Any,
    proxy: str,
    namespace: str,
    labels: Mapping[str, str] | None,
    pod_name: str | None,
    exchange: Exchange,
    expect_line: bool,
    log_format: LogFormat,
) -> AccessLogLine:
    """The line the proxy's pods logged for ``exchange``'s request (see the docstring)."""
    request_id = seen_request_id(exchange)
    if request_id is None:
        pytest.skip(
            f"access log of {proxy}: no backend saw this request, so the x-request-id "
            "that finds its line is unknown on a cluster (a gateway may replace a "
            "client's own)"
        )
    pods = [p["metadata"]["name"] for p in kube.running_pods(namespace, labels, pod_name)]
    if not pods:
        return AccessLogLine.unavailable(proxy, f"no running pod of it in {namespace}")
    deadline = time.monotonic() + (LINE_WAIT_S if expect_line else ABSENT_WAIT_S)
    while True:
        for pod in pods:
            try:
                text = kube.pod_log(namespace, pod, PROXY_CONTAINER, SINCE_SECONDS)
            except Exception as exc:  # the API server's refusal, said in the verdict
                return AccessLogLine.unavailable(proxy, f"log of {pod}/{PROXY_CONTAINER}: {exc}")
            found = find_line(text.splitlines(), [request_id], log_format)
            if found is not None:
                line, fields = found
                return AccessLogLine(proxy, line, fields)
        if time.monotonic() >= deadline:
            return AccessLogLine(
                proxy, None, note=f"no line with x-request-id {request_id} in {', '.join(pods)}"
            )
        time.sleep(POLL_S)
