"""Elicitation fits checked against scipy.stats as the reference (as preliz tests its fits)."""

from __future__ import annotations

import json
import math
from dataclasses import FrozenInstanceError

import numpy as np
import pytest
from scipy import integrate, special, stats

from models.elicitation import (
    ALLOWED_LEVELS,
    ElicitationFit,
    fit_probability,
    fit_quantiles,
    linear_pool,
    logarithmic_pool,
)
from models.exceptions import DataError

LEVEL_SETS = {
    "all-seven": ALLOWED_LEVELS,
    "5-50-95": (0.05, 0.5, 0.95),
    "quartiles": (0.25, 0.5, 0.75),
    "asymmetric": (0.1, 0.25, 0.9),
}
LOGITNORMALS = [(0.0, 1.0), (-2.0, 0.5), (1.5, 2.0), (-4.0, 0.3), (3.0, 1.2)]
BETAS = [(2.0, 5.0), (0.8, 3.0), (10.0, 10.0), (30.0, 4.0), (0.5, 0.5), (200.0, 800.0)]
REPORTED = {0.05, 0.5, 0.95}


def logitnormal_quantiles(mu: float, sd: float, levels: tuple[float, ...]) -> dict[float, float]:
    return {lv: float(special.expit(stats.norm.ppf(lv, loc=mu, scale=sd))) for lv in levels}


def beta_quantiles(a: float, b: float, levels: tuple[float, ...]) -> dict[float, float]:
    return {lv: float(stats.beta.ppf(lv, a, b)) for lv in levels}


def beta_sse(a: float, b: float, targets: dict[float, float]) -> float:
    levels = list(targets)
    return float(np.sum((stats.beta.ppf(levels, a, b) - np.array(list(targets.values()))) ** 2))


def logitnormal_mean(mu: float, sd: float) -> float:
    value, _ = integrate.quad(
        lambda x: special.expit(x) * stats.norm.pdf(x, loc=mu, scale=sd),
        mu - 40 * sd,
        mu + 40 * sd,
        epsabs=1e-14,
        epsrel=1e-12,
        limit=200,
    )
    return value


# --- recovery of known parameters ---------------------------------------------------------


@pytest.mark.parametrize("levels", LEVEL_SETS.values(), ids=LEVEL_SETS.keys())
@pytest.mark.parametrize(("mu", "sd"), LOGITNORMALS)
def test_logitnormal_parameters_recovered_from_exact_quantiles(mu, sd, levels):
    fit = fit_quantiles(logitnormal_quantiles(mu, sd, levels))

    assert fit.logit_mean == pytest.approx(mu, rel=1e-6, abs=1e-9)
    assert fit.logit_sd == pytest.approx(sd, rel=1e-6)
    assert fit.error_logitnormal < 1e-10
    assert fit.median == pytest.approx(special.expit(mu), rel=1e-9)


@pytest.mark.parametrize("levels", LEVEL_SETS.values(), ids=LEVEL_SETS.keys())
@pytest.mark.parametrize(("mu", "sd"), LOGITNORMALS)
def test_fitted_logitnormal_quantiles_are_scipy_ppf_at_fitted_parameters(mu, sd, levels):
    stated = logitnormal_quantiles(mu, sd, levels)
    fit = fit_quantiles(stated)

    assert set(fit.fitted_logitnormal) == set(levels) | REPORTED
    assert list(fit.fitted_logitnormal) == sorted(fit.fitted_logitnormal)
    for level, value in fit.fitted_logitnormal.items():
        expected = special.expit(stats.norm.ppf(level, loc=fit.logit_mean, scale=fit.logit_sd))
        assert value == pytest.approx(expected, rel=1e-12)
    assert fit.stated == stated


@pytest.mark.parametrize("levels", LEVEL_SETS.values(), ids=LEVEL_SETS.keys())
@pytest.mark.parametrize(("a", "b"), BETAS)
def test_beta_parameters_recovered_from_exact_quantiles(a, b, levels):
    fit = fit_quantiles(beta_quantiles(a, b, levels))

    assert fit.beta_a == pytest.approx(a, rel=1e-3)
    assert fit.beta_b == pytest.approx(b, rel=1e-3)
    assert fit.error_beta is not None
    assert fit.error_beta < 1e-8


