"""Fits as the API shows them."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy.orm import Session

from service.errors import Conflict, NoPublishedFit, NotFound
from service.live import check_artifact, resolve_artifact_path
from service.schemas.fits import FitPublic
from service.settings import Settings
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


def get_fit_or_404(session: Session, fit_id: str) -> FitRow:
    row = FitRepository(session).get_by_id(fit_id)
    if row is None:
        raise NotFound(f"no fit {fit_id!r}; the latest published one is at GET /v1/fits/latest")
    return row


def get_fit(session: Session, fit_id: str) -> FitPublic:
    return fit_public(get_fit_or_404(session, fit_id))


def fit_artifact_path(settings: Settings, row: FitRow) -> Path:
    """The fit's NetCDF file, checked against its recorded sha256."""
    if row.artifact_path is None:
        raise Conflict(
            f"fit {row.id!r} is {row.status} and has no posterior file"
            + (f" ({row.reason})" if row.reason else "")
        )
    path = resolve_artifact_path(settings, row.artifact_path)
    if not path.exists():
        raise NotFound(f"the posterior file of fit {row.id!r} is no longer on disk")
    check_artifact(path, row.artifact_sha256)
    return path


def get_latest_published_fit(session: Session) -> FitPublic:
    row = FitRepository(session).get_latest_published()
    if row is None:
        raise NoPublishedFit("no fit has been published yet; the worker runs one at first start")
    return fit_public(row)
