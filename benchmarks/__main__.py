"""``python -m benchmarks``: reload latency and suite cost on the local target, as printed figures.

The measurements, each printed as one line (throughput adds a detail line),
between two lines giving the machine's load average:

- reload: switching the local target from one case to another until the new
  case's first check passes, against the raw cost Envoy itself needs for the
  same kind of change (write CDS/RDS/LDS files, confirm, first request served
  by the new backend), both measured in this run on the same machine.
- suite: the conformance suite in ``cases/`` in a pytest subprocess, with the
  peak memory of pytest, its Envoys and the echo together. Memory is PSS
  (proportional set size), so the 100 MB Envoy binary's shared pages are
  counted once across Envoys rather than once per process.
- speed-up: the ``cases/`` of 681cb13 (408 checks) under the code of 681cb13
  and under this code, in one run (``benchmarks/suite.py``).
- cores: this suite under ``-n 1`` and ``-n 2`` (``benchmarks/suite.py``).
- split: the sequential ``split`` judge simulated against samplers with known
  shares (``benchmarks/split.py``; its per-scenario table goes to stderr).
- throughput: the bulk sampling path through the local target's Envoy, against
  a load generator (wrk where it is installed, else autocannon from the npm
  registry) and the per-check httpx client (``throughput.py``).
- set-up: a fresh clone's ``make setup`` (``freshclone.py``;
  ``MESHGATE_BENCH_SKIP_SETUP=1`` skips it).
"""

from __future__ import annotations

import functools
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
ROUNDS = 30

CASE = """
apiVersion: meshgate.dev/v1alpha1
kind: Case
metadata: {{name: bench-{name}}}
spec:
  services:
  - name: {name}
    ports: [{{name: http, port: 8000}}]
  resources:
  - apiVersion: networking.istio.io/v1
    kind: Gateway
    metadata: {{name: gw}}
    spec:
      selector: {{istio: ingressgateway}}
      servers:
      - port: {{number: 80, name: http, protocol: HTTP}}
        hosts: ["bench.example.com"]
  - apiVersion: networking.istio.io/v1
    kind: VirtualService
    metadata: {{name: vs}}
    spec:
      hosts: ["bench.example.com"]
      gateways: [gw]
      http:
      - route: [{{destination: {{host: {name}}}}}]
  checks:
  - name: reaches {name}
    request: {{url: "http://bench.example.com/"}}
    expect: {{backend: {name}}}
"""


def bench_reload() -> str:
    from pytest_meshgate._cases.loader import load_case_file
    from pytest_meshgate._targets.local import LocalTarget

    with tempfile.TemporaryDirectory() as scratch:
        cases = []
        for name in ("alpha", "beta"):
            path = Path(scratch) / f"{name}.yaml"
            path.write_text(CASE.format(name=name), encoding="utf-8")
            (loaded,) = load_case_file(path).cases
            cases.append(loaded)

        target = LocalTarget()
        try:
            switch_ms = []
            for i in range(ROUNDS + 2):
                loaded = cases[i % 2]
                check = loaded.case.spec.checks[0]
                assert check.request is not None  # the bench cases send requests
                start = time.perf_counter()
                deployment = target.activate(loaded)
                _until_passing(check.expect, functools.partial(deployment.send, check.request))
                if i >= 2:  # the first rounds start Envoy and warm caches
                    switch_ms.append((time.perf_counter() - start) * 1000)
            swap_ms = _raw_swaps(target, cases)
        finally:
            target.close()
    switch, swap = statistics.median(switch_ms), statistics.median(swap_ms)
    return (
        f"reload: case switch to first verified request {switch:.1f} ms (median of {ROUNDS}); "
        f"Envoy file-xDS swap alone {swap:.1f} ms; ratio {switch / swap:.2f}"
    )


def _until_passing(expect: Any, send: Callable[[], Any], limit: float = 10.0) -> None:
    """Probe with no sleep until an attempt passes; a regression fails loudly, never hangs."""
    from pytest_meshgate._judge.expectations import judge

    deadline = time.monotonic() + limit
    while failures := judge(expect, send()):
        if time.monotonic() > deadline:
            raise SystemExit(f"bench: the new configuration never served: {failures}")


