"""Questions: create, edit, resolve, annul, and what the API returns."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from service.schemas.forecasts import ForecastPublic

Slug = Annotated[
    str,
    StringConstraints(pattern=r"^[a-z0-9]+(?:-[a-z0-9]+)*$", min_length=1, max_length=120),
]


class _In(BaseModel):
    model_config = ConfigDict(extra="forbid")


class QuestionCreate(_In):
    id: Slug = Field(description="a slug: lowercase letters, digits and single hyphens")
    title: str = Field(min_length=1, max_length=500)
    group: Slug = "default"
    resolution_criteria: str = ""
    opens_at: datetime | None = None
    resolves_at: datetime | None = None


class QuestionUpdate(_In):
    title: str | None = Field(None, min_length=1, max_length=500)
    group: Slug | None = None
    resolution_criteria: str | None = None
    resolves_at: datetime | None = None


class QuestionResolve(_In):
    outcome: Literal[0, 1] | bool = Field(description="1 (or true) for yes, 0 (or false) for no")
    resolved_at: datetime = Field(description="when the outcome became known")


class QuestionAnnul(_In):
    reason: str = Field(min_length=1, max_length=2000)


class QuestionPublic(BaseModel):
    id: str
    title: str
    group: str
    resolution_criteria: str = ""
    opens_at: datetime | None = None
    resolves_at: datetime | None
    status: Literal["open", "resolved", "annulled"]
    outcome: int | None = None
    resolved_at: datetime | None = None
    annul_reason: str | None = None
    created_by: str
    forecast: ForecastPublic | None = None
    refit_job_id: int | None = None


class QuestionsPublic(BaseModel):
    items: list[QuestionPublic]
    next: str | None = Field(description="cursor of the next page, null on the last")
