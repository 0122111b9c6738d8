"""``helsinki backtest``: the model against the reference rules on simulated forecasters."""

from __future__ import annotations

import csv
import json
import math
from pathlib import Path

import numpy as np
import pytest

from models.backtest import ModelMethod, mask_outcomes, model_method
from models.config import SamplerSettings
from models.history import read_forecasts_csv, to_forecast_data
from service.cli import main

#: Small sampler settings: enough for stable posterior means, quick in a test.
QUICK = ["--chains", "2", "--draws", "300", "--tune", "300"]

#: Every key of the ``--json`` object, and of each method's row.
JSON_KEYS = {
    "dataset",
    "questions",
    "forecasts",
    "forecasters",
    "folds",
    "seed",
    "methods",
    "comparisons",
    "model_fits",
}
METHOD_KEYS = {
    "name",
    "brier",
    "log_score",
    "ece",
    "sharpness",
    "n",
    "ece_expected",
    "calibration_p",
}

#: Simulated forecasters: (discrimination alpha, bias beta, noise sigma) on the log-odds
#: scale, a forecast's log-odds being ``alpha * z + beta + N(0, sigma)`` for true log-odds z.
FORECASTERS = {
    "sharp": (1.0, 0.0, 0.3),
    "optimist": (1.0, 1.5, 0.4),  # says yes 1.5 log-odds too readily on everything
    "pessimist": (1.0, -0.8, 0.4),
    "timid-a": (0.5, 0.0, 0.3),  # under-confident: halves the log-odds
    "timid-b": (0.5, 0.3, 0.5),
    "noisy-a": (1.0, 0.0, 1.5),
    "noisy-b": (0.8, 0.5, 1.2),
    "decent": (0.9, -0.2, 0.6),
}


def write_simulated_csv(path: Path, n_questions: int = 60, seed: int = 7) -> Path:
    """Questions with true log-odds z ~ N(-1, 1.5^2), outcomes drawn from expit(z)."""
    rng = np.random.default_rng(seed)
    z = rng.normal(-1.0, 1.5, n_questions)
    outcome = (rng.random(n_questions) < 1.0 / (1.0 + np.exp(-z))).astype(int)
    with path.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["question_id", "forecaster_id", "probability", "outcome", "created_at"])
        for i in range(n_questions):
            for name, (alpha, beta, sigma) in FORECASTERS.items():
                x = alpha * z[i] + beta + rng.normal(0.0, sigma)
                p = 1.0 / (1.0 + math.exp(-x))
                writer.writerow([f"q{i:03d}", name, f"{p:.4f}", outcome[i], "2025-01-01T00:00:00Z"])
    return path


