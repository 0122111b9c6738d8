"""The analyst plots: each renders to a decodable PNG and a parseable SVG whose text says
what the plot claims (interval numbers, labels, verdicts), from a real (tiny) fit."""

from __future__ import annotations

import dataclasses
import io
import xml.etree.ElementTree as ET
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pytest
import xarray as xr
from matplotlib.figure import Figure
from scipy.special import logit

from models.catalog import load_catalog
from models.config import HalfNormalPrior, ModelConfig, PublishCriteria, QuestionPriors
from models.config import SamplerSettings as Sampler
from models.dataset import Forecast
from models.exceptions import DataError
from models.forecast_model import ForecastModel, Posterior
from models.plots import (
    ForestRow,
    _fmt_p,
    diagnostics_figure,
    forecasters_figure,
    forest_figure,
    history_figure,
    posterior_figure,
    prior_probability_draws,
    reliability_figure,
    render,
)
from models.scoring import brier, expected_calibration_error, reliability_table

TINY_PRIORS = Path(__file__).resolve().parents[1] / "service" / "tiny_priors"
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
T0 = datetime(2026, 1, 1, tzinfo=UTC)


# --- helpers --------------------------------------------------------------------------


def png_pixels(fig: Figure) -> np.ndarray:
    """Render to PNG, check the signature, decode, and check the image is not blank."""
    from matplotlib.image import imread

    data = render(fig, "png")
    assert data[:8] == PNG_SIGNATURE
    pixels = imread(io.BytesIO(data), format="png")
    height, width = pixels.shape[:2]
    assert 200 <= height <= 4000 and 300 <= width <= 4000, pixels.shape
    rgb = pixels[..., :3]
    ink = np.any(rgb < 0.9, axis=-1).mean()  # share of pixels that are not (near) white
    assert 0.01 < ink < 0.9, ink
    return pixels


def svg_text(fig: Figure) -> str:
    """Render to SVG, parse it, and return all its text (one ``<text>`` per line)."""
    data = render(fig, "svg")
    root = ET.fromstring(data)
    assert root.tag.endswith("svg")
    texts = ["".join(el.itertext()) for el in root.iter() if el.tag.endswith("text")]
    assert texts, "no <text> elements: was svg.fonttype 'none'?"
    return "\n".join(texts)


# --- a real fit, once per module ------------------------------------------------------


@pytest.fixture(scope="module")
def posterior() -> Posterior:
    """The tiny catalog (one forecaster, three questions) plus three more forecasters, fit
    with 2 chains x 300 draws and publish criteria relaxed to what that can meet."""
    catalog = load_catalog(TINY_PRIORS)
    config = catalog.model_config.model_copy(
        update={
            "publish": PublishCriteria(max_rhat=1.5, min_ess_bulk=10, max_divergences=1_000_000)
        }
    )
    data = catalog.to_forecast_data()
    extra = tuple(
        Forecast.from_probability(q.id, name, 0.15 + 0.1 * i + 0.05 * j, T0 + timedelta(days=2 + i))
        for i, name in enumerate(("ana", "ben", "cleo"))
        for j, q in enumerate(data.questions)
    )
    data = data.with_records(forecasts=extra)
    sampler = Sampler(chains=2, tune=300, draws=300, seed=1, retries=0)
    return ForecastModel(config).fit(data, sampler=sampler)


@pytest.fixture(scope="module")
def updated(posterior: Posterior) -> Posterior:
    """An instant update: importance weights on the draws."""
    q = posterior.question_ids[0]
    upd = posterior.with_forecast(Forecast.from_probability(q, "ana", 0.7, T0 + timedelta(days=30)))
    assert upd.log_weights is not None
    return upd


# --- prior ----------------------------------------------------------------------------


def test_prior_draws_are_seeded_probabilities() -> None:
    config = ModelConfig()
    a = prior_probability_draws(config, n=1000, seed=3)
    assert a.shape == (1000,)
    assert np.all((a > 0) & (a < 1))
    np.testing.assert_array_equal(a, prior_probability_draws(config, n=1000, seed=3))
    assert not np.array_equal(a, prior_probability_draws(config, n=1000, seed=4))
    with pytest.raises(DataError):
        prior_probability_draws(config, n=0)