@pytest.mark.parametrize("levels", LEVEL_SETS.values(), ids=LEVEL_SETS.keys())
@pytest.mark.parametrize(("a", "b"), BETAS)
def test_fitted_beta_quantiles_are_scipy_ppf_at_fitted_parameters(a, b, levels):
    fit = fit_quantiles(beta_quantiles(a, b, levels))

    assert fit.fitted_beta is not None
    assert set(fit.fitted_beta) == set(levels) | REPORTED
    for level, value in fit.fitted_beta.items():
        assert value == pytest.approx(stats.beta.ppf(level, fit.beta_a, fit.beta_b), rel=1e-9)


@pytest.mark.parametrize(("a", "b"), BETAS)
def test_logitnormal_fit_to_beta_quantiles_is_the_least_squares_line_on_the_logit_scale(a, b):
    stated = beta_quantiles(a, b, ALLOWED_LEVELS)
    fit = fit_quantiles(stated)

    z = stats.norm.ppf(list(stated))
    slope, intercept = np.polyfit(z, special.logit(list(stated.values())), 1)
    assert fit.logit_sd == pytest.approx(slope, rel=1e-9)
    assert fit.logit_mean == pytest.approx(intercept, rel=1e-9, abs=1e-12)
    fitted = np.array([fit.fitted_logitnormal[lv] for lv in stated])
    expected_error = math.sqrt(np.mean((fitted - np.array(list(stated.values()))) ** 2))
    assert fit.error_logitnormal == pytest.approx(expected_error, rel=1e-9)


@pytest.mark.parametrize(("mu", "sd"), LOGITNORMALS)
def test_beta_fit_to_logitnormal_quantiles_is_a_least_squares_minimum(mu, sd):
    stated = logitnormal_quantiles(mu, sd, ALLOWED_LEVELS)
    fit = fit_quantiles(stated)
    assert fit.beta_a is not None
    assert fit.beta_b is not None

    best = beta_sse(fit.beta_a, fit.beta_b, stated)
    assert fit.error_beta == pytest.approx(math.sqrt(best / len(stated)), rel=1e-9)
    for da, db in [(1, 0), (-1, 0), (0, 1), (0, -1), (1, 1), (-1, -1), (1, -1), (-1, 1)]:
        step = 1e-3
        neighbour = beta_sse(
            fit.beta_a * math.exp(da * step), fit.beta_b * math.exp(db * step), stated
        )
        assert neighbour >= best * (1 - 1e-9)


@pytest.mark.parametrize(("mu", "sd"), [*LOGITNORMALS, (0.5, 4.0)])
def test_probability_is_the_logitnormal_mean(mu, sd):
    fit = fit_quantiles(logitnormal_quantiles(mu, sd, (0.1, 0.5, 0.9)))

    assert fit.probability == pytest.approx(logitnormal_mean(mu, sd), rel=1e-8)


def test_error_is_clearly_positive_for_inconsistent_quantiles():
    # Fat flat tails around a sharp centre: neither family has this shape.
    stated = {0.05: 0.10, 0.25: 0.12, 0.5: 0.5, 0.75: 0.88, 0.95: 0.90}
    fit = fit_quantiles(stated)

    assert fit.error_logitnormal > 0.02
    assert fit.error_beta is not None
    assert fit.error_beta > 0.02


def test_beta_error_is_positive_when_logitnormal_is_exact_and_vice_versa():
    lognormal_fit = fit_quantiles(logitnormal_quantiles(-3.0, 1.5, ALLOWED_LEVELS))
    beta_fit = fit_quantiles(beta_quantiles(0.5, 0.5, ALLOWED_LEVELS))

    assert lognormal_fit.error_logitnormal < 1e-10
    assert lognormal_fit.error_beta is not None
    assert lognormal_fit.error_beta > 1e-3
    assert beta_fit.error_beta is not None
    assert beta_fit.error_beta < 1e-8
    assert beta_fit.error_logitnormal > 1e-2


def test_levels_given_as_strings_from_json_fit_the_same():
    stated = logitnormal_quantiles(-1.0, 0.8, (0.1, 0.5, 0.9))
    as_strings = {"0.10": stated[0.1], "0.5": stated[0.5], " 0.9 ": stated[0.9]}

    assert fit_quantiles(as_strings) == fit_quantiles(stated)


