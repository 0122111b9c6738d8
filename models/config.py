"""Hyperpriors and sampler settings of the forecast model (the schema of ``priors/model.yaml``)."""

from __future__ import annotations

import hashlib
import json
from typing import Any, Final, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from models.constants import MAX_RHAT, MIN_ESS_BULK, PROB_EPS, RELIABILITY_CLASSES

SCHEMA_VERSION: Final = 1


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class NormalPrior(_Strict):
    mu: float = 0.0
    sigma: float = Field(1.0, gt=0)


class HalfNormalPrior(_Strict):
    sigma: float = Field(1.0, gt=0)


class BetaPrior(_Strict):
    alpha: float = Field(gt=0)
    beta: float = Field(gt=0)


class QuestionPriors(_Strict):
    #: Global mean of question log-odds; centred on the status-quo base rate (docs/model.md).
    base_logit: NormalPrior = NormalPrior(mu=-1.5, sigma=1.0)
    #: Spread of group means around the global mean.
    group_sd: HalfNormalPrior = HalfNormalPrior(sigma=0.5)
    #: Spread of questions around their group mean in a typical group (tau_0); wide, because
    #: many real questions are all but settled (docs/model.md, "Hyperpriors").
    question_sd: HalfNormalPrior = HalfNormalPrior(sigma=3.0)
    #: How much the groups' question spreads differ: sd of log tau_g around the typical
    #: group's (docs/model.md, "Groups of few questions").
    question_sd_log_spread: HalfNormalPrior = HalfNormalPrior(sigma=0.5)
    #: Questions that move while open: the half-normal prior of ``drift_sd``, the sd per
    #: square root of a day of a random walk of each question's crowd log-odds (the forecast
    #: scale), so that an old forecast counts less than a new one (docs/model.md, "Questions
    #: that move"). None: questions hold still while open, and every forecaster's latest
    #: forecast counts alike however old.
    drift_sd: HalfNormalPrior | None = HalfNormalPrior(sigma=0.15)
    #: The crowd's shared error on a question drifting in time, which outcomes do not read:
    #: the half-normal prior of ``crowd_drift_sd``, its sd at rest on the forecast scale.
    #: Forecasts made close together share it, so that a crowd whose mood moves around a
    #: question that stands still is told from a question that moves (docs/model.md,
    #: "Questions that move"). None: forecasters' errors are independent given the question.
    crowd_drift_sd: HalfNormalPrior | None = HalfNormalPrior(sigma=1.0)
    #: How long the crowd's drift remembers, in days: its correlation between forecasts
    #: ``t`` days apart is ``exp(-t / crowd_drift_days)``.
    crowd_drift_days: float = Field(2.0, gt=0)


class ContentiousPriors(_Strict):
    #: Prior of the share of contentious questions: questions on which every forecaster's
    #: noise is ``noise_scale`` times their usual (docs/model.md, "Contentious questions").
    share: BetaPrior = BetaPrior(alpha=1.0, beta=9.0)
    #: How much noisier forecasts are on a contentious question (a factor on the noise sd;
    #: 1 turns the mixture off).
    noise_scale: float = Field(3.0, ge=1.0)
    #: Only questions with 2 to this many forecasts can be contentious (a lone forecast
    #: cannot conflict with anything). With more, one
    #: component is far likelier than the other for every question, the two-point mixture
    #: turns into a per-question noise model with separated modes (measured on GJP week 1:
    #: R-hat 1.6), and many forecasts average a conflicting one out anyway.
    max_forecasts: int = Field(4, ge=0)

    def admits(self, n_forecasts: Any) -> Any:
        """Whether a question with ``n_forecasts`` forecasts may be contentious: two at
        least (a lone forecast cannot conflict with anything), ``max_forecasts`` at most.
        Works on ints, numpy arrays and PyTensor tensors alike."""
        return (n_forecasts >= 2) & (n_forecasts <= self.max_forecasts)


class ForecasterPriors(_Strict):
    #: log of the population's discrimination alpha-bar (m ~ alpha-bar * theta on average).
    #: Wide enough for the extremizing factors crowds need (docs/model.md, "Hyperpriors").
    log_discrimination: NormalPrior = NormalPrior(mu=0.0, sigma=1.0)
    #: spread of forecasters' log discrimination around the population (geometric mean pinned).
    log_discrimination_sd: HalfNormalPrior = HalfNormalPrior(sigma=0.3)
    bias_mean: NormalPrior = NormalPrior(mu=0.0, sigma=0.5)
    #: Where forecasters who differ in discrimination agree: at ``pivot_share`` times the
    #: questions' global level (0: at 50%; 1: at the status-quo level), a Beta prior
    #: (docs/model.md, "Forecasters"). None: at 50% (share 0).
    pivot_share: BetaPrior | None = None
    bias_sd: HalfNormalPrior = HalfNormalPrior(sigma=0.5)
    log_noise_mean: NormalPrior = NormalPrior(mu=0.0, sigma=0.5)
    log_noise_sd: HalfNormalPrior = HalfNormalPrior(sigma=0.5)
    #: Noise every statement has, added in quadrature: people state round numbers.
    noise_floor: float = Field(0.3, ge=0)
    #: Spread of the groups' log factors on the crowd's discrimination: on some topics a
    #: crowd hedges more than on others (docs/model.md, "Topics"). Off with one group.
    group_log_discrimination_sd: HalfNormalPrior = HalfNormalPrior(sigma=0.5)
    #: Spread of the groups' shifts between what the crowd's forecasts say and what
    #: happens, on the log-odds scale (docs/model.md, "Topics"). Off with one group.
    group_shift_sd: HalfNormalPrior = HalfNormalPrior(sigma=0.5)
    #: The groups' factors and shifts are on only where the fit's resolved questions show
    #: that groups differ: a likelihood-ratio test of per-group recalibration of the crowd's
    #: log-odds with a p-value below this (models/topics.py; docs/model.md, "Topics").
    #: None: on wherever there are two groups or more.
    topic_evidence_p: float | None = Field(0.01, gt=0.0, le=1.0)
    #: Questions on which forecasters disagree far more than their usual noise explains.
    contentious: ContentiousPriors = ContentiousPriors()


