"""Forecasts: a probability with its interval, tier, fit and cause."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, Field


class Cause(BaseModel):
    type: Literal["fit", "evidence", "elicitation", "retraction", "as-of"]
    id: str


class ForecastNumbers(BaseModel):
    """A question's probability with its uncertainty, as one posterior gives it."""

    question_id: str
    probability: float
    interval: tuple[float, float]
    interval_prob: float
    median: float | None = None
    contentious: float | None = Field(
        None,
        description="posterior probability that the question's forecasters disagree far "
        "beyond their usual noise (docs/model.md, 'Contentious questions'); 0 where it "
        "cannot be (one forecast, or more than the model's max_forecasts)",
    )
    as_of: datetime | None = Field(
        None,
        description="the time of the newest forecast on the question that this forecast "
        "reads: the model serves the question where it stood then, with evidence observed "
        "later applied on top (docs/model.md, 'Questions that move'). Null when the question "
        "has no forecast in the posterior (the prior and evidence alone), and on forecasts "
        "served before it was recorded",
    )


class ForecastPublic(ForecastNumbers):
    tier: Literal["refit", "instant"]
    fit_id: str
    computed_at: datetime
    cause: Cause
    khat: float | None = None
    needs_refit: bool = False
    at: datetime | None = Field(None, description="the past time asked for with ?at=")


class ForecastPreview(ForecastNumbers):
    """What a question's forecast would become if a statement were posted; nothing written."""

    tier: Literal["instant"] = "instant"
    fit_id: str = Field(description="the published fit the preview updates")
    computed_at: datetime
    khat: float | None = Field(
        None, description="Pareto k-hat of the importance-sampling update, as the post would have"
    )
    needs_refit: bool = Field(
        False,
        description="true when the instant update would not be safe (k-hat > 0.7): posting "
        "it would queue a refit, whose forecast would replace this one",
    )
    served: ForecastPublic | None = Field(
        description="the forecast served now, which the post would replace (null if none)"
    )
    change: float | None = Field(
        description="probability minus the served forecast's probability (null if none)"
    )


class ForecastHistoryPoint(ForecastPublic):
    event_id: int
    previous_probability: float | None = None


class ForecastHistoryPublic(BaseModel):
    question_id: str
    items: list[ForecastHistoryPoint]
