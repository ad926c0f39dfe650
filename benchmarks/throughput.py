"""Throughput of the bulk path through the local target's Envoy, against a load generator and httpx.

One case (a Gateway and a VirtualService routing to one echo backend) is
activated on the local target, so the Envoy serves the configuration the plugin
really translates (access log included) and the echo runs in-process, as in a
test run. Then, through that same Envoy listener:

- the bulk path (``BulkSender``): ``COUNT`` requests at ``CONCURRENCY``, the
  median of ``RUNS`` runs after a warm-up;
- ``HTTPClient`` (httpx, a new connection per request, sequential), for comparison;
- a load generator at ``CONCURRENCY`` for ``LOAD_SECONDS``: ``wrk -t1`` where it
  is installed (Debian's ``wrk`` package); otherwise autocannon, a Node.js load
  generator installed from the npm registry into the user's cache on first use
  (``AUTOCANNON``); without wrk and npm there is no ratio, and the line says so.
"""

from __future__ import annotations

import json
import os
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
LOAD_SECONDS = 3
HOST = "bench.example.com"
AUTOCANNON = "autocannon@8.0.0"

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
            reference = _reference_rate(address)
        finally:
            client.close()
            bulk.close()
            target.close()
    line = f"throughput: harness {harness:.0f} req/s"
    if reference is not None:
        name, rate = reference
        line += f"; {name} {rate:.0f} req/s through the same Envoy, ratio {harness / rate:.2f}"
    else:
        line += (
            "; neither wrk (apt-get install wrk) nor npm (for autocannon) is installed, "
            "so no ratio against a load generator"
        )
    return (
        f"{line}\n"
        f"throughput detail: bulk path {COUNT} requests at concurrency {CONCURRENCY} "
        f"(median of {RUNS} runs); HTTPClient (httpx, sequential) {httpx_rate:.0f} req/s, "
        f"bulk path {harness / httpx_rate:.1f}x that"
        + (
            f"; {_reference_command(reference[0])} for {LOAD_SECONDS} s"
            if reference is not None
            else ""
        )
    )


def _reference_command(name: str) -> str:
    """How the load generator ``name`` was run, for the detail line."""
    if name == "wrk":
        return f"wrk -t1 -c{CONCURRENCY}"
    return f"{AUTOCANNON} -c{CONCURRENCY} (from the npm registry)"


def _reference_rate(address: tuple[str, int]) -> tuple[str, float] | None:
    """(load generator, its requests/s to ``address``): wrk, else autocannon, else None."""
    url = f"http://{address[0]}:{address[1]}/bench/load"
    wrk = shutil.which("wrk")
    if wrk is not None:
        return "wrk", _wrk_rate(wrk, url)
    autocannon = _autocannon()
    if autocannon is not None:
        return "autocannon", _autocannon_rate(autocannon, url)
    return None


def _wrk_rate(wrk: str, url: str) -> float:
    """wrk's requests/s to ``url`` with the case's Host."""
    command = [wrk, "-t1", f"-c{CONCURRENCY}", f"-d{LOAD_SECONDS}s", "-H", f"Host: {HOST}", url]
    result = subprocess.run(
        command, capture_output=True, text=True, timeout=LOAD_SECONDS + 30, check=False
    )
    return parse_wrk(result.returncode, result.stdout, result.stderr)


def parse_wrk(returncode: int, stdout: str, stderr: str) -> float:
    """Requests/s from wrk's report; a failed run or any error or non-2xx answer stops the bench."""
    rate = re.search(r"Requests/sec:\s*([\d.]+)", stdout)
    failed = "Non-2xx" in stdout or "Socket errors" in stdout
    if returncode != 0 or rate is None or failed:
        raise SystemExit(f"bench: wrk failed: {stdout}{stderr}")
    return float(rate.group(1))


def _autocannon() -> Path | None:
    """autocannon's executable, installed from the npm registry on first use; None without npm."""
    npm = shutil.which("npm")
    if npm is None:
        return None
    cache = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    prefix = cache / "pytest-meshgate" / AUTOCANNON.replace("@", "-")
    executable = prefix / "node_modules" / ".bin" / "autocannon"
    if not executable.exists():
        install = [npm, "install", "--no-save", "--no-audit", "--no-fund", "--prefix", str(prefix)]
        result = subprocess.run(
            [*install, AUTOCANNON], capture_output=True, text=True, timeout=300, check=False
        )
        if result.returncode != 0 or not executable.exists():
            raise SystemExit(f"bench: npm could not install {AUTOCANNON}: {result.stderr}")
    return executable


def _autocannon_rate(executable: Path, url: str) -> float:
    """autocannon's requests/s to ``url`` with the case's Host."""
    command = [str(executable), f"-c{CONCURRENCY}", f"-d{LOAD_SECONDS}"]
    command += ["-H", f"Host={HOST}", "--json", url]
    result = subprocess.run(
        command, capture_output=True, text=True, timeout=LOAD_SECONDS + 60, check=False
    )
    return parse_autocannon(result.returncode, result.stdout, result.stderr)


def parse_autocannon(returncode: int, stdout: str, stderr: str) -> float:
    """Requests/s from autocannon's ``--json`` report: 2xx answers over the run's duration.

    Any error, timeout or non-2xx answer stops the bench, as with wrk: a rate of
    refused or failed requests is no reference.
    """
    try:
        report = json.loads(stdout)
        answered, duration = int(report["2xx"]), float(report["duration"])
        failed = int(report["non2xx"]) + int(report["errors"]) + int(report["timeouts"])
    except (ValueError, KeyError, TypeError):
        raise SystemExit(f"bench: autocannon failed: {stdout}{stderr}") from None
    if returncode != 0 or failed or answered == 0 or duration <= 0:
        raise SystemExit(f"bench: autocannon failed: {stdout}{stderr}")
    return answered / duration


if __name__ == "__main__":
    print(main())
