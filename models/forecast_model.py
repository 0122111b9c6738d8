"""The hierarchical forecast model: build, fit, predict, and instant updates of a posterior.

The maths, and why it is parametrised as it is, are in docs/model.md. In short:

* question log-odds ``theta_q = mu_g + tau_g z_q`` under a global status-quo level;
* evidence moves them: ``theta_q(t) = theta_q + A_q(t) @ w`` (see :mod:`models.evidence`);
* a forecaster's statement ``m ~ Normal(alpha_e theta_q(t) + beta_e, sqrt(sigma_e^2 + s^2))``;
* outcomes ``y_q ~ Bernoulli(logistic(theta_q(t_resolved)))``.

The model works on the *forecast scale* ``phi = alpha_bar * theta`` with the forecasters'
relative discriminations ``a_e = alpha_e / alpha_bar`` centred on 1: forecasts pin ``phi``
and outcomes pin the single scale ``alpha_bar``. Sampling ``theta`` and ``alpha`` directly
leaves a ridge along ``alpha * theta`` on which NUTS diverges. The question effects ``phi``
are integrated out in closed form (``models/_internal/marginal.py``) and drawn back from
their exact conditional posterior after sampling.

One compiled nutpie model serves every data set of the same *structure* (padded capacities
of questions, forecasters and groups); new data goes in with ``with_data``. Padded slots
have no likelihood terms and sample from their priors.
"""

from __future__ import annotations

import dataclasses
import functools
import hashlib
import json
import logging
import os
import threading
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import numpy as np
import xarray as xr
from scipy.special import expit, logsumexp

from models._internal.marginal import (
    forecast_terms,
    forecasts_marginal_loglik,
    one_instant,
    outcome_loglik,
    outcome_loglik_op,
    phi_posterior,
    sample_phi,
)
from models._internal.memory import freeze_long_lived, release_free_memory
from models._internal.walk import filter_draws, time_order, time_steps, walk_filter_op
from models.config import ModelConfig, PublishCriteria, SamplerSettings
from models.constants import (
    FORECASTER_DIM,
    GROUP_DIM,
    INTERVAL_PROB,
    KHAT_THRESHOLD,
    QUESTION_DIM,
    RELIABILITY_CLASSES,
    RELIABILITY_DIM,
)
from models.dataset import Evidence, Forecast, ForecastData, as_utc
from models.evidence import epoch_seconds, evidence_offsets
from models.exceptions import DataError
from models.topics import GroupEvidence, group_evidence, latest_mean_logodds, topic_terms_on
from models.topics import describe as describe_topic_terms

log = logging.getLogger(__name__)

MODEL_TYPE = "helsinki-hierarchical-forecast"

#: Population-level scalars of the model: forecasters' discrimination, bias and noise (mean
#: and spread of each), then the global question level. The evidence discounts ``w`` are
#: population-level too, one per reliability class.
POPULATION_PARAMETERS = (
    "alpha_bar",
    "log_a_sd",
    "beta_mu",
    "beta_sd",
    "pivot_share",
    "log_sigma_mu",
    "log_sigma_sd",
    "mu_global",
    "contentious_share",
    "drift_sd",
    "crowd_drift_sd",
)

#: Population parameters that only some configurations have: ``drift_sd`` only where
#: questions move (``question.drift_sd`` set), ``crowd_drift_sd`` only where the crowd's
#: error drifts (``question.crowd_drift_sd`` set), ``pivot_share`` only where the pivot of
#: the forecasters' discrimination is learnt (``forecaster.pivot_share`` set; else 0).
OPTIONAL_PARAMETERS = ("drift_sd", "crowd_drift_sd", "pivot_share")


def _optional_prior(config: ModelConfig, name: str) -> Any:
    """The prior of an optional parameter (None: not in the model)."""
    if name == "pivot_share":
        return config.forecaster.pivot_share
    return getattr(config.question, name)


#: Variables kept from a fit (the z's of the non-centred parametrisation are not).
POSTERIOR_VARS = (
    "theta",
    "contentious",
    "w",
    "mu_group_phi",
    "tau_phi",
    "alpha",
    "beta",
    "sigma",
    *POPULATION_PARAMETERS,
    "mu_group",
    "tau_group",
    "group_scale",
    "group_shift",
)

#: A forecaster with at least this many forecasts has its bias and noise sampled in the
#: centred parametrisation (its data outweigh its prior), where the forecasters differ and
#: enough of them have that many (:func:`forecasters_to_centre`).
CENTRE_FORECASTER_AT = 50

#: Forecasters with at least this many forecasts on questions that others forecast too take
#: part in the estimate of how much the forecasters' biases and noise levels differ.
FORECASTER_SPREAD_ESTIMATE_AT = 5

#: Forecasters of :data:`CENTRE_FORECASTER_AT` forecasts are centred only where they are at
#: least this many, or every forecaster of the fit: a few centred among many non-centred
#: ones diverged (docs/model.md, "Parametrisation" 4).
MIN_CENTRED_FORECASTERS = 10

#: A group with at least this many questions has its question spread's deviation from the
#: typical one sampled centred (its questions pin it; non-centred, a pinned deviation
#: divided by a small population spread is a curved ridge: docs/model.md).
CENTRE_GROUP_SPREAD_AT = 50

#: Groups with at least this many forecast questions take part in the estimate of how much
#: the groups' spreads differ (:func:`group_spreads_to_centre`).
GROUP_SPREAD_ESTIMATE_AT = 10

#: Drawn after sampling, per draw and question (see ``_with_theta``).
DRAWN_AFTER = ("theta", "contentious")

#: Variables the sampler stores (of those in the model: see :func:`sampled_vars`).
SAMPLED_VARS = tuple(v for v in POSTERIOR_VARS if v not in DRAWN_AFTER)


def drift_on(config: ModelConfig) -> bool:
    """Whether the model reads forecasts in time under ``config``: questions that move, or
    a crowd whose error drifts (docs/model.md, "Questions that move")."""
    return config.question.drift_sd is not None or config.question.crowd_drift_sd is not None


def walk_args(
    config: ModelConfig, get: Callable[[str], np.ndarray], n: int
) -> tuple[np.ndarray, np.ndarray, float]:
    """The Kalman filter's ``(w, u, kappa)`` for ``n`` draws: the walk's variance a day, the
    crowd's drift's variance at rest (zeros where either is off) and its rate of return a
    day; ``get(name)`` gives a parameter's draws."""

    def variance(name: str) -> np.ndarray:
        return get(name) ** 2 if getattr(config.question, name) is not None else np.zeros(n)

    return variance("drift_sd"), variance("crowd_drift_sd"), 1.0 / config.question.crowd_drift_days


#: Data containers that only one form of the model has: the closed form where questions
#: hold still, the Kalman filter where they move.
CLOSED_FORM_DATA = ("forecaster_bare_forecasts", "obs_with_spread")
WALK_DATA = ("obs_days",)


def model_data(
    config: ModelConfig, encoded: EncodedData, *, instant_closed_form: bool = True
) -> dict[str, np.ndarray]:
    """The encoded arrays that a model built with ``config`` has containers for, with the
    topic terms' switch (``topic_effects``: :func:`topic_effects_on`).

    Where questions move, also which questions span time (``question_timed``: forecasts at
    two instants or more) and the forecasts the two ways of integrating phi out run over:
    ``obs_instant`` (the forecasts of the other questions: closed form), ``obs_timed`` (the
    Kalman filter's) and ``obs_mixable`` (the timed forecasts on questions that may be
    contentious, the only ones the contentious component's filter needs). With
    ``instant_closed_form`` False every question counts as timed: the same density by the
    filter alone (for tests and benchmarks of the closed path).
    """
    arrays = encoded.arrays
    absent = CLOSED_FORM_DATA if drift_on(config) else WALK_DATA
    out = {k: v for k, v in arrays.items() if k not in absent}
    out["topic_effects"] = np.asarray(float(topic_effects_on(config, encoded)))
    if drift_on(config):
        obs_q = arrays["obs_question"]
        nq = len(arrays["question_forecasts"])
        timed = np.bincount(obs_q, weights=arrays["obs_days"] > 0, minlength=nq) > 0
        timed |= not instant_closed_form
        admits = config.forecaster.contentious.admits(arrays["question_forecasts"])
        mixable = (admits & mixture_on(config) & timed)[obs_q]
        out["question_timed"] = timed.astype(np.float64)
        out["obs_instant"] = np.flatnonzero(~timed[obs_q]).astype(np.int64)
        out["obs_timed"] = np.flatnonzero(timed[obs_q]).astype(np.int64)
        out["obs_mixable"] = np.flatnonzero(mixable).astype(np.int64)
    return out


def topic_effects_on(config: ModelConfig, encoded: EncodedData) -> bool:
    """Whether the groups' factors and shifts are on for ``encoded``: two groups or more,
    and (unless ``forecaster.topic_evidence_p`` is None) a p-value of the test that they
    differ below it (``encoded.group_evidence``; models/topics.py; docs/model.md, "Topics")."""
    evidence = encoded.group_evidence
    return topic_terms_on(
        None if evidence is None else evidence.p_value,
        config.forecaster.topic_evidence_p,
        groups=2 if float(encoded.arrays["group_effects"]) else 1,
    )


def sampled_vars(config: ModelConfig) -> list[str]:
    """The variables the sampler stores for a model built with ``config``."""
    # (Each optional parameter is named as the prior that switches it on.)
    absent = {v for v in OPTIONAL_PARAMETERS if _optional_prior(config, v) is None}
    return [v for v in SAMPLED_VARS if v not in absent]


# --------------------------------------------------------------------------------------
# Structure and encoding
# --------------------------------------------------------------------------------------


