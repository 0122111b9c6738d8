"""Fits as the API shows them."""

from __future__ import annotations

from sqlalchemy.orm import Session

from service.errors import NoPublishedFit, NotFound
from service.schemas.fits import FitPublic
from service.store.repositories import FitRepository
from service.store.tables import FitRow


def fit_public(row: FitRow) -> FitPublic:
    return FitPublic(
        id=row.id,
        status=row.status,
        job_id=row.job_id,
        started_at=row.started_at,
        finished_at=row.finished_at,
        published_at=row.published_at,
        seconds=row.seconds,
        diagnostics=row.diagnostics,
        reason=row.reason,
        inputs=row.inputs,
        sampler=row.sampler,
        artifact_sha256=row.artifact_sha256,
    )


def get_fit(session: Session, fit_id: str) -> FitPublic:
    row = FitRepository(session).get_by_id(fit_id)
    if row is None:
        raise NotFound(f"no fit {fit_id!r}")
    return fit_public(row)


def get_latest_published_fit(session: Session) -> FitPublic:
    row = FitRepository(session).get_latest_published()
    if row is None:
        raise NoPublishedFit("no fit has been published yet; the worker runs one at first start")
    return fit_public(row)