def _raw_swaps(target: Any, cases: list[Any]) -> list[float]:
    """The same Envoy and echo listeners; two pre-translated configs swapped by ``apply`` only."""
    from pytest_meshgate._cases.model.workloads import DEFAULT_GATEWAYS
    from pytest_meshgate._exchange.client import HTTPClient
    from pytest_meshgate._targets.local.deployment import LocalDeployment
    from pytest_meshgate._targets.local.translate import translate_gateway

    target.deactivate()
    proxy = target.proxy(DEFAULT_GATEWAYS["ingress"])
    deployments = [LocalDeployment(target, loaded) for loaded in cases]
    configs = []
    for deployment in deployments:
        deployment.start_backends()
        config = translate_gateway(deployment.world(), deployment.gateway_proxy(proxy))
        configs.append(config)
    client = HTTPClient()
    address = proxy.address_for(80)
    samples = []
    try:
        for i in range(ROUNDS + 2):
            config = configs[i % 2]
            check = cases[i % 2].case.spec.checks[0]
            start = time.perf_counter()
            proxy.envoy.apply(config.clusters, config.listeners, config.routes, version=f"raw{i}")
            _until_passing(
                check.expect, functools.partial(client.send, check.request, address, "bench")
            )
            if i >= 2:
                samples.append((time.perf_counter() - start) * 1000)
    finally:
        client.close()
        for deployment in deployments:
            deployment.teardown()
    return samples


def _pss_kib(pid: int) -> int:
    try:
        text = Path(f"/proc/{pid}/smaps_rollup").read_text()
    except OSError:
        return 0
    for line in text.splitlines():
        if line.startswith("Pss:"):
            return int(line.split()[1])
    return 0


def _tree(pid: int) -> list[int]:
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        children.setdefault(int(fields[1]), []).append(int(entry.name))
    out, stack = [], [pid]
    while stack:
        current = stack.pop()
        out.append(current)
        stack.extend(children.get(current, []))
    return out


def bench_suite() -> str:
    command = [sys.executable, "-m", "pytest", "cases", "-q", "-p", "no:cacheprovider"]
    start = time.perf_counter()
    proc = subprocess.Popen(command, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    peak = 0
    done = threading.Event()

    def sample() -> None:
        nonlocal peak
        while not done.is_set():
            peak = max(peak, sum(_pss_kib(p) for p in _tree(proc.pid)))
            time.sleep(0.05)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    output, _ = proc.communicate()
    done.set()
    sampler.join()
    elapsed = time.perf_counter() - start
    summary = output.decode(errors="replace").strip().splitlines()[-1]
    checks = _count(summary)
    return (
        f"suite: {checks} checks in {elapsed:.1f} s on the local target, "
        f"peak memory {peak / 1024:.0f} MiB "
        f"(PSS of pytest, Envoys and echo; pytest said: {summary})"
    )


def _count(summary: str) -> int:
    total = 0
    for part in summary.split(","):
        words = part.strip().split()
        if len(words) >= 2 and words[0].isdigit() and words[1] in ("passed", "failed", "skipped"):
            total += int(words[0])
    return total


def main() -> int:
    os.chdir(ROOT)
    from benchmarks.freshclone import main as bench_setup
    from benchmarks.split import main as bench_split
    from benchmarks.suite import bench_cores, bench_speedup
    from benchmarks.throughput import main as bench_throughput

    print(f"load: {_load()} on {os.cpu_count()} cores (figures are noisy under load)", flush=True)
    print(bench_reload(), flush=True)
    print(bench_speedup(), flush=True)
    print(bench_suite(), flush=True)
    print(bench_cores(), flush=True)
    print(bench_split(), flush=True)
    print(bench_throughput(), flush=True)
    print(bench_setup(), flush=True)
    print(f"load: {_load()} at the end", flush=True)
    return 0


def _load() -> str:
    one, five, fifteen = os.getloadavg()
    return f"load average {one:.2f}, {five:.2f}, {fifteen:.2f}"


if __name__ == "__main__":
    raise SystemExit(main())
