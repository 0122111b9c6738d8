"""Questions: create, edit, resolve, annul, and what the API returns."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    field_validator,
    model_validator,
)

from service.schemas.forecasts import ForecastPublic
from service.schemas.times import UtcDatetime, is_in_the_future, utc_text

Slug = Annotated[
    str,
    StringConstraints(pattern=r"^[a-z0-9]+(?:-[a-z0-9]+)*$", min_length=1, max_length=120),
]


class _In(BaseModel):
    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)


class QuestionCreate(_In):
    id: Slug = Field(description="a slug: lowercase letters, digits and single hyphens")
    title: str = Field(min_length=1, max_length=500)
    group: Slug = "default"
    resolution_criteria: str = ""
    opens_at: UtcDatetime | None = None
    resolves_at: UtcDatetime | None = None

    @model_validator(mode="after")
    def _opens_before_it_resolves(self) -> QuestionCreate:
        opens, resolves = self.opens_at, self.resolves_at
        if opens is not None and resolves is not None and not opens < resolves:
            raise ValueError(
                f"opens_at ({utc_text(opens)}) must be before resolves_at ({utc_text(resolves)}): "
                "a question opens before it resolves; move one of the two"
            )
        return self


class QuestionUpdate(_In):
    title: str | None = Field(None, min_length=1, max_length=500)
    group: Slug | None = None
    resolution_criteria: str | None = None
    resolves_at: UtcDatetime | None = None


class QuestionResolve(_In):
    outcome: Literal[0, 1] | bool = Field(description="1 (or true) for yes, 0 (or false) for no")
    resolved_at: UtcDatetime = Field(
        description="when the outcome became known: not in the future, not before opens_at"
    )

    @field_validator("resolved_at")
    @classmethod
    def _not_in_the_future(cls, value: datetime) -> datetime:
        if is_in_the_future(value):
            raise ValueError(
                f"resolved_at ({utc_text(value)}) is in the future: a resolution records an "
                "outcome that is known; resolve the question once it is, with the time it "
                "became known (ISO 8601, e.g. 2026-11-24T09:30:00Z)"
            )
        return value


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
