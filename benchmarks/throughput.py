"""Throughput of the bulk sampling path through the local target's Envoy, against wrk and httpx.

One case (a Gateway and a VirtualService routing to one echo backend) is
activated on the local target, so the Envoy serves the configuration the plugin
really translates (access log included) and the echo runs in-process, as in a
test run. Then, through that same Envoy listener:

- the bulk path (``BulkSender``): ``COUNT`` requests at ``CONCURRENCY``, the
  median of ``RUNS`` runs after a warm-up;
- ``HTTPClient`` (httpx, a new connection per request, sequential), for comparison;
- ``wrk -t1 -c<CONCURRENCY>`` for ``WRK_SECONDS``, when wrk is installed.
"""

from __future__ import annotations

import re
import shutil
import statistics
import subprocess
import tempfile
import time
from pathlib import Path

COUNT = 3000
CONCURRENCY = 16
RUNS = 3
HTTPX_COUNT = 600
WRK_SECONDS = 3
HOST = "bench.example.com"

CASE = f"""
apiVersion: meshgate.dev/v1alpha1
kind: Case
metadata: {{name: bench-throughput}}
spec:
  services:
  - name: echo
    ports: [{{name: http, port: 8000}}]
  resources:
  - apiVersion: networking.istio.io/v1
    kind: Gateway
    metadata: {{name: gw}}
    spec:
      selector: {{istio: ingressgateway}}
      servers:
      - port: {{number: 80, name: http, protocol: HTTP}}
        hosts: ["{HOST}"]
  - apiVersion: networking.istio.io/v1
    kind: VirtualService
    metadata: {{name: vs}}
    spec:
      hosts: ["{HOST}"]
      gateways: [gw]
      http:
      - route: [{{destination: {{host: echo}}}}]
  checks:
  - name: reaches echo
    request: {{url: "http://{HOST}/bench/${{uuid}}"}}
    expect: {{backend: echo}}
"""


def main() -> str:
    from pytest_meshgate._cases.loader import load_case_file
    from pytest_meshgate._cases.model.workloads import DEFAULT_GATEWAYS
    from pytest_meshgate._exchange.bulk import BulkSender
    from pytest_meshgate._exchange.client import HTTPClient
    from pytest_meshgate._targets.local import LocalTarget

    with tempfile.TemporaryDirectory() as scratch:
        path = Path(scratch) / "throughput.yaml"
        path.write_text(CASE, encoding="utf-8")
        (loaded,) = load_case_file(path).cases
        request = loaded.case.spec.checks[0].request
        assert request is not None  # the throughput case sends a request
        target = LocalTarget()
        bulk = BulkSender()
        client = HTTPClient()
        try:
            deployment = target.activate(loaded)
            if deployment.send(request).response is None:
                raise SystemExit("bench: the throughput case does not serve")
            address = target.proxy(DEFAULT_GATEWAYS["ingress"]).address_for(80)

            def bulk_rate() -> float:
                start = time.perf_counter()
                samples = bulk.send(request, address, COUNT, CONCURRENCY)
                elapsed = time.perf_counter() - start
                failed = [s for s in samples if s.status != 200]
                if len(samples) != COUNT or failed:
                    raise SystemExit(
                        f"bench: bulk path failed {len(failed)} requests: {failed[:3]}"
                    )
                return COUNT / elapsed

            bulk.send(request, address, COUNT // 10, CONCURRENCY)  # warm-up
            harness = statistics.median(bulk_rate() for _ in range(RUNS))
            start = time.perf_counter()
            for _ in range(HTTPX_COUNT):
                if client.send(request, address, "bench").response is None:
                    raise SystemExit("bench: HTTPClient request failed")
            httpx_rate = HTTPX_COUNT / (time.perf_counter() - start)
            wrk = _wrk_rate(address)
        finally:
            client.close()
            bulk.close()
            target.close()
    line = f"throughput: harness {harness:.0f} req/s"
    if wrk is not None:
        line += f"; wrk {wrk:.0f} req/s through the same Envoy, ratio {harness / wrk:.2f}"
    else:
        line += "; wrk is not installed (e.g. apt-get install wrk), so no ratio against it"
    return (
        f"{line}\n"
        f"throughput detail: bulk path {COUNT} requests at concurrency {CONCURRENCY} "
        f"(median of {RUNS} runs); HTTPClient (httpx, sequential) {httpx_rate:.0f} req/s, "
        f"bulk path {harness / httpx_rate:.1f}x that"
        + (f"; wrk -t1 -c{CONCURRENCY} for {WRK_SECONDS} s" if wrk is not None else "")
    )


def _wrk_rate(address: tuple[str, int]) -> float | None:
    """wrk's requests/s to ``address`` with the case's Host, or None without wrk."""
    wrk = shutil.which("wrk")
    if wrk is None:
        return None
    command = [
        wrk,
        "-t1",
        f"-c{CONCURRENCY}",
        f"-d{WRK_SECONDS}s",
        "-H",
        f"Host: {HOST}",
        f"http://{address[0]}:{address[1]}/bench/wrk",
    ]
    result = subprocess.run(
        command, capture_output=True, text=True, timeout=WRK_SECONDS + 30, check=False
    )
    rate = re.search(r"Requests/sec:\s*([\d.]+)", result.stdout)
    if result.returncode != 0 or rate is None or "Non-2xx" in result.stdout:
        raise SystemExit(f"bench: wrk failed: {result.stdout}{result.stderr}")
    return float(rate.group(1))


if __name__ == "__main__":
    print(main())
