"""Read throughput of the API against a bare FastAPI route, on loopback.

Starts a real ``helsinki serve`` in a temporary data folder (as benchmarks/update_latency.py
does) and waits for its first published fit; starts, in another subprocess, a bare FastAPI
app under uvicorn whose one route returns a constant (the baseline: what the framework and
server cost alone). Then, one target after the other, a bounded load of ``--requests`` GETs
with ``--concurrency`` in flight (httpx AsyncClient, keep-alive) measures requests/s and
latency percentiles of

* ``GET /v1/questions/{id}/forecast`` (one forecast),
* ``GET /v1/questions`` (the question list, with forecasts),
* ``GET /constant`` on the bare app,

and prints each API route's throughput as a share of the bare route's (target >= 50%).
The load generator runs on the same machine and takes CPU from the servers, equally for all.

    .venv/bin/python benchmarks/api_throughput.py
    .venv/bin/python benchmarks/api_throughput.py --requests 5000 --concurrency 16
"""

from __future__ import annotations

import argparse
import asyncio
import subprocess
import sys
import tempfile
import textwrap
import time
from datetime import UTC, datetime
from pathlib import Path

import httpx
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

from service_process import (
    ROOT,
    ServiceBlocked,
    free_port,
    load_average,
    log_tail,
    running_service,
    stop,
    wait_until_idle,
)

TARGET_SHARE = 0.5

# Same server, same log level (access log on) as `helsinki serve`, nothing else.
BARE_APP = textwrap.dedent(
    """
    import sys
    import uvicorn
    from fastapi import FastAPI

    app = FastAPI()

    @app.get("/constant")
    def constant() -> dict[str, str]:
        return {"status": "ok"}

    uvicorn.run(app, host="127.0.0.1", port=int(sys.argv[1]), log_level="info")
    """
)


async def load(base: str, path: str, requests: int, concurrency: int) -> dict:
    """``requests`` GETs of ``path``, ``concurrency`` at a time; every answer must be 200."""
    latencies: list[float] = []
    remaining = requests
    errors = 0
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    async with httpx.AsyncClient(base_url=base, limits=limits, timeout=30) as client:
        for _ in range(concurrency):  # open the connections before the clock starts
            (await client.get(path)).raise_for_status()

        async def one_worker() -> None:
            nonlocal remaining, errors
            while remaining > 0:
                remaining -= 1
                started = time.perf_counter()
                r = await client.get(path)
                latencies.append(time.perf_counter() - started)
                errors += r.status_code != 200

        started = time.perf_counter()
        await asyncio.gather(*(one_worker() for _ in range(concurrency)))
        seconds = time.perf_counter() - started
    ms = 1000 * np.array(latencies)
    return {
        "path": path,
        "requests": len(latencies),
        "errors": errors,
        "rps": len(latencies) / seconds,
        "p50_ms": float(np.percentile(ms, 50)),
        "p99_ms": float(np.percentile(ms, 99)),
    }


def wait_for(base: str, path: str, proc: subprocess.Popen, log: Path, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise ServiceBlocked(f"the bare app exited with {proc.returncode}:\n{log_tail(log)}")
        try:
            if httpx.get(base + path, timeout=2).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.2)
    raise ServiceBlocked(f"the bare app did not answer within {timeout:.0f} s")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=2000, help="requests per target (2000)")
    parser.add_argument("--concurrency", type=int, default=8, help="requests in flight (8)")
    parser.add_argument(
        "--fit-timeout", type=float, default=300, help="seconds to wait for a fit (300)"
    )
    args = parser.parse_args(argv)

    load_before = load_average()
    print(f"load average before: {load_before}", file=sys.stderr)
    results = []
    bare = None
    with tempfile.TemporaryDirectory(prefix="helsinki-bench-") as tmp:
        data_dir = Path(tmp)
        try:
            with running_service(data_dir, args.fit_timeout) as (base, _):
                # A fit running in the worker would compete for the CPU: wait it out.
                wait_until_idle(data_dir, args.fit_timeout)
                port = free_port()
                bare_log = data_dir / "bare.log"
                with open(bare_log, "wb") as out:
                    bare = subprocess.Popen(
                        [sys.executable, "-c", BARE_APP, str(port)],
                        stdout=out,
                        stderr=subprocess.STDOUT,
                        cwd=ROOT,
                    )
                bare_base = f"http://127.0.0.1:{port}"
                wait_for(bare_base, "/constant", bare, bare_log, 60)
                qid = httpx.get(base + "/v1/questions", params={"limit": 1}).json()["items"][0][
                    "id"
                ]
                n_questions = len(httpx.get(base + "/v1/questions").json()["items"])
                for target, path in (
                    (bare_base, "/constant"),
                    (base, f"/v1/questions/{qid}/forecast"),
                    (base, "/v1/questions"),
                ):
                    result = asyncio.run(load(target, path, args.requests, args.concurrency))
                    print(result, file=sys.stderr)
                    results.append(result)
        except ServiceBlocked as exc:
            print(f"api_throughput: the service could not be measured: {exc}", file=sys.stderr)
            return 2
        finally:
            stop(bare)
    load_after = load_average()

    bare_rps = results[0]["rps"]
    print(
        f"\nAPI read throughput on loopback, {datetime.now(UTC):%Y-%m-%d %H:%M} UTC: "
        f"{args.requests} GETs per target, {args.concurrency} in flight"
    )
    print(f"load average (1, 5, 15 min): before {load_before}; after {load_after}")
    print(f"  {'target':<48} {'req/s':>8} {'p50 ms':>8} {'p99 ms':>8} {'of bare':>8}")
    names = [
        "bare FastAPI route (constant)",
        "GET one forecast",
        f"GET question list ({n_questions} questions)",
    ]
    for name, r in zip(names, results, strict=True):
        share = r["rps"] / bare_rps
        errors = f"  {r['errors']} non-200!" if r["errors"] else ""
        print(
            f"  {name:<48} {r['rps']:8.0f} {r['p50_ms']:8.1f} {r['p99_ms']:8.1f} "
            f"{100 * share:7.0f}%{errors}"
        )
    print(f"  target: each API route >= {100 * TARGET_SHARE:.0f}% of the bare route's req/s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