def test_levels_out_of_order_are_sorted():
    stated = logitnormal_quantiles(0.3, 0.7, (0.05, 0.5, 0.95))
    reversed_input = dict(reversed(list(stated.items())))

    fit = fit_quantiles(reversed_input)
    assert list(fit.stated) == [0.05, 0.5, 0.95]
    assert fit == fit_quantiles(stated)


# --- a probability with a confidence --------------------------------------------------------


@pytest.mark.parametrize("p", [0.02, 0.3, 0.5, 0.9])
def test_probability_without_confidence_is_a_point_statement(p):
    fit = fit_probability(p)

    assert fit.logit_mean == pytest.approx(special.logit(p), rel=1e-12)
    assert fit.logit_sd == 0.0
    assert fit.beta_a is None
    assert fit.beta_b is None
    assert fit.fitted_beta is None
    assert fit.error_beta is None
    assert fit.confidence is None
    assert fit.stated == {0.5: p}
    assert fit.fitted_logitnormal == pytest.approx({0.05: p, 0.5: p, 0.95: p}, rel=1e-12)
    assert fit.probability == pytest.approx(p, rel=1e-12)
    assert fit.median == pytest.approx(p, rel=1e-12)
    assert fit.error_logitnormal < 1e-12


@pytest.mark.parametrize("c", [0.1, 0.5, 0.8, 0.95, 0.99])
@pytest.mark.parametrize("p", [0.05, 0.3, 0.7])
def test_confidence_is_the_mass_within_a_factor_two_in_odds(p, c):
    fit = fit_probability(p, c)

    odds = p / (1 - p)
    low, high = (odds / 2) / (1 + odds / 2), (2 * odds) / (1 + 2 * odds)
    dist = stats.norm(loc=fit.logit_mean, scale=fit.logit_sd)
    mass = dist.cdf(special.logit(high)) - dist.cdf(special.logit(low))
    assert mass == pytest.approx(c, rel=1e-9)
    assert fit.logit_sd == pytest.approx(math.log(2) / stats.norm.ppf((1 + c) / 2), rel=1e-12)
    assert fit.median == pytest.approx(p, rel=1e-12)
    assert fit.confidence == c


def test_higher_confidence_means_a_narrower_interval():
    widths = [
        fit.fitted_logitnormal[0.95] - fit.fitted_logitnormal[0.05]
        for fit in (fit_probability(0.3, c) for c in (0.2, 0.5, 0.8, 0.95))
    ]
    assert widths == sorted(widths, reverse=True)
    assert widths[-1] < widths[0] / 3


@pytest.mark.parametrize("c", [0.3, 0.7, 0.95])
@pytest.mark.parametrize("p", [0.1, 0.5, 0.85])
def test_beta_of_a_confident_probability_matches_the_logitnormal_5_50_95(p, c):
    fit = fit_probability(p, c)
    assert fit.beta_a is not None
    assert fit.beta_b is not None
    assert fit.fitted_beta is not None
    assert fit.error_beta is not None

    targets = {lv: fit.fitted_logitnormal[lv] for lv in (0.05, 0.5, 0.95)}
    for level, value in targets.items():
        assert value == pytest.approx(
            special.expit(stats.norm.ppf(level, loc=special.logit(p), scale=fit.logit_sd)),
            rel=1e-12,
        )
    for level, value in fit.fitted_beta.items():
        assert value == pytest.approx(stats.beta.ppf(level, fit.beta_a, fit.beta_b), rel=1e-9)
    best = beta_sse(fit.beta_a, fit.beta_b, targets)
    assert fit.error_beta == pytest.approx(math.sqrt(best / 3), rel=1e-9)
    assert fit.error_beta < 0.02
    for da, db in [(1, 0), (-1, 0), (0, 1), (0, -1), (1, 1), (-1, -1)]:
        step = 1e-3
        neighbour = beta_sse(
            fit.beta_a * math.exp(da * step), fit.beta_b * math.exp(db * step), targets
        )
        assert neighbour >= best * (1 - 1e-9)