def _default_weights() -> dict[str, BetaPrior]:
    means = dict(zip(RELIABILITY_CLASSES, (0.8, 0.65, 0.45, 0.2), strict=True))
    return {
        name: BetaPrior(alpha=round(8 * m, 6), beta=round(8 * (1 - m), 6))
        for name, m in means.items()
    }


class EvidencePriors(_Strict):
    #: Beta prior of each reliability class's discount w_r in (0, 1].
    weights: dict[str, BetaPrior] = Field(default_factory=_default_weights)

    @model_validator(mode="after")
    def _all_classes(self) -> EvidencePriors:
        missing = set(RELIABILITY_CLASSES) - set(self.weights)
        extra = set(self.weights) - set(RELIABILITY_CLASSES)
        if missing or extra:
            raise ValueError(
                f"weights must name exactly {', '.join(RELIABILITY_CLASSES)}"
                + (f"; missing {sorted(missing)}" if missing else "")
                + (f"; unknown {sorted(extra)}" if extra else "")
            )
        return self


class SamplerSettings(_Strict):
    chains: int = Field(4, ge=1, le=16)
    tune: int = Field(1000, ge=50)
    draws: int = Field(1000, ge=50)
    seed: int = 0
    target_accept: float = Field(0.95, gt=0.5, lt=1.0)
    #: A fit that fails the publish checks is retried this often, each time with twice the
    #: tuning; with a target acceptance of at least 0.99 (smaller steps) if it diverged, and
    #: twice the draws if R-hat or ESS failed (slow mixing, which more tuning does not cure;
    #: ``models.forecast_model.next_attempt``). Two: small data sets whose first attempt
    #: had one stray divergence sometimes miss R-hat 1.01 by a hair on the first retry
    #: (docs/model.md, "Fits and publishability").
    retries: int = Field(2, ge=0, le=3)
    #: Data sets with at least this many forecasts are sampled at
    #: ``large_data_target_accept`` instead of ``target_accept``, with ``large_data_tune``
    #: tuning and ``large_data_draws`` kept draws a chain (``large_data_forecasts: null``:
    #: never). Large posteriors are well determined: they do not diverge at the longer
    #: steps, which halve the leapfrog steps a draw (a 50,000-forecast fold: 63 -> 31), and
    #: their draws are nearly independent (bulk ESS about 0.7 a draw), so half the draws
    #: pass the publish checks with room to spare; small ones (a catalog without outcomes)
    #: do diverge more at the longer steps (docs/performance.md). A retry doubles these, as
    #: it doubles the others.
    large_data_forecasts: int | None = Field(20_000, ge=1)
    large_data_target_accept: float = Field(0.9, gt=0.5, lt=1.0)
    large_data_tune: int = Field(500, ge=50)
    large_data_draws: int = Field(500, ge=50)

    def with_given(self, **given: Any) -> SamplerSettings:
        """These settings with options a user gave (``tune=2000``, ...), validated. A given
        ``tune``, ``draws`` or ``target_accept`` holds at every size, the large data sets'
        included; the large-data settings the user did not give stay."""
        large = {
            f"large_data_{k}": given[k] for k in ("tune", "draws", "target_accept") if k in given
        }
        return SamplerSettings(**{**self.model_dump(), **given, **large})

    def is_large(self, n_forecasts: int) -> bool:
        """Whether a data set of ``n_forecasts`` takes the large-data settings."""
        return self.large_data_forecasts is not None and n_forecasts >= self.large_data_forecasts

    def first_attempt(self, n_forecasts: int) -> tuple[int, int, float]:
        """The first attempt's ``(tune, draws, target_accept)`` for ``n_forecasts``."""
        if self.is_large(n_forecasts):
            return self.large_data_tune, self.large_data_draws, self.large_data_target_accept
        return self.tune, self.draws, self.target_accept


class PublishCriteria(_Strict):
    max_rhat: float = Field(MAX_RHAT, gt=1.0)
    min_ess_bulk: float = Field(MIN_ESS_BULK, gt=0)
    max_divergences: int = Field(0, ge=0)


class ModelConfig(_Strict):
    """Everything about the model that is not data. Part of every saved posterior's hash."""

    schema_version: Literal[1] = SCHEMA_VERSION
    question: QuestionPriors = QuestionPriors()
    forecaster: ForecasterPriors = ForecasterPriors()
    evidence: EvidencePriors = EvidencePriors()
    sampler: SamplerSettings = SamplerSettings()
    publish: PublishCriteria = PublishCriteria()
    #: probabilities are clipped to [eps, 1 - eps] before taking log-odds.
    probability_eps: float = Field(PROB_EPS, gt=0, lt=0.5)

    def held_still(self) -> ModelConfig:
        """This config with questions that hold still and a crowd whose errors do not drift
        (``question.drift_sd`` and ``crowd_drift_sd`` None): the closed-form model, which
        reads every forecast as if made now."""
        question = self.question.model_copy(update={"drift_sd": None, "crowd_drift_sd": None})
        return self.model_copy(update={"question": question})

    def content_hash(self) -> str:
        blob = json.dumps(self.model_dump(mode="json"), sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(blob.encode()).hexdigest()
