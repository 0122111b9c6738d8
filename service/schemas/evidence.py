"""Evidence: what happened, how reliable the source, and its likelihood ratio per question."""

from __future__ import annotations

from datetime import datetime
from typing import Literal
from urllib.parse import urlsplit

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from models.constants import RELIABILITY_CLASSES
from models.evidence import MAX_LIKELIHOOD_RATIO, VERBAL_LIKELIHOOD_RATIOS, check_likelihood_ratio
from service.schemas.forecasts import ForecastPreview, ForecastPublic
from service.schemas.times import UtcDatetime, is_in_the_future

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
    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)

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
    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)

    title: str = Field(min_length=1, max_length=1000)
    observed_at: UtcDatetime
    source_url: str | None = Field(
        None, max_length=2000, description="where it was reported: an http or https URL"
    )
    reliability: Reliability
    effects: list[EvidenceEffectIn] = Field(min_length=1, max_length=100)

    @field_validator("observed_at")
    @classmethod
    def _not_in_the_future(cls, value: datetime) -> datetime:
        # A few minutes of clock skew are tolerated; evidence is what has happened.
        if is_in_the_future(value):
            raise ValueError(
                "observed_at is in the future: evidence is something that has happened; "
                "give the time it was observed (ISO 8601, e.g. 2026-11-24T09:30:00Z)"
            )
        return value

    @field_validator("source_url")
    @classmethod
    def _web_address(cls, value: str | None) -> str | None:
        if value is None:
            return None
        try:
            parts = urlsplit(value)
        except ValueError:
            parts = None
        if (
            parts is None
            or parts.scheme.lower() not in ("http", "https")
            or not parts.hostname
            or any(c.isspace() for c in value)
        ):
            raise ValueError(
                f"source_url {value[:100]!r} is not a web address: give an http or https URL "
                "(e.g. https://example.org/news/1), or leave source_url out"
            )
        return value

    @model_validator(mode="after")
    def _distinct_questions(self) -> EvidenceCreate:
        ids = [e.question_id for e in self.effects]
        if len(set(ids)) != len(ids):
            raise ValueError("each question may appear once in effects")
        return self


class EvidenceRetractionCreate(BaseModel):
    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)

    reason: str = Field(min_length=1, max_length=2000)


class EvidencePublic(BaseModel):
    id: str
    forecasts: list[ForecastPublic]
    refit_job_id: int | None
    needs_refit: bool = False


class EvidencePreviewPublic(BaseModel):
    """POST /v1/evidence/preview: the forecasts the evidence would move, nothing written."""

    forecasts: list[ForecastPreview] = Field(
        description="each affected question in the published fit, in the order of `effects`"
    )
    not_in_fit: list[str] = Field(
        description="affected questions the published fit does not hold yet (added since, or "
        "no fit yet): the refit the post queues would forecast them"
    )
    needs_refit: bool = Field(
        description="true when the instant update would not be safe (k-hat > 0.7)"
    )


class EvidenceRetractionPublic(BaseModel):
    id: str
    evidence_id: str
    forecasts: list[ForecastPublic]
    refit_job_id: int | None


# --- reading evidence back ---------------------------------------------------------------


class EvidenceEffectPublic(BaseModel):
    question_id: str
    likelihood_ratio: float = Field(
        description="P(evidence | yes) / P(evidence | no): as posted, or the verbal strength's"
    )
    strength: Strength | None = Field(
        None, description="the verbal strength, when the effect was posted as one"
    )


class EvidenceRetractionRecord(BaseModel):
    id: str
    reason: str
    created_by: str
    created_at: datetime


class RetractionPublic(EvidenceRetractionRecord):
    """A retraction read by its own id (a forecast's cause names it): which evidence it
    withdrew, why, by whom and when."""

    evidence_id: str


class EvidenceItemPublic(BaseModel):
    id: str
    title: str
    observed_at: datetime
    source_url: str | None
    reliability: Reliability
    effects: list[EvidenceEffectPublic] = Field(description="one per question it bears on")
    created_by: str
    created_at: datetime = Field(description="when it was recorded")
    retraction: EvidenceRetractionRecord | None = Field(
        description="its retraction; null while it is in force"
    )


class EvidenceItemsPublic(BaseModel):
    items: list[EvidenceItemPublic] = Field(
        description="newest recorded first (created_at, then id, both descending)"
    )
    next: str | None = Field(description="cursor of the next page, null on the last")
