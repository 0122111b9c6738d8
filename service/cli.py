"""The ``helsinki`` command line: fit, backtest, serve."""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path
from typing import Any

DEFAULT_PRIORS = Path(__file__).resolve().parent.parent / "priors"


def _configure_caches() -> None:
    """Point PyTensor's (and so nutpie's) compile cache at the service's data folder."""
    if "PYTENSOR_FLAGS" not in os.environ or "base_compiledir" not in os.environ["PYTENSOR_FLAGS"]:
        data_dir = Path(os.environ.get("HELSINKI_DATA_DIR", "var")).resolve()
        cache = data_dir / "cache" / "pytensor"
        cache.mkdir(parents=True, exist_ok=True)
        flags = os.environ.get("PYTENSOR_FLAGS", "")
        os.environ["PYTENSOR_FLAGS"] = ",".join(x for x in (flags, f"base_compiledir={cache}") if x)


def _fmt_pct(p: float) -> str:
    return f"{100 * p:5.1f}%"


def cmd_fit(args: argparse.Namespace) -> int:
    from models.catalog import load_catalog
    from models.dataset import ForecastData
    from models.exceptions import HelsinkiModelError
    from models.forecast_model import ForecastModel
    from models.history import read_forecasts_csv, to_forecast_data

    try:
        catalog = load_catalog(args.priors)
        config = catalog.model_config
        data = catalog.to_forecast_data(eps=config.probability_eps)
        for path in args.history or []:
            table = read_forecasts_csv(path).latest_per_forecaster()
            hist = to_forecast_data(table, eps=config.probability_eps)
            clash = set(data.question_ids) & set(hist.question_ids)
            if clash:
                raise SystemExit(
                    f"{path}: question ids already in the catalog: {sorted(clash)[:5]}"
                )
            data = ForecastData(
                questions=data.questions + hist.questions,
                forecasts=data.forecasts + hist.forecasts,
                evidence=data.evidence,
                resolutions=data.resolutions + hist.resolutions,
            )
        show_progress = not args.json and sys.stderr.isatty()
        posterior = ForecastModel(config).fit(data, progress=show_progress)
    except HelsinkiModelError as exc:
        print(f"helsinki fit: {exc}", file=sys.stderr)
        return 2

    if args.out:
        from models.artifacts import save

        save(posterior, args.out)
    catalog_ids = [q.id for q in catalog.questions]
    titles = {q.id: q.title for q in catalog.questions}
    forecasts = posterior.predict(catalog_ids)
    probs = _probability_convergence(posterior, catalog_ids)
    diag = posterior.diagnostics
    if args.json:
        out: dict[str, Any] = {
            "fit_id": posterior.fit_id,
            "created_at": posterior.created_at.isoformat(),
            "diagnostics": {
                "max_rhat": diag.max_rhat,
                "min_ess_bulk": diag.min_ess_bulk,
                "divergences": diag.divergences,
                "publishable": diag.publishable,
                "reasons": list(diag.reasons),
            },
            "questions": [
                {
                    "id": f.question_id,
                    "title": titles[f.question_id],
                    "probability": f.probability,
                    "interval": list(f.interval),
                    "interval_prob": f.interval_prob,
                    "rhat": probs[f.question_id][0],
                    "ess_bulk": probs[f.question_id][1],
                }
                for f in forecasts
            ],
        }
        if args.history:
            out["population"] = posterior.population_summary()
            out["forecasters"] = posterior.forecaster_summary()
        if args.out:
            out["artifact"] = str(args.out)
        print(json.dumps(out, indent=2))
        return 0 if diag.publishable else 1

    print(f"fit {posterior.fit_id}  {posterior.created_at:%Y-%m-%d %H:%M:%S %Z}")
    print(f"{'question':<44} {'P(yes)':>7} {'90% interval':>17} {'R-hat':>6} {'ESS':>6}")
    for f in forecasts:
        rh, es = probs[f.question_id]
        lo, hi = f.interval
        print(
            f"{f.question_id:<44} {_fmt_pct(f.probability):>7}  [{_fmt_pct(lo)}, {_fmt_pct(hi)}]"
            f" {rh:6.3f} {es:6.0f}"
        )
    print(
        f"\ndiagnostics: max R-hat {diag.max_rhat:.3f}, min bulk ESS {diag.min_ess_bulk:.0f}, "
        f"divergences {diag.divergences}, sampling {diag.sampling_seconds:.1f} s, "
        f"{'publishable' if diag.publishable else 'NOT publishable: ' + '; '.join(diag.reasons)}"
    )
    if args.history:
        _print_forecasters(posterior)
    if args.out:
        print(f"posterior saved to {args.out}")
    return 0 if diag.publishable else 1


def _probability_convergence(posterior: Any, question_ids: list[str]) -> dict[str, tuple]:
    from arviz_stats import ess, rhat

    p = posterior.probability_draws(question_ids)
    post = posterior.posterior["posterior"]
    n_chain, n_draw = post.sizes["chain"], post.sizes["draw"]
    arr = p.reshape(n_chain, n_draw, len(question_ids))
    import xarray as xr

    da = xr.DataArray(arr, dims=("chain", "draw", "question"), coords={"question": question_ids})
    rh, es = rhat(da), ess(da, method="bulk")
    return {q: (float(rh.sel(question=q)), float(es.sel(question=q))) for q in question_ids}


def _print_forecasters(posterior: Any) -> None:
    pop = posterior.population_summary()
    print("\nwhat the model learned about forecasters (posterior means):")
    print(
        f"  population discrimination alpha_bar {pop['alpha_bar']:.2f} "
        f"(<1: the crowd is under-confident and the aggregate extremizes)"
    )
    print(f"  mean bias beta {pop['beta_mu']:+.2f} log-odds, spread {pop['beta_sd']:.2f}")
    print(f"  typical noise sigma {2.718281828 ** pop['log_sigma_mu']:.2f} log-odds")
    print(f"  base rate level mu {pop['mu_global']:+.2f} log-odds")
    rows = sorted(posterior.forecaster_summary(), key=lambda r: r["sigma"]["mean"])
    print(f"\n  {'forecaster':<24} {'n':>4} {'alpha':>14} {'beta':>14} {'sigma':>14}")
    shown = rows[:8] + rows[-4:] if len(rows) > 12 else rows
    for r in shown:
        cells = [
            f"{r[k]['mean']:5.2f} ±{(r[k]['interval'][1] - r[k]['interval'][0]) / 2:4.2f}"
            for k in ("alpha", "beta", "sigma")
        ]
        print(
            f"  {r['forecaster_id'][:24]:<24} {r['forecasts']:>4} "
            + " ".join(f"{c:>14}" for c in cells)
        )
    if len(rows) > 12:
        print(f"  ... {len(rows) - 12} more (least noisy first, noisiest last)")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="helsinki", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)

    fit = sub.add_parser("fit", help="fit the priors catalog (plus history) and print forecasts")
    fit.add_argument("--priors", type=Path, default=DEFAULT_PRIORS, help="priors folder")
    fit.add_argument(
        "--history", type=Path, action="append", help="forecasts CSV of resolved questions"
    )
    fit.add_argument("--out", type=Path, help="save the posterior (NetCDF) here")
    fit.add_argument("--json", action="store_true", help="print one JSON object")
    fit.set_defaults(func=cmd_fit)
    return parser


def main(argv: list[str] | None = None) -> int:
    _configure_caches()
    args = build_parser().parse_args(argv)
    return int(args.func(args))


if __name__ == "__main__":
    raise SystemExit(main())