# --- errors ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("quantiles", "message"),
    [
        ({0.2: 0.1, 0.5: 0.3, 0.9: 0.6}, r"level 0\.2 is not allowed.*0\.05, 0\.1, 0\.25"),
        ({"0.33": 0.1, 0.5: 0.3, 0.9: 0.6}, r"level '0\.33' is not allowed"),
        ({1.0: 0.9, 0.1: 0.1, 0.5: 0.3}, r"level 1\.0 is not allowed"),
        ({"tenth": 0.1, 0.5: 0.3, 0.9: 0.6}, r"level 'tenth' is not a number"),
        ({None: 0.1, 0.5: 0.3, 0.9: 0.6}, r"level None is not a number"),
        ({"0.1": 0.1, 0.1: 0.15, 0.5: 0.3, 0.9: 0.6}, r"level 0\.1 is given twice"),
        ({0.1: 0.1, 0.9: 0.6}, r"at least 3 quantiles, got 2 \(levels: 0\.1, 0\.9\)"),
        ({}, r"at least 3 quantiles, got 0"),
        ({0.1: math.nan, 0.5: 0.3, 0.9: 0.6}, r"level 0\.1 is NaN"),
        ({0.1: 0.0, 0.5: 0.3, 0.9: 0.6}, r"level 0\.1 is 0, outside the open interval \(0, 1\)"),
        ({0.1: 0.1, 0.5: 0.3, 0.9: 1.0}, r"level 0\.9 is 1, outside the open interval"),
        ({0.1: -0.2, 0.5: 0.3, 0.9: 0.6}, r"level 0\.1 is -0\.2, outside the open interval"),
        ({0.1: 0.1, 0.5: 0.3, 0.9: 1.5}, r"level 0\.9 is 1\.5, outside the open interval"),
        ({0.1: 0.1, 0.5: 0.3, 0.9: math.inf}, r"level 0\.9 is inf, outside the open interval"),
        ({0.1: 0.1, 0.5: "0.3", 0.9: 0.6}, r"level 0\.5 must be a number"),
        ({0.1: 0.1, 0.5: True, 0.9: 0.6}, r"level 0\.5 must be a number"),
        (
            {0.1: 0.3, 0.5: 0.3, 0.9: 0.6},
            r"increase strictly with level.*0\.1 has 0\.3.*0\.5 has 0\.3",
        ),
        (
            {0.1: 0.6, 0.5: 0.3, 0.9: 0.1},
            r"increase strictly with level.*0\.1 has 0\.6.*0\.5 has 0\.3",
        ),
        (
            {0.1: 0.1, 0.5: 0.7, 0.75: 0.6, 0.9: 0.8},
            r"level 0\.5 has 0\.7 and level 0\.75 has 0\.6",
        ),
        ([0.1, 0.3, 0.6], r"quantiles must be a mapping \{level: value\}, got list"),
    ],
)
def test_invalid_quantiles_raise_data_error_saying_what_is_wrong(quantiles, message):
    with pytest.raises(DataError, match=message):
        fit_quantiles(quantiles)


@pytest.mark.parametrize(
    ("probability", "confidence", "message"),
    [
        (0.0, None, r"probability is 0, outside the open interval \(0, 1\)"),
        (1.0, 0.5, r"probability is 1, outside the open interval"),
        (-0.1, None, r"probability is -0\.1, outside"),
        (1.2, None, r"probability is 1\.2, outside"),
        (math.nan, None, r"probability is NaN"),
        ("0.3", None, r"probability must be a number"),
        (0.3, 0.0, r"confidence is 0, outside the open interval \(0, 1\)"),
        (0.3, 1.0, r"confidence is 1, outside the open interval"),
        (0.3, -0.5, r"confidence is -0\.5, outside"),
        (0.3, 50.0, r"confidence is 50, outside"),
        (0.3, math.nan, r"confidence is NaN"),
    ],
)
def test_invalid_probability_or_confidence_raises_data_error(probability, confidence, message):
    with pytest.raises(DataError, match=message):
        fit_probability(probability, confidence)


def test_data_error_is_a_value_error_for_callers_that_catch_those():
    with pytest.raises(ValueError, match="at least 3"):
        fit_quantiles({0.5: 0.3})