@pytest.fixture(scope="module")
def simulated_csv(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_simulated_csv(tmp_path_factory.mktemp("backtest") / "simulated.csv")


@pytest.fixture(scope="module")
def backtest_json(simulated_csv: Path, tmp_path_factory: pytest.TempPathFactory) -> dict:
    """One seeded backtest run, shared by the assertions below (sampling is the slow part)."""
    plot = tmp_path_factory.mktemp("plot") / "reliability.png"
    import contextlib
    import io

    predictions = plot.with_name("predictions.csv")
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        code = main(
            [
                "backtest",
                str(simulated_csv),
                "--json",
                "--plot",
                str(plot),
                "--predictions",
                str(predictions),
                *QUICK,
            ]
        )
    assert code == 0
    result = json.loads(out.getvalue())
    result["_plot_path"] = str(plot)
    result["_predictions_path"] = str(predictions)
    return result


def test_json_has_every_key(backtest_json: dict) -> None:
    assert JSON_KEYS <= set(backtest_json)
    assert backtest_json["questions"] == 60
    assert backtest_json["forecasters"] == len(FORECASTERS)
    assert backtest_json["forecasts"] == 60 * len(FORECASTERS)
    assert backtest_json["folds"] == 5
    assert backtest_json["seed"] == 0
    names = [m["name"] for m in backtest_json["methods"]]
    assert "model" in names and "mean" in names
    for row in backtest_json["methods"]:
        assert set(row) == METHOD_KEYS
        assert row["n"] == 60
    assert len(backtest_json["model_fits"]) == 5
    for fit in backtest_json["model_fits"]:
        assert set(fit) >= {"publishable", "divergences", "max_rhat", "seconds"}


def test_model_beats_the_mean_probability(backtest_json: dict) -> None:
    brier = {m["name"]: m["brier"] for m in backtest_json["methods"]}
    # The model learns the optimist's bias and the timid forecasters' under-confidence; the
    # plain mean of probabilities cannot.
    assert brier["model"] < brier["mean"]


def test_model_is_compared_with_every_rule(backtest_json: dict) -> None:
    rules = [m["name"] for m in backtest_json["methods"] if m["name"] != "model"]
    comparisons = backtest_json["comparisons"]
    assert [c["against"] for c in comparisons] == rules
    brier = {m["name"]: m["brier"] for m in backtest_json["methods"]}
    for c in comparisons:
        assert c["method"] == "model"
        for score in ("brier", "log_score", "ece"):
            cell = c[score]
            assert cell["low"] <= cell["high"] and 0.0 <= cell["share_better"] <= 1.0
        assert c["brier"]["difference"] == pytest.approx(brier["model"] - brier[c["against"]])
    # The mean of probabilities ignores the optimist's bias and the timid forecasters: the
    # model is better on most resamples of these 60 questions.
    (against_mean,) = [c for c in comparisons if c["against"] == "mean"]
    assert against_mean["brier"]["low"] < against_mean["brier"]["difference"] < 0
    assert against_mean["brier"]["share_better"] > 0.6  # 0.71 with these seeds; B - A gives 0.29


def test_predictions_file_holds_every_scored_question(backtest_json: dict) -> None:
    with open(backtest_json["_predictions_path"], newline="") as handle:
        rows = list(csv.DictReader(handle))
    names = [m["name"] for m in backtest_json["methods"]]
    assert list(rows[0]) == ["question_id", "fold", "outcome", *names]
    assert len(rows) == 60 and len({r["question_id"] for r in rows}) == 60
    assert {int(r["fold"]) for r in rows} == {1, 2, 3, 4, 5}
    # Scoring the file's columns gives the reported scores.
    y = np.array([float(r["outcome"]) for r in rows])
    for m in backtest_json["methods"]:
        p = np.array([float(r[m["name"]]) for r in rows])
        assert np.mean((p - y) ** 2) == pytest.approx(m["brier"], rel=1e-12)


def test_plot_writes_a_png(backtest_json: dict) -> None:
    png = Path(backtest_json["_plot_path"]).read_bytes()
    assert png[:8] == b"\x89PNG\r\n\x1a\n"


def test_text_output_lists_methods_and_fits(
    simulated_csv: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code = main(
        ["backtest", str(simulated_csv), "--folds", "2", "--methods", "mean", "model", *QUICK]
    )
    captured = capsys.readouterr()
    assert code == 0
    assert "mean" in captured.out and "model" in captured.out
    assert "model fits" in captured.out
    # stderr is not a terminal here: no progress unless asked for.
    assert "fold 1/2" not in captured.err and "backtest of" not in captured.err


def test_progress_on_request_tells_each_fold_and_its_fit(
    simulated_csv: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """``--progress`` writes the fold lines to a stderr that is not a terminal (a log file),
    each fold's end with its fit's checks, while stdout stays the report alone."""
    args = ["backtest", str(simulated_csv), "--folds", "2", "--methods", "mean", "model"]
    code = main([*args, "--json", "--progress", *QUICK])
    captured = capsys.readouterr()
    assert code == 0
    result = json.loads(captured.out)  # nothing but the JSON object on stdout
    lines = [line for line in captured.err.splitlines() if line.startswith("fold ")]
    assert len(lines) == 4, captured.err
    assert lines[0].startswith("fold 1/2: fitting the model on ")
    assert lines[2].startswith("fold 2/2: fitting the model on ")
    for line, fit in zip(lines[1::2], result["model_fits"], strict=True):
        assert f"{fit['attempts']} attempt" in line
        verdict = "publishable," if fit["publishable"] else "NOT publishable ("
        assert verdict in line
        assert f"max R-hat {fit['max_rhat']:.4f}" in line
        assert f"{fit['divergences']} divergences" in line
    assert captured.err.startswith("backtest of ")


@pytest.mark.parametrize(("flag", "shown"), [([], True), (["--no-progress"], False)])
def test_progress_follows_the_terminal_unless_told(
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    flag: list[str],
    shown: bool,
) -> None:
    import sys

    monkeypatch.setattr(sys.stderr, "isatty", lambda: True)
    path = _small_csv(tmp_path, 6)
    assert main(["backtest", str(path), "--folds", "2", "--methods", "mean", *flag]) == 0
    assert ("backtest of " in capsys.readouterr().err) is shown


def test_json_via_capsys(simulated_csv: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["backtest", str(simulated_csv), "--json", "--methods", "mean", "median"])
    assert code == 0
    result = json.loads(capsys.readouterr().out)
    assert JSON_KEYS <= set(result)
    assert result["model_fits"] == []
    assert [m["name"] for m in result["methods"]] == ["mean", "median"]


def test_malformed_csv_exits_2_naming_the_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    bad = tmp_path / "bad.csv"
    bad.write_text(
        "question_id,forecaster_id,probability,outcome,created_at\n"
        "q1,a,0.2,0,2025-01-01T00:00:00Z\n"
        "q1,b,1.7,0,2025-01-01T00:00:00Z\n"
        "q2,a,0.6,1,2025-01-01T00:00:00Z\n"
    )
    code = main(["backtest", str(bad), "--methods", "mean"])
    err = capsys.readouterr().err
    assert code == 2
    assert "line 3" in err and "probability" in err


def test_skip_bad_skips_and_counts(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    rows = ["question_id,forecaster_id,probability,outcome,created_at"]
    rows += [f"q{i},a,0.{i % 9 + 1},{i % 2},2025-01-01T00:00:00Z" for i in range(6)]
    rows.insert(3, "q9,a,not-a-number,1,2025-01-01T00:00:00Z")
    path = tmp_path / "some-bad.csv"
    path.write_text("\n".join(rows) + "\n")
    code = main(["backtest", str(path), "--skip-bad", "--folds", "2", "--methods", "mean"])
    captured = capsys.readouterr()
    assert code == 0
    assert "skipped 1 bad row" in captured.err


def _small_csv(tmp_path: Path, resolved: int, unresolved: int = 0) -> Path:
    rows = ["question_id,forecaster_id,probability,outcome,created_at"]
    rows += [f"q{i},a,0.{i % 9 + 1},{i % 2},2025-01-01T00:00:00Z" for i in range(resolved)]
    rows += [f"u{i},a,0.5,,2025-01-01T00:00:00Z" for i in range(unresolved)]
    path = tmp_path / f"small-{resolved}-{unresolved}.csv"
    path.write_text("\n".join(rows) + "\n")
    return path


@pytest.mark.parametrize(
    ("resolved", "unresolved", "args", "said"),
    [
        (0, 3, [], "0 of its 3 questions have an outcome"),
        (1, 0, [], "a backtest needs at least 2"),
        (3, 1, [], "--folds 5: 5 folds of 3 questions: give between 2 and 3 folds"),
        (3, 0, ["--folds", "1"], "between 2 and 3 folds; try --folds 3"),
    ],
)
def test_too_few_resolved_questions_for_the_folds_says_what_to_do(
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    resolved: int,
    unresolved: int,
    args: list[str],
    said: str,
) -> None:
    path = _small_csv(tmp_path, resolved, unresolved)
    assert main(["backtest", str(path), "--methods", "mean", *args]) == 2
    err = capsys.readouterr().err
    assert said in err and str(path) in err


def test_a_negative_seed_is_a_usage_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as info:
        main(["backtest", str(_small_csv(tmp_path, 4)), "--seed", "-1"])
    assert info.value.code == 2
    assert "-1 is negative" in capsys.readouterr().err


@pytest.mark.parametrize("option", ["--draws", "--tune", "--chains"])
def test_a_bad_sampler_option_is_named(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], option: str
) -> None:
    path = _small_csv(tmp_path, 4)
    assert main(["backtest", str(path), "--folds", "2", option, "0"]) == 2
    assert f"bad sampler setting {option}:" in capsys.readouterr().err


@pytest.mark.parametrize("option", ["--plot", "--predictions"])
def test_an_output_that_cannot_be_written_fails_before_the_backtest(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], option: str
) -> None:
    path = _small_csv(tmp_path, 4)
    target = tmp_path / "no-such-folder" / "out.file"
    # The model would take a while; the check comes before any of it.
    assert main(["backtest", str(path), "--folds", "2", option, str(target)]) == 2
    err = capsys.readouterr().err
    assert f"{option} {target}" in err and "does not exist" in err
    assert "model fits" not in err


def test_few_scored_questions_are_flagged_in_the_text_report(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = _small_csv(tmp_path, 6)
    assert main(["backtest", str(path), "--folds", "2", "--methods", "mean", "median"]) == 0
    assert "only 6 questions scored" in capsys.readouterr().out


def test_unknown_method_exits_2(simulated_csv: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["backtest", str(simulated_csv), "--methods", "oracle"]) == 2
    assert "oracle" in capsys.readouterr().err


def test_heldout_outcomes_never_reach_the_model(simulated_csv: Path) -> None:
    table = read_forecasts_csv(simulated_csv)
    heldout_ids = list(table.question_ids[:10])
    masked = mask_outcomes(table, heldout_ids)
    heldout = masked.select_questions(heldout_ids)
    # NaN outcomes give no Resolution, with or without include_outcomes_for.
    assert to_forecast_data(heldout).resolutions == ()
    train = masked.select_questions(table.question_ids[10:])
    method = model_method(sampler=SamplerSettings(chains=2, tune=100, draws=100, retries=0))
    assert isinstance(method, ModelMethod)
    p = method(train, heldout)
    assert p.shape == (10,) and np.all((p > 0) & (p < 1))
    assert len(method.fits) == 1
    assert method.fits[0].heldout_questions == 10
    assert method.fits[0].train_questions == 50


def test_large_data_settings_hold_unless_tune_or_draws_are_given(
    simulated_csv: Path,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    sampled_settings: list[tuple[int, int, float]],
) -> None:
    """A fold at or above ``large_data_forecasts`` samples with the large-data tuning, draws
    and target; a --tune or --draws on the command line holds at every size."""
    model_yaml = (Path(__file__).parents[2] / "priors" / "model.yaml").read_text()
    for old, new in (
        ("large_data_forecasts: 20000", "large_data_forecasts: 1"),
        ("large_data_tune: 500", "large_data_tune: 60"),
        ("large_data_draws: 500", "large_data_draws: 70"),
        ("retries: 2", "retries: 0"),
    ):
        assert old in model_yaml, old
        model_yaml = model_yaml.replace(old, new)
    config = tmp_path / "model.yaml"
    config.write_text(model_yaml)
    calls = sampled_settings
    args = ["backtest", str(simulated_csv), "--folds", "2", "--methods", "mean", "model"]
    args += ["--model-config", str(config), "--chains", "2"]
    assert main(args) == 0
    assert calls == [(60, 70, 0.9)] * 2
    out = capsys.readouterr().out
    assert "tune 60, draws 70, target acceptance 0.9: the settings of 1 forecasts or more" in out
    calls.clear()
    assert main([*args, "--tune", "80", "--draws", "90"]) == 0
    assert calls == [(80, 90, 0.9)] * 2
    assert "tune 80, draws 90, target acceptance 0.9" in capsys.readouterr().out