@pytest.mark.parametrize(
    "question",
    [
        QuestionPriors(),  # the question deviation dominates
        # A group offset only: a hierarchy without it would have variance 0.25, not 4.25.
        QuestionPriors(
            group_sd=HalfNormalPrior(sigma=2.0), question_sd=HalfNormalPrior(sigma=0.01)
        ),
    ],
    ids=["default", "group-dominated"],
)
def test_prior_log_odds_have_the_hierarchy_moments(question: QuestionPriors) -> None:
    # theta = mu + s_g z_g + s_q z_q with mu ~ N(m, a), s ~ HalfNormal: E[s^2] = sigma^2,
    # E[s^4] = 3 sigma^4. So var = a + b + c and, being a scale mixture, the 4th central
    # moment is 3a^2 + 9b^2 + 9c^2 + 6(ab + ac + bc): a plain normal of the same variance
    # (no half-normal scales) has 3(a + b + c)^2 instead.
    config = ModelConfig(question=question)
    theta = logit(prior_probability_draws(config, n=400_000, seed=11))
    m = question.base_logit.mu
    a, b, c = (
        question.base_logit.sigma**2,
        question.group_sd.sigma**2,
        question.question_sd.sigma**2,
    )
    assert np.mean(theta) == pytest.approx(m, abs=0.02)
    assert np.median(theta) == pytest.approx(m, abs=0.02)
    assert np.var(theta) == pytest.approx(a + b + c, rel=0.03)
    fourth = 3 * a**2 + 9 * b**2 + 9 * c**2 + 6 * (a * b + a * c + b * c)
    assert np.mean((theta - m) ** 4) == pytest.approx(fourth, rel=0.08)


# --- posterior ------------------------------------------------------------------------


def test_posterior_figure_prints_the_served_interval_and_mean(posterior: Posterior) -> None:
    q = posterior.question_ids[1]
    draws = posterior.probability_draws([q])[:, 0]
    prior = prior_probability_draws(posterior.config)
    served = posterior.predict([q])[0]
    lo, hi = served.interval
    assert 0.01 < lo < hi < 0.99  # two-decimal formatting below
    text = svg_text(posterior_figure(draws, None, prior, title="Will there be a summit?"))
    assert "Will there be a summit?" in text
    assert f"90% interval {lo:.2f} – {hi:.2f}" in text
    assert f"mean {served.probability:.2f}" in text
    assert "prior" in text and "P(yes)" in text
    png_pixels(posterior_figure(draws, None, prior, title="x"))


def test_posterior_figure_uses_the_importance_weights(posterior: Posterior) -> None:
    q = posterior.question_ids[0]
    # A newcomer's forecast: the weights carry all of it (a known forecaster's new forecast
    # also redraws the question, and can leave the plain and weighted means alike).
    updated = posterior.with_forecast(
        Forecast.from_probability(q, "dora", 0.95, T0 + timedelta(days=30))
    )
    assert updated.log_weights is not None
    draws = updated.probability_draws([q])[:, 0]
    served = updated.predict([q])[0]
    plain_mean = float(np.mean(draws))
    assert f"{plain_mean:.2f}" != f"{served.probability:.2f}"  # the test can tell them apart
    fig = posterior_figure(
        draws, updated.weights, prior_probability_draws(updated.config), title="weighted"
    )
    text = svg_text(fig)
    assert f"mean {served.probability:.2f}" in text
    lo, hi = served.interval
    # Two decimals, three near 0 and 1 (as models.plots._fmt_p writes them).
    assert f"90% interval {_fmt_p(lo)} – {_fmt_p(hi)}" in text
    assert "importance-weighted" in text


