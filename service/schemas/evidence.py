"""Evidence: what happened, how reliable the source, and its likelihood ratio per question."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from models.constants import RELIABILITY_CLASSES
from models.evidence import MAX_LIKELIHOOD_RATIO, VERBAL_LIKELIHOOD_RATIOS, check_likelihood_ratio
from service.schemas.forecasts import ForecastPublic

Reliability = Literal["official-statement", "verified-report", "media-report", "rumour"]
Strength = Literal[
    "strongly-against",
    "moderately-against",
    "weakly-against",
    "neutral",
    "weakly-for",
    "moderately-for",
    "strongly-for",
]
assert set(Reliability.__args__) == set(RELIABILITY_CLASSES)  # type: ignore[attr-defined]
assert set(Strength.__args__) == set(VERBAL_LIKELIHOOD_RATIOS)  # type: ignore[attr-defined]


class EvidenceEffectIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    question_id: str
    likelihood_ratio: float | None = Field(
        None,
        description=f"P(evidence | yes) / P(evidence | no), in [1/{MAX_LIKELIHOOD_RATIO:g}, "
        f"{MAX_LIKELIHOOD_RATIO:g}]",
    )
    strength: Strength | None = None

    @field_validator("likelihood_ratio")
    @classmethod
    def _usable(cls, value: float | None) -> float | None:
        return None if value is None else check_likelihood_ratio(value)

    @model_validator(mode="after")
    def _one_measure(self) -> EvidenceEffectIn:
        if (self.likelihood_ratio is None) == (self.strength is None):
            raise ValueError('give either "likelihood_ratio" or "strength" for each effect')
        return self


class EvidenceCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    title: str = Field(min_length=1, max_length=1000)
    observed_at: datetime
    source_url: str | None = Field(None, max_length=2000)
    reliability: Reliability
    effects: list[EvidenceEffectIn] = Field(min_length=1, max_length=100)

    @field_validator("observed_at")
    @classmethod
    def _not_in_the_future(cls, value: datetime) -> datetime:
        value = value if value.tzinfo else value.replace(tzinfo=UTC)
        # A few minutes of clock skew are tolerated; evidence is what has happened.
        if value > datetime.now(UTC) + timedelta(minutes=5):
            raise ValueError(
                "observed_at is in the future: evidence is something that has happened; "
                "give the time it was observed (ISO 8601, e.g. 2026-11-24T09:30:00Z)"
            )
        return value

    @model_validator(mode="after")
    def _distinct_questions(self) -> EvidenceCreate:
        ids = [e.question_id for e in self.effects]
        if len(set(ids)) != len(ids):
            raise ValueError("each question may appear once in effects")
        return self


class EvidenceRetractionCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    reason: str = Field(min_length=1, max_length=2000)


class EvidencePublic(BaseModel):
    id: str
    forecasts: list[ForecastPublic]
    refit_job_id: int | None
    needs_refit: bool = False


class EvidenceRetractionPublic(BaseModel):
    id: str
    evidence_id: str
    forecasts: list[ForecastPublic]
    refit_job_id: int | None
