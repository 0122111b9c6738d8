"""The ``helsinki`` command line: fit, backtest, serve."""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

from service.schemas.jsonable import json_safe

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
                    "contentious": f.contentious,
                    "as_of": None if f.as_of is None else f.as_of.isoformat(),
                    "rhat": probs[f.question_id][0],
                    "ess_bulk": probs[f.question_id][1],
                }
                for f in forecasts
            ],
        }
        if args.history:
            out["population"] = posterior.population_summary()
            out["forecasters"] = posterior.forecaster_summary()
            out["topics"] = posterior.topic_summary()
            out["topic_terms"] = posterior.topic_terms()
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


def _mean_pm(summary: dict[str, Any]) -> str:
    """A summary cell as ``mean ±half-width`` of its interval."""
    lo, hi = summary["interval"]
    return f"{summary['mean']:5.2f} ±{(hi - lo) / 2:4.2f}"


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
    print(
        f"  share of contentious questions {pop['contentious_share']:.2f} "
        "(sparsely forecast questions whose forecasters disagree beyond their usual noise)"
    )
    if "drift_sd" in pop:  # questions that move (docs/model.md)
        print(f"  questions' walk {pop['drift_sd']:.3f} log-odds a square-root day (drift_sd)")
    if "crowd_drift_sd" in pop:  # the crowd's drifting error (docs/model.md)
        print(
            f"  crowd's shared error {pop['crowd_drift_sd']:.3f} log-odds at rest "
            "(crowd_drift_sd; outcomes do not read it)"
        )
    topics = posterior.topic_summary()
    if len(topics) > 1:
        print(f"\n  topic terms {posterior.topic_terms()['reason']}")
        print(
            "\n  per group (docs/model.md, 'Topics'; extremizing: factor on the crowd's log-odds,"
        )
        print("  above 1 where it hedges; shift: what outcomes add to its log-odds):")
        print(f"  {'group':<24} {'resolved':>8} {'extremizing':>14} {'shift':>14}")
        for t in topics:
            cells = [_mean_pm(t[k]) for k in ("extremizing", "shift")]
            print(
                f"  {t['group'][:24]:<24} {t['resolved']:>8} " + " ".join(f"{c:>14}" for c in cells)
            )
    rows = sorted(posterior.forecaster_summary(), key=lambda r: r["sigma"]["mean"])
    print(f"\n  {'forecaster':<24} {'n':>4} {'alpha':>14} {'beta':>14} {'sigma':>14}")
    shown = rows[:8] + rows[-4:] if len(rows) > 12 else rows
    for r in shown:
        cells = [_mean_pm(r[k]) for k in ("alpha", "beta", "sigma")]
        print(
            f"  {r['forecaster_id'][:24]:<24} {r['forecasts']:>4} "
            + " ".join(f"{c:>14}" for c in cells)
        )
    if len(rows) > 12:
        print(f"  ... {len(rows) - 12} more (least noisy first, noisiest last)")


#: Name of the Bayesian model's row in a backtest.
MODEL_METHOD = "model"


def _backtest_methods() -> list[str]:
    from models.aggregators import REFERENCE_RULES

    return [*REFERENCE_RULES, MODEL_METHOD]


def _say(message: str, *, enabled: bool) -> None:
    if enabled:
        print(message, file=sys.stderr, flush=True)


