"""Sandbox throughput under gunicorn: authenticated GET /api/v1/orders?page=1, as JSON.

Starts ``billhive sandbox --no-throttle`` (gunicorn, gthread) on a free port in a
subprocess, then loads it for ``--seconds`` with one of two load generators:

* ``wrk`` (C, event loop; used when installed, e.g. ``apt-get install wrk``): the client
  side costs little CPU, so the figure is the sandbox's own;
* ``python``: several processes, each with a few threads and one httpx client per thread
  (keep-alive). Python clients eat CPU on the same machine, so this reads lower.

Every call is authenticated (API key + Basic auth of the demo merchant) and returns the
first page (the demo account's 12 seeded orders, about 28 kB of JSON). Target: >= 500 calls/s.

    .venv/bin/python benchmarks/bench_sandbox.py [--seconds 10] [--workers 2]
        [--load auto|wrk|python] [--connections 16]
"""

from __future__ import annotations

import argparse
import base64
import json
import multiprocessing
import os
import platform
import re
import shutil
import socket
import statistics
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import httpx

from billhive.sandbox import demo_accounts

API_KEY = "bench-sandbox-key"
ROOT = Path(__file__).resolve().parent.parent


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _headers() -> dict[str, str]:
    demo = demo_accounts()[0]
    token = base64.b64encode(f"{demo.username}:{demo.password}".encode()).decode()
    return {"X-Billbee-Api-Key": API_KEY, "Authorization": f"Basic {token}"}


def _start_sandbox(port: int, workers: int) -> subprocess.Popen[bytes]:
    env = {**os.environ, "BILLHIVE_SANDBOX_API_KEYS": API_KEY, "BILLHIVE_LOG_LEVEL": "WARNING"}
    command = [sys.executable, "-m", "billhive.cli", "sandbox", "--port", str(port)]
    command += ["--workers", str(workers), "--no-throttle"]
    process = subprocess.Popen(command, cwd=ROOT, env=env)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"http://127.0.0.1:{port}/api/v1/_sandbox/health").status_code == 200:
                return process
        except httpx.TransportError:
            time.sleep(0.2)
    process.terminate()
    raise SystemExit("the sandbox did not start within 30 s")


# -- wrk ----------------------------------------------------------------------------------

_UNIT_MS = {"us": 0.001, "ms": 1.0, "s": 1000.0}


def _ms(text: str) -> float:
    value, unit = re.fullmatch(r"([\d.]+)(us|ms|s)", text).groups()  # type: ignore[union-attr]
    return float(value) * _UNIT_MS[unit]


def _run_wrk(url: str, seconds: int, connections: int) -> dict[str, Any]:
    threads = min(2, connections)  # wrk wants at least one connection per thread
    command = ["wrk", f"-t{threads}", f"-c{connections}", f"-d{seconds}s", "--latency"]
    for name, value in _headers().items():
        command += ["-H", f"{name}: {value}"]
    output = subprocess.run([*command, url], capture_output=True, text=True, check=True).stdout
    percentiles = dict(re.findall(r"^\s+(50|99)%\s+(\S+)$", output, re.MULTILINE))
    non_2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", output)
    errors = re.search(r"Socket errors: (.*)$", output, re.MULTILINE)
    return {
        "calls": int(re.search(r"(\d+) requests in", output).group(1)),  # type: ignore[union-attr]
        "calls_per_s": float(re.search(r"Requests/sec:\s+([\d.]+)", output).group(1)),  # type: ignore[union-attr]
        "p50_ms": round(_ms(percentiles["50"]), 2),
        "p99_ms": round(_ms(percentiles["99"]), 2),
        "non_2xx": int(non_2xx.group(1)) if non_2xx else 0,
        "socket_errors": errors.group(1) if errors else "none",
        "load": f"wrk -t{threads} -c{connections} (keep-alive)",
    }


# -- python ---------------------------------------------------------------------------------


def _python_worker(url: str, seconds: float, threads: int, queue: Any) -> None:
    latencies: list[float] = []
    failures = [0]
    lock = threading.Lock()
    stop_at = time.monotonic() + seconds

    def loop() -> None:
        mine: list[float] = []
        bad = 0
        with httpx.Client(headers=_headers()) as client:
            while time.monotonic() < stop_at:
                started = time.perf_counter()
                status = client.get(url).status_code
                mine.append(time.perf_counter() - started)
                bad += status != 200
        with lock:
            latencies.extend(mine)
            failures[0] += bad

    pool = [threading.Thread(target=loop) for _ in range(threads)]
    for thread in pool:
        thread.start()
    for thread in pool:
        thread.join()
    queue.put((latencies, failures[0]))


def _run_python(url: str, seconds: int, connections: int) -> dict[str, Any]:
    processes_n = max(1, min(connections // 4, os.cpu_count() or 1))
    threads = max(1, connections // processes_n)
    queue: Any = multiprocessing.Queue()
    processes = [
        multiprocessing.Process(target=_python_worker, args=(url, seconds, threads, queue))
        for _ in range(processes_n)
    ]
    started = time.monotonic()
    for process in processes:
        process.start()
    results = [queue.get() for _ in processes]
    elapsed = time.monotonic() - started
    for process in processes:
        process.join()
    latencies = sorted(x for lat, _ in results for x in lat)
    return {
        "calls": len(latencies),
        "calls_per_s": round(len(latencies) / elapsed, 1),
        "p50_ms": round(statistics.median(latencies) * 1000, 2),
        "p99_ms": round(latencies[int(len(latencies) * 0.99)] * 1000, 2),
        "non_2xx": sum(bad for _, bad in results),
        "load": f"python: {processes_n} processes x {threads} threads, httpx keep-alive",
    }


def main() -> None:
    """Parse options, run the benchmark, print one JSON object."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=int, default=10)
    parser.add_argument("--workers", type=int, default=2, help="gunicorn worker processes")
    parser.add_argument("--connections", type=int, default=16)
    parser.add_argument("--load", choices=["auto", "wrk", "python"], default="auto")
    args = parser.parse_args()
    load = args.load
    if load == "auto":
        load = "wrk" if shutil.which("wrk") else "python"
    port = _free_port()
    url = f"http://127.0.0.1:{port}/api/v1/orders?page=1"
    sandbox = _start_sandbox(port, args.workers)
    try:
        first = httpx.get(url, headers=_headers())
        assert first.status_code == 200 and first.json()["ErrorCode"] == 0, first.text
        runner = _run_wrk if load == "wrk" else _run_python
        result = runner(url, args.seconds, args.connections)
    finally:
        sandbox.terminate()
        sandbox.wait(timeout=15)
    figures = {
        "benchmark": "sandbox GET /api/v1/orders?page=1 (authenticated, throttle off)",
        **result,
        "response_bytes": len(first.content),
        "seconds": args.seconds,
        "gunicorn_workers": args.workers,
        "gunicorn_threads": 4,
        "cpus": os.cpu_count(),
        "python": platform.python_version(),
        "target_calls_per_s": 500,
    }
    figures["meets_target"] = figures["calls_per_s"] >= 500
    print(json.dumps(figures, indent=2))


if __name__ == "__main__":
    main()
