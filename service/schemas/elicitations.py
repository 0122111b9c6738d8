"""Elicitations: a probability (with an optional confidence) or quantiles of it."""

from __future__ import annotations

import itertools
from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, model_validator

from service.schemas.forecasts import ForecastPreview, ForecastPublic


class ElicitationCreate(BaseModel):
    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)

    probability: float | None = Field(
        None, gt=0, lt=1, description="P(yes), strictly between 0 and 1"
    )
    confidence: float | None = Field(
        None,
        gt=0,
        lt=1,
        description="your probability that P is within a factor of 2 in odds of `probability`",
    )
    quantiles: dict[str, float] | None = Field(
        None,
        description='three or more quantiles of P, e.g. {"0.1": 0.05, "0.5": 0.2, "0.9": 0.5}',
    )

    @model_validator(mode="after")
    def _one_statement(self) -> ElicitationCreate:
        if (self.probability is None) == (self.quantiles is None):
            raise ValueError('give either "probability" or "quantiles", not both and not neither')
        if self.quantiles is not None:
            if self.confidence is not None:
                raise ValueError('"confidence" goes with "probability", not with "quantiles"')
            try:
                levels = sorted((float(k), v) for k, v in self.quantiles.items())
            except ValueError:
                raise ValueError(
                    'quantile levels must be numbers written as strings, e.g. "0.1"'
                ) from None
            for (lo_level, lo), (hi_level, hi) in itertools.pairwise(levels):
                if not lo < hi:
                    raise ValueError(
                        f"quantiles must increase strictly with level: {lo_level:g} -> {lo:g} "
                        f"but {hi_level:g} -> {hi:g}; put them in order"
                    )
            for level, value in levels:
                if not 0 < value < 1:
                    raise ValueError(
                        f"quantile {level:g} is {value:g}: each must be strictly between 0 and 1"
                    )
        return self


class ElicitationPublic(BaseModel):
    id: str
    question_id: str
    forecaster_id: str
    fitted: dict[str, Any] = Field(description="the fitted distribution (ElicitationFit)")
    forecast: ForecastPublic | None
    needs_refit: bool
    refit_job_id: int | None


class ElicitationPreviewPublic(BaseModel):
    """POST /v1/questions/{id}/elicitations/preview: what the elicitation would do, nothing
    written."""

    question_id: str
    forecaster_id: str = Field(description="the key's forecaster, whose record weighs it")
    fitted: dict[str, Any] = Field(description="the fitted distribution, as the post would store")
    forecast: ForecastPreview | None = Field(
        description="the question's forecast after it; null when the published fit does not "
        "hold the question yet (the post would queue a refit)"
    )
    needs_refit: bool = Field(
        description="true when posting it would queue a refit: the instant update is not "
        "safe (k-hat > 0.7), or the fit does not hold the question"
    )


# --- reading elicitations back -----------------------------------------------------------


class ElicitationFittedPublic(BaseModel):
    """The fitted distribution of P as the POST's `fitted` showed it: the logit-normal's mean,
    median and 90% interval, and (when stored) the rest of the fit: `stated`,
    `fitted_logitnormal`, `beta_a`, `beta_b`, `fitted_beta`, `error_logitnormal`, ..."""

    model_config = ConfigDict(extra="allow")

    logit_mean: float
    logit_sd: float
    probability: float = Field(description="mean of P under the fitted logit-normal")
    median: float
    interval: tuple[float, float]
    interval_prob: float


class ElicitationRecordPublic(BaseModel):
    id: str
    question_id: str
    forecaster_id: str
    probability: float | None = Field(description="the stated probability (null for quantiles)")
    confidence: float | None = Field(description="the stated confidence, if any")
    quantiles: dict[str, float] | None = Field(
        description="the stated quantiles, level -> value (null for a probability)"
    )
    fitted: ElicitationFittedPublic
    source: str = Field(description="`api`, or `catalog:...` for the priors catalog's")
    created_at: datetime


class ElicitationRecordsPublic(BaseModel):
    items: list[ElicitationRecordPublic] = Field(
        description="newest first (created_at, then id, both descending)"
    )
    next: str | None = Field(description="cursor of the next page, null on the last")
