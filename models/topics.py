"""Whether a data set's groups differ in how their crowds err: the gate of the topic terms.

The model's topic terms (docs/model.md, "Topics": per group, a factor on the crowd's
discrimination and a shift to the outcomes) earn their place where groups differ and cost
score where they do not: with alike groups, their posterior spreads still let each group's
terms stray with its few outcomes (docs/backtests.md, "Panels over several sets"). No prior
served both kinds of set, so a fit first asks its resolved questions whether the groups
differ. The test is a logistic recalibration of each resolved question's crowd log-odds
(the mean of its forecasters' latest log-odds) on its outcome, once per group (a slope and
an intercept each) and once for all groups; the likelihood-ratio statistic's p-value comes
from a parametric bootstrap (outcomes drawn from the common recalibration). The topic
terms are on where it is below ``forecaster.topic_evidence_p`` (docs/model.md, "Topics").
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
from scipy.special import expit

#: Newton iterations of a recalibration at most, and the gain in log-likelihood below which
#: a group has converged (a group its crowd separates gains ever less towards 0).
FIT_ITERATIONS, FIT_TOLERANCE = 50, 1e-7
#: Bootstrap draws of the likelihood-ratio statistic under "the groups do not differ": the
#: p-value's resolution is 1 / (draws + 1), a fifth of the default threshold.
BOOTSTRAP_DRAWS = 499
#: Draws fitted at once, and at most this many outcomes (draws x questions) at once.
BOOTSTRAP_CHUNK, BOOTSTRAP_CELLS = 100, 2_000_000
#: The bootstrap's seed: a fit's decision depends on its data only.
BOOTSTRAP_SEED = 0


@dataclass(frozen=True)
class GroupEvidence:
    """The likelihood-ratio test of per-group recalibration of the crowd's log-odds.

    ``p_value`` is None where it cannot be computed: fewer than two groups have resolved
    questions with forecasts.
    """

    #: Groups with resolved questions that have forecasts (those the test compares).
    groups: int
    #: Resolved questions with forecasts (those the test reads).
    questions: int
    statistic: float
    df: int
    p_value: float | None

    def to_dict(self) -> dict[str, float | int | None]:
        return {
            "groups": self.groups,
            "questions": self.questions,
            "statistic": self.statistic,
            "df": self.df,
            "p_value": self.p_value,
        }


def latest_mean_logodds(
    question: np.ndarray, forecaster: np.ndarray, logodds: np.ndarray, n_questions: int
) -> np.ndarray:
    """Per question, the mean of each forecaster's latest log-odds; NaN where it has none.

    Parameters
    ----------
    question, forecaster : ndarray of int
        Each forecast's question and forecaster; forecasts are in time order (the last of a
        forecaster's forecasts on a question is its latest).
    logodds : ndarray of float
        Each forecast's log-odds.
    n_questions : int
        Number of questions (the length of the result).
    """
    question = np.asarray(question, dtype=np.int64)
    forecaster = np.asarray(forecaster, dtype=np.int64)
    pair = question * (int(forecaster.max(initial=0)) + 1) + forecaster
    # The first of each pair in reverse order is its latest.
    _, first = np.unique(pair[::-1], return_index=True)
    keep = len(pair) - 1 - first
    total = np.bincount(question[keep], weights=logodds[keep], minlength=n_questions)
    count = np.bincount(question[keep], minlength=n_questions)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(count > 0, total / np.where(count > 0, count, 1), np.nan)


def _nll(z: np.ndarray, y: np.ndarray, g: np.ndarray, n: int) -> np.ndarray:
    """Per group, the Bernoulli negative log-likelihood of outcomes ``y`` at log-odds ``z``."""
    return np.bincount(g, weights=np.logaddexp(0.0, z) - y * z, minlength=n)


def fit_logistic(
    x: np.ndarray, y: np.ndarray, g: np.ndarray, n_groups: int
) -> tuple[np.ndarray, np.ndarray]:
    """Per group, the maximum-likelihood slope and intercept of ``y ~ Bernoulli(logistic(a_g
    x + b_g))``, and the smallest negative log-likelihood.

    Newton's method on all groups at once (each step a 2 x 2 solve per group, halved where
    it would not lower the group's negative log-likelihood). Where a group's outcomes are
    separated by ``x`` its minimum is 0 at infinite coefficients, and the iteration
    approaches it.

    Returns
    -------
    coef : ndarray, shape (n_groups, 2)
        Slope and intercept per group.
    nll : ndarray, shape (n_groups,)
    """
    coef = np.zeros((n_groups, 2))
    current = _nll(np.zeros_like(x), y, g, n_groups)
    active = np.ones(n_groups, dtype=bool)  # groups still gaining more than FIT_TOLERANCE
    for _ in range(FIT_ITERATIONS):
        z = coef[g, 0] * x + coef[g, 1]
        p = expit(z)
        r = p - y
        w = np.maximum(p * expit(-z), 1e-12)
        gx, g1 = np.bincount(g, r * x, n_groups), np.bincount(g, r, n_groups)
        hxx = np.bincount(g, w * x * x, n_groups) + 1e-9
        hx1 = np.bincount(g, w * x, n_groups)
        h11 = np.bincount(g, w, n_groups) + 1e-9
        det = np.maximum(hxx * h11 - hx1 * hx1, 1e-300)
        step = np.stack([h11 * gx - hx1 * g1, hxx * g1 - hx1 * gx], axis=1) / det[:, None]
        scale = np.where(active, 1.0, 0.0)
        for _ in range(12):  # halve the step of the groups it would not improve
            trial = coef - scale[:, None] * step
            nll = _nll(trial[g, 0] * x + trial[g, 1], y, g, n_groups)
            worse = active & (nll > current)
            if not worse.any():
                break
            scale = np.where(worse, scale / 2, scale)
        better = active & ~worse
        gain = np.where(better, current - nll, 0.0)
        coef = np.where(better[:, None], trial, coef)
        current = np.where(better, nll, current)
        active = better & (gain > FIT_TOLERANCE)
        if not active.any():
            break
    return coef, current


def _likelihood_ratios(x: np.ndarray, ys: np.ndarray, g: np.ndarray, n_groups: int) -> np.ndarray:
    """For each row of outcomes ``ys``: twice the log-likelihood gained by per-group slopes
    and intercepts over common ones (all rows fitted at once, as groups of one long fit)."""
    b, n = ys.shape
    xs, flat = np.tile(x, b), ys.ravel()
    row = np.repeat(np.arange(b), n)
    _, common = fit_logistic(xs, flat, row, b)
    _, per_group = fit_logistic(xs, flat, row * n_groups + np.tile(g, b), b * n_groups)
    return np.maximum(2.0 * (common - per_group.reshape(b, n_groups).sum(axis=1)), 0.0)


def group_evidence(
    logodds: np.ndarray, outcome: np.ndarray, group: np.ndarray, stop_after: int = 10
) -> GroupEvidence:
    """Test whether groups differ in how the crowd's log-odds relate to outcomes.

    Parameters
    ----------
    logodds : ndarray of float
        Each resolved question's crowd log-odds; NaN ones (no forecasts) are left out.
    outcome : ndarray of {0, 1}
        Each question's outcome.
    group : ndarray of int
        Each question's group.
    stop_after : int, default 10
        The bootstrap stops once this many draws' statistics reach the observed one (the
        sequential p-value of Besag and Clifford, ``(stop_after + 1) / (draws + 1)``, then
        at least 11 / 500 = 0.022 with the defaults, so a stop never changes a decision at
        a threshold of 0.01): alike groups cost a chunk or two, groups that differ all
        ``BOOTSTRAP_DRAWS``.

    Returns
    -------
    GroupEvidence
    """
    use = np.isfinite(logodds)
    x = np.asarray(logodds, dtype=np.float64)[use]
    y = np.asarray(outcome, dtype=np.float64)[use]
    g = np.asarray(group)[use]
    groups = np.unique(g)
    if len(groups) < 2:
        return GroupEvidence(len(groups), int(use.sum()), 0.0, 0, None)
    index = np.searchsorted(groups, g)
    statistic = float(_likelihood_ratios(x, y[None, :], index, len(groups))[0])
    # The statistic's null distribution, by a parametric bootstrap: outcomes drawn from the
    # common recalibration, the statistic recomputed. Chi-squared with 2 (groups - 1)
    # degrees of freedom holds for large groups only: a small group fits its own slope and
    # intercept too well (perfectly, where its crowd's log-odds separate its outcomes), and
    # many such groups make alike groups look different. Simulated sets of 480 questions in
    # 80 alike groups: the chi-squared p-value below 0.01 in 10 of 40, this one in none
    # (tests/models/test_topic_evidence.py).
    coef, _ = fit_logistic(x, y, np.zeros(len(x), dtype=np.int64), 1)
    p_null = expit(coef[0, 0] * x + coef[0, 1])
    rng = np.random.default_rng(BOOTSTRAP_SEED)
    chunk = max(1, min(BOOTSTRAP_CHUNK, BOOTSTRAP_CELLS // len(x)))
    exceed, done = 0, 0
    while done < BOOTSTRAP_DRAWS and exceed < stop_after:
        # A first small chunk: where groups are alike it is often all the test needs.
        b = min(chunk if done else max(1, chunk // 4), BOOTSTRAP_DRAWS - done)
        draws = (rng.random((b, len(x))) < p_null).astype(np.float64)
        exceed += int(np.sum(_likelihood_ratios(x, draws, index, len(groups)) >= statistic - 1e-9))
        done += b
    df = 2 * (len(groups) - 1)
    p = (exceed + 1) / (done + 1)
    return GroupEvidence(len(groups), len(x), statistic, df, p)


def topic_terms_on(p_value: float | None, threshold: float | None, groups: int) -> bool:
    """Whether a fit's topic terms are on: two groups or more, and ``p_value < threshold``.

    ``p_value`` None: untested (fewer than two groups with resolved questions): off.
    ``threshold`` None keeps them on wherever there are two groups or more (the model before
    the gate).
    """
    if groups < 2:
        return False
    if threshold is None:
        return True
    return p_value is not None and bool(p_value < threshold)


def describe(on: bool | None, evidence: dict[str, Any] | None) -> str:
    """One line on whether a fit's topic terms were on, and why (for people).

    Parameters
    ----------
    on : bool or None
        ``Diagnostics.topic_effects`` (None: a fit saved before the gate).
    evidence : dict or None
        ``Diagnostics.topic_evidence``: :meth:`GroupEvidence.to_dict` and ``threshold``.
    """
    if on is None or evidence is None:
        return "on wherever there are two groups (fit saved before the evidence test)"
    p, threshold = evidence.get("p_value"), evidence.get("threshold")
    tested = f"{evidence.get('groups')} groups, {evidence.get('questions')} resolved questions"
    if threshold is None:  # the gate turned off: on with two groups or more
        return "on: always with two groups or more (no threshold)" if on else "off: one group"
    if p is None:
        return "off: fewer than two groups have resolved questions with forecasts"
    if on:
        return f"on: the groups differ (p = {p:.4f} < {threshold:g}; {tested})"
    return f"off: no evidence that the groups differ (p = {p:.4f} >= {threshold:g}; {tested})"


__all__ = ["GroupEvidence", "describe", "group_evidence", "latest_mean_logodds", "topic_terms_on"]
