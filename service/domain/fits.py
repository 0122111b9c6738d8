"""Fits as the API shows them."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy.orm import Session

from service.errors import Conflict, NoPublishedFit, NotFound
from service.live import check_artifact, resolve_artifact_path
from service.schemas.fits import FitPublic
from service.schemas.times import utc_text
from service.settings import Settings
from service.store.repositories import FitJobRepository, FitRepository
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
        raise NoPublishedFit(why_no_fit_is_published(session))
    return fit_public(row)


def why_no_fit_is_published(session: Session) -> str:
    """Before the first publication: which fit job is running or queued (and its fit), or how
    the last one ended, and what to do."""
    jobs, fits = FitJobRepository(session), FitRepository(session)
    running, queued = jobs.get_first_running(), jobs.get_first_queued()
    said = "no fit has been published yet"
    wait = ". Wait for it to be published, then ask again"
    if running is not None:
        fit = fits.get_by_id(running.fit_id) if running.fit_id else None
        since = f", since {utc_text(running.claimed_at)}" if running.claimed_at else ""
        if fit is not None and fit.status == "running":
            said += (
                f": fit job {running.id} is running as fit {fit.id!r} (attempt "
                f"{running.attempts}{since}; GET /v1/fits/{fit.id} shows it)"
            )
        else:
            said += (
                f": fit job {running.id} is running (attempt {running.attempts}{since}), "
                "its fit about to be recorded"
            )
        if queued is not None:
            said += f"; fit job {queued.id} is queued after it"
        return said + wait
    if queued is not None:
        return (
            f"{said}: fit job {queued.id} is queued and waits for a fit worker (GET /readyz says "
            f"whether this process's worker runs){wait}"
        )
    said += " and none is queued or running."
    last_job, last_fit = jobs.get_latest(), fits.get_latest()
    if last_fit is not None:
        said += f" The last fit, {last_fit.id!r}, has status {last_fit.status}"
        said += f": {last_fit.reason}" if last_fit.reason else ""
        said += f" (GET /v1/fits/{last_fit.id})."
    elif last_job is not None and last_job.status == "failed":
        said += f" Fit job {last_job.id} failed: {last_job.error}."
    return (
        said + " A fit is queued by a change of the inputs (a question, evidence, a resolution, "
        "an elicitation the instant update cannot take) and by `helsinki serve` at start"
    )