def _non_negative_int(text: str) -> int:
    """argparse type: an integer >= 0 (NumPy seeds cannot be negative)."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not an integer") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"{value} is negative; give 0 or more")
    return value


#: Below this many scored questions the text report warns that intervals mean little.
FEW_SCORED_QUESTIONS = 30


def _check_writable(path: Path, option: str) -> None:
    """Fail before a long backtest, not after it, when an output cannot be written."""
    from models.exceptions import DataError

    parent = path.expanduser().resolve().parent
    if not parent.is_dir():
        raise DataError(f"{option} {path}: folder {parent} does not exist; create it first")
    if not os.access(parent, os.W_OK):
        raise DataError(f"{option} {path}: folder {parent} is not writable")
    if path.is_dir():
        raise DataError(f"{option} {path} is a folder; give a file name")


def cmd_backtest(args: argparse.Namespace) -> int:
    from pydantic import ValidationError

    from models.aggregators import REFERENCE_RULES
    from models.backtest import (
        BacktestMethod,
        ModelMethod,
        aggregator_method,
        compare_methods,
        model_method,
        question_folds,
        run_reference_backtest,
    )
    from models.catalog import load_model_config
    from models.config import ModelConfig
    from models.exceptions import DataError, HelsinkiModelError
    from models.history import read_forecasts_csv

    names = args.methods or _backtest_methods()
    unknown = [m for m in names if m not in _backtest_methods()]
    if unknown:
        print(
            f"helsinki backtest: unknown methods {unknown}; known: "
            + ", ".join(_backtest_methods()),
            file=sys.stderr,
        )
        return 2
    names = list(dict.fromkeys(names))
    terminal = sys.stderr.isatty()
    # Fold lines go wherever stderr goes when asked for; the sampler's bar redraws itself
    # and would fill a log file, so it needs a terminal as well.
    show = terminal if args.progress is None else bool(args.progress)
    try:
        if args.plot:
            _check_writable(args.plot, "--plot")
        if args.predictions:
            _check_writable(args.predictions, "--predictions")
        table = read_forecasts_csv(args.file, skip_bad=args.skip_bad)
        if table.skipped:
            print(
                f"helsinki backtest: skipped {table.skipped} bad row(s) of {args.file}",
                file=sys.stderr,
            )
            for reason in table.skip_reasons:
                print(f"  {reason}", file=sys.stderr)
        resolved = table.resolved_question_ids()
        try:
            folds = question_folds(resolved, args.folds, args.seed)
        except DataError as exc:
            # Only resolved questions are split: say so, and what to change.
            hint = f"; try --folds {min(5, len(resolved))}" if len(resolved) >= 2 else ""
            raise DataError(
                f"{args.file}: {len(resolved)} of its {table.n_questions} questions have an "
                f"outcome (1 or 0) and can be scored; --folds {args.folds}: {exc}{hint}"
            ) from None

        config = load_model_config(args.model_config) if args.model_config else ModelConfig()
        overrides = {
            k: v
            for k, v in (("draws", args.draws), ("tune", args.tune), ("chains", args.chains))
            if v is not None
        }
        try:
            sampler = config.sampler.with_given(**overrides)
        except ValidationError as exc:
            err = exc.errors()[0]
            where = ".".join(str(x) for x in err["loc"]).removeprefix("large_data_")
            option = f"--{where}" if where in overrides else f"sampler.{where}"
            raise DataError(f"bad sampler setting {option}: {err['msg']}") from None
        model: ModelMethod | None = None
        methods: dict[str, BacktestMethod] = {}
        for name in names:
            if name == MODEL_METHOD:
                model = model_method(config, sampler, progress=show and terminal)
                methods[name] = _announce_folds(model, len(folds), enabled=show)
            else:
                methods[name] = aggregator_method(REFERENCE_RULES[name])
        _say(
            f"backtest of {args.file}: {len(resolved)} resolved questions, {len(folds)} folds, "
            f"methods {', '.join(names)}",
            enabled=show,
        )
        scores = run_reference_backtest(table, folds, methods=methods)
    except HelsinkiModelError as exc:
        print(f"helsinki backtest: {exc}", file=sys.stderr)
        return 2

    fits = [f.to_dict() for f in model.fits] if model is not None else []
    rows = [
        {
            "name": s.name,
            "brier": s.brier,
            "log_score": s.log_score,
            "ece": s.ece,
            "sharpness": s.sharpness,
            "n": s.n,
            "ece_expected": s.ece_expected,
            "calibration_p": s.calibration_p,
        }
        for s in scores
    ]
    comparisons = compare_methods(scores, MODEL_METHOD, args.seed) if model is not None else []
    if args.predictions:
        try:
            _write_predictions(scores, folds, args.predictions)
        except OSError as exc:
            print(f"helsinki backtest: cannot write {args.predictions}: {exc}", file=sys.stderr)
            return 2
    if args.plot:
        try:
            _plot_reliability(scores, args.plot)
        except OSError as exc:
            print(f"helsinki backtest: cannot write {args.plot}: {exc}", file=sys.stderr)
            return 2
    if args.json:
        out: dict[str, Any] = {
            "dataset": str(args.file),
            "questions": table.n_questions,
            "forecasts": table.n_forecasts,
            "forecasters": len(table.forecaster_ids),
            "folds": len(folds),
            "seed": args.seed,
            "resolved_questions": len(resolved),
            "skipped_rows": table.skipped,
            "sampler": sampler.model_dump() if model is not None else None,
            "methods": rows,
            "comparisons": [c.to_dict() for c in comparisons],
            "model_fits": fits,
        }
        if args.plot:
            out["plot"] = str(args.plot)
        if args.predictions:
            out["predictions"] = str(args.predictions)
        print(json.dumps(json_safe(out), indent=2))
        return 0

    print(
        f"backtest {args.file}: {table.n_questions} questions ({len(resolved)} resolved), "
        f"{table.n_forecasts} forecasts, {len(table.forecaster_ids)} forecasters; "
        f"{len(folds)} folds by question, seed {args.seed}"
    )
    print(
        "held-out scores of each forecaster's latest forecasts "
        "(lower is better, except sharpness; * best Brier; ece~: the ECE a calibrated "
        "forecaster\nissuing the same forecasts would have, cal p: chance of an ECE this "
        "large under calibration)"
    )
    print(
        f"  {'method':<20} {'brier':>8} {'log':>8} {'ece':>8} {'ece~':>8} {'cal p':>6}"
        f" {'sharp':>8} {'n':>6}"
    )
    best_brier = min(s.brier for s in scores)
    for s in scores:
        mark = "*" if s.brier == best_brier else " "
        print(
            f"{mark} {s.name:<20} {s.brier:8.4f} {s.log_score:8.4f} {s.ece:8.4f}"
            f" {s.ece_expected:8.4f} {s.calibration_p:6.3f} {s.sharpness:8.4f} {s.n:>6}"
        )
    n_scored = max((s.n for s in scores), default=0)
    if n_scored < FEW_SCORED_QUESTIONS:
        print(
            f"\nonly {n_scored} questions scored: below {FEW_SCORED_QUESTIONS}, ECE, calibration "
            "p and the intervals below say little; read them as anecdotes"
        )
    if comparisons:
        level = round(comparisons[0].to_dict()["level"] * 100)
        print(
            f"\nmodel minus each method (negative: the model is better), with {level}% "
            "bootstrap intervals over questions:"
        )
        print(f"  {'against':<20} {'brier':>28} {'log':>28} {'ece':>28}")
        for c in comparisons:
            cells = [
                f"{d.difference:+.4f} [{d.low:+.4f}, {d.high:+.4f}]"
                for d in (c.differences[k] for k in ("brier", "log_score", "ece"))
            ]
            print(f"  {c.against:<20} " + " ".join(f"{cell:>28}" for cell in cells))
    if fits:
        # Every fold fits all the forecasts (held-out questions' without outcomes), so the
        # folds are all at or all below the large-data threshold.
        if any(sampler.is_large(f["forecasts"]) for f in fits):
            settings = (
                f"chains {sampler.chains}, tune {sampler.large_data_tune}, draws "
                f"{sampler.large_data_draws}, target acceptance "
                f"{sampler.large_data_target_accept}: the settings of {sampler.large_data_forecasts:,}"
                " forecasts or more"
            )
        else:
            settings = f"chains {sampler.chains}, tune {sampler.tune}, draws {sampler.draws}"
        print(f"\nmodel fits ({settings}):")
        print(
            f"  {'fold':>4} {'train':>6} {'held':>5} {'R-hat':>6} {'ESS':>6} {'div':>4}"
            f" {'tries':>5} {'seconds':>8} {'topics (p)':>12}  publishable"
        )
        for f in fits:
            p = f["topic_p"]
            topics = ("on" if f["topic_effects"] else "off") + (
                " (-)" if p is None else f" ({p:.4f})"
            )
            print(
                f"  {f['fold'] + 1:>4} {f['train_questions']:>6} {f['heldout_questions']:>5}"
                f" {f['max_rhat']:6.3f} {f['min_ess_bulk']:6.0f} {f['divergences']:>4}"
                f" {f['attempts']:>5} {f['seconds']:8.1f} {topics:>12}  "
                + ("yes" if f["publishable"] else "NO: " + "; ".join(f["reasons"]))
            )
    if args.plot:
        print(f"\nreliability diagram saved to {args.plot}")
    if args.predictions:
        print(f"held-out predictions saved to {args.predictions}")
    return 0


def _write_predictions(scores: list[Any], folds: Sequence[Iterable[str]], path: Path) -> None:
    """One row per scored question: its fold (1-based), outcome and every method's forecast."""
    import csv

    fold_of = {q: k + 1 for k, fold in enumerate(folds) for q in fold}
    first = scores[0]
    with path.open("w", newline="", encoding="utf-8") as fh:
        writer = csv.writer(fh)
        writer.writerow(["question_id", "fold", "outcome", *(s.name for s in scores)])
        for i, q in enumerate(first.question_ids):
            writer.writerow(
                [
                    q,
                    fold_of[q],
                    int(first.outcome[i]),
                    *(repr(float(s.probability[i])) for s in scores),
                ]
            )


