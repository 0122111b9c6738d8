"""The fit queue in the database: enqueue (coalesced), claim, heartbeat, finish."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy.orm import Session

from service.store.repositories import FitJobRepository
from service.store.tables import FitJobRow


def enqueue_refit(session: Session, reason: str, requested_by: str) -> int:
    """Queue a refit, or join the one already queued: posts during a fit make one more refit,
    not one per post. Returns the job id (flushed, committed with the caller's transaction)."""
    repo = FitJobRepository(session)
    queued = repo.get_first_queued()
    if queued is not None:
        if reason and reason not in queued.reason.split("; ") and len(queued.reason) < 2000:
            queued.reason = f"{queued.reason}; {reason}" if queued.reason else reason
        return queued.id
    return repo.add(FitJobRow(status="queued", reason=reason, created_by=requested_by)).id


@dataclass(frozen=True)
class ClaimedJob:
    id: int
    attempts: int
    reason: str


def claim_next_job(
    session: Session, worker_id: str, stale_after_seconds: float
) -> ClaimedJob | None:
    """Take the oldest queued job, or a running one whose worker stopped beating.

    PostgreSQL: ``SELECT ... FOR UPDATE SKIP LOCKED`` picks a row no other worker holds;
    on both backends the ``UPDATE`` is guarded by the same condition, so two workers can
    never both claim one job. Commits.
    """
    repo = FitJobRepository(session)
    now = datetime.now(UTC)
    stale_before = now - timedelta(seconds=stale_after_seconds)
    job_id = repo.get_claimable_id_skip_locked(stale_before)
    if job_id is None:
        session.rollback()
        return None
    if not repo.claim_if_still_claimable(job_id, worker_id, now, stale_before):
        session.rollback()
        return None
    session.commit()
    row = repo.get_by_id(job_id)
    assert row is not None
    session.refresh(row)
    return ClaimedJob(id=row.id, attempts=row.attempts, reason=row.reason)


def beat(session: Session, job_id: int, worker_id: str) -> bool:
    ok = FitJobRepository(session).touch_heartbeat_of_job_owned_by(
        job_id, worker_id, datetime.now(UTC)
    )
    session.commit()
    return ok
