"""The fit queue in the database: enqueue (coalesced), claim, heartbeat, release the jobs of a
worker that died."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy.orm import Session

from service.store.repositories import FitJobRepository, FitRepository
from service.store.tables import FitJobRow

log = logging.getLogger(__name__)


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
    session: Session,
    worker_id: str,
    stale_after_seconds: float,
    *,
    max_attempts: int,
) -> ClaimedJob | None:
    """Take the oldest queued job, or a running one whose worker stopped beating; None when
    there is none, or another worker won the race for it.

    PostgreSQL: ``SELECT ... FOR UPDATE SKIP LOCKED`` picks a row no other worker holds;
    on both backends the ``UPDATE`` is guarded by the same condition and by the attempts
    read, so two workers can never both claim one job. A running job taken over from a
    worker whose heartbeat went stale has its fit that worker left ``running`` recorded
    ``failed`` (as ``release_jobs_of_dead_worker`` does), in the claim's transaction.

    A job that has had ``max_attempts`` attempts is not claimed again (the worker passes
    ``Settings.max_job_attempts``): each of them ended with its worker dead or
    stale (a job whose fit ends is done or failed, never claimed again). The transaction
    that would have claimed it gives it up instead: the job ``failed`` with
    ``given_up_error`` of those attempts (not counting this claim, which fits nothing), and
    the fit its stale worker left ``running`` failed, saying so. Then the next job is tried,
    in the same call: a job queued behind one given up does not wait. Commits.
    """
    repo = FitJobRepository(session)
    while True:
        now = datetime.now(UTC)
        stale_before = now - timedelta(seconds=stale_after_seconds)
        job_id = repo.get_claimable_id_skip_locked(stale_before)
        if job_id is None:
            session.rollback()
            return None
        before = repo.get_by_id(job_id)
        assert before is not None
        session.refresh(before)  # not a copy cached earlier in this session
        attempts, taken_over = before.attempts, before.status == "running"
        stale = (
            f"its worker {before.worker_id} stopped beating (heartbeat stale: older than "
            f"{stale_after_seconds:g} s); "
            if taken_over
            else ""
        )
        if attempts >= max_attempts:
            error = given_up_error(attempts)
            if not repo.fail_if_still_claimable_with_attempts(
                job_id, attempts, now, stale_before, error
            ):
                session.rollback()
                return None
            reason = f"{stale}the job was given up: {error}"
            FitRepository(session).fail_running_of_job(job_id, now, reason)
            session.commit()
            log.error("fit job %d %s", job_id, error)
            continue
        if not repo.claim_if_still_claimable_with_attempts(
            job_id, attempts, worker_id, now, stale_before
        ):
            session.rollback()
            return None
        if taken_over:
            reason = f"{stale}the job was taken over by worker {worker_id}"
            FitRepository(session).fail_running_of_job(job_id, now, reason)
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


def given_up_error(dead_attempts: int) -> str:
    """The error of a job given up because the worker of each of its ``dead_attempts``
    attempts died or stopped beating: one wording for the stale path (``claim_next_job``)
    and ``release_jobs_of_dead_worker``."""
    if dead_attempts == 1:
        return "given up after 1 attempt whose worker died or stopped beating"
    return f"given up after {dead_attempts} attempts whose workers died or stopped beating"


@dataclass(frozen=True)
class ReleasedJob:
    id: int
    #: ``queued`` (claimable at once) or ``failed`` (given up: too many dead workers).
    status: str
    attempts: int


def release_jobs_of_dead_worker(
    session: Session, worker_id: str, what_happened: str, max_attempts: int
) -> list[ReleasedJob]:
    """The running jobs of a worker known to be dead, claimable again at once: the API process
    saw its own worker exit, so it need not wait for the heartbeat to go stale. Their fits
    left ``running`` are ``failed`` with the reason "its worker <id> <what_happened>".

    As a stale job would be, a job that has already had ``max_attempts`` workers die is given
    up instead. Each job's update is guarded by its owner and status (another worker may have
    claimed it as stale meanwhile); the job and its fit left ``running`` change in one
    transaction. Commits.
    """
    jobs = FitJobRepository(session)
    fits = FitRepository(session)
    now = datetime.now(UTC)
    released = []
    for row in jobs.list_running_owned_by_for_update(worker_id):
        job_id, attempts = row.id, row.attempts
        if attempts >= max_attempts:
            # Each claim counted one attempt, and every one of them ended with its worker
            # dead or stale (a job whose fit ends is done or failed, never claimed again).
            error = given_up_error(attempts)
            if not jobs.fail_if_still_running_owned_by(job_id, worker_id, now, error):
                continue
            status = "failed"
        else:
            if not jobs.requeue_if_still_running_owned_by(job_id, worker_id):
                continue
            status = "queued"
        fits.fail_running_of_job(job_id, now, f"its worker {worker_id} {what_happened}")
        released.append(ReleasedJob(id=job_id, status=status, attempts=attempts))
    session.commit()
    return released


def stopped_by_shutdown_reason(worker_id: str) -> str:
    """The reason recorded on a fit whose worker the service stopped before it finished."""
    return (
        f"its worker {worker_id} was stopped by a shutdown of the service before the fit "
        "finished; the job is queued again"
    )


def release_jobs_of_stopped_worker(session: Session, worker_id: str) -> list[ReleasedJob]:
    """The running jobs of a worker that the API process stopped on its shutdown before their
    fits finished, queued again with the attempt their claim counted given back: a stop the
    service asked for is no fault of the job, so it must not bring the job nearer to being
    given up. Their fits left ``running`` are ``failed`` (``stopped_by_shutdown_reason``).

    Called once the worker has exited. Guarded like ``release_jobs_of_dead_worker``: only jobs
    still ``running`` under ``worker_id`` change (a job whose fit ended before the stop is
    ``done`` or ``failed`` and is left alone; one another worker claimed is not this
    worker's), each with its fit in one transaction. Commits.
    """
    jobs = FitJobRepository(session)
    fits = FitRepository(session)
    now = datetime.now(UTC)
    released = []
    for row in jobs.list_running_owned_by_for_update(worker_id):
        job_id, attempts = row.id, row.attempts
        if not jobs.requeue_giving_back_its_attempt_if_still_running_owned_by(job_id, worker_id):
            continue
        fits.fail_running_of_job(job_id, now, stopped_by_shutdown_reason(worker_id))
        released.append(ReleasedJob(id=job_id, status="queued", attempts=max(attempts - 1, 0)))
    session.commit()
    return released
