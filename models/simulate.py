"""Simulated data from the model's own generative story, for tests, SBC and benchmarks."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import numpy as np
from scipy.special import expit

from models.config import ModelConfig
from models.constants import RELIABILITY_CLASSES
from models.dataset import Evidence, EvidenceEffect, Forecast, ForecastData, Question, Resolution

EPOCH = datetime(2025, 1, 1, tzinfo=UTC)


@dataclass(frozen=True)
class Truth:
    """The parameters a simulated data set was drawn with."""

    theta: np.ndarray
    alpha: np.ndarray
    beta: np.ndarray
    sigma: np.ndarray
    w: np.ndarray
    outcome: np.ndarray
    theta_now: np.ndarray
    #: 1 for a contentious question (every forecast noise_scale times noisier), else 0.
    contentious: np.ndarray
    #: The daily sd of the questions' walk on the forecast scale (0: they hold still).
    drift_sd: float = 0.0
    #: The sd at rest of the crowd's drifting error on the forecast scale (0: none).
    crowd_drift_sd: float = 0.0
    #: The population's discrimination (the given forecasters' geometric mean where
    #: ``alpha`` was given): ``alpha_bar * theta`` is a question on the forecast scale.
    alpha_bar: float = float("nan")
    #: The questions' global level (the mean of ``theta`` where it was given).
    level: float = float("nan")
    #: The share of ``level`` at which forecasters who differ in discrimination agree.
    pivot_share: float = float("nan")


def simulate(
    rng: np.random.Generator,
    *,
    n_questions: int,
    n_forecasters: int,
    forecasts_per_question: int,
    n_groups: int = 1,
    n_resolved: int | None = None,
    evidence_per_question: float = 0.0,
    theta: np.ndarray | None = None,
    alpha: np.ndarray | None = None,
    beta: np.ndarray | None = None,
    sigma: np.ndarray | None = None,
    w: np.ndarray | None = None,
    contentious_share: float | None = None,
    drift_sd: float | None = None,
    crowd_drift_sd: float | None = None,
    pivot_share: float | None = None,
    config: ModelConfig | None = None,
) -> tuple[ForecastData, Truth]:
    """Draw a data set from the model.

    Parameters not given are drawn from the priors of ``config`` (default: the default
    priors with questions that hold still and no crowd drift; ``contentious_share``
    too: each question is contentious with that probability). Each question gets
    ``forecasts_per_question`` forecasts from distinct random forecasters, half before and
    half after its evidence (if any), and the first ``n_resolved`` questions are resolved
    by a Bernoulli draw from their final log-odds. A forecast reads its question as the
    model does, ``alpha_e (theta - P) + alpha_bar P + beta_e``: forecasters who differ in
    discrimination agree at the pivot ``P = pivot_share * mu``, a share of the global level
    ``mu`` (the mean of ``theta`` where it is given; the share drawn from its prior where
    not given).

    Where ``config`` lets questions move (``question.drift_sd``), ``drift_sd`` (drawn from
    its prior if not given) is the daily sd of each question's random walk on the forecast
    scale, as in the model (docs/model.md, "Questions that move"): on the log-odds scale
    it is ``drift_sd`` over the population's discrimination (the geometric mean of
    ``alpha`` where ``alpha`` is given), starting at the question's first forecast. ``Truth.theta`` is then each
    question's log-odds at its newest forecast, the value the model's ``theta`` stands for.

    Returns
    -------
    (ForecastData, Truth)
    """
    cfg = config or ModelConfig().held_still()
    qp, fp = cfg.question, cfg.forecaster
    nq, ne, ng = n_questions, n_forecasters, n_groups
    n_resolved = nq if n_resolved is None else n_resolved
    if theta is None:
        mu = rng.normal(qp.base_logit.mu, qp.base_logit.sigma)
        gsd = abs(rng.normal(0, qp.group_sd.sigma))
        # As in the model, a single group has no offset of its own.
        mu_g = mu + (gsd * rng.standard_normal(ng) if ng > 1 else np.zeros(1))
        # A typical group's question spread, and the groups' spreads around it (one group:
        # the typical one).
        tau_g = np.abs(rng.normal(0, qp.question_sd.sigma, 1))
        if ng > 1:
            log_sd = abs(rng.normal(0, qp.question_sd_log_spread.sigma))
            tau_g = tau_g * np.exp(log_sd * rng.standard_normal(ng))
        groups = np.arange(nq) % ng
        theta = mu_g[groups] + tau_g[groups] * rng.standard_normal(nq)
    else:
        mu = float(np.mean(theta))
        groups = np.arange(nq) % ng
    abar = None
    if alpha is None:
        abar = np.exp(rng.normal(fp.log_discrimination.mu, fp.log_discrimination.sigma))
        a_sd = abs(rng.normal(0, fp.log_discrimination_sd.sigma))
        alpha = abar * np.exp(a_sd * rng.standard_normal(ne))
    if beta is None:
        b_mu = rng.normal(fp.bias_mean.mu, fp.bias_mean.sigma)
        b_sd = abs(rng.normal(0, fp.bias_sd.sigma))
        beta = b_mu + b_sd * rng.standard_normal(ne)
    if sigma is None:
        s_mu = rng.normal(fp.log_noise_mean.mu, fp.log_noise_mean.sigma)
        s_sd = abs(rng.normal(0, fp.log_noise_sd.sigma))
        sigma = np.exp(s_mu + s_sd * rng.standard_normal(ne))
    abar = float(abar if abar is not None else np.exp(np.mean(np.log(alpha))))
    share_prior = fp.pivot_share
    if pivot_share is None:
        pivot_share = 0.0  # as in the model without the prior: forecasters pivot at 50%
        if share_prior is not None:
            # From a child stream: every other draw of a seed stays as it was without it.
            child = rng.spawn(1)[0]
            pivot_share = float(child.beta(share_prior.alpha, share_prior.beta))
    pivot = pivot_share * mu
    walk = 0.0
    if cfg.question.drift_sd is not None:
        if drift_sd is None:
            drift_sd = abs(float(rng.normal(0, cfg.question.drift_sd.sigma)))
        walk = drift_sd / abar
    crowd, rate = 0.0, 1.0 / cfg.question.crowd_drift_days
    if cfg.question.crowd_drift_sd is not None:
        if crowd_drift_sd is None:
            crowd_drift_sd = abs(float(rng.normal(0, cfg.question.crowd_drift_sd.sigma)))
        crowd = crowd_drift_sd / abar
    timed = walk > 0 or crowd > 0
    if w is None:
        w = np.array(
            [
                rng.beta(cfg.evidence.weights[c].alpha, cfg.evidence.weights[c].beta)
                for c in RELIABILITY_CLASSES
            ]
        )

    cp = fp.contentious
    if contentious_share is None:
        contentious_share = float(rng.beta(cp.share.alpha, cp.share.beta))
    contentious = (rng.random(nq) < contentious_share).astype(int)
    if not cp.admits(min(forecasts_per_question, ne)):
        contentious[:] = 0  # as in the model: only sparsely forecast questions can be

    questions = [Question(id=f"q{q:05d}", group=f"g{groups[q]}") for q in range(nq)]
    forecasts: list[Forecast] = []
    evidence: list[Evidence] = []
    theta = np.array(theta, dtype=float)
    theta_now = theta.copy()
    k = 0
    for q in range(nq):
        qid = questions[q].id
        n_ev = rng.poisson(evidence_per_question) if evidence_per_question > 0 else 0
        ev_days = np.sort(rng.uniform(10, 90, n_ev))
        ev_items = []
        for d in ev_days:
            r = int(rng.integers(len(RELIABILITY_CLASSES)))
            log_lr = float(rng.normal(0, 1.5))
            ev_items.append((d, r, log_lr))
            evidence.append(
                Evidence(
                    id=f"k{k}",
                    observed_at=EPOCH + timedelta(days=float(d)),
                    reliability=RELIABILITY_CLASSES[r],
                    effects=(EvidenceEffect(qid, float(np.exp(log_lr))),),
                )
            )
            k += 1
            theta_now[q] += w[r] * log_lr
        who = rng.choice(ne, size=min(forecasts_per_question, ne), replace=False)
        # Where questions move: each forecast's day, then the walk at each, from the first;
        # where the crowd's error drifts, that error at each (at rest at the first).
        days, steps, moods = np.zeros(len(who)), np.zeros(len(who)), np.zeros(len(who))
        if timed and len(who):
            days[:] = rng.uniform(0, 100, len(who)) if n_ev else np.arange(len(who))
            order = np.argsort(days, kind="stable")
            gaps = np.diff(days[order], prepend=days.min())
            steps[order] = np.cumsum(walk * np.sqrt(gaps) * rng.standard_normal(len(who)))
            if crowd > 0:
                d = crowd * rng.standard_normal()
                for i, gap in zip(order, gaps, strict=True):
                    f = np.exp(-rate * gap)
                    d = f * d + crowd * np.sqrt(1.0 - f * f) * rng.standard_normal()
                    moods[i] = d
        for j, e in enumerate(who):
            step = steps[j] + moods[j]
            if timed:
                day = float(days[j])
            else:  # (drawn here, as before there was a walk: the same data for a seed)
                day = float(rng.uniform(0, 100)) if n_ev else float(j)
            offset = sum(w[r] * lr for d, r, lr in ev_items if d <= day)
            noise = np.hypot(sigma[e], fp.noise_floor) * (cp.noise_scale if contentious[q] else 1.0)
            # Forecasters who differ in discrimination agree at the pivot.
            reading = alpha[e] * (theta[q] + step + offset - pivot) + abar * pivot
            m = reading + beta[e] + noise * rng.standard_normal()
            forecasts.append(Forecast(qid, f"f{e:04d}", EPOCH + timedelta(days=day), float(m)))
        if walk > 0 and len(who):
            newest = steps[int(np.argmax(days))]
            theta[q] += newest
            theta_now[q] += newest
    outcome = (rng.random(nq) < expit(theta_now)).astype(int)
    resolutions = [
        Resolution(questions[q].id, int(outcome[q]), EPOCH + timedelta(days=120))
        for q in range(n_resolved)
    ]
    data = ForecastData(tuple(questions), tuple(forecasts), tuple(evidence), tuple(resolutions))
    truth = Truth(
        theta,
        alpha,
        beta,
        sigma,
        w,
        outcome,
        theta_now,
        contentious,
        drift_sd or 0.0,
        crowd_drift_sd or 0.0,
        abar,
        float(mu),
        pivot_share,
    )
    return data, truth


def realistic_forecasters(rng: np.random.Generator, n: int) -> dict[str, np.ndarray]:
    """Forecaster parameters in the range seen on real data (noise about 1 log-odds unit,
    slightly under-confident, small biases), for tests that are not about extreme regimes."""
    return {
        "alpha": np.exp(rng.normal(-0.2, 0.2, n)),
        "beta": rng.normal(0.0, 0.2, n),
        "sigma": np.exp(rng.normal(0.0, 0.3, n)),
    }
