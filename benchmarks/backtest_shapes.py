"""Does the model's lead over the reference rules hold on sparser data than the shared sets?

The service is judged on data sets it has not seen, with other numbers of forecasters per
question. This script thins the shared sets to at most K forecasters per question (each
forecaster's latest forecast; the K kept are drawn at random, seeded) and runs the same
5-fold backtest as ``helsinki backtest`` on each thinned set: every reference rule and the
model. It prints, per set and K, the model's scores, the best rule's (by Brier) and their
ratios (below 1: the model is better), and the model's 90% bootstrap interval against that
rule. No new data: only subsets of ../shared/data.

    .venv/bin/python benchmarks/backtest_shapes.py                  # both sets, default K
    .venv/bin/python benchmarks/backtest_shapes.py --sets gjp --k 1 3
    .venv/bin/python benchmarks/backtest_shapes.py --sets forecastbench --k 100 \
        --groups manifold metaculus polymarket infer      # four sources, not thinned
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("PYTENSOR_FLAGS", f"base_compiledir={ROOT / 'var' / 'cache' / 'pytensor'}")

DATA = ROOT.parent / "shared" / "data"
SETS = {
    "gjp": (DATA / "gjp-y1-week1.csv", [1, 3, 10, 30]),
    "forecastbench": (DATA / "forecastbench-supers-2024-07-21.csv", [1, 2, 4]),
}


def run(name: str, path: Path, k: int, seed: int, config=None, groups=None) -> dict:  # type: ignore[no-untyped-def]
    from models.aggregators import REFERENCE_RULES
    from models.backtest import (
        aggregator_method,
        compare_methods,
        model_method,
        question_folds,
        run_reference_backtest,
    )
    from models.history import read_forecasts_csv

    table = read_forecasts_csv(path).of_groups(groups).at_most_per_question(k, seed)
    folds = question_folds(table.resolved_question_ids(), 5, seed)
    methods = {rule: aggregator_method(REFERENCE_RULES[rule]) for rule in REFERENCE_RULES}
    model = model_method(config)
    methods["model"] = model
    started = time.perf_counter()
    scores = run_reference_backtest(table, folds, methods=methods)
    seconds = time.perf_counter() - started
    by_name = {s.name: s for s in scores}
    best = min((s for s in scores if s.name != "model"), key=lambda s: s.brier)
    m = by_name["model"]
    (against,) = [c for c in compare_methods(scores, "model", seed) if c.against == best.name]
    return {
        "set": name,
        "groups": groups or "all",
        "k": k,
        "forecasts": table.n_forecasts,
        "questions": len(m.question_ids),
        "best_rule": best.name,
        "model": {"brier": m.brier, "log_score": m.log_score, "ece": m.ece},
        "rule": {"brier": best.brier, "log_score": best.log_score, "ece": best.ece},
        "lowest_rule_ece": min(s.ece for s in scores if s.name != "model"),
        "brier_ratio": m.brier / best.brier,
        "log_ratio": m.log_score / best.log_score,
        "brier_interval": [against.differences["brier"].low, against.differences["brier"].high],
        "model_better_share": against.differences["brier"].share_a_better,
        "publishable_folds": sum(f.publishable for f in model.fits),
        "divergences": sum(f.divergences for f in model.fits),
        "attempts": [f.attempts for f in model.fits],
        "seconds": round(seconds, 1),
    }


def result_line(r: dict) -> str:
    """One line of a :func:`run` result: the model's scores against the best rule's."""
    return (
        f"model Brier {r['model']['brier']:.4f} log {r['model']['log_score']:.4f} "
        f"ECE {r['model']['ece']:.4f} | best rule {r['best_rule']} "
        f"{r['rule']['brier']:.4f} {r['rule']['log_score']:.4f} {r['rule']['ece']:.4f} "
        f"(lowest rule ECE {r['lowest_rule_ece']:.4f}) | ratio Brier "
        f"{r['brier_ratio']:.3f} log {r['log_ratio']:.3f}, 90% [{r['brier_interval'][0]:+.4f}, "
        f"{r['brier_interval'][1]:+.4f}], better in {100 * r['model_better_share']:.0f}% | "
        f"publishable {r['publishable_folds']}/5, div {r['divergences']}, "
        f"attempts {r['attempts']} | {r['seconds']} s"
    )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--sets", nargs="+", choices=sorted(SETS), default=sorted(SETS))
    ap.add_argument("--k", type=int, nargs="+", help="forecasters per question (default per set)")
    ap.add_argument("--seed", type=int, default=0, help="seed of the thinning and the folds")
    ap.add_argument(
        "--groups", nargs="+", help="keep only the questions of these groups (sources) first"
    )
    args = ap.parse_args()
    rows = []
    for name in args.sets:
        path, ks = SETS[name]
        for k in args.k or ks:
            r = run(name, path, k, args.seed, groups=args.groups)
            rows.append(r)
            print(
                f"{name:<14} K={k:<3} {r['forecasts']:>5} forecasts {r['questions']:>4} q | "
                + result_line(r),
                flush=True,
            )
    print(json.dumps(rows))


if __name__ == "__main__":
    main()
