"""Whether a data set's groups differ in how their crowds err: the gate of the topic terms.

The model's topic terms (docs/model.md, "Topics": per group, a factor on the crowd's
discrimination and a shift to the outcomes) earn their place where groups differ and cost
score where they do not: with alike groups, their posterior spreads still let each group's
terms stray with its few outcomes (docs/backtests.md, "Panels over several sets"). No prior
served both kinds of set, so a fit first asks its resolved questions whether the groups
differ. The test is a logistic recalibration of each resolved question's crowd log-odds
(the mean of its forecasters' latest log-odds) on its outcome, once per group (a slope and
an intercept each) and once for all groups; the likelihood-ratio statistic is referred to
a chi-squared distribution with ``2 (groups - 1)`` degrees of freedom. The topic terms are
on where its p-value is below ``forecaster.topic_evidence_p`` (docs/model.md, "Topics").
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np
from scipy.optimize import minimize
from scipy.special import expit
from scipy.stats import chi2


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


def _neg_loglik(design: np.ndarray, y: np.ndarray) -> float:
    """The smallest negative Bernoulli log-likelihood of a logistic regression on ``design``."""

    def f(w: np.ndarray) -> tuple[float, np.ndarray]:
        z = design @ w
        return float(np.sum(np.logaddexp(0.0, z) - y * z)), design.T @ (expit(z) - y)

    return float(minimize(f, np.zeros(design.shape[1]), jac=True, method="BFGS").fun)


def group_evidence(logodds: np.ndarray, outcome: np.ndarray, group: np.ndarray) -> GroupEvidence:
    """Test whether groups differ in how the crowd's log-odds relate to outcomes.

    Parameters
    ----------
    logodds : ndarray of float
        Each resolved question's crowd log-odds; NaN ones (no forecasts) are left out.
    outcome : ndarray of {0, 1}
        Each question's outcome.
    group : ndarray of int
        Each question's group.

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
    onehot = (g[:, None] == groups[None, :]).astype(np.float64)
    common = _neg_loglik(np.column_stack([x, np.ones_like(x)]), y)
    per_group = _neg_loglik(np.column_stack([onehot * x[:, None], onehot]), y)
    statistic = max(2.0 * (common - per_group), 0.0)
    df = 2 * (len(groups) - 1)
    p = float(chi2.sf(statistic, df))
    return GroupEvidence(len(groups), len(x), statistic, df, p if math.isfinite(p) else None)


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
    if p is None:
        return "off: fewer than two groups have resolved questions with forecasts"
    if threshold is None:
        return f"on: always with two groups or more (p = {p:.4f}; {tested})"
    if on:
        return f"on: the groups differ (p = {p:.4f} < {threshold:g}; {tested})"
    return f"off: no evidence that the groups differ (p = {p:.4f} >= {threshold:g}; {tested})"


__all__ = ["GroupEvidence", "describe", "group_evidence", "latest_mean_logodds", "topic_terms_on"]
