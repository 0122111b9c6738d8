"""Fits: status, diagnostics, inputs."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel


class FitPublic(BaseModel):
    id: str
    status: str
    job_id: int | None
    started_at: datetime
    finished_at: datetime | None
    published_at: datetime | None
    seconds: float | None
    diagnostics: dict[str, Any] | None
    reason: str | None
    inputs: dict[str, Any]
    sampler: dict[str, Any] | None
    artifact_sha256: str | None