def _announce_folds(method: Any, n_folds: int, *, enabled: bool) -> Any:
    """Wrap the model's backtest method so that each fold's start and end are told on stderr,
    the end with its fit's attempts and publish checks (from ``method.fits``)."""
    import time

    calls = [0]

    def announced(train: Any, heldout: Any) -> Any:
        calls[0] += 1
        _say(
            f"fold {calls[0]}/{n_folds}: fitting the model on {train.n_questions} questions, "
            f"predicting {heldout.n_questions}",
            enabled=enabled,
        )
        started = time.perf_counter()
        p = method(train, heldout)
        fit = method.fits[-1]
        verdict = (
            "publishable" if fit.publishable else "NOT publishable (" + "; ".join(fit.reasons) + ")"
        )
        _say(
            f"fold {calls[0]}/{n_folds}: done in {time.perf_counter() - started:.1f} s, "
            f"{fit.attempts} attempt{'s' if fit.attempts != 1 else ''} (last sampled "
            f"{fit.sampling_seconds:.1f} s): {verdict}, max R-hat {fit.max_rhat:.4f}, "
            f"min bulk ESS {fit.min_ess_bulk:.0f}, {fit.divergences} divergences",
            enabled=enabled,
        )
        return p

    return announced


def _plot_reliability(scores: list[Any], path: Path) -> None:
    """Reliability diagram of the model and the best reference method by Brier score."""
    import math

    from models.plots import reliability_figure, render

    references = [s for s in scores if s.name != MODEL_METHOD and not math.isnan(s.brier)]
    shown = [s for s in scores if s.name == MODEL_METHOD]
    if references:
        shown.append(min(references, key=lambda s: s.brier))
    figure = reliability_figure(
        [(s.name, s.probability, s.outcome) for s in shown if s.n > 0],
        title="held-out reliability (numbers: questions per bin)",
    )
    path.write_bytes(render(figure, "png"))