def test_posterior_figure_other_interval_and_degenerate_draws() -> None:
    prior = prior_probability_draws(ModelConfig(), n=2000)
    rng = np.random.default_rng(0)
    draws = rng.beta(20, 60, 3000)
    text = svg_text(posterior_figure(draws, None, prior, title="t", interval_prob=0.5))
    lo, hi = np.quantile(draws, [0.25, 0.75])
    assert f"50% interval {lo:.2f} – {hi:.2f}" in text
    # Every draw the same value: no density to estimate, still a figure.
    png_pixels(posterior_figure(np.full(100, 0.3), None, prior, title="spike"))
    with pytest.raises(DataError):
        posterior_figure(draws, np.ones(5), prior, title="bad weights")
    with pytest.raises(DataError):
        posterior_figure(draws + 1.0, None, prior, title="not probabilities")


# --- history --------------------------------------------------------------------------


@pytest.mark.parametrize("n_events", [0, 3, 12, 15])
def test_history_figure_marks_and_lists_every_event(n_events: int) -> None:
    times = [T0 + timedelta(days=2 * i) for i in range(10)]
    p = np.linspace(0.2, 0.6, 10)
    events = [
        (T0 + timedelta(days=1.5 * i, hours=3), f"Event {i} summit (LR {1 + i / 4:.2f})")
        for i in range(n_events)
    ]
    text = svg_text(history_figure(times, p, p - 0.1, p + 0.1, events, title="History"))
    assert "History" in text
    for i, (_, label) in enumerate(events):
        assert label in text
        assert f"\n{i + 1}\n" in f"\n{text}\n"  # its number, on the time axis
    assert ("evidence" in text) == bool(events)
    png_pixels(history_figure(times, p, p - 0.1, p + 0.1, events, title="History"))


def test_history_figure_with_a_single_point() -> None:
    png_pixels(history_figure([T0], [0.3], [0.2], [0.45], [], title="one"))
    text = svg_text(
        history_figure([T0], [0.3], [0.2], [0.45], [(T0, "EU summit (LR 2.0)")], title="one")
    )
    assert "EU summit (LR 2.0)" in text


def test_history_figure_refuses_ragged_input() -> None:
    with pytest.raises(DataError):
        history_figure([T0, T0], [0.3], [0.2], [0.4], [], title="x")
    with pytest.raises(DataError):
        history_figure([], [], [], [], [], title="x")


# --- forest ---------------------------------------------------------------------------


def forest_rows(n: int) -> list[ForestRow]:
    groups = ("settlement", "belarus", "energy")
    return [
        ForestRow(
            f"Question {i:02d}", groups[i % 3], 0.1 + 0.8 * i / n, 0.05 * i / n, 0.3 + 0.7 * i / n
        )
        for i in range(n)
    ]


def test_forest_figure_has_one_row_per_question_under_its_group() -> None:
    rows = forest_rows(7)
    text = svg_text(forest_figure(rows))
    lines = text.split("\n")
    for r in rows:
        assert lines.count(r.label) == 1
        assert f"{r.probability:.2f}  [" in text
    for group in ("settlement", "belarus", "energy"):
        assert lines.count(group) == 1
    assert sum(line.count("  [") for line in lines) == len(rows)


def test_forest_figure_grows_with_the_rows() -> None:
    small = png_pixels(forest_figure(forest_rows(3)))
    large = png_pixels(forest_figure(forest_rows(40)))
    assert large.shape[0] > 3 * small.shape[0] / 2
    assert "no open questions" in svg_text(forest_figure([]))
    with pytest.raises(DataError):
        forest_figure([ForestRow("q", "g", 1.2, 0.1, 0.9)])


# --- forecasters ----------------------------------------------------------------------


def test_forecasters_figure_shows_every_forecaster_with_its_count(posterior: Posterior) -> None:
    post = posterior.posterior["posterior"]
    assert {"alpha", "beta", "sigma"} <= set(post.data_vars)
    assert "forecaster" in post["alpha"].dims
    text = svg_text(forecasters_figure(posterior))
    for label in ("tester (2)", "ana (3)", "ben (3)", "cleo (3)"):
        assert label in text
    assert "discrimination" in text and "bias" in text and "noise" in text
    assert "most forecasts" not in text
    png_pixels(forecasters_figure(posterior))