def capacity(n: int, minimum: int = 4) -> int:
    """Round ``n`` up to a bucket so that one compiled model serves many data sizes.

    Powers of two up to 64, then multiples of a quarter of the enclosing power of two
    (at most 25% padding).
    """
    n = max(n, minimum)
    if n <= 64:
        return 1 << (n - 1).bit_length()
    step = 1 << ((n - 1).bit_length() - 3)
    return -(-n // step) * step


@dataclass(frozen=True)
class ModelStructure:
    """The padded sizes of a compiled model. Data of any size within them can be sampled."""

    questions: int
    forecasters: int
    groups: int

    @classmethod
    def for_data(cls, data: ForecastData) -> ModelStructure:
        return cls(
            questions=capacity(len(data.questions)),
            forecasters=capacity(len(data.forecaster_ids), minimum=2),
            groups=capacity(len(data.group_ids), minimum=1),
        )


@dataclass(frozen=True)
class EncodedData:
    """Arrays that feed the model's data containers, and the labels to read the result."""

    question_ids: list[str]
    forecaster_ids: list[str]
    group_ids: list[str]
    arrays: dict[str, np.ndarray]
    #: Whether the groups differ in how their crowds err, on the resolved questions
    #: (models/topics.py): what switches the topic terms on (see :func:`model_data`).
    group_evidence: GroupEvidence | None = None


def encode(data: ForecastData, structure: ModelStructure) -> EncodedData:
    """Turn records into the padded arrays of :func:`build_model`."""
    qids = data.question_ids
    fids = data.forecaster_ids
    gids = data.group_ids
    if len(qids) > structure.questions or len(fids) > structure.forecasters:
        raise DataError("data does not fit the model structure")
    if len(gids) > structure.groups:
        raise DataError("data does not fit the model structure")
    q_index = {q: i for i, q in enumerate(qids)}
    f_index = {f: i for i, f in enumerate(fids)}
    g_index = {g: i for i, g in enumerate(gids)}

    question_group = np.zeros(structure.questions, dtype=np.int64)
    for i, q in enumerate(data.questions):
        question_group[i] = g_index[q.group]

    # Forecasts by question, then time: the order in which questions that move are
    # filtered (models/_internal/walk.py); sums over a question do not mind it.
    obs_q = np.array([q_index[f.question_id] for f in data.forecasts], dtype=np.int64)
    obs_t = epoch_seconds([f.created_at for f in data.forecasts])
    order = time_order(obs_q, obs_t)
    fc = [data.forecasts[i] for i in order]
    obs_q, obs_t = obs_q[order], obs_t[order]
    obs_e = np.array([f_index[f.forecaster_id] for f in fc], dtype=np.int64)
    obs_m = np.array([f.logit_center for f in fc], dtype=np.float64)
    obs_s = np.array([f.logit_spread for f in fc], dtype=np.float64)
    obs_a = evidence_offsets(data.evidence, q_index, obs_q, obs_t)

    res = data.resolutions
    y_q = np.array([q_index[r.question_id] for r in res], dtype=np.int64)
    y = np.array([r.outcome for r in res], dtype=np.int64)
    y_t = epoch_seconds([r.resolved_at for r in res])
    y_a = evidence_offsets(data.evidence, q_index, y_q, y_t)

    # Centre the elements the data pin down well (docs/model.md, "Parametrisation").
    bare = obs_s == 0
    several_forecasters, several_groups = len(fids) > 1, len(gids) > 1
    arrays: dict[str, np.ndarray] = {
        "question_group": question_group,
        # A lone forecaster is never centred: its deviations are off (see below).
        "forecaster_centred": (
            several_forecasters & forecasters_to_centre(obs_q, obs_e, obs_m, structure.forecasters)
        ).astype(np.float64),
        # With one forecaster, its deviations from the population cannot be told apart from
        # the population's values (docs/model.md, "Parametrisation" 5): off.
        "forecaster_effects": np.asarray(float(several_forecasters)),
        "group_effects": np.asarray(float(several_groups)),
        "group_spread_centred": (
            several_groups
            & group_spreads_to_centre(question_group[: len(qids)], obs_q, obs_m, structure.groups)
        ).astype(np.float64),
        "obs_question": obs_q,
        "obs_forecaster": obs_e,
        "obs_logit": obs_m,
        "obs_spread": obs_s,
        # Read only where questions hold still (see build_model).
        "forecaster_bare_forecasts": np.bincount(
            obs_e[bare], minlength=structure.forecasters
        ).astype(np.float64),
        "obs_with_spread": np.flatnonzero(~bare).astype(np.int64),
        "question_forecasts": np.bincount(obs_q, minlength=structure.questions).astype(np.float64),
        # Days since the question's previous forecast (0 for its first); read only where
        # questions move.
        "obs_days": time_steps(obs_q, obs_t),
        "obs_evidence": obs_a.reshape(-1, len(RELIABILITY_CLASSES)),
        "outcome_question": y_q,
        "outcome": y,
        "outcome_evidence": y_a.reshape(-1, len(RELIABILITY_CLASSES)),
    }
    # Do the groups differ in how their crowds err? (docs/model.md, "Topics"). Read by
    # model_data, which turns it into the topic terms' switch.
    evidence = group_evidence(*topic_test_inputs(arrays))
    return EncodedData(qids, fids, gids, arrays, evidence)


def topic_test_inputs(
    arrays: dict[str, np.ndarray],
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """What the test of whether the groups differ reads from the encoded ``arrays``: each
    resolved question's crowd log-odds, outcome and group (``models.topics.group_evidence``)."""
    y_q = arrays["outcome_question"]
    crowd = latest_mean_logodds(
        arrays["obs_question"],
        arrays["obs_forecaster"],
        arrays["obs_logit"],
        len(arrays["question_forecasts"]),
    )
    return crowd[y_q], arrays["outcome"], arrays["question_group"][y_q]


# --------------------------------------------------------------------------------------
# The PyMC model
# --------------------------------------------------------------------------------------


def mixture_on(config: ModelConfig) -> bool:
    """Whether any question can be contentious under ``config`` (docs/model.md).

    Off (``noise_scale`` 1, or ``max_forecasts`` below 2), the model has no second
    component to compute: each gradient costs about half as much where most questions are
    resolved (docs/performance.md).
    """
    cp = config.forecaster.contentious
    return cp.noise_scale > 1.0 and cp.max_forecasts >= 2


def group_spreads_to_centre(
    question_group: np.ndarray, obs_q: np.ndarray, obs_m: np.ndarray, n_groups: int
) -> np.ndarray:
    """Which groups sample their question spread and level centred (docs/model.md,
    "Parametrisation" 4): those of at least :data:`CENTRE_GROUP_SPREAD_AT` questions whose
    own questions pin their spread more tightly than the groups' spreads differ.

    Centring pays where a group's data outweigh the population prior, and that prior's
    weight grows as the groups grow alike: groups alike in spread funnel centred however
    many questions each has. How far the spreads differ is read from the forecasts alone
    (never the outcomes): each question's mean forecast log-odds, the log of their standard
    deviation in each group of :data:`GROUP_SPREAD_ESTIMATE_AT` questions or more (sampling
    variance ``1 / (2 (n_g - 1))``), and the DerSimonian-Laird estimate ``D`` of the variance
    between groups beyond that. A large group is centred where ``D`` exceeds its sampling
    variance. With fewer than two groups to compare, size alone decides. The choice changes
    the coordinates, not the posterior; a wrong one costs time (a divergent fit refitted
    non-centred, or slow mixing), not scores.

    Parameters
    ----------
    question_group : ndarray of int
        Group of each real question.
    obs_q, obs_m : ndarray
        Question index and log-odds centre of each forecast.
    n_groups : int
        Length of the mask (the padded number of groups).

    Returns
    -------
    ndarray of bool, shape (n_groups,)
    """
    sizes = np.bincount(question_group, minlength=n_groups)
    large = sizes >= CENTRE_GROUP_SPREAD_AT
    n_q = len(question_group)
    counts = np.bincount(obs_q, minlength=n_q)
    seen = counts > 0
    means = np.bincount(obs_q, weights=obs_m, minlength=n_q)[seen] / counts[seen]
    n, _, squares = moments_by(question_group[seen], means, n_groups)
    members = n >= GROUP_SPREAD_ESTIMATE_AT
    if members.sum() < 2:
        return large
    dof = n[members] - 1
    # A floor keeps a group of identical forecasts finite (and far from the others).
    y = np.log(np.maximum(np.sqrt(squares[members] / dof), 1e-2))
    v = 1.0 / (2.0 * dof)
    between = between_variance(y, v)
    # A large group outside the estimate (most of its questions without forecasts) keeps
    # the size rule: its spread is pinned by its prior and outcomes, not read here.
    own = np.full(n_groups, -np.inf)
    own[members] = v
    return large & (between > own)


def moments_by(
    index: np.ndarray, x: np.ndarray, length: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per value of ``index`` (``0 .. length - 1``): how many ``x``, their mean (0 where none)
    and their sum of squared deviations from it."""
    n = np.bincount(index, minlength=length)
    mean = np.bincount(index, weights=x, minlength=length) / np.maximum(n, 1)
    squares = np.bincount(index, weights=(x - mean[index]) ** 2, minlength=length)
    return n, mean, squares


def between_variance(y: np.ndarray, v: np.ndarray) -> float:
    """The DerSimonian-Laird estimate of the variance between the true values behind the
    estimates ``y`` (sampling variances ``v``), beyond their sampling noise; 0 where the
    estimates scatter no more than that noise."""
    w = 1.0 / v
    q = float(np.sum(w * (y - np.sum(w * y) / w.sum()) ** 2))
    return max(0.0, (q - (len(y) - 1)) / (w.sum() - np.sum(w**2) / w.sum()))


def forecasters_to_centre(
    obs_q: np.ndarray, obs_e: np.ndarray, obs_m: np.ndarray, n_forecasters: int
) -> np.ndarray:
    """Which forecasters sample their bias and log noise centred (docs/model.md,
    "Parametrisation" 4): those of at least :data:`CENTRE_FORECASTER_AT` forecasts, where
    the forecasters differ in bias and in noise beyond chance and those of that many
    forecasts are at least :data:`MIN_CENTRED_FORECASTERS`, or every forecaster.

    As for groups (:func:`group_spreads_to_centre`), centring pays where a forecaster's data
    outweigh the population prior, and forecasters alike make that prior tight however many
    forecasts each has. How far they differ is read from the forecasts alone (never the
    outcomes): each forecast's log-odds minus the mean of the other forecasts of its
    question; per forecaster of :data:`FORECASTER_SPREAD_ESTIMATE_AT` such forecasts or
    more, the mean (sampling variance ``s^2 / n``) and the log standard deviation
    (``1 / (2 (n - 1))``) of those residuals; and the DerSimonian-Laird estimates of the
    variance between forecasters beyond that noise. They differ where each estimate is at
    least the median sampling variance of the forecasters to be centred. With no question
    forecast by two forecasters none is centred: nothing shows that their data outweigh the
    prior. A few forecasters of many forecasts among many of few are left non-centred too:
    so centred, they diverged where all non-centred, or with more of them centred, did
    not. The choice changes the coordinates, not the posterior; a wrong one costs time (a
    divergent fit refitted non-centred, or slow mixing), not scores.

    Parameters
    ----------
    obs_q, obs_e, obs_m : ndarray
        Question index, forecaster index and log-odds centre of each forecast.
    n_forecasters : int
        Length of the mask (the padded number of forecasters).

    Returns
    -------
    ndarray of bool, shape (n_forecasters,)
    """
    counts = np.bincount(obs_e, minlength=n_forecasters)
    large = counts >= CENTRE_FORECASTER_AT
    none = np.zeros(n_forecasters, dtype=bool)
    if large.sum() < min(MIN_CENTRED_FORECASTERS, int((counts > 0).sum())):
        return none
    per_question = np.bincount(obs_q)
    shared = per_question[obs_q] >= 2
    q, e, m = obs_q[shared], obs_e[shared], obs_m[shared]
    residual = m - (np.bincount(obs_q, weights=obs_m)[q] - m) / (per_question[q] - 1)
    n, mean, squares = moments_by(e, residual, n_forecasters)
    members = n >= FORECASTER_SPREAD_ESTIMATE_AT
    typical = large & members
    if members.sum() < 2 or not typical.any():
        return none
    # A floor keeps a forecaster who always says what the others say finite.
    variance = np.maximum(squares / np.maximum(n - 1, 1), 1e-4)
    v_bias = variance / np.maximum(n, 1)
    v_noise = 1.0 / (2.0 * np.maximum(n - 1, 1))
    d_bias = between_variance(mean[members], v_bias[members])
    d_noise = between_variance(0.5 * np.log(variance[members]), v_noise[members])
    differ = d_bias >= np.median(v_bias[typical]) and d_noise >= np.median(v_noise[typical])
    return large if differ else none


def _partially_centred(name: str, mu: Any, sd: Any, centred: Any, dims: str) -> Any:
    """``x ~ Normal(mu, sd)``, centred where ``centred`` is 1 and non-centred where it is 0.

    The free variable ``u`` is ``x`` itself where centred, and ``(x - mu) / sd`` elsewhere.
    Elements with much data sample best centred, those with little non-centred; the mask is
    data, so one compiled model serves both.
    """
    import pymc as pm

    u = pm.Flat(f"{name}_u", dims=dims)
    x = centred * u + (1 - centred) * (mu + sd * u)
    logp_c = pm.logp(pm.Normal.dist(mu, sd), u)
    logp_nc = pm.logp(pm.Normal.dist(0.0, 1.0), u)
    pm.Potential(f"{name}_prior", (centred * logp_c + (1 - centred) * logp_nc).sum())
    return x


def build_model(structure: ModelStructure, config: ModelConfig, encoded: EncodedData) -> Any:
    """Build the PyMC model for ``structure`` with ``encoded`` as its initial data.

    Parameters
    ----------
    structure : ModelStructure
        Padded sizes.
    config : ModelConfig
        Hyperpriors.
    encoded : EncodedData
        Initial data (later data sets are swapped in with ``with_data``).

    Returns
    -------
    pymc.Model
    """
    import pymc as pm
    import pytensor.tensor as pt

    qp, fp, ep = config.question, config.forecaster, config.evidence
    nq, ne, ng = structure.questions, structure.forecasters, structure.groups
    arr = model_data(config, encoded)
    coords = {
        QUESTION_DIM: np.arange(nq),
        FORECASTER_DIM: np.arange(ne),
        GROUP_DIM: np.arange(ng),
        RELIABILITY_DIM: list(RELIABILITY_CLASSES),
    }
    with pm.Model(coords=coords) as model:
        question_group = pm.Data("question_group", arr["question_group"])
        obs_q = pm.Data("obs_question", arr["obs_question"])
        obs_e = pm.Data("obs_forecaster", arr["obs_forecaster"])
        obs_m = pm.Data("obs_logit", arr["obs_logit"])
        obs_s = pm.Data("obs_spread", arr["obs_spread"])
        obs_a = pm.Data("obs_evidence", arr["obs_evidence"])
        y_q = pm.Data("outcome_question", arr["outcome_question"])
        y = pm.Data("outcome", arr["outcome"])
        y_a = pm.Data("outcome_evidence", arr["outcome_evidence"])
        forecaster_centred = pm.Data("forecaster_centred", arr["forecaster_centred"])
        group_effects = pm.Data("group_effects", arr["group_effects"])
        topic_effects = pm.Data("topic_effects", arr["topic_effects"])
        forecaster_effects = pm.Data("forecaster_effects", arr["forecaster_effects"])
        spread_centred = pm.Data("group_spread_centred", arr["group_spread_centred"])

        # Forecasters: population discrimination alpha_bar, relative a_e centred on 1.
        log_alpha_bar = pm.Normal(
            "log_alpha_bar", fp.log_discrimination.mu, fp.log_discrimination.sigma
        )
        alpha_bar = pm.Deterministic("alpha_bar", pt.exp(log_alpha_bar))
        log_a_sd = pm.HalfNormal("log_a_sd", fp.log_discrimination_sd.sigma)
        # Discrimination is always non-centred: its population spread is small (forecasters
        # differ little in it), which is where a centred parametrisation funnels.
        log_a = forecaster_effects * _partially_centred("log_a", 0.0, log_a_sd, 0.0, FORECASTER_DIM)
        rel_a = pt.exp(log_a)
        pm.Deterministic("alpha", alpha_bar * rel_a, dims=FORECASTER_DIM)
        beta_mu = pm.Normal("beta_mu", fp.bias_mean.mu, fp.bias_mean.sigma)
        beta_sd = pm.HalfNormal("beta_sd", fp.bias_sd.sigma)
        # Deviations from the mean bias are the free variables: a common shift of all biases
        # is then the one variable beta_mu (see forecast_level below).
        beta = beta_mu + forecaster_effects * _partially_centred(
            "beta_e", 0.0, beta_sd, forecaster_centred, FORECASTER_DIM
        )
        pm.Deterministic("beta", beta, dims=FORECASTER_DIM)
        log_sigma_mu = pm.Normal("log_sigma_mu", fp.log_noise_mean.mu, fp.log_noise_mean.sigma)
        log_sigma_sd = pm.HalfNormal("log_sigma_sd", fp.log_noise_sd.sigma)
        log_sigma = log_sigma_mu + forecaster_effects * (
            _partially_centred(
                "log_sigma", log_sigma_mu, log_sigma_sd, forecaster_centred, FORECASTER_DIM
            )
            - log_sigma_mu
        )
        sigma = pm.Deterministic("sigma", pt.exp(log_sigma), dims=FORECASTER_DIM)

        # Questions on the forecast scale phi = alpha_bar * theta. The free scale parameters
        # are phi-scale; their priors are stated on the theta scale, hence the Jacobian.
        # Forecasts pin the question level plus the mean bias; only outcomes split the two.
        # Sampling their sum makes that trade one axis (beta_mu) instead of a diagonal.
        forecast_level = pm.Flat("forecast_level")
        mu_global_phi = forecast_level - beta_mu
        group_sd_phi = pm.HalfFlat("group_sd_phi")
        # The groups' question spreads are partially pooled (non-centred, on the log scale)
        # around a typical one: a group of a few questions cannot tell its spread alone, and
        # an unpooled spread fitted to three alike questions shrinks a fourth hard onto them.
        tau0_phi = pm.HalfFlat("question_sd_phi")
        log_tau0 = pt.log(tau0_phi)
        log_tau_sd = pm.HalfNormal("question_sd_log_spread", qp.question_sd_log_spread.sigma)
        # Centred for groups of many questions, which pin their spread (docs/model.md,
        # "Parametrisation" 4): there the free variable is log tau_g itself, not its
        # deviation from log tau_0, which would trade with tau_0 along a ridge. Never with
        # one group, where the deviation is off.
        log_tau_g = _partially_centred(
            "question_sd_log", log_tau0, log_tau_sd, spread_centred, GROUP_DIM
        )
        tau_phi = pm.Deterministic(
            "tau_phi",
            pt.exp(log_tau0 + group_effects * (log_tau_g - log_tau0)),
            dims=GROUP_DIM,
        )
        # Topics (docs/model.md): per group, a factor on the crowd's discrimination and a
        # shift from the crowd's level to the outcomes, theta = phi / (alpha_bar * kappa_g)
        # + eta_g. Forecasts pin phi, so only the group's outcomes inform kappa_g and eta_g;
        # with a single group they are not told apart from alpha_bar and the level: off. Off
        # too where the resolved questions show no evidence that groups differ (models/
        # topics.py): alike groups' terms would stray with their few outcomes.
        # The mean of the group terms trades with alpha_bar and beta_mu along a ridge the
        # priors bound (a Gaussian, not a funnel), so a group with few resolved questions
        # takes the common part of the others' lessons, as partial pooling does.
        scale_sd = pm.HalfNormal("group_scale_sd", fp.group_log_discrimination_sd.sigma)
        scale_z = pm.Normal("group_scale_z", 0.0, 1.0, dims=GROUP_DIM)
        log_kappa = topic_effects * scale_sd * scale_z
        kappa = pm.Deterministic("group_scale", pt.exp(log_kappa), dims=GROUP_DIM)
        shift_sd = pm.HalfNormal("group_shift_sd", fp.group_shift_sd.sigma)
        shift_z = pm.Normal("group_shift_z", 0.0, 1.0, dims=GROUP_DIM)
        eta = pm.Deterministic("group_shift", topic_effects * shift_sd * shift_z, dims=GROUP_DIM)
        alpha_g = alpha_bar * kappa
        mu_global = pm.Deterministic("mu_global", mu_global_phi / alpha_bar)
        group_sd = group_sd_phi / alpha_bar
        pm.Deterministic("tau_group", tau_phi / alpha_g, dims=GROUP_DIM)
        pm.Potential(
            "theta_scale_priors",
            pm.logp(pm.Normal.dist(qp.base_logit.mu, qp.base_logit.sigma), mu_global)
            + pm.logp(pm.HalfNormal.dist(qp.group_sd.sigma), group_sd)
            + pm.logp(pm.HalfNormal.dist(qp.question_sd.sigma), tau0_phi / alpha_bar)
            - 3 * log_alpha_bar,
        )
        # With a single group its offset is not identified apart from the global level: off.
        # Large groups (those whose spread is centred) sample their level centred, on what
        # forecasts see (the level plus the mean bias), so a common shift of the biases
        # against the levels stays the one axis beta_mu (docs/model.md, "Parametrisation" 4).
        group_level = _partially_centred(
            "group_level", forecast_level, group_sd_phi, spread_centred, GROUP_DIM
        )
        mu_group_phi = mu_global_phi + group_effects * (group_level - forecast_level)
        pm.Deterministic("mu_group", mu_group_phi / alpha_g + eta, dims=GROUP_DIM)
        # Evidence discounts per reliability class.
        w = pm.Beta(
            "w",
            alpha=np.array([ep.weights[c].alpha for c in RELIABILITY_CLASSES]),
            beta=np.array([ep.weights[c].beta for c in RELIABILITY_CLASSES]),
            dims=RELIABILITY_DIM,
        )

        # Forecasts: m = a_e * (phi(t) - P) + P + beta_e = a_e * phi + c with c = beta_e +
        # (1 - a_e) P + a_e * alpha_g * A w (evidence moves theta by A w). Forecasters who
        # differ in discrimination agree at the pivot P: at 50% (P = 0, the default), or,
        # with forecaster.pivot_share set, at a learnt share of the questions' global level
        # on the forecast scale (docs/model.md, "Forecasters"). The question effects phi are
        # integrated out (models/_internal/marginal.py): per-question sums, then closed
        # forms; or, where questions move, by a Kalman filter (models/_internal/walk.py).
        alpha_q, eta_q = alpha_g[question_group], eta[question_group]
        a_obs = rel_a[obs_e]
        c_obs = beta[obs_e] + a_obs * alpha_q[obs_q] * pt.dot(obs_a, w)
        if fp.pivot_share is not None:  # (else P = 0: the graph as without the term)
            pivot_share = pm.Beta("pivot_share", fp.pivot_share.alpha, fp.pivot_share.beta)
            c_obs = c_obs + (1.0 - a_obs) * (pivot_share * mu_global_phi)
        v_e = sigma**2 + fp.noise_floor**2
        v_obs = v_e[obs_e] + obs_s**2
        resid = obs_m - c_obs
        mu_q = mu_group_phi[question_group]
        tau_q = tau_phi[question_group]
        # Contentious questions (docs/model.md): a two-component mixture per question, the
        # second with every forecast's variance times k2. Per component, the forecasts'
        # marginal likelihood and the outcome's expectation under phi's Gaussian posterior
        # given the forecasts: log E[logistic(Z)], Z ~ Normal(m, s^2), by quadrature in one
        # fused loop (models/_internal/marginal.py, outcome_loglik).
        cp = fp.contentious
        share = pm.Beta("contentious_share", cp.share.alpha, cp.share.beta)
        k2 = cp.noise_scale**2
        n_q = pm.Data("question_forecasts", arr["question_forecasts"])
        sign = 2 * y - 1
        outcome_op = outcome_loglik_op()

        def with_outcome(ll_q: Any, mean_q: Any, var_q: Any) -> Any:
            """Per question: the forecasts' term plus the outcome's, under phi's Gaussian
            ``(mean_q, var_q)`` given the forecasts."""
            m_y = sign * (mean_q[y_q] / alpha_q[y_q] + eta_q[y_q] + pt.dot(y_a, w))
            s_y = pt.sqrt(var_q[y_q]) / alpha_q[y_q]
            lik_y = outcome_op(m_y, s_y)[0]
            return ll_q + pt.inc_subtensor(pt.zeros(nq)[y_q], lik_y)

        if drift_on(config):
            # Questions move (docs/model.md, "Questions that move"): a random walk of phi
            # in time, integrated out by a Kalman filter over each question's forecasts in
            # time order (models/_internal/walk.py); the outcome reads phi at the newest
            # forecast. The filter's log-likelihood is whole (C and L included).
            drift_sd: Any = 0.0
            if qp.drift_sd is not None:
                drift_sd = pm.HalfNormal("drift_sd", qp.drift_sd.sigma)
            # The crowd's shared error drifts and returns to rest; outcomes do not read it.
            crowd_sd: Any = 0.0
            if qp.crowd_drift_sd is not None:
                crowd_sd = pm.HalfNormal("crowd_drift_sd", qp.crowd_drift_sd.sigma)
            obs_days = pm.Data("obs_days", arr["obs_days"])
            walk = walk_filter_op()
            # Questions whose forecasts were all made at one instant (forecastbench's) have
            # no time for the walk or the crowd's drift to pass: the filter's result is then
            # the closed form's with the crowd's error added to the prior (one_instant),
            # which costs the closed form's sums. The filter runs over the other questions'
            # forecasts; each question takes the one result that is its own.
            timed = pm.Data("question_timed", arr["question_timed"])
            obs_instant = pm.Data("obs_instant", arr["obs_instant"])
            i_q = obs_q[obs_instant]
            sums_i = [
                pt.inc_subtensor(pt.zeros(nq)[i_q], x)
                for x in forecast_terms(
                    a_obs[obs_instant], resid[obs_instant], v_obs[obs_instant], pt.log
                )
            ]

            def walked(k: float, obs: Any) -> Any:
                """Per question: log p(forecasts, outcome | component), every forecast's
                noise variance times ``k``, of the forecasts ``obs`` of questions that span
                time, and of all the forecasts of those that do not."""
                filtered = walk(
                    obs_q[obs],
                    a_obs[obs],
                    resid[obs],
                    v_obs[obs] * k,
                    obs_days[obs],
                    mu_q,
                    tau_q**2,
                    drift_sd**2,
                    crowd_sd**2,
                    1.0 / qp.crowd_drift_days,
                )
                p_i, b_i, c_i, l_i = sums_i
                instant = one_instant(
                    p_i / k,
                    b_i / k,
                    c_i / k,
                    l_i + n_q * np.log(k),
                    mu_q,
                    tau_q**2,
                    crowd_sd**2,
                    pt.log,
                    pt.sqrt,
                )
                return with_outcome(
                    *(pt.switch(timed, f, c) for f, c in zip(filtered, instant, strict=True))
                )

            usual = walked(1.0, pm.Data("obs_timed", arr["obs_timed"]))
            noisy = usual
            if mixture_on(config):
                # Only questions that may be contentious read it: their forecasts alone.
                noisy = walked(k2, pm.Data("obs_mixable", arr["obs_mixable"]))
            rest: Any = 0.0
        else:
            prec_obs = 1.0 / v_obs

            def per_question(x: Any) -> Any:
                return pt.inc_subtensor(pt.zeros(nq)[obs_q], x)

            sum_p = per_question(a_obs**2 * prec_obs)
            sum_b = per_question(a_obs * resid * prec_obs)
            sum_c = per_question(resid**2 * prec_obs)

            def component(k: float) -> Any:
                """Per question: log p(forecasts, outcome | component), but C and L, every
                forecast's noise variance times ``k``."""
                p, b = sum_p / k, sum_b / k
                ll_q = forecasts_marginal_loglik(p, b, 0.0, 0.0, mu_q, tau_q, pt.log)
                return with_outcome(ll_q, *phi_posterior(p, b, mu_q, tau_q))

            usual = component(1.0)
            noisy = component(k2) - 0.5 * (sum_c * (1.0 / k2 - 1.0) + n_q * np.log(k2))
            # C and L of the usual component enter only additively: as totals. Bare
            # probabilities (no stated spread) have a noise variance that depends on the
            # forecaster alone: their log-variances are summed as counts per forecaster.
            bare = pm.Data("forecaster_bare_forecasts", arr["forecaster_bare_forecasts"])
            with_spread = pm.Data("obs_with_spread", arr["obs_with_spread"])
            log_2pi_v = (bare * pt.log(2 * np.pi * v_e)).sum() + pt.log(
                2 * np.pi * v_obs[with_spread]
            ).sum()
            rest = -0.5 * ((resid**2 * prec_obs).sum() + log_2pi_v)
        per_q = usual
        if mixture_on(config):
            mixed = pt.logaddexp(pt.log1p(-share) + usual, pt.log(share) + noisy)
            per_q = pt.switch(config.forecaster.contentious.admits(n_q), mixed, usual)
        pm.Potential("forecasts_and_outcomes", per_q.sum() + rest)
        # Keep what draws of phi need afterwards.
        pm.Deterministic("mu_group_phi", mu_group_phi, dims=GROUP_DIM)
    return model


def compile_nutpie(model: Any, var_names: list[str]) -> Any:
    """``nutpie.compile_pymc_model(model)``, and once more without PyTensor's numba cache
    if compiling from the cache fails.

    PyTensor (3.3.8) keys its on-disk numba cache of generated functions (fused elementwise
    kernels among them) by the operation, not by whether their inputs may be written: a
    kernel stored with the signature of writeable inputs only, loaded by a later process
    where nutpie passes the model's data read-only, failed numba's typing (``TypingError:
    ... readonly array``), and so did every later process on that cache. Seen in CI on a
    cold cache filled by the test files in parallel (docs/operations.md, "Caches").
    Compiling without the cache is the same model and costs only the compile time the
    cache would have saved; the failing entries stay, and each process that meets one pays
    that once.
    """
    import nutpie
    import pytensor
    from numba.core.errors import NumbaError

    try:
        return nutpie.compile_pymc_model(model, var_names=var_names)
    except NumbaError as exc:
        if not pytensor.config.numba__cache:
            raise
        # (Numba's message ends with where typing failed; what failed is in its middle.)
        log.warning(
            "compiling the model from PyTensor's numba cache failed (%s: %s); compiling it "
            "again without the cache",
            type(exc).__name__,
            exc,
        )
    with pytensor.config.change_flags(numba__cache=False):
        return nutpie.compile_pymc_model(model, var_names=var_names)


class _CompiledModels:
    """One compiled nutpie model per (structure, priors); compiled once per process."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._models: dict[tuple[ModelStructure, str], Any] = {}
        self.compilations = 0

    def get(self, structure: ModelStructure, config: ModelConfig, encoded: EncodedData) -> Any:
        key = (structure, _priors_hash(config))
        with self._lock:
            compiled = self._models.get(key)
            if compiled is None:
                model = build_model(structure, config, encoded)
                started = time.perf_counter()
                compiled = compile_nutpie(model, sampled_vars(config))
                log.info("compiled model %s in %.1f s", structure, time.perf_counter() - started)
                self._models[key] = compiled
                self.compilations += 1
                # Out of the collector's passes: each fit's collection scans only what is
                # new since, not the compiled graphs (docs/performance.md, "Garbage collection").
                del model
                frozen = freeze_long_lived()
                log.info("%d long-lived objects frozen out of the collector's passes", frozen)
        return compiled.with_data(**model_data(config, encoded))


COMPILED = _CompiledModels()


def _priors_hash(config: ModelConfig) -> str:
    """Hash of the parts of the config that are baked into the compiled graph."""
    return ModelConfig(
        schema_version=config.schema_version,
        question=config.question,
        forecaster=config.forecaster,
        evidence=config.evidence,
    ).content_hash()


# --------------------------------------------------------------------------------------
# Fits and their outputs
# --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Diagnostics:
    """Convergence of a fit, and whether it may be published (with the reasons if not).

    ``max_rhat`` and ``min_ess_bulk`` are over the questions' probabilities (rank-normalised
    split R-hat, bulk ESS); ``max_rhat_all`` also over every sampled variable.
    """

    max_rhat: float
    min_ess_bulk: float
    divergences: int
    publishable: bool
    reasons: tuple[str, ...] = ()
    max_rhat_all: float = float("nan")
    sampling_seconds: float = float("nan")
    attempts: int = 1
    #: Forecasters whose bias and noise were sampled centred in the returned attempt.
    centred_forecasters: int = 0
    #: Whether the groups' factors and shifts were on (docs/model.md, "Topics"); None in
    #: fits saved before the gate, where they were on wherever there were two groups.
    topic_effects: bool | None = None
    #: The test of whether the groups differ that decided it (models/topics.py,
    #: ``GroupEvidence.to_dict``), with the threshold of the p-value it was held to.
    topic_evidence: dict[str, Any] | None = None

    def to_dict(self) -> dict[str, Any]:
        d = dataclasses.asdict(self)
        d["reasons"] = list(self.reasons)
        return d


def next_attempt(
    diag: Diagnostics, publish: PublishCriteria, tune: int, draws: int, target_accept: float
) -> tuple[int, int, float]:
    """The ``(tune, draws, target_accept)`` of the retry of an attempt that failed the
    publish checks with ``diag``.

    Every retry tunes twice as long. An attempt that diverged takes the small steps of a
    target acceptance of at least 0.99: divergences say the step is too long somewhere in
    the posterior. One that mixed slowly (R-hat or ESS failed) takes twice the draws, at its
    own target if it did not diverge: its steps were sound, its chains too short, and
    smaller steps would only make each draw dearer (docs/model.md, "Fits and publishability").
    """
    tune *= 2
    if diag.divergences > 0:
        target_accept = max(target_accept, 0.99)
    if not (diag.max_rhat <= publish.max_rhat and diag.min_ess_bulk >= publish.min_ess_bulk):
        # Chains that mix slowly (hyperparameters near their prior, coupled to hundreds of
        # forecasters seen once) need more draws, not only more tuning.
        draws *= 2
    return tune, draws, target_accept


@dataclass(frozen=True)
class QuestionForecast:
    """A question's probability at one time, with its uncertainty."""

    question_id: str
    probability: float
    interval: tuple[float, float]
    interval_prob: float
    at: datetime | None
    median: float
    #: Posterior probability that the question is contentious: its forecasters disagree
    #: far beyond their usual noise (docs/model.md). 0 where it cannot be.
    contentious: float = 0.0
    #: The time (UTC) of the newest forecast on the question in the posterior's data: where
    #: the question is read (``T_q``, docs/model.md, "Questions that move"); evidence observed
    #: later is applied on top. ``None``: no forecast on it (the prior and evidence alone).
    as_of: datetime | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "question_id": self.question_id,
            "probability": self.probability,
            "interval": list(self.interval),
            "interval_prob": self.interval_prob,
            "median": self.median,
            "contentious": self.contentious,
            "at": None if self.at is None else self.at.isoformat(),
            "as_of": None if self.as_of is None else self.as_of.isoformat(),
        }


@dataclass(frozen=True)
class InputInfluence:
    """One forecast's or evidence item's pull on a question (:meth:`Posterior.influence`)."""

    #: ``"forecast"`` or ``"evidence"``.
    kind: str
    #: The forecast's (elicitation's) or the evidence item's id.
    id: str
    #: The question's probability without this input, the others kept.
    probability_without: float
    #: The probability with every input minus ``probability_without``.
    influence: float
    #: Pareto k-hat of the reweighting without it (above 0.7: only a refit can tell).
    khat: float | None
    #: The input itself.
    source: Forecast | Evidence


@dataclass(frozen=True)
class QuestionInfluence:
    """What moves an open question's probability (:meth:`Posterior.influence`)."""

    question_id: str
    #: The probability with every input, recomputed as each ``probability_without`` is.
    probability: float
    #: P(yes) of a question of the same group with no forecast and no evidence.
    group_prior: float
    group_prior_interval: tuple[float, float]
    #: Largest pull first.
    inputs: list[InputInfluence]
    #: The question's older forecasts, not left out one by one (see ``max_forecasts``).
    forecasts_not_shown: int = 0


def _normalised(log_weights: np.ndarray | None, n: int) -> np.ndarray:
    """Weights that sum to 1 from log weights (``None``: ``n`` equal ones)."""
    if log_weights is None:
        return np.full(n, 1.0 / n)
    return np.exp(log_weights - logsumexp(log_weights))


def _weighted_quantiles(values: np.ndarray, weights: np.ndarray, probs: Sequence[float]):
    order = np.argsort(values)
    v = values[order]
    cw = np.cumsum(weights[order])
    cw = (cw - 0.5 * weights[order]) / cw[-1]
    return np.interp(probs, cw, v)


def _weighted_summary(
    values: np.ndarray, weights: np.ndarray, lo_q: float, hi_q: float
) -> dict[str, Any]:
    """``{"mean", "interval": [lo, hi]}`` of weighted draws (a summary row's cell)."""
    lo, hi = _weighted_quantiles(values, weights, [lo_q, hi_q])
    return {"mean": float(np.dot(weights, values)), "interval": [float(lo), float(hi)]}


#: A statement as the instant updates see it, per draw: ``(a, c, v, m, seconds)``.
_Stated = tuple[np.ndarray, np.ndarray, np.ndarray, float, float]


@dataclass
class Posterior:
    """A fitted posterior (or an instantly updated one) and the data it stands on.

    ``draws`` hold the kept variables flattened over (chain, draw) to a leading ``sample``
    axis; ``log_weights`` are importance weights of instant updates (``None``: equal).
    """

    fit_id: str
    created_at: datetime
    config: ModelConfig
    data: ForecastData
    question_ids: list[str]
    forecaster_ids: list[str]
    group_ids: list[str]
    posterior: xr.DataTree
    diagnostics: Diagnostics
    draws: dict[str, np.ndarray] = field(repr=False)
    log_weights: np.ndarray | None = None
    khat: float | None = None
    tier: str = "refit"
    updates: tuple[str, ...] = ()
    #: The sampler settings the fit actually ran with (``None``: the config's).
    sampler: SamplerSettings | None = None
    _new_forecasters: dict[str, dict[str, np.ndarray]] = field(default_factory=dict, repr=False)

    # -- what the fit learned ----------------------------------------------------------
    @property
    def n_samples(self) -> int:
        return self.draws["theta"].shape[0]

    @property
    def weights(self) -> np.ndarray:
        return _normalised(self.log_weights, self.n_samples)

    @functools.cached_property
    def _positions(self) -> dict[str, int]:
        """Each question's column in the draws (``question_ids`` never change)."""
        return {q: i for i, q in enumerate(self.question_ids)}

    @functools.cached_property
    def _newest_forecasts(self) -> dict[str, datetime]:
        """Each question's newest forecast time (UTC) in ``data``; questions without one are
        absent. Instant updates return a new Posterior (new data), whose cache starts empty."""
        newest: dict[str, datetime] = {}
        for f in self.data.forecasts:
            t = as_utc(f.created_at)
            if f.question_id not in newest or t > newest[f.question_id]:
                newest[f.question_id] = t
        return newest

    def _group_of(self, j: int) -> int:
        """The column of question ``j``'s group in the group-level draws."""
        return self.group_ids.index(self.data.questions[j].group)

    def _theta_scale(self, j: int) -> tuple[np.ndarray, np.ndarray]:
        """Per draw, question ``j``'s ``alpha_q`` and ``eta_q``: theta = phi / alpha_q + eta_q."""
        g = self._group_of(j)
        d = self.draws
        return d["alpha_bar"] * d["group_scale"][:, g], d["group_shift"][:, g]

    def _phi_prior(self, j: int) -> tuple[np.ndarray, np.ndarray]:
        """Per draw, the mean and sd of question ``j``'s phi before its forecasts (its group's)."""
        g = self._group_of(j)
        return self.draws["mu_group_phi"][:, g], self.draws["tau_phi"][:, g]

    def _question_index(self, question_ids: Sequence[str]) -> np.ndarray:
        """Columns of ``question_ids`` in the draws; an unknown id is a DataError."""
        try:
            return np.array([self._positions[q] for q in question_ids], dtype=np.int64)
        except KeyError as exc:
            raise DataError(f"unknown question {exc.args[0]!r}") from None

    def probability_draws(
        self, question_ids: Sequence[str] | None = None, at: datetime | None = None
    ) -> np.ndarray:
        """Draws of P(yes) at time ``at`` (default: after all evidence), shape (samples, n)."""
        qids = list(question_ids) if question_ids is not None else self.question_ids
        idx = self._question_index(qids)
        t = np.inf if at is None else as_utc(at).timestamp()
        a = evidence_offsets(self.data.evidence, self._positions, idx, np.full(len(idx), t))
        logits = self.draws["theta"][:, idx] + self.draws["w"] @ a.T
        return expit(logits)

    def predict(
        self,
        question_ids: Sequence[str] | None = None,
        at: datetime | None = None,
        interval_prob: float = INTERVAL_PROB,
    ) -> list[QuestionForecast]:
        """Posterior mean probability and central interval of each question at ``at``.

        Each forecast's ``as_of`` is the time of the newest forecast on its question in the
        data: the question is read where it stood then (docs/model.md, "Questions that
        move"), with evidence observed later applied on top.

        Parameters
        ----------
        question_ids : sequence of str, optional
            Default: every question of the fit.
        at : datetime, optional
            Default: now, i.e. after all evidence in the data. A past ``at`` is the current
            posterior with only the evidence observed up to ``at``: forecasts made after
            ``at`` still count, and ``as_of`` is still the newest forecast in the data (it
            can be later than ``at``); nothing is smoothed back to ``at``.
        interval_prob : float
            Mass of the central interval.

        Returns
        -------
        list of QuestionForecast
        """
        qids = list(question_ids) if question_ids is not None else self.question_ids
        p = self.probability_draws(qids, at)
        wts = self.weights
        contentious = wts @ self.draws["contentious"][:, self._question_index(qids)]
        lo_q, hi_q = (1 - interval_prob) / 2, 1 - (1 - interval_prob) / 2
        newest = self._newest_forecasts
        out = []
        for j, q in enumerate(qids):
            col = p[:, j]
            lo, med, hi = _weighted_quantiles(col, wts, [lo_q, 0.5, hi_q])
            out.append(
                QuestionForecast(
                    question_id=q,
                    probability=float(np.dot(wts, col)),
                    interval=(float(lo), float(hi)),
                    interval_prob=interval_prob,
                    at=None if at is None else as_utc(at),
                    median=float(med),
                    contentious=float(np.clip(contentious[j], 0.0, 1.0)),
                    as_of=newest.get(q),
                )
            )
        return out

    def forecaster_summary(self, interval_prob: float = INTERVAL_PROB) -> list[dict[str, Any]]:
        """Each forecaster's learned discrimination (alpha), bias (beta) and noise (sigma)."""
        counts: dict[str, int] = {}
        for f in self.data.forecasts:
            counts[f.forecaster_id] = counts.get(f.forecaster_id, 0) + 1
        lo_q, hi_q = (1 - interval_prob) / 2, 1 - (1 - interval_prob) / 2
        wts = self.weights
        rows = []
        for j, fid in enumerate(self.forecaster_ids):
            row: dict[str, Any] = {"forecaster_id": fid, "forecasts": counts.get(fid, 0)}
            for name in ("alpha", "beta", "sigma"):
                row[name] = _weighted_summary(self.draws[name][:, j], wts, lo_q, hi_q)
            rows.append(row)
        return rows

    def topic_summary(self, interval_prob: float = INTERVAL_PROB) -> list[dict[str, Any]]:
        """Per group: what its resolved questions taught the model (docs/model.md, "Topics").

        ``extremizing`` is the factor ``1 / (alpha_bar * kappa_g)`` on the crowd's log-odds
        of the group's questions (above 1: the crowd hedges there); ``shift`` is ``eta_g``,
        what outcomes add to the crowd's log-odds there. With one group both are the
        population's (no topic factors), and so they are where the fit found no evidence
        that the groups differ (:meth:`topic_terms`): factor ``1 / alpha_bar``, shift 0.
        """
        n_questions = dict.fromkeys(self.group_ids, 0)
        n_resolved = dict.fromkeys(self.group_ids, 0)
        group_of = {q.id: q.group for q in self.data.questions}
        for q in self.data.questions:
            n_questions[q.group] += 1
        for r in self.data.resolutions:
            n_resolved[group_of[r.question_id]] += 1
        lo_q, hi_q = (1 - interval_prob) / 2, 1 - (1 - interval_prob) / 2
        wts = self.weights
        d = self.draws
        rows = []
        for g, gid in enumerate(self.group_ids):
            row: dict[str, Any] = {
                "group": gid,
                "questions": n_questions[gid],
                "resolved": n_resolved[gid],
            }
            values = {
                "extremizing": 1.0 / (d["alpha_bar"] * d["group_scale"][:, g]),
                "shift": d["group_shift"][:, g],
            }
            for name, col in values.items():
                row[name] = _weighted_summary(col, wts, lo_q, hi_q)
            rows.append(row)
        return rows

    def topic_terms(self) -> dict[str, Any]:
        """Whether the groups' factors and shifts were on in this fit, and the test of
        whether the groups differ that decided it (models/topics.py; docs/model.md,
        "Topics"): ``on``, ``reason`` (one line for people) and the test's figures."""
        diag = self.diagnostics
        return {
            "on": diag.topic_effects,
            "reason": describe_topic_terms(diag.topic_effects, diag.topic_evidence),
            **(diag.topic_evidence or {}),
        }

    def population_summary(self) -> dict[str, float]:
        """Posterior means of the population-level parameters."""
        wts = self.weights
        out = {}
        for name in POPULATION_PARAMETERS:
            if name in self.draws:  # (the optional ones where the model has them)
                out[name] = float(np.dot(wts, self.draws[name]))
        for r, name in enumerate(RELIABILITY_CLASSES):
            out[f"w[{name}]"] = float(np.dot(wts, self.draws["w"][:, r]))
        return out

    # -- instant updates ---------------------------------------------------------------
    def _forecaster_params(self, forecaster_id: str) -> dict[str, np.ndarray]:
        """Per-draw alpha, beta, sigma of a forecaster; a newcomer draws from the population.

        A newcomer's draws are seeded by their id, so they are the same whichever update,
        preview or read first asks for them, and the same in every copy of the posterior."""
        if forecaster_id in self.forecaster_ids:
            j = self.forecaster_ids.index(forecaster_id)
            return {k: self.draws[k][:, j] for k in ("alpha", "beta", "sigma")}
        if forecaster_id not in self._new_forecasters:
            digest = hashlib.sha256(forecaster_id.encode()).digest()
            rng = np.random.default_rng(int.from_bytes(digest[:8], "little"))
            self._new_forecasters[forecaster_id] = self._newcomer_draws(rng)
        return self._new_forecasters[forecaster_id]

    def _newcomer_draws(self, rng: np.random.Generator) -> dict[str, np.ndarray]:
        """Per-draw alpha, beta, sigma of a forecaster the fit has not seen (the population's)."""
        d = self.draws
        n = self.n_samples
        return {
            "alpha": d["alpha_bar"] * np.exp(d["log_a_sd"] * rng.standard_normal(n)),
            "beta": d["beta_mu"] + d["beta_sd"] * rng.standard_normal(n),
            "sigma": np.exp(d["log_sigma_mu"] + d["log_sigma_sd"] * rng.standard_normal(n)),
        }

    def newcomer_summary(self, interval_prob: float = INTERVAL_PROB) -> dict[str, Any]:
        """What the model assumes of a forecaster it has not seen: alpha, beta and sigma drawn
        from the population (seeded, so the same posterior gives the same summary)."""
        draws = self._newcomer_draws(np.random.default_rng(0))
        lo_q, hi_q = (1 - interval_prob) / 2, 1 - (1 - interval_prob) / 2
        return {
            name: _weighted_summary(draws[name], self.weights, lo_q, hi_q)
            for name in ("alpha", "beta", "sigma")
        }

    def _loglik_terms(self, data: ForecastData, question_ids: set[str]) -> np.ndarray:
        """Per-draw log-likelihood of the forecasts and outcomes on ``question_ids``."""
        q_index = self._positions
        total = np.zeros(self.n_samples)
        for f in data.forecasts:
            if f.question_id in question_ids:
                a, c, v = self._forecast_terms(f, data.evidence)
                j = q_index[f.question_id]
                alpha_q, eta_q = self._theta_scale(j)
                phi = (self.draws["theta"][:, j] - eta_q) * alpha_q
                total += -0.5 * ((f.logit_center - a * phi - c) ** 2 / v + np.log(2 * np.pi * v))
        res = [r for r in data.resolutions if r.question_id in question_ids]
        if res:
            qi = np.array([q_index[r.question_id] for r in res])
            t = epoch_seconds([r.resolved_at for r in res])
            a = evidence_offsets(data.evidence, q_index, qi, t)
            logit = self.draws["theta"][:, qi] + self.draws["w"] @ a.T
            y = np.array([r.outcome for r in res])
            total += (y * -np.logaddexp(0, -logit) + (1 - y) * -np.logaddexp(0, logit)).sum(1)
        return total

    def _smoothed(
        self, log_ratio: np.ndarray | None
    ) -> tuple[np.ndarray | None, float | None, np.ndarray]:
        """The draws' log weights after ``log_ratio`` on top of those they carry, Pareto-
        smoothed (``None``: equal), the k-hat (``None``: not estimated, none needed; ``inf``:
        weights too extreme to estimate it), and the raw log weights."""
        from arviz_stats.base import array_stats

        base = np.zeros(self.n_samples) if self._raw_log_weights is None else self._raw_log_weights
        raw = base if log_ratio is None else base + log_ratio
        if (log_ratio is None and self.log_weights is None) or np.ptp(raw) == 0:
            return None, None, raw
        smoothed, k = array_stats.psislw(-raw, r_eff=1.0)
        lw, khat = np.asarray(smoothed), float(k)
        if not np.isfinite(khat) or not np.all(np.isfinite(lw)):
            # Weights too extreme to even estimate k: certainly unsafe.
            return None, float("inf"), raw
        return lw, khat, raw

    def _reweighted(self, new_data: ForecastData, log_ratio: np.ndarray | None, label: str):
        lw, khat, raw = self._smoothed(log_ratio)
        upd = dataclasses.replace(
            self,
            data=new_data,
            log_weights=lw,
            khat=khat if khat is not None else self.khat,
            tier="instant",
            updates=(*self.updates, label),
            _new_forecasters=self._new_forecasters,
        )
        upd._raw_log_weights = raw
        return upd

    _raw_log_weights: np.ndarray | None = field(default=None, repr=False)

    def needs_refit(self) -> bool:
        """True when the importance weights can no longer be trusted (k-hat > 0.7)."""
        return self.khat is not None and self.khat > KHAT_THRESHOLD

    def with_evidence(self, evidence: Evidence) -> Posterior:
        """Apply new evidence to the draws.

        Exact under the model when no forecast or resolution on the affected questions is
        dated at or after the evidence; otherwise those terms' likelihood changes, and the
        draws are reweighted by Pareto-smoothed importance sampling (see ``khat``).

        Parameters
        ----------
        evidence : Evidence
            The new item.

        Returns
        -------
        Posterior
            A new posterior of tier ``"instant"``; ``needs_refit()`` says if it is unsafe.
        """
        new_data = self.data.with_records(evidence=(evidence,))
        affected = {e.question_id for e in evidence.effects}
        t_k = as_utc(evidence.observed_at)
        later = any(
            f.question_id in affected and as_utc(f.created_at) >= t_k for f in self.data.forecasts
        ) or any(
            r.question_id in affected and (r.resolved_at is None or as_utc(r.resolved_at) >= t_k)
            for r in self.data.resolutions
        )
        log_ratio = None
        label = f"evidence:{evidence.id}"
        if later and drift_on(self.config):
            return self._refiltered(new_data, sorted(affected), label)
        if later:
            log_ratio = self._loglik_terms(new_data, affected) - self._loglik_terms(
                self.data, affected
            )
        return self._reweighted(new_data, log_ratio, label)

    def with_forecast(self, forecast: Forecast) -> Posterior:
        """Absorb one new forecast (an elicitation) by Pareto-smoothed importance sampling.

        Parameters
        ----------
        forecast : Forecast
            The new statement; its forecaster may be new to the fit.

        Returns
        -------
        Posterior
            Tier ``"instant"``, with ``khat``; ``needs_refit()`` when k-hat > 0.7.
        """
        upd = self._with_forecast(forecast)
        if len(self.forecaster_ids) == 1 and forecast.forecaster_id not in self.forecaster_ids:
            # A fit of one forecaster has no forecaster deviations (docs/model.md,
            # "Parametrisation" 5); a second forecaster switches them on: a new model.
            upd.khat = float("inf")
        return upd

    def _with_forecast(self, forecast: Forecast) -> Posterior:
        new_data = self.data.with_records(forecasts=(forecast,))
        label = f"forecast:{forecast.id or '?'}"
        before = [f for f in self.data.forecasts if f.question_id == forecast.question_id]
        changes_mixture = self._may_be_contentious(len(before)) != self._may_be_contentious(
            len(before) + 1
        )
        if drift_on(self.config) and not changes_mixture:
            # Questions move: the question is refiltered with the new forecast in its place
            # in time (a forecast older than the newest changes what the others say).
            return self._refiltered(new_data, [forecast.question_id], label)
        if any(r.question_id == forecast.question_id for r in self.data.resolutions):
            # Resolved: phi's conditional is not Gaussian; weight by the plain likelihood.
            only = ForecastData(
                questions=self.data.questions, forecasts=(forecast,), evidence=self.data.evidence
            )
            log_ratio = self._loglik_terms(only, {forecast.question_id})
            upd = self._reweighted(new_data, log_ratio, label)
            if changes_mixture:
                # Whether the question may be contentious changes with this forecast; the
                # draws cannot show that for a resolved question: only a refit will do.
                upd.khat = float("inf")
            return upd
        if changes_mixture:
            # Whether it may be contentious changes: the drawn components cannot stay.
            return self._recollapsed(new_data, forecast.question_id, label)
        # Unresolved: Rao-Blackwellised. Per draw, phi_q given the forecasts is Gaussian; the
        # weight is the new statement's predictive density (not its likelihood at one phi
        # draw, which varies far more), and phi_q is redrawn from its updated Gaussian.
        rng = np.random.default_rng(len(self.updates) + 1)
        mean, var = self._phi_conditional(forecast.question_id)
        a, c, v = self._forecast_terms(forecast)
        pred_var = a**2 * var + v
        resid = forecast.logit_center - c - a * mean
        log_ratio = -0.5 * (resid**2 / pred_var + np.log(2 * np.pi * pred_var))
        prec = 1.0 / var + a**2 / v
        new_mean = (mean / var + a * (forecast.logit_center - c) / v) / prec
        phi = new_mean + rng.standard_normal(self.n_samples) / np.sqrt(prec)
        j = self._positions[forecast.question_id]
        alpha_q, eta_q = self._theta_scale(j)
        theta = self.draws["theta"].copy()
        theta[:, j] = phi / alpha_q + eta_q
        upd = self._reweighted(new_data, log_ratio, label)
        upd.draws = {**self.draws, "theta": theta}
        return upd

    def _may_be_contentious(self, n_forecasts: int) -> bool:
        return mixture_on(self.config) and bool(
            self.config.forecaster.contentious.admits(n_forecasts)
        )

    def _question_terms(
        self, data: ForecastData, question_id: str
    ) -> tuple[list[_Stated], np.ndarray, np.ndarray]:
        """The forecasts on an unresolved question in ``data``, per draw (unscaled by the
        drawn component, with ``data``'s evidence in force), and its prior of phi."""
        mu, tau = self._phi_prior(self._positions[question_id])
        stated = [
            self._stated(f, data.evidence, scaled=False)
            for f in data.forecasts
            if f.question_id == question_id
        ]
        return stated, mu, tau

    def _collapsed_marginal(
        self, stated: list[_Stated], mu: np.ndarray, tau: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray]:
        """Per draw, log p(the forecasts) and log p(them, contentious), with phi and (where
        the question may be contentious, by their number) its component integrated out."""
        k2 = self.config.forecaster.contentious.noise_scale**2
        usual, noisy = (self._gaussian(stated, k, mu, tau)[0] for k in (1.0, k2))
        if not self._may_be_contentious(len(stated)):
            return usual, np.full_like(usual, -np.inf)
        share = self.draws["contentious_share"]
        usual, noisy = usual + np.log1p(-share), noisy + np.log(share)
        return np.logaddexp(usual, noisy), noisy

    def _recollapsed(self, new_data: ForecastData, question_id: str, label: str) -> Posterior:
        """An unresolved question whose forecasts or evidence differ in ``new_data``.

        The draws' component and phi of the question were drawn given the old data, so they
        are integrated out on both sides: per draw, the weight is the marginal likelihood of
        the question's forecasts in ``new_data`` over that in ``self.data`` (each under the
        contentious rule for its own number of forecasts); the component and phi are then
        drawn from their exact conditionals given the new. Seeded by the number of updates,
        so two calls on one posterior share their random numbers.
        """
        old, mu, tau = self._question_terms(self.data, question_id)
        old_ml = self._collapsed_marginal(old, mu, tau)[0]
        new = self._question_terms(new_data, question_id)[0]
        log_ratio, theta_q, noisy = self._recollapsed_question(question_id, old_ml, new)
        j = self._positions[question_id]
        theta = self.draws["theta"].copy()
        theta[:, j] = theta_q
        contentious = self.draws["contentious"].copy()
        contentious[:, j] = noisy
        upd = self._reweighted(new_data, log_ratio, label)
        upd.draws = {**self.draws, "theta": theta, "contentious": contentious}
        return upd

    def _recollapsed_question(
        self, question_id: str, old_ml: np.ndarray, new: list[_Stated]
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Per draw: the log weight ratio of :meth:`_recollapsed`, and the question's theta and
        component drawn afresh (seeded by the number of updates)."""
        rng = np.random.default_rng(len(self.updates) + 1)
        j = self._positions[question_id]
        mu, tau = self._phi_prior(j)
        new_ml, noisy_ml = self._collapsed_marginal(new, mu, tau)
        # P(contentious | the forecasts) = exp(noisy_ml - new_ml).
        noisy = rng.random(self.n_samples) < np.exp(noisy_ml - new_ml)
        k2 = self.config.forecaster.contentious.noise_scale**2
        _, mean, var = self._gaussian(new, np.where(noisy, k2, 1.0), mu, tau)
        phi = mean + np.sqrt(var) * rng.standard_normal(self.n_samples)
        alpha_q, eta_q = self._theta_scale(j)
        return new_ml - old_ml, phi / alpha_q + eta_q, noisy

    def influence(self, question_id: str, max_forecasts: int = 50) -> QuestionInfluence:
        """How much each forecast and each evidence item on an open question moves its
        probability, and what the question's group says before any of them.

        Each input's ``probability_without`` is the question's probability with that one
        input left out: the question is recomputed by :meth:`_recollapsed` without it (its
        forecasts' likelihood with phi and the component integrated out; the draws
        reweighted by Pareto-smoothed importance sampling, whose ``khat`` says whether the
        reweighting can be trusted, as for an instant update). ``probability`` is the same
        recomputation with every input, on the same random numbers, so that an input that
        changes nothing has an influence of exactly 0. Influences do not add up: each is
        one input left out with the others kept.

        ``group_prior`` is P(yes) of a question of the same group with no forecast and no
        evidence, under this posterior's population (a mean and a central interval of
        ``INTERVAL_PROB``).

        Only the newest ``max_forecasts`` forecasts are left out one by one (each costs a
        pass over the question's others); ``forecasts_not_shown`` counts the rest. Every
        evidence item bearing on the question is.

        Raises
        ------
        DataError
            If the question is unknown, or resolved (its outcome, not its inputs, decides it).
        """
        j = int(self._question_index([question_id])[0])
        if any(r.question_id == question_id for r in self.data.resolutions):
            raise DataError(f"question {question_id!r} is resolved: its outcome decides it")

        old, mu, tau = self._question_terms(self.data, question_id)
        old_ml = self._collapsed_marginal(old, mu, tau)[0]

        def without(evidence: Sequence[Evidence], new: list[_Stated]) -> tuple[float, float | None]:
            """The question's probability and the reweighting's k-hat, with ``evidence`` in
            force and its forecasts' terms ``new`` (one column of draws, no copy of the
            others)."""
            log_ratio, theta_q, _ = self._recollapsed_question(question_id, old_ml, new)
            log_weights, khat, _ = self._smoothed(log_ratio)
            a = evidence_offsets(evidence, self._positions, np.array([j]), np.array([np.inf]))
            p = expit(theta_q + (self.draws["w"] @ a.T)[:, 0])
            weights = _normalised(log_weights, self.n_samples)
            # (k-hat None: no reweighting was needed; the update reports the posterior's own.)
            return float(np.dot(weights, p)), self.khat if khat is None else khat

        with_all, _ = without(self.data.evidence, old)
        inputs: list[InputInfluence] = []
        mine = [f for f in self.data.forecasts if f.question_id == question_id]
        # The newest forecasts (each leave-one-out refilters the others: n^2 work in all).
        shown = sorted(range(len(mine)), key=lambda i: mine[i].created_at)[-max_forecasts:]
        for i in shown:
            p, khat = without(self.data.evidence, old[:i] + old[i + 1 :])
            inputs.append(
                InputInfluence(
                    "forecast", mine[i].id or f"forecast {i}", p, with_all - p, khat, mine[i]
                )
            )
        for e in self.data.evidence:
            if not any(x.question_id == question_id for x in e.effects):
                continue
            data = dataclasses.replace(
                self.data, evidence=tuple(x for x in self.data.evidence if x is not e)
            )
            p, khat = without(data.evidence, self._question_terms(data, question_id)[0])
            inputs.append(InputInfluence("evidence", e.id, p, with_all - p, khat, e))
        # The group's prior: phi from its prior alone, one normal per draw (seeded).
        rng = np.random.default_rng(0)
        alpha_q, eta_q = self._theta_scale(j)
        prior = expit((mu + tau * rng.standard_normal(self.n_samples)) / alpha_q + eta_q)
        tail = (1 - INTERVAL_PROB) / 2
        weights = self.weights
        lo, hi = _weighted_quantiles(prior, weights, [tail, 1 - tail])
        return QuestionInfluence(
            question_id=question_id,
            probability=with_all,
            forecasts_not_shown=len(mine) - len(shown),
            group_prior=float(np.dot(weights, prior)),
            group_prior_interval=(float(lo), float(hi)),
            inputs=sorted(inputs, key=lambda x: -abs(x.influence)),
        )

    def _forecast_terms(
        self,
        forecast: Forecast,
        evidence: Sequence[Evidence] | None = None,
        *,
        scaled: bool = True,
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Per draw, a forecast as ``m = a * phi + c + Normal(0, v)``.

        ``evidence`` is what is in force (default: the posterior's own data's); ``scaled``:
        ``v`` includes the question's drawn component (else: the usual one's).
        """
        par = self._forecaster_params(forecast.forecaster_id)
        q_index = self._positions
        qi = np.array([q_index[forecast.question_id]])
        t = epoch_seconds([forecast.created_at])
        in_force = self.data.evidence if evidence is None else evidence
        offset = (self.draws["w"] @ evidence_offsets(in_force, q_index, qi, t).T)[:, 0]
        alpha_q = self._theta_scale(int(qi[0]))[0]
        a = par["alpha"] / self.draws["alpha_bar"]
        d = self.draws
        pivot = d["pivot_share"] * d["mu_global"] * d["alpha_bar"]
        c = par["beta"] + (1.0 - a) * pivot + a * alpha_q * offset
        v = par["sigma"] ** 2 + forecast.logit_spread**2 + self.config.forecaster.noise_floor**2
        if scaled:
            # On a question drawn contentious, every forecast is noise_scale times noisier.
            k2 = self.config.forecaster.contentious.noise_scale**2
            v = v * np.where(self.draws["contentious"][:, qi[0]] > 0.5, k2, 1.0)
        return a, c, v

    def _stated(
        self,
        forecast: Forecast,
        evidence: Sequence[Evidence] | None = None,
        *,
        scaled: bool = True,
    ) -> _Stated:
        """Per draw, ``(a, c, v)`` of :meth:`_forecast_terms`, with the statement ``m`` and
        its time (epoch seconds)."""
        a, c, v = self._forecast_terms(forecast, evidence, scaled=scaled)
        return a, c, v, forecast.logit_center, float(epoch_seconds([forecast.created_at])[0])

    def _gaussian(
        self, stated: list[_Stated], k: Any, mu: np.ndarray, tau: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Per draw, log p(a question's forecasts) with phi integrated out, and the Gaussian
        of phi given them: of phi at the newest forecast where questions move (Kalman
        filter, models/_internal/walk.py), else the closed form. ``k`` (a number or one
        per draw) multiplies every forecast's noise variance."""
        n = len(stated)
        if not n:
            return np.zeros(self.n_samples), mu, tau**2
        if not drift_on(self.config):
            sums = np.zeros((4, self.n_samples))  # P, B, C, L
            for a, c, v, m, _ in stated:
                sums += forecast_terms(a, m - c, v, np.log)
            p, b = sums[0] / k, sums[1] / k
            big_l = sums[3] + n * np.log(k)
            ll = forecasts_marginal_loglik(p, b, sums[2] / k, big_l, mu, tau, np.log)
            return (ll, *phi_posterior(p, b, mu, tau))
        times = np.array([x[4] for x in stated])
        order = np.argsort(times, kind="stable")
        a_s, c_s, v_s = (np.stack([stated[i][f] for i in order], axis=1) for f in range(3))
        m_s = np.array([stated[i][3] for i in order])
        q = np.zeros(n, dtype=np.int64)
        days = time_steps(q, times[order])
        v_s = v_s * np.reshape(k, (-1, 1))
        walk = walk_args(self.config, self.draws.__getitem__, self.n_samples)
        ll, mean, var = filter_draws(
            q, a_s, m_s - c_s, v_s, days, mu[:, None], tau[:, None] ** 2, *walk
        )
        return ll[:, 0], mean[:, 0], var[:, 0]

    def _refiltered(self, new_data: ForecastData, question_ids: list[str], label: str):
        """Questions that move, after a change to ``question_ids`` (a forecast, or evidence
        that moves forecasts made after it): per draw, the weight is the ratio of their
        forecasts' and outcomes' likelihoods with phi integrated out (Kalman filter, each
        draw's component kept), and phi is redrawn from its exact conditional given them."""
        rng = np.random.default_rng(len(self.updates) + 1)
        theta = self.draws["theta"].copy()
        log_ratio = np.zeros(self.n_samples)
        for qid in question_ids:
            j = self._positions[qid]
            mu, tau = self._phi_prior(j)
            alpha_q, eta_q = self._theta_scale(j)
            collapsed = []
            for data in (self.data, new_data):
                stated = [
                    self._stated(f, data.evidence) for f in data.forecasts if f.question_id == qid
                ]
                ll, mean, var = self._gaussian(stated, 1.0, mu, tau)
                offset, outcome = eta_q, np.full(self.n_samples, np.nan)
                for r in data.resolutions:
                    if r.question_id == qid:
                        t = epoch_seconds([r.resolved_at])
                        a_y = evidence_offsets(data.evidence, self._positions, np.array([j]), t)
                        offset = eta_q + (self.draws["w"] @ a_y.T)[:, 0]
                        outcome[:] = r.outcome
                        sign = 2.0 * r.outcome - 1.0
                        m_y = sign * (mean / alpha_q + offset)
                        ll = ll + outcome_loglik(m_y, np.sqrt(var) / alpha_q)[0]
                collapsed.append((ll, mean, var, offset, outcome))
            (old_ll, *_), (new_ll, mean, var, offset, outcome) = collapsed
            log_ratio += new_ll - old_ll
            phi = sample_phi(rng, mean, var, 1.0 / alpha_q, offset, outcome)
            theta[:, j] = phi / alpha_q + eta_q
        upd = self._reweighted(new_data, log_ratio, label)
        upd.draws = {**self.draws, "theta": theta}
        return upd

    def _phi_conditional(self, question_id: str) -> tuple[np.ndarray, np.ndarray]:
        """Per draw, mean and variance of phi_q given the forecasts on q in ``self.data``."""
        j = self._positions[question_id]
        sum_p = np.zeros(self.n_samples)
        sum_b = np.zeros(self.n_samples)
        for f in self.data.forecasts:
            if f.question_id == question_id:
                a, c, v = self._forecast_terms(f)
                sum_p += a**2 / v
                sum_b += a * (f.logit_center - c) / v
        return phi_posterior(sum_p, sum_b, *self._phi_prior(j))


# --------------------------------------------------------------------------------------
# Fitting
# --------------------------------------------------------------------------------------


def _split_z_scaled(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Split chains in halves; rank-normalise (Blom, c = 3/8) the draws and the draws
    folded about their median. ``x`` is (chain, draw, k); both results (2 chain, draw/2, k).
    """
    from scipy.special import ndtri

    half = x.shape[1] // 2
    split = np.concatenate([x[:, :half], x[:, x.shape[1] - half :]], axis=0)
    m, n, k = split.shape
    # Columns first, draws contiguous: sorting along the last axis is several times faster.
    flat = np.ascontiguousarray(split.reshape(m * n, k).T)
    folded = np.abs(flat - np.median(flat, axis=1, keepdims=True))

    def z(a: np.ndarray) -> np.ndarray:
        # Average ranks (as scipy's rankdata), by one argsort per row: ties share the mean
        # of the positions of their run in the sorted row.
        order = np.argsort(a, axis=1)
        srt = np.take_along_axis(a, order, axis=1)
        pos = np.arange(a.shape[1])
        starts = np.ones(a.shape, dtype=bool)
        starts[:, 1:] = srt[:, 1:] != srt[:, :-1]
        ends = np.ones(a.shape, dtype=bool)
        ends[:, :-1] = starts[:, 1:]
        first = np.maximum.accumulate(np.where(starts, pos, 0), axis=1)
        last = np.minimum.accumulate(np.where(ends, pos, a.shape[1])[:, ::-1], axis=1)[:, ::-1]
        r = np.empty(a.shape)
        np.put_along_axis(r, order, (first + last) / 2.0 + 1.0, axis=1)
        return ndtri((r - 0.375) / (m * n - 0.75 + 1)).T.reshape(m, n, k)

    return z(flat), z(folded)


def _split_rhat(z: np.ndarray) -> np.ndarray:
    n = z.shape[1]
    between = n * z.mean(axis=1).var(axis=0, ddof=1)
    within = z.var(axis=1, ddof=1).mean(axis=0)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.sqrt((between / within + n - 1) / n)


def _geyer_ess(z: np.ndarray) -> np.ndarray:
    """ESS of each column of ``z`` (chain, draw, k), Geyer's initial monotone sequence."""
    from scipy.fft import irfft, next_fast_len, rfft

    m, n, k = z.shape
    total = m * n
    constant = (z.max(axis=(0, 1)) - z.min(axis=(0, 1))) < np.finfo(float).resolution
    centred = z - z.mean(axis=1, keepdims=True)
    spec = rfft(centred, n=next_fast_len(2 * n), axis=1)
    acov = irfft(spec * np.conjugate(spec), n=next_fast_len(2 * n), axis=1)[:, :n] / n
    mean_var = acov[:, 0].mean(axis=0) * n / (n - 1.0)
    var_plus = mean_var * (n - 1.0) / n
    if m > 1:
        var_plus = var_plus + z.mean(axis=1).var(axis=0, ddof=1)
    with np.errstate(divide="ignore", invalid="ignore"):
        r = 1.0 - (mean_var - acov.mean(axis=0)) / var_plus  # (n, k): lag autocorrelations
    rho = np.zeros((n, k))
    rho[0] = 1.0
    rho[1] = r[1]
    cols = np.arange(k)
    # Geyer's initial positive sequence: pairs of lags while their sum stays positive.
    t = np.ones(k, dtype=np.int64)
    even = np.ones(k)
    active = (1 < n - 3) & (1.0 + r[1] > 0)
    while active.any():
        i = cols[active]
        ti = t[i]
        e, o = r[ti + 1, i], r[ti + 2, i]
        even[i] = e
        keep = (e + o) >= 0
        rho[ti[keep] + 1, i[keep]] = e[keep]
        rho[ti[keep] + 2, i[keep]] = o[keep]
        t[i] = ti + 2
        active[i] = (ti + 2 < n - 3) & (e + o > 0)
    max_t = t - 2
    fix = even > 0
    rho[max_t[fix] + 1, cols[fix]] = even[fix]
    # Geyer's initial monotone sequence.
    tt = 1
    while tt <= int(max_t.max()) - 2:
        pair, prev = rho[tt + 1] + rho[tt + 2], rho[tt - 1] + rho[tt]
        upd = (tt <= max_t - 2) & (pair > prev)
        rho[tt + 1, upd] = prev[upd] / 2.0
        rho[tt + 2, upd] = prev[upd] / 2.0
        tt += 2
    lag = np.arange(n)[:, None]
    tau = (
        -1.0 + 2.0 * np.sum(rho * (lag <= max_t), axis=0) + np.sum(rho * (lag == max_t + 1), axis=0)
    )
    ess = total / np.maximum(tau, 1.0 / np.log10(total))
    ess[np.isnan(rho).any(axis=0)] = np.nan
    ess[constant] = total
    return ess


def rank_diagnostics(x: np.ndarray, chunk: int = 2000) -> tuple[np.ndarray, np.ndarray]:
    """Rank-normalised split R-hat and bulk ESS of each column of ``x`` (chain, draw, k).

    The same quantities as ``arviz_stats.rhat`` (method ``"rank"``) and ``arviz_stats.ess``
    (method ``"bulk"``), vectorised over the columns: arviz_stats loops over them in
    Python, which took minutes for the 15,000 questions of a 50k-forecast backtest.
    Columns with a NaN, fewer than 4 draws or (for R-hat) one chain give NaN.
    """
    x = np.asarray(x, dtype=np.float64)
    c, d, k = x.shape
    rhat = np.full(k, np.nan)
    ess = np.full(k, np.nan)
    if d < 4:
        return rhat, ess
    valid = ~np.isnan(x).any(axis=(0, 1))
    for lo in range(0, k, chunk):
        cols = np.arange(lo, min(k, lo + chunk))
        cols = cols[valid[cols]]
        if not cols.size:
            continue
        z_bulk, z_fold = _split_z_scaled(x[:, :, cols])
        if c >= 2:
            rhat[cols] = np.fmax(_split_rhat(z_bulk), _split_rhat(z_fold))
        ess[cols] = _geyer_ess(z_bulk)
    return rhat, ess


def _columns(v: xr.DataArray) -> np.ndarray:
    """A variable's draws as (chain, draw, k), whatever its other dimensions."""
    a = np.asarray(v.transpose("chain", "draw", ...).to_numpy(), dtype=np.float64)
    return a.reshape(a.shape[0], a.shape[1], -1)


def rhat_by_variable(posterior: xr.DataTree) -> dict[str, float]:
    """The largest R-hat of each sampled variable (NaN where none can be computed).

    The questions enter through their probabilities (``theta``'s R-hat would repeat them;
    the contentious indicators are 0/1 draws given the sampled variables), so those drawn
    after sampling are left out.
    """
    post = posterior["posterior"].to_dataset()
    out = {}
    for v in post.data_vars:
        if v in DRAWN_AFTER:
            continue
        r = rank_diagnostics(_columns(post[v]))[0]
        out[str(v)] = float(np.nanmax(r)) if not np.isnan(r).all() else float("nan")
    return out


def _diagnostics(
    probs: xr.DataArray,
    posterior: xr.DataTree,
    divergences: int,
    config: ModelConfig,
    seconds: float,
    attempts: int,
) -> Diagnostics:
    rh, es = rank_diagnostics(_columns(probs))
    max_rhat = float(np.nanmax(rh)) if probs.size and not np.isnan(rh).all() else float("nan")
    min_ess = float(np.nanmin(es)) if probs.size and not np.isnan(es).all() else float("nan")
    try:
        # Every sampled variable, and the questions through their probabilities.
        every = np.array([*rh, *rhat_by_variable(posterior).values()])
        max_all = float(np.nanmax(every)) if not np.isnan(every).all() else float("nan")
    except Exception:  # pragma: no cover - informative only
        max_all = float("nan")
    pc = config.publish
    reasons = []
    n_chains = probs.sizes.get("chain", 1)
    if n_chains < 2:
        reasons.append("R-hat needs at least two chains")
    elif not max_rhat <= pc.max_rhat:
        reasons.append(f"max R-hat {max_rhat:.3f} > {pc.max_rhat}")
    if not min_ess >= pc.min_ess_bulk:
        reasons.append(f"min bulk ESS {min_ess:.0f} < {pc.min_ess_bulk:.0f}")
    if divergences > pc.max_divergences:
        reasons.append(f"{divergences} divergent transitions > {pc.max_divergences}")
    return Diagnostics(
        max_rhat=max_rhat,
        min_ess_bulk=min_ess,
        divergences=divergences,
        publishable=not reasons,
        reasons=tuple(reasons),
        max_rhat_all=max_all,
        sampling_seconds=seconds,
        attempts=attempts,
    )


class ForecastModel:
    """The hierarchical model as an object: configure, fit, and get a :class:`Posterior`.

    Nothing samples in ``__init__``. Compiled samplers are shared per process.

    Parameters
    ----------
    config : ModelConfig, optional
        Hyperpriors, sampler settings and publish criteria.
    """

    def __init__(self, config: ModelConfig | None = None) -> None:
        self.config = config or ModelConfig()

    def fit(
        self,
        data: ForecastData,
        *,
        sampler: SamplerSettings | None = None,
        progress: bool = False,
        cores: int | None = None,
        retry: bool = True,
        fit_id: str | None = None,
    ) -> Posterior:
        """Sample the posterior of ``data`` with nutpie, retrying with more tuning if needed.

        Parameters
        ----------
        data : ForecastData
            Questions, forecasts, evidence, resolutions.
        sampler : SamplerSettings, optional
            Overrides ``config.sampler``.
        progress : bool
            Show nutpie's progress bar.
        cores : int, optional
            Parallel chains; default ``min(chains, os.cpu_count())``.
        retry : bool
            Retry a fit that fails the publish checks ``sampler.retries`` times, doubling
            the tuning each time, and the draws when R-hat or ESS failed. Before that, a fit
            that diverged with centred forecasters is refitted once with none centred, at
            the same settings and without using up a retry (docs/model.md,
            "Parametrisation"); with ``sampler.retries == 0`` nothing is refitted.
        fit_id : str, optional
            The fit's id (its log lines name it); a new one by default.

        Returns
        -------
        Posterior
            Always returned; ``diagnostics.publishable`` says whether it may be published.
        """
        import nutpie

        if not data.questions:
            raise DataError("nothing to fit: no questions")
        settings = sampler or self.config.sampler
        structure = ModelStructure.for_data(data)
        encoded = encode(data, structure)
        compiled = COMPILED.get(structure, self.config, encoded)
        n_cores = cores or max(1, min(settings.chains, os.cpu_count() or 1))
        attempts = 0
        tune, draws, target_accept = settings.first_attempt(len(data.forecasts))
        fit_id = fit_id or "fit-" + uuid.uuid4().hex[:12]
        centred = encoded.arrays["forecaster_centred"]
        topic_effects = topic_effects_on(self.config, encoded)
        topic_evidence = {
            **(encoded.group_evidence.to_dict() if encoded.group_evidence else {}),
            "threshold": self.config.forecaster.topic_evidence_p,
        }
        spread_centred = encoded.arrays["group_spread_centred"]
        retries_left = settings.retries
        while True:
            attempts += 1
            # What earlier fits (or attempts) freed goes back to the OS first.
            release_free_memory()
            started = time.perf_counter()
            trace = nutpie.sample(
                compiled,
                draws=draws,
                tune=tune,
                chains=settings.chains,
                cores=n_cores,
                seed=settings.seed + attempts - 1,
                progress_bar=progress,
                target_accept=target_accept,
                save_warmup=False,
            )
            seconds = time.perf_counter() - started
            posterior = _trim(trace, encoded, data)
            posterior = _with_theta(
                posterior, data, encoded, self.config, np.random.default_rng(settings.seed)
            )
            divergences = int(np.asarray(trace["sample_stats"]["diverging"]).sum())
            probs = _probability_dataarray(posterior, data, encoded)
            diag = _diagnostics(probs, posterior, divergences, self.config, seconds, attempts)
            diag = dataclasses.replace(
                diag,
                centred_forecasters=int(centred.sum()),
                topic_effects=topic_effects,
                topic_evidence=topic_evidence,
            )
            if diag.publishable or not retry or settings.chains < 2 or retries_left == 0:
                break  # (R-hat cannot pass with one chain, however long it runs)
            if divergences and (centred.any() or spread_centred.any()):
                # Centred forecasters funnel where the population spread of bias or noise
                # nears zero (forecasters alike), however many forecasts each has, and so do
                # centred group spreads where groups are alike; the non-centred form is safe
                # there. Same posterior, other coordinates (the masks are data: nothing is
                # recompiled), so the same settings: this is not one of the retries with
                # longer tuning.
                log.warning(
                    "fit %s diverged (%d divergent transitions) with %d centred forecasters "
                    "and %d centred group spreads; refitting them non-centred",
                    fit_id,
                    divergences,
                    int(centred.sum()),
                    int(spread_centred.sum()),
                )
                centred = np.zeros_like(centred)
                spread_centred = np.zeros_like(spread_centred)
                compiled = compiled.with_data(
                    **{
                        **model_data(self.config, encoded),
                        "forecaster_centred": centred,
                        "group_spread_centred": spread_centred,
                    }
                )
                continue
            retries_left -= 1
            log.warning("fit %s not publishable (%s); retrying", fit_id, "; ".join(diag.reasons))
            tune, draws, target_accept = next_attempt(
                diag, self.config.publish, tune, draws, target_accept
            )
        del trace
        release_free_memory(collect=False)  # the sampler's buffers; the next fit collects
        created = datetime.now(UTC)
        posterior.attrs.update(
            {
                "fit_id": fit_id,
                "created_at": created.isoformat(),
                "diagnostics": json.dumps(diag.to_dict()),
            }
        )
        return Posterior(
            fit_id=fit_id,
            created_at=created,
            config=self.config,
            data=data,
            question_ids=encoded.question_ids,
            forecaster_ids=encoded.forecaster_ids,
            group_ids=encoded.group_ids,
            posterior=posterior,
            diagnostics=diag,
            draws=flatten_draws(posterior),
            sampler=settings,
        )


def _trim(trace: xr.DataTree, encoded: EncodedData, data: ForecastData) -> xr.DataTree:
    """Drop padded slots and label the real ones; keep posterior and sample stats."""
    post = trace["posterior"].to_dataset()
    nq, ne, ng = len(encoded.question_ids), len(encoded.forecaster_ids), len(encoded.group_ids)
    sel: dict[str, Any] = {}
    if QUESTION_DIM in post.dims:
        sel[QUESTION_DIM] = slice(0, nq)
    if FORECASTER_DIM in post.dims:
        sel[FORECASTER_DIM] = slice(0, ne)
    if GROUP_DIM in post.dims:
        sel[GROUP_DIM] = slice(0, ng)
    post = post.isel(sel)
    labels = {
        FORECASTER_DIM: encoded.forecaster_ids,
        GROUP_DIM: encoded.group_ids,
        RELIABILITY_DIM: list(RELIABILITY_CLASSES),
    }
    post = post.assign_coords({k: v for k, v in labels.items() if k in post.dims})
    stats = trace["sample_stats"].to_dataset()
    keep = [v for v in ("diverging", "energy", "step_size", "depth", "n_steps") if v in stats]
    return xr.DataTree.from_dict({"posterior": post, "sample_stats": stats[keep]})


def _with_theta(
    posterior: xr.DataTree,
    data: ForecastData,
    encoded: EncodedData,
    config: ModelConfig,
    rng: np.random.Generator,
) -> xr.DataTree:
    """Add draws of every question's log-odds ``theta``, one per posterior draw.

    The sampler integrated the question effects out; here each draw gets its question
    effects back from their exact conditional posterior given that draw's parameters
    (Gaussian given the forecasts, tilted by the outcome if resolved).
    """
    import scipy.sparse as sp

    post = posterior["posterior"].to_dataset()
    n_chain, n_draw = post.sizes["chain"], post.sizes["draw"]
    n_s = n_chain * n_draw
    nq = len(encoded.question_ids)

    def flat(name: str) -> np.ndarray:
        v = np.asarray(post[name].to_numpy())
        return v.reshape((n_s, *v.shape[2:]))

    alpha_bar, rel_a = flat("alpha_bar"), flat("alpha") / flat("alpha_bar")[:, None]
    beta, sigma, w = flat("beta"), flat("sigma"), flat("w")
    # The forecasters' pivot on the forecast scale.
    pivot_share = flat("pivot_share") if "pivot_share" in post else np.zeros(n_s)
    pivot = pivot_share * flat("mu_global") * alpha_bar
    mu_g, tau_g = flat("mu_group_phi"), flat("tau_phi")
    kappa_g, eta_g = flat("group_scale"), flat("group_shift")
    share = flat("contentious_share")
    drift = drift_on(config)
    walk = walk_args(config, flat, n_s) if drift else None
    k2 = config.forecaster.contentious.noise_scale**2
    arr = encoded.arrays
    obs_q, obs_e = arr["obs_question"], arr["obs_forecaster"]
    obs_m, obs_s, obs_a = arr["obs_logit"], arr["obs_spread"], arr["obs_evidence"]
    group = arr["question_group"][:nq]
    n_q = arr["question_forecasts"][:nq]
    y_q = arr["outcome_question"]
    n_obs = len(obs_q)
    to_q = sp.csr_matrix((np.ones(n_obs), (np.arange(n_obs), obs_q)), shape=(n_obs, nq))
    outcome = np.full(nq, np.nan)
    outcome[y_q] = arr["outcome"]
    sign = 2.0 * arr["outcome"] - 1.0
    floor2 = config.forecaster.noise_floor**2
    theta = np.empty((n_s, nq))
    contentious = np.empty((n_s, nq))
    chunk = max(1, int(4e6 // max(n_obs, nq, 1)))
    for lo in range(0, n_s, chunk):
        s = slice(lo, min(n_s, lo + chunk))
        k = s.stop - s.start
        alpha_q = alpha_bar[s, None] * kappa_g[s][:, group]
        eta_q = eta_g[s][:, group]
        a = rel_a[s][:, obs_e]
        c = (
            beta[s][:, obs_e]
            + (1.0 - a) * pivot[s, None]
            + a * alpha_q[:, obs_q] * (w[s] @ obs_a.T)
        )
        v = sigma[s][:, obs_e] ** 2 + obs_s**2 + floor2
        mu, tau = mu_g[s][:, group], tau_g[s][:, group]
        resid = obs_m - c
        sums = None
        if not drift:
            sums = [np.asarray(x @ to_q) for x in forecast_terms(a, resid, v, np.log)]

        # theta = phi / alpha_q + eta_g; offset: what an outcome's log-odds add to phi /
        # alpha_q (the group's shift, and evidence before the resolution).
        offset = eta_q.copy()
        if len(y_q):
            offset[:, y_q] += w[s] @ arr["outcome_evidence"].T
        # Each question's component first (usual or contentious), from its posterior odds
        # given the forecasts and the outcome; then phi given the component.
        log_odds = np.broadcast_to(np.log(share[s] / (1.0 - share[s]))[:, None], (k, nq)).copy()
        parts = []
        for inflate, sgn in ((1.0, -1.0), (k2, 1.0))[: 1 + mixture_on(config)]:
            # Per question: log p(forecasts), and phi's (or, moving, phi(T)'s) Gaussian.
            if sums is None:
                assert walk is not None
                w_s, u_s, rate = walk
                ll_q, mean, var = filter_draws(
                    obs_q,
                    a,
                    resid,
                    v * inflate,
                    arr["obs_days"],
                    mu,
                    tau**2,
                    w_s[s],
                    u_s[s],
                    rate,
                )
            else:
                p, b = sums[0] / inflate, sums[1] / inflate
                cc, big_l = sums[2] / inflate, sums[3] + n_q * np.log(inflate)
                ll_q = forecasts_marginal_loglik(p, b, cc, big_l, mu, tau, np.log)
                mean, var = phi_posterior(p, b, mu, tau)
            log_odds += sgn * ll_q
            if len(y_q):
                m_y = sign * (mean[:, y_q] / alpha_q[:, y_q] + offset[:, y_q])
                s_y = np.sqrt(var[:, y_q]) / alpha_q[:, y_q]
                log_odds[:, y_q] += sgn * outcome_loglik(m_y, s_y)[0]
            parts.append((mean, var))
        log_odds[:, ~config.forecaster.contentious.admits(n_q)] = -np.inf
        noisy = rng.random((k, nq)) < expit(log_odds)
        mean, var = parts[0]
        if len(parts) > 1:
            mean = np.where(noisy, parts[1][0], mean)
            var = np.where(noisy, parts[1][1], var)
        else:
            noisy[:] = False
        scale = 1.0 / alpha_q
        phi = sample_phi(
            rng,
            mean.ravel(),
            var.ravel(),
            scale.ravel(),
            offset.ravel(),
            np.broadcast_to(outcome, (k, nq)).ravel(),
        ).reshape(k, nq)
        theta[s] = phi / alpha_q + eta_q
        contentious[s] = noisy
    coords = {QUESTION_DIM: encoded.question_ids}
    dims = ("chain", "draw", QUESTION_DIM)
    post["theta"] = xr.DataArray(theta.reshape(n_chain, n_draw, nq), dims=dims, coords=coords)
    post["contentious"] = xr.DataArray(
        contentious.reshape(n_chain, n_draw, nq), dims=dims, coords=coords
    )
    return xr.DataTree.from_dict(
        {"posterior": post, "sample_stats": posterior["sample_stats"].to_dataset()}
    )


def _probability_dataarray(
    posterior: xr.DataTree, data: ForecastData, encoded: EncodedData
) -> xr.DataArray:
    """P(yes) now, per (chain, draw, question): the quantity whose convergence we require."""
    post = posterior["posterior"]
    theta = np.asarray(post["theta"].to_numpy())
    w = np.asarray(post["w"].to_numpy())
    q_index = {q: i for i, q in enumerate(encoded.question_ids)}
    idx = np.arange(len(encoded.question_ids))
    a = evidence_offsets(data.evidence, q_index, idx, np.full(len(idx), np.inf))
    p = expit(theta + np.einsum("cdr,qr->cdq", w, a))
    return xr.DataArray(
        p,
        dims=("chain", "draw", QUESTION_DIM),
        coords={QUESTION_DIM: encoded.question_ids},
        name="probability",
    )


def flatten_draws(posterior: xr.DataTree) -> dict[str, np.ndarray]:
    """Posterior variables as numpy arrays with (chain, draw) stacked to one leading axis."""
    post = posterior["posterior"]
    out = {}
    for name in POSTERIOR_VARS:
        if name not in post and name in ("contentious", "contentious_share", "pivot_share"):
            # Saved by a version without contentious questions: every question usual; or
            # by a model whose forecasters pivot at 50% (pivot_share off or older): share 0.
            like = np.asarray(post["theta" if name == "contentious" else "alpha_bar"].to_numpy())
            v = np.zeros_like(like)
        elif name not in post and name in ("group_scale", "group_shift"):
            # Saved by a version without topic factors: factor 1, shift 0.
            like = np.asarray(post["tau_phi"].to_numpy())
            v = np.ones_like(like) if name == "group_scale" else np.zeros_like(like)
        elif name not in post and name in OPTIONAL_PARAMETERS:
            continue  # not in this model (questions hold still)
        else:
            v = np.asarray(post[name].to_numpy())
        out[name] = v.reshape((v.shape[0] * v.shape[1], *v.shape[2:]))
    return out


__all__ = [
    "COMPILED",
    "Diagnostics",
    "ForecastModel",
    "ModelStructure",
    "Posterior",
    "QuestionForecast",
    "build_model",
    "capacity",
    "encode",
    "flatten_draws",
]
