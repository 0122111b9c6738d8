"""Forecasters: how the model reads each one, and their record on resolved questions."""

from __future__ import annotations

from pydantic import BaseModel, Field


class ParameterSummary(BaseModel):
    mean: float
    interval: tuple[float, float]


class ForecasterRecordPublic(BaseModel):
    resolved_questions: int = Field(
        description="resolved questions on which they posted an elicitation by the time the "
        "outcome became known; each scored on their latest one"
    )
    brier: float | None = None
    log_score: float | None = None


class ForecasterPublic(BaseModel):
    id: str = Field(description="the forecaster's name (their API key's name)")
    in_fit: bool = Field(
        description="whether the published fit has them; if not (they posted after it), the "
        "three parameters below are the population's, what the model assumes of a newcomer"
    )
    forecasts_in_fit: int
    discrimination: ParameterSummary = Field(
        description="alpha: how their log-odds scale with the truth's; below 1 they hedge and "
        "the model extremizes them, above 1 they overstate"
    )
    bias: ParameterSummary = Field(
        description="beta: the log-odds they add whatever the truth (above 0: they lean yes)"
    )
    noise: ParameterSummary = Field(description="sigma: their scatter, in log-odds")
    record: ForecasterRecordPublic


class ForecastersPublic(BaseModel):
    fit_id: str = Field(description="the published fit the parameters come from")
    interval_prob: float
    newcomer: dict[str, ParameterSummary] = Field(
        description="discrimination, bias and noise the model assumes of a forecaster it has "
        "not seen"
    )
    items: list[ForecasterPublic]
    next: str | None = None
