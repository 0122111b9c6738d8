"""Evidence -> served forecast: instant-update latency and refit publication, against a refit.

Starts a real ``helsinki serve`` in a temporary data folder (its own SQLite file, the
checkout's PyTensor compile cache), waits for the first published fit, creates a forecaster
key, then:

* **instant**: posts ``--count`` evidence items against the catalog's questions, each timed
  from the POST until ``GET /v1/questions/{id}/forecast`` serves the forecast caused by
  that item (p50, p95);
* **refit**: with the fit queue idle, posts ``--refits`` items, each timed until the
  question's forecast comes from a new fit (its ``fit_id`` changes);
* **baseline** (same run, after the service stopped so it does not compete for the CPU):
  the naive alternative, a fresh ``pm.sample`` of the same model per update
  (``build_model`` + ``pm.sample(draws=1000, tune=1000, chains=4, cores=2)`` on the catalog
  plus the new item), timed including model build and compilation.

The targets are printed next to the figures, never asserted (benchmarks never fail a build
on a time).

    .venv/bin/python benchmarks/update_latency.py
    .venv/bin/python benchmarks/update_latency.py --count 50 --refits 2 --baseline-updates 1
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

import httpx
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from service_process import (
    COMPILE_CACHE,
    ROOT,
    ServiceBlocked,
    create_key,
    fits_in_database,
    load_average,
    pending_jobs,
    running_service,
    wait_until_idle,
)

TARGET_INSTANT_P50_MS = 50.0
TARGET_REFIT_S = 5.0
TARGET_SPEEDUP = 100.0


def evidence_body(question_id: str, i: int) -> dict:
    # Alternate for / against so that the probabilities stay away from 0 and 1.
    ratio = 1.5 if i % 2 == 0 else 1 / 1.5
    return {
        "title": f"benchmark item {i}",
        "observed_at": datetime.now(UTC).isoformat(),
        "source_url": None,
        "reliability": "media-report",
        "effects": [{"question_id": question_id, "likelihood_ratio": ratio}],
    }


def measure_instant(client: httpx.Client, question_ids: list[str], count: int) -> dict:
    """POST one item, then GET the forecast until it is the one this item caused."""
    totals, posts, gets_needed = [], [], []
    superseded = 0
    for i in range(count):
        qid = question_ids[i % len(question_ids)]
        started = time.perf_counter()
        r = client.post("/v1/evidence", json=evidence_body(qid, i))
        r.raise_for_status()
        posted = time.perf_counter()
        evidence_id = r.json()["id"]
        expected = next(f for f in r.json()["forecasts"] if f["question_id"] == qid)
        gets = 0
        while gets < 1000:
            gets += 1
            f = client.get(f"/v1/questions/{qid}/forecast").json()
            if f.get("cause", {}).get("id") == evidence_id:
                if abs(f["probability"] - expected["probability"]) > 1e-12:
                    raise RuntimeError(f"served {f['probability']} != posted {expected}")
                break
            if f.get("fit_id") != expected["fit_id"]:
                break  # a refit was published in between: this post is not timed
        else:
            raise RuntimeError(f"the forecast caused by {evidence_id} was never served")
        done = time.perf_counter()
        if f.get("fit_id") != expected["fit_id"]:
            superseded += 1
            continue
        totals.append(1000 * (done - started))
        posts.append(1000 * (posted - started))
        gets_needed.append(gets)
    t = np.array(totals)
    return {
        "n": len(totals),
        "superseded": superseded,
        "p50_ms": float(np.percentile(t, 50)),
        "p95_ms": float(np.percentile(t, 95)),
        "max_ms": float(t.max()),
        "post_p50_ms": float(np.percentile(posts, 50)),
        "gets_max": max(gets_needed),
    }


def measure_refits(
    client: httpx.Client, data_dir: Path, question_ids: list[str], n: int, timeout: float
) -> list[dict]:
    """With the queue idle, POST one item; time until the forecast comes from a fit using it.

    A fit counts only if its inputs list the posted item: a fit that finished just before
    the post may be loaded by the API (which polls every second) just after it.
    """
    rows = []
    for k in range(n):
        if not wait_until_idle(data_dir, timeout):
            rows.append({"ok": False, "why": f"fit queue not idle after {timeout:.0f} s"})
            continue
        time.sleep(2.0)  # let the API load the fit that just finished
        qid = question_ids[k % len(question_ids)]
        known = {f[0] for f in fits_in_database(data_dir)}
        started = time.perf_counter()
        r = client.post("/v1/evidence", json=evidence_body(qid, 10_000 + k))
        r.raise_for_status()
        evidence_id = r.json()["id"]
        seen: dict[str, bool] = {}
        served = None
        while time.perf_counter() - started < timeout:
            fit_id = client.get(f"/v1/questions/{qid}/forecast").json()["fit_id"]
            if fit_id not in seen:
                inputs = client.get(f"/v1/fits/{fit_id}").json()["inputs"]
                seen[fit_id] = evidence_id in inputs.get("evidence", [])
            if seen[fit_id]:
                served = fit_id
                break
            new = [f for f in fits_in_database(data_dir) if f[0] not in known]
            done = new and not pending_jobs(data_dir)
            if done and all(f[1] in ("rejected", "failed") for f in new):
                break
            time.sleep(0.05)
        seconds = time.perf_counter() - started
        fits = {f[0]: f for f in fits_in_database(data_dir)}
        if served:
            rows.append(
                {"ok": True, "seconds": seconds, "fit": served, "sample_s": fits[served][3]}
            )
        else:
            new = [f for f in fits.values() if f[0] not in known]
            rows.append(
                {"ok": False, "why": f"no fit with the item served after {seconds:.0f} s: {new}"}
            )
    return rows


def measure_baseline(updates: int, nuts_sampler: str | None) -> list[float]:
    """A fresh PyMC model and ``pm.sample`` per update: the naive way to serve new evidence."""
    import os

    os.environ.setdefault("PYTENSOR_FLAGS", f"base_compiledir={COMPILE_CACHE}")
    import pymc as pm

    from models.catalog import load_catalog
    from models.dataset import Evidence, EvidenceEffect, ForecastData
    from models.forecast_model import ModelStructure, build_model, encode

    catalog = load_catalog(ROOT / "priors")
    config = catalog.model_config
    base = catalog.to_forecast_data(eps=config.probability_eps)
    seconds = []
    for i in range(updates):
        started = time.perf_counter()
        item = Evidence(
            id=f"ev-baseline-{i}",
            observed_at=datetime.now(UTC),
            reliability="media-report",
            effects=(EvidenceEffect(base.question_ids[i % len(base.question_ids)], 1.5),),
        )
        data = ForecastData(base.questions, base.forecasts, (*base.evidence, item), ())
        structure = ModelStructure.for_data(data)
        model = build_model(structure, config, encode(data, structure))
        with model:
            pm.sample(
                draws=1000,
                tune=1000,
                chains=4,
                cores=2,
                random_seed=i,
                progressbar=False,
                nuts_sampler=nuts_sampler,
                compute_convergence_checks=False,
            )
        seconds.append(time.perf_counter() - started)
        print(f"baseline update {i + 1}/{updates}: {seconds[-1]:.1f} s", file=sys.stderr)
    return seconds


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=200, help="evidence posts timed (200)")
    parser.add_argument("--refits", type=int, default=3, help="posts timed to a refit (3)")
    parser.add_argument(
        "--baseline-updates", type=int, default=2, help="fresh pm.sample runs timed (2)"
    )
    parser.add_argument(
        "--fit-timeout", type=float, default=300, help="seconds to wait for a fit (300)"
    )
    parser.add_argument(
        "--baseline-sampler",
        choices=["pymc", "nutpie"],
        help="pm.sample's nuts_sampler (default: pm.sample's own choice, nutpie when installed)",
    )
    args = parser.parse_args(argv)

    load_before = load_average()
    print(f"load average before: {load_before}", file=sys.stderr)
    with tempfile.TemporaryDirectory(prefix="helsinki-bench-") as tmp:
        data_dir = Path(tmp)
        try:
            with running_service(data_dir, args.fit_timeout) as (base, first_fit_s):
                key = create_key(data_dir, "forecaster", "bench")
                headers = {"Authorization": f"Bearer {key}"}
                with httpx.Client(base_url=base, headers=headers, timeout=30) as client:
                    questions = client.get("/v1/questions", params={"limit": 100}).json()
                    qids = [q["id"] for q in questions["items"] if q.get("forecast")]
                    client.get(f"/v1/questions/{qids[0]}/forecast")  # warm the connection
                    instant = measure_instant(client, qids, args.count)
                    print(f"instant: {instant}", file=sys.stderr)
                    refits = measure_refits(client, data_dir, qids, args.refits, args.fit_timeout)
                    print(f"refits: {refits}", file=sys.stderr)
        except ServiceBlocked as exc:
            print(f"update_latency: the service could not be measured: {exc}", file=sys.stderr)
            return 2
    load_service = load_average()
    baseline = (
        measure_baseline(args.baseline_updates, args.baseline_sampler)
        if args.baseline_updates
        else []
    )
    load_after = load_average()

    ok_refits = [r["seconds"] for r in refits if r["ok"]]
    print(
        f"\nupdate latency, catalog ({len(qids)} questions), {datetime.now(UTC):%Y-%m-%d %H:%M} UTC"
    )
    print(f"load average (1, 5, 15 min): before {load_before}; after the service {load_service};")
    print(f"  after the baseline {load_after}")
    print(f"first published fit served {first_fit_s:.1f} s after `helsinki serve` started")
    print(
        f"instant update, POST -> GET serves it ({instant['n']} posts): "
        f"p50 {instant['p50_ms']:.1f} ms, p95 {instant['p95_ms']:.1f} ms, "
        f"max {instant['max_ms']:.1f} ms (POST alone p50 {instant['post_p50_ms']:.1f} ms)"
        f"   target p50 <= {TARGET_INSTANT_P50_MS:.0f} ms"
    )
    for r in refits:
        if r["ok"]:
            print(
                f"refit published, POST -> forecast from the new fit: {r['seconds']:.1f} s "
                f"(the worker's fit took {r['sample_s']:.1f} s)   target <= {TARGET_REFIT_S:.0f} s"
            )
        else:
            print(f"refit not measured: {r['why']}")
    if ok_refits:
        print(f"refit published: median {float(np.median(ok_refits)):.1f} s of {len(ok_refits)}")
    if baseline:
        med = float(np.median(baseline))
        ratio = 1000 * med / instant["p50_ms"]
        print(
            f"baseline, fresh build_model + pm.sample(1000 draws, 1000 tune, 4 chains, 2 cores, "
            f"nuts_sampler={args.baseline_sampler or 'default'}) "
            f"per update: {', '.join(f'{s:.1f}' for s in baseline)} s (median {med:.1f} s)"
        )
        print(f"ratio baseline / instant p50: {ratio:,.0f}x   target >= {TARGET_SPEEDUP:.0f}x")
        if ok_refits:
            print(f"ratio baseline / refit published: {med / float(np.median(ok_refits)):.1f}x")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