@pytest.mark.parametrize("pool", [linear_pool, logarithmic_pool])
@pytest.mark.parametrize(
    ("n_fits", "weights", "message"),
    [
        (0, None, r"at least one fit"),
        (2, [1.0], r"got 1 weights for 2 fits"),
        (2, [1.0, -0.5], r"non-negative"),
        (2, [0.0, 0.0], r"not all zero"),
        (2, [1.0, math.nan], r"finite"),
        (2, [1.0, "2"], r"weights must be numbers"),
    ],
)
def test_invalid_pool_input_raises_data_error(pool, n_fits, weights, message):
    fits = [fit_probability(0.3, 0.6)] * n_fits
    with pytest.raises(DataError, match=message):
        pool(fits, weights)


# --- pooling ------------------------------------------------------------------------------


def mixture_cdf(fits: list[ElicitationFit], weights: list[float], p: float) -> float:
    w = np.asarray(weights) / np.sum(weights)
    return float(
        sum(
            wi * stats.norm.cdf(special.logit(p), loc=f.logit_mean, scale=f.logit_sd)
            for wi, f in zip(w, fits, strict=True)
        )
    )


@pytest.mark.parametrize("n", [1, 2, 5])
@pytest.mark.parametrize(
    "fit",
    [
        fit_probability(0.3, 0.7),
        fit_quantiles(logitnormal_quantiles(-2.0, 1.3, ALLOWED_LEVELS)),
        fit_probability(0.8),
    ],
    ids=["confident-probability", "quantiles", "point"],
)
def test_linear_pool_of_identical_fits_is_the_fit(fit, n):
    weights = list(np.arange(1.0, n + 1.0))
    pool = linear_pool([fit] * n, weights)

    assert pool.probability == pytest.approx(fit.probability, rel=1e-12)
    assert pool.interval == pytest.approx(fit.interval, rel=1e-9)
    assert pool.interval == pytest.approx(
        (fit.fitted_logitnormal[0.05], fit.fitted_logitnormal[0.95]), rel=1e-9
    )
    assert pool.interval_prob == 0.9
    assert sum(pool.weights) == pytest.approx(1.0)


def test_linear_pool_is_the_mixture_checked_with_scipy():
    fits = [
        fit_probability(0.1, 0.8),
        fit_probability(0.6, 0.4),
        fit_quantiles(logitnormal_quantiles(1.0, 0.3, (0.25, 0.5, 0.75))),
    ]
    weights = [1.0, 2.0, 1.0]
    pool = linear_pool(fits, weights)

    expected_mean = sum(w * f.probability for w, f in zip(weights, fits, strict=True)) / 4
    assert pool.probability == pytest.approx(expected_mean, rel=1e-12)
    low, high = pool.interval
    assert mixture_cdf(fits, weights, low) == pytest.approx(0.05, abs=1e-9)
    assert mixture_cdf(fits, weights, high) == pytest.approx(0.95, abs=1e-9)
    assert pool.weights == pytest.approx((0.25, 0.5, 0.25))


def test_linear_pool_of_points_puts_its_interval_on_the_points():
    pool = linear_pool([fit_probability(0.2), fit_probability(0.6)])

    assert pool.probability == pytest.approx(0.4, rel=1e-12)
    assert pool.interval == pytest.approx((0.2, 0.6), rel=1e-9)


def test_linear_pool_with_a_point_and_a_spread_fit():
    spread = fit_probability(0.5, 0.95)
    pool = linear_pool([fit_probability(0.2), spread], [0.1, 0.9])

    # The spread fit has almost no mass below 0.2 and the point carries 10%, more than the 5%
    # below the interval: the lower end sits on the point.
    assert 0.9 * stats.norm.cdf(special.logit(0.2), 0.0, spread.logit_sd) < 1e-4
    assert pool.interval[0] == pytest.approx(0.2, rel=1e-9)
    upper = 0.1 + 0.9 * stats.norm.cdf(special.logit(pool.interval[1]), 0.0, spread.logit_sd)
    assert upper == pytest.approx(0.95, abs=1e-9)


