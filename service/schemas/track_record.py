"""The service's track record: its forecasts on resolved questions, scored."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, Field

from service.schemas.forecasts import ForecastPublic


class CalibrationPublic(BaseModel):
    expected_ece: float = Field(
        description="the ECE a calibrated forecaster issuing these forecasts would show on "
        "average (outcomes drawn from the forecasts themselves)"
    )
    p_value: float = Field(
        description="share of those simulated ECEs at least as large as the observed one: "
        "below 0.05, miscalibrated beyond chance"
    )


class ScoresPublic(BaseModel):
    brier: float
    log_score: float = Field(description="mean negative log-likelihood (natural log)")
    ece: float = Field(description="expected calibration error, 10 equal-width bins")
    sharpness: float = Field(description="mean of |2p - 1|")
    base_rate: float = Field(description="share of the scored questions that resolved yes")
    calibration: CalibrationPublic


class ReliabilityBin(BaseModel):
    low: float
    high: float
    count: int
    mean_forecast: float | None = None
    observed_frequency: float | None = None


class ScoreDifferencePublic(BaseModel):
    score: Literal["brier", "log_score", "ece"]
    difference: float = Field(
        description="the service's score minus the crowd's (negative: the service did better)"
    )
    interval: tuple[float, float] = Field(
        description="90% bootstrap interval of the difference, resampling questions"
    )
    share_service_better: float = Field(description="share of the resamples the service won")


class AgainstCrowdPublic(BaseModel):
    questions: int = Field(description="scored questions that had an elicitation in time")
    crowd_scores: ScoresPublic
    service_scores: ScoresPublic = Field(description="the service on the same questions")
    differences: list[ScoreDifferencePublic]


class CrowdPublic(BaseModel):
    probability: float = Field(
        description="the mean log-odds of each forecaster's latest elicitation made before "
        "the scored forecast was served"
    )
    forecasters: int


class TrackRecordItem(BaseModel):
    question_id: str
    title: str
    group: str
    outcome: int
    resolved_at: datetime
    forecast: ForecastPublic = Field(
        description="the last forecast served at least horizon_days before the question resolved"
    )
    lead_days: float = Field(description="days from the scored forecast to the resolution")
    crowd: CrowdPublic | None = None


class NotScoredItem(BaseModel):
    question_id: str
    reason: str


class TrackRecordPublic(BaseModel):
    horizon_days: float
    group: str | None
    resolved: int = Field(
        description="resolved questions (not annulled) in scope, that resolved after they were "
        "added to the service"
    )
    resolved_before_added: int = Field(
        description="resolved questions left out because they had resolved before they were "
        "added (an imported record): the service never forecast them"
    )
    scored: int
    scores: ScoresPublic | None = Field(None, description="null when nothing is scored")
    bins: list[ReliabilityBin]
    against_crowd: AgainstCrowdPublic | None = None
    items: list[TrackRecordItem]
    not_scored: list[NotScoredItem]
