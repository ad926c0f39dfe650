"""Sending a cluster case's requests: to a gateway from this machine, or from a client pod.

To a gateway: ``HTTPClient`` for one attempt (plain or TLS, the case's
certificates), the bulk sender for many (``concurrency`` keep-alive
connections, so a circuit breaker sees them), to where this machine reaches
the gateway's Service port; a gRPC call through the gRPC client
(``_exchange/grpc.py``, HTTP/2 with prior knowledge or TLS with ALPN ``h2``),
as the local target sends it. From a client: the in-pod sender through the
exec API, all attempts in one call (``clients.py``); it speaks HTTP/1.1, so
gRPC and HTTP/2 from a client are skipped as not supported.
"""

from __future__ import annotations

import json
import math
from typing import Any
from urllib.parse import urlsplit

import pytest

from ..._cases.model.request import Request
from ..._exchange.records import ClientTLS, Exchange, ResponseRecord, SentRequest
from .echo_pod import SENDER_MODULE
from .providers import GATEWAY_NODE_PORTS

__all__ = ["ClusterTransport", "exec_in_pod"]


class ClusterTransport:
    """The requests of one ``KubernetesDeployment`` (duck-typed: see its attributes used)."""

    def __init__(self, deployment: Any) -> None:
        self.deployment = deployment

    def to_gateway(self, request: Request, count: int, concurrency: int) -> list[Exchange]:
        d = self.deployment
        short = request.gateway or "ingress"
        workload = d.workload(short)
        parts = urlsplit(request.url)
        port = parts.port or (443 if parts.scheme == "https" else 80)
        address = self.gateway_address(port, short)
        entry = f"gateway {workload.name} port {port}"
        tls = d.client_tls(request)
        if request.grpc is not None:
            grpc = d.target.grpc
            if count == 1:
                exchanges = [grpc.call(request, address, entry, request.timeout, tls)]
            else:
                exchanges = grpc.call_many(
                    request, address, entry, count, concurrency, request.timeout, tls
                )
        elif count == 1:
            exchanges = [
                d.target.client.send(request, address, entry, timeout=request.timeout, tls=tls)
            ]
        else:
            samples = d.target.bulk.send(
                request, address, count=count, concurrency=concurrency, tls=tls
            )
            exchanges = [_sample_exchange(s, request, address, entry, tls) for s in samples]
        for exchange in exchanges:
            exchange.extra.update(gateway=short, service_port=port)
        return exchanges

    def gateway_address(self, port: int, short: str) -> tuple[str, int]:
        """Where the harness connects for Service ``port`` of the gateway ``short``."""
        d = self.deployment
        node_port = d.node_ports.get((short, port))
        if node_port is None and d.target.cluster.host_ports:
            node_port = GATEWAY_NODE_PORTS.get((short, port))  # kind's fixed ones
        address: tuple[str, int] = d.target.gateway_address(d.workload(short), port, node_port)
        return address

    def from_client(self, request: Request, count: int, concurrency: int) -> list[Exchange]:
        from .clients import exchanges_from_results, sender_plan

        d = self.deployment
        if request.http2 or request.grpc is not None:
            what = "grpc" if request.grpc is not None else "http2"
            pytest.skip(
                f"target '{d.target.name}' lacks capability {what} from clients "
                "(the in-pod sender speaks HTTP/1.1)"
            )
        client = next(c for c in d.loaded.case.spec.clients if c.name == request.from_)
        namespace = d.plan.map(client.namespace)
        url = d.mapped_url(request)
        mapped = d.mapped_host_header(request).model_copy(update={"url": url})
        tls = d.client_tls(mapped)
        client_pem = None
        if tls is not None and tls.client_cert is not None:
            cert, key = tls.client_cert
            client_pem = (cert.read_text(), key.read_text())
        timeout = request.timeout or d.target.request_timeout
        plan = sender_plan(mapped, url, count, concurrency, timeout, tls, client_pem)
        rounds = math.ceil(count / max(1, min(concurrency, count)))
        stdout, stderr, code = exec_in_pod(
            d.kube.api_client,
            namespace,
            client.name,
            "client",
            ["python3", "-m", SENDER_MODULE],
            json.dumps(plan) + "\n",
            timeout * rounds + 30,
        )
        entry = f"client {namespace}/{client.name} (in-pod sender by exec)"
        exchanges = exchanges_from_results(plan, url, entry, tls, stdout, stderr, code)
        for exchange in exchanges:
            exchange.extra.update(client=client.name)
        return exchanges


def _sample_exchange(
    sample: Any, request: Request, address: tuple[str, int], entry: str, tls: ClientTLS | None
) -> Exchange:
    """A bulk sender's ``Sample`` as the Exchange the judge reads."""
    sent = SentRequest(
        method=request.method,
        url=request.url,
        headers=tuple(request.headers.items()),
        body=request.body,
        address=address,
        entry=entry,
        meshgate_id=sample.meshgate_id,
        tls=tls,
        http2=request.http2,
    )
    if sample.status is None:
        outcome = sample.connection or "error"
        return Exchange(sent, None, outcome, sample.error or outcome, sample.elapsed)
    record = ResponseRecord(
        status=sample.status,
        reason="",
        http_version="HTTP/2" if request.http2 else "HTTP/1.1",
        headers=tuple(sample.headers),
        body=sample.body,
    )
    return Exchange(sent, record, elapsed=sample.elapsed)


def exec_in_pod(
    api_client: Any,
    namespace: str,
    pod: str,
    container: str,
    argv: list[str],
    stdin: str,
    timeout: float,
) -> tuple[str, str, int]:
    """Run ``argv`` in a container through the exec API, ``stdin`` written first.

    (stdout, stderr, exit code). The exec API's stdin cannot be half-closed
    (the channel protocol the client speaks has no close), so what is written
    is one line the program reads with ``readline``.
    """
    from .kube import k8s

    core = k8s("kubernetes.client").CoreV1Api(api_client)
    response = k8s("kubernetes.stream").stream(
        core.connect_get_namespaced_pod_exec,
        pod,
        namespace,
        container=container,
        command=argv,
        stderr=True,
        stdin=True,
        stdout=True,
        tty=False,
        _preload_content=False,
    )
    try:
        response.write_stdin(stdin)
        response.run_forever(timeout=timeout)
        stdout = response.read_stdout() or ""
        stderr = response.read_stderr() or ""
        code = response.returncode
    finally:
        response.close()
    return stdout, stderr, int(code if code is not None else -1)
