"""What moves a forecast: each input left out, and the question's group before any."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, Field

from service.schemas.forecasts import ForecastPublic


class InputInfluencePublic(BaseModel):
    type: Literal["elicitation", "evidence"]
    id: str = Field(description="the elicitation's or the evidence item's id")
    label: str = Field(description="the elicitation's forecaster, or the evidence's title")
    at: datetime = Field(description="when the elicitation was made, or the evidence observed")
    median: float | None = Field(
        None, description="an elicitation's median P(yes), as the model reads it"
    )
    likelihood_ratio: float | None = Field(
        None, description="the evidence's likelihood ratio on this question"
    )
    reliability: str | None = Field(None, description="the evidence's reliability class")
    probability_without: float | None = Field(
        description="the question's probability with this input left out and the others "
        "kept; null when the draws cannot tell (`reliable` false)"
    )
    influence: float | None = Field(
        description="`probability` minus `probability_without`: how far this input pulls the "
        "forecast (up if positive); null when the draws cannot tell"
    )
    khat: float | None = Field(
        description="Pareto k-hat of the reweighting without it; null where leaving it out is "
        "exact (evidence observed after every forecast on the question)"
    )
    reliable: bool = Field(
        description="k-hat at most 0.7: the draws can tell; else only a refit without it can"
    )


class GroupPriorPublic(BaseModel):
    probability: float
    interval: tuple[float, float]
    interval_prob: float


class ForecastInfluencePublic(BaseModel):
    question_id: str
    group: str
    fit_id: str
    computed_at: datetime
    probability: float = Field(
        description="the probability with every input, recomputed as each "
        "`probability_without` is (on the same random numbers); within Monte Carlo error of "
        "`served`"
    )
    served: ForecastPublic = Field(description="the forecast served now")
    group_prior: GroupPriorPublic = Field(
        description="P(yes) of a question of this group that no one has forecast and no "
        "evidence bears on, under the published fit's population"
    )
    inputs: list[InputInfluencePublic] = Field(
        description="each elicitation and evidence item on the question, the largest pull "
        "first (those the draws cannot tell last)"
    )
    elicitations_not_shown: int = Field(
        description="older elicitations not left out one by one (the newest 50 are)"
    )