# --- the service: serve, worker, keys (logic in service/serving.py) ---------------------


def _service_settings(args: argparse.Namespace, *, quiet: bool = False) -> Any:
    """The service's settings; logging at INFO (the service's commands), or at WARNING when
    ``quiet`` (the key commands, whose output is the key or the table: the database's
    migrations still run, without their progress lines)."""
    import logging

    from pydantic import ValidationError

    from service.settings import Settings

    logging.basicConfig(
        level=logging.WARNING if quiet else logging.INFO,
        format="%(asctime)s %(name)s %(levelname)s %(message)s",
    )
    overrides = {
        k: v
        for k, v in (("host", getattr(args, "host", None)), ("port", getattr(args, "port", None)))
        if v is not None
    }
    try:
        return Settings(**overrides)
    except ValidationError as exc:
        raise SystemExit(f"helsinki: bad settings: {exc.errors()[0]['msg']}") from None


def cmd_serve(args: argparse.Namespace) -> int:
    from service.serving import serve

    serve(_service_settings(args))
    return 0


def cmd_worker(args: argparse.Namespace) -> int:
    from service.serving import run_worker_alone

    run_worker_alone(_service_settings(args))
    return 0


def cmd_keys_create(args: argparse.Namespace) -> int:
    from service.serving import create_key

    key = create_key(_service_settings(args, quiet=True), args.role, args.name)
    print(f"created a {args.role} key for {args.name!r}; it is shown once, store it now:")
    print(key)
    return 0