def test_forecasters_figure_keeps_those_with_most_forecasts(posterior: Posterior) -> None:
    text = svg_text(forecasters_figure(posterior, max_forecasters=2))
    assert "the 2 with most forecasts, of 4" in text
    assert "ana (3)" in text and "ben (3)" in text
    assert "tester" not in text and "cleo" not in text


def test_forecasters_figure_of_an_instant_update(updated: Posterior) -> None:
    text = svg_text(forecasters_figure(updated))
    assert "ana (4)" in text  # the new forecast counts
    assert "importance-weighted" in text


def test_forecasters_figure_needs_the_forecaster_variables(posterior: Posterior) -> None:
    post = posterior.posterior["posterior"].to_dataset().drop_vars("sigma")
    tree = xr.DataTree.from_dict({"posterior": post})
    with pytest.raises(DataError, match="sigma"):
        forecasters_figure(dataclasses.replace(posterior, posterior=tree))


# --- diagnostics ----------------------------------------------------------------------


def test_diagnostics_figure_of_a_publishable_fit(posterior: Posterior) -> None:
    assert {"posterior", "sample_stats"} <= set(posterior.posterior.children)
    text = svg_text(diagnostics_figure(posterior.posterior, posterior.diagnostics))
    assert "publishable" in text and "NOT publishable" not in text
    for name in ("alpha_bar", "beta_mu", "log_sigma_mu", "mu_global", "w[rumour]"):
        assert name in text
    assert "BFMI" in text and "marginal" in text
    assert f"{posterior.diagnostics.max_rhat:.3f}" in text
    png_pixels(diagnostics_figure(posterior.posterior, posterior.diagnostics))


def test_diagnostics_figure_of_a_rejected_fit(posterior: Posterior) -> None:
    rejected = dataclasses.replace(
        posterior.diagnostics,
        publishable=False,
        divergences=12,
        reasons=("max R-hat 1.043 > 1.01", "12 divergent transitions > 0"),
    )
    text = svg_text(diagnostics_figure(posterior.posterior, rejected))
    assert "NOT publishable" in text
    assert "max R-hat 1.043 > 1.01" in text and "12 divergent transitions > 0" in text
    # One chain (R-hat impossible): no rank plots, and the figure says why.
    one_chain = posterior.posterior.isel(chain=[0])
    single = dataclasses.replace(rejected, reasons=("R-hat needs at least two chains",))
    text = svg_text(diagnostics_figure(one_chain, single))
    assert "at least two chains" in text
    png_pixels(diagnostics_figure(one_chain, single))


# --- reliability ----------------------------------------------------------------------


def test_reliability_figure_reports_scores_and_counts() -> None:
    rng = np.random.default_rng(5)
    truth = rng.random(200)
    y = (rng.random(200) < truth).astype(float)
    model = np.clip(truth + rng.normal(0, 0.05, 200), 0, 1)
    mean = 0.5 + 0.5 * (truth - 0.5)
    text = svg_text(
        reliability_figure(
            [("model", model, y), ("mean", mean, y), ("none", np.array([]), np.array([]))]
        )
    )
    for name, p in (("model", model), ("mean", mean)):
        assert (
            f"{name} (Brier {brier(p, y):.4f}, ECE {expected_calibration_error(p, y):.3f}" in text
        )
    counts = reliability_table(model, y).count
    lines = text.split("\n")
    for c in counts[counts > 0]:
        assert str(int(c)) in lines
    assert "none (no resolved forecasts)" in text
    png_pixels(reliability_figure([("model", model, y)], bins=5))


# --- render ---------------------------------------------------------------------------


def test_render_is_deterministic_and_closes_pyplot_figures() -> None:
    import matplotlib.pyplot as plt

    assert render(forest_figure(forest_rows(5)), "svg") == render(
        forest_figure(forest_rows(5)), "svg"
    )
    fig = plt.figure()
    fig.add_subplot().plot([0, 1], [0, 1])
    assert fig.number in plt.get_fignums()
    assert render(fig, "png")[:8] == PNG_SIGNATURE
    assert fig.number not in plt.get_fignums()
    with pytest.raises(ValueError, match="png"):
        render(forest_figure(forest_rows(2)), "jpeg")  # type: ignore[arg-type]