def test_logarithmic_pool_of_two_matches_the_precision_weighted_formula():
    first = fit_probability(0.2, 0.6)
    second = fit_quantiles(logitnormal_quantiles(0.7, 1.4, ALLOWED_LEVELS))
    w1, w2 = 0.7, 0.3
    pool = logarithmic_pool([first, second], [w1, w2])

    t1, t2 = w1 / first.logit_sd**2, w2 / second.logit_sd**2
    assert pool.logit_sd == pytest.approx(1 / math.sqrt(t1 + t2), rel=1e-12)
    assert pool.logit_mean == pytest.approx(
        (t1 * first.logit_mean + t2 * second.logit_mean) / (t1 + t2), rel=1e-12
    )

    # The same from the normalised product of the densities, numerically, with scipy.
    x = np.linspace(-12, 12, 200_001)
    log_density = w1 * stats.norm.logpdf(
        x, first.logit_mean, first.logit_sd
    ) + w2 * stats.norm.logpdf(x, second.logit_mean, second.logit_sd)
    density = np.exp(log_density - log_density.max())
    density /= integrate.trapezoid(density, x)
    mean = integrate.trapezoid(x * density, x)
    sd = math.sqrt(integrate.trapezoid((x - mean) ** 2 * density, x))
    assert pool.logit_mean == pytest.approx(mean, rel=1e-6)
    assert pool.logit_sd == pytest.approx(sd, rel=1e-6)


def test_logarithmic_pool_normalises_weights_and_defaults_to_equal():
    fits = [fit_probability(0.2, 0.6), fit_probability(0.7, 0.3)]

    assert logarithmic_pool(fits, [2.0, 1.0]) == logarithmic_pool(fits, [2 / 3, 1 / 3])
    assert logarithmic_pool(fits) == logarithmic_pool(fits, [0.5, 0.5])
    assert logarithmic_pool(fits, [2.0, 1.0]) != logarithmic_pool(fits)


def test_logarithmic_pool_of_identical_fits_is_the_fit():
    fit = fit_probability(0.35, 0.75)
    pool = logarithmic_pool([fit, fit, fit], [1.0, 3.0, 0.5])

    assert pool.logit_mean == pytest.approx(fit.logit_mean, rel=1e-12)
    assert pool.logit_sd == pytest.approx(fit.logit_sd, rel=1e-12)
    assert pool.probability == pytest.approx(fit.probability, rel=1e-12)
    assert pool.interval() == pytest.approx(fit.interval, rel=1e-12)


def test_logarithmic_pool_with_a_point_statement_averages_logit_means():
    fits = [fit_probability(0.2), fit_probability(0.6, 0.5), fit_probability(0.9, 0.9)]
    pool = logarithmic_pool(fits, [1.0, 1.0, 2.0])

    expected = (special.logit(0.2) + special.logit(0.6) + 2 * special.logit(0.9)) / 4
    assert pool.logit_mean == pytest.approx(expected, rel=1e-12)
    assert pool.logit_sd == 0.0
    assert pool.median == pytest.approx(special.expit(expected), rel=1e-12)


def test_logarithmic_pool_ignores_a_point_with_zero_weight():
    spread = [fit_probability(0.6, 0.5), fit_probability(0.9, 0.9)]
    with_point = logarithmic_pool([fit_probability(0.2), *spread], [0.0, 1.0, 1.0])

    assert with_point == logarithmic_pool(spread)
    assert with_point.logit_sd > 0.0


# --- the record ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    "fit",
    [
        fit_quantiles({"0.05": 0.02, "0.25": 0.1, "0.5": 0.2, "0.75": 0.35}),
        fit_probability(0.4, 0.8),
        fit_probability(0.4),
    ],
    ids=["quantiles", "confident-probability", "point"],
)
def test_to_dict_is_json_and_its_statement_round_trips(fit):
    content = fit.to_dict()
    decoded = json.loads(json.dumps(content, allow_nan=False))

    assert decoded == content
    assert all(isinstance(key, str) for key in content["fitted_logitnormal"])
    assert content["fitted_logitnormal"]["0.05"] == fit.fitted_logitnormal[0.05]
    assert content["interval"] == [fit.fitted_logitnormal[0.05], fit.fitted_logitnormal[0.95]]
    assert content["interval_prob"] == 0.9
    assert content["probability"] == fit.probability
    assert (content["beta_a"] is None) == (fit.beta_a is None)
    if len(fit.stated) >= 3:
        assert fit_quantiles(content["stated"]) == fit
    else:
        assert fit_probability(content["stated"]["0.5"], content["confidence"]) == fit


def test_fit_is_frozen():
    fit = fit_probability(0.4, 0.8)
    with pytest.raises(FrozenInstanceError):
        fit.logit_mean = 0.0  # type: ignore[misc]