def cmd_keys_list(args: argparse.Namespace) -> int:
    from service.serving import list_keys

    rows = list_keys(_service_settings(args, quiet=True))
    if not rows:
        print("no API keys yet; `helsinki keys create --role ROLE --name NAME` makes one")
        return 0
    print(f"{'id':>4}  {'role':<10} {'created (UTC)':<17} {'revoked (UTC)':<17} name")
    for k in rows:
        revoked = k.revoked_at.strftime("%Y-%m-%d %H:%M") if k.revoked_at else "-"
        print(
            f"{k.id:>4}  {k.role:<10} {k.created_at.strftime('%Y-%m-%d %H:%M'):<17}"
            f" {revoked:<17} {k.name}"
        )
    return 0


def cmd_keys_revoke(args: argparse.Namespace) -> int:
    from service.serving import revoke_key

    try:
        k = revoke_key(_service_settings(args, quiet=True), args.id)
    except LookupError as exc:
        print(f"helsinki keys revoke: {exc}", file=sys.stderr)
        return 2
    print(f"revoked key {k.id} ({k.role}, {k.name!r}) at {k.revoked_at:%Y-%m-%d %H:%M:%S} UTC")
    return 0


def cmd_import(args: argparse.Namespace) -> int:
    import json

    from models.exceptions import HelsinkiModelError
    from service.domain.imports import ImportConflict
    from service.serving import import_file

    settings = _service_settings(args, quiet=True)
    try:
        report = import_file(
            settings, args.file, prefix=args.prefix, skip_bad=args.skip_bad, dry_run=args.dry_run
        )
    except (HelsinkiModelError, ImportConflict) as exc:
        print(f"helsinki import: {exc}", file=sys.stderr)
        return 2
    if args.json:
        print(json.dumps(report.as_dict()))
        return 0
    verb = "would add" if report.dry_run else "added"
    print(
        f"{report.source}: {report.rows} forecasts read"
        + (f", {report.skipped_bad_rows} bad rows skipped" if report.skipped_bad_rows else "")
        + f"; {report.earlier_forecasts_dropped} earlier forecasts of the same forecaster on "
        "the same question left out (each forecaster's latest is kept)"
    )
    print(
        f"{verb} {report.questions_added} questions ({report.resolved_added} resolved) and "
        f"{report.elicitations_added} elicitations by {report.forecasters} forecasters; "
        f"already there: {report.questions_already_there} questions, "
        f"{report.elicitations_already_there} elicitations"
    )
    if report.refit_job_id is not None:
        print(f"queued refit job {report.refit_job_id}: the served forecasts learn from it then")
    return 0


def _add_service_commands(sub: Any) -> None:
    serve = sub.add_parser(
        "serve", help="migrate, load the catalog, run the API and the fit worker"
    )
    serve.add_argument("--host", help="bind address (default HELSINKI_HOST or 127.0.0.1)")
    serve.add_argument("--port", type=int, help="port (default HELSINKI_PORT or 8000)")
    serve.set_defaults(func=cmd_serve)
    worker = sub.add_parser("worker", help="run the fit worker alone")
    worker.set_defaults(func=cmd_worker)
    keys = sub.add_parser("keys", help="API keys")
    keys_sub = keys.add_subparsers(dest="keys_command", required=True)
    create = keys_sub.add_parser("create", help="create a key; prints it alone on the last line")
    create.add_argument("--role", required=True, choices=["reader", "forecaster", "admin"])
    create.add_argument("--name", required=True, help="who holds it (recorded with every write)")
    create.set_defaults(func=cmd_keys_create)
    listing = keys_sub.add_parser("list", help="every key: id, role, name, created, revoked")
    listing.set_defaults(func=cmd_keys_list)
    revoke = keys_sub.add_parser(
        "revoke", help="revoke a key by id (effective on its next request)"
    )
    revoke.add_argument("id", type=int, help="the key's id, from `helsinki keys list`")
    revoke.set_defaults(func=cmd_keys_revoke)
    imp = sub.add_parser(
        "import",
        help="load a forecasts CSV into the service's database (questions, each forecaster's "
        "latest forecast as an elicitation, outcomes) and queue a refit",
    )
    imp.add_argument("file", type=Path, help="forecasts CSV (format: docs/operations.md)")
    imp.add_argument(
        "--prefix", default="", help="put before every question id (a slug), e.g. gjp-y1"
    )
    imp.add_argument("--skip-bad", action="store_true", help="skip bad rows (counted)")
    imp.add_argument("--dry-run", action="store_true", help="check and count, write nothing")
    imp.add_argument("--json", action="store_true", help="print the report as one JSON object")
    imp.set_defaults(func=cmd_import)


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

    backtest = sub.add_parser(
        "backtest",
        help="cross-validate the model against the reference rules on a forecasts CSV",
    )
    backtest.add_argument("file", type=Path, metavar="FILE.csv", help="forecasts CSV")
    backtest.add_argument("--folds", type=int, default=5, help="folds by question (default 5)")
    backtest.add_argument(
        "--seed", type=_non_negative_int, default=0, help="seed of the folds (default 0)"
    )
    backtest.add_argument("--json", action="store_true", help="print one JSON object")
    backtest.add_argument("--plot", type=Path, help="save a reliability diagram (PNG) here")
    backtest.add_argument(
        "--predictions",
        type=Path,
        metavar="OUT.csv",
        help="save every scored question's held-out forecast by each method here",
    )
    backtest.add_argument(
        "--skip-bad", action="store_true", help="skip bad rows (and count them) instead of failing"
    )
    backtest.add_argument(
        "--methods",
        nargs="+",
        metavar="METHOD",
        help="methods to compare (default: every reference rule and the model)",
    )
    backtest.add_argument(
        "--model-config",
        type=Path,
        metavar="MODEL.yaml",
        help="hyperpriors and sampler settings (default: models.config.ModelConfig())",
    )
    backtest.add_argument("--draws", type=int, help="draws per chain (default: the model's)")
    backtest.add_argument("--tune", type=int, help="tuning steps per chain (default: the model's)")
    backtest.add_argument("--chains", type=int, help="chains (default: the model's)")
    backtest.add_argument(
        "--progress",
        action=argparse.BooleanOptionalAction,
        help="a line on stderr as each fold starts and ends, with its fit's checks (default: "
        "on when stderr is a terminal; --progress for a log file, --no-progress for none); "
        "the sampler's progress bar only ever on a terminal",
    )
    backtest.set_defaults(func=cmd_backtest)
    _add_service_commands(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    _configure_caches()
    args = build_parser().parse_args(argv)
    return int(args.func(args))


if __name__ == "__main__":
    raise SystemExit(main())
