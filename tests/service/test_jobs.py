"""The fit worker: publishing, crashes that leave the published forecast intact, stale jobs,
coalescing. Fits run with the tiny catalog's sampler (2 chains x 200 draws) and, where a
published posterior is needed, with publish criteria relaxed (conftest.relaxed_config)."""

from __future__ import annotations

import gc
import weakref
from datetime import UTC, datetime, timedelta

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import event, select

from models._internal.memory import freeze_long_lived, freezes
from models.artifacts import load
from service.app import create_app
from service.jobs import worker
from service.jobs.queue import (
    ClaimedJob,
    ReleasedJob,
    claim_next_job,
    enqueue_refit,
    release_jobs_of_dead_worker,
)
from service.jobs.worker import run_fit_job, work_once
from service.live import LiveForecasts
from service.store.database import make_engine, make_session_factory
from service.store.repositories import FitRepository
from service.store.tables import FitJobRow, FitRow
from tests.service.conftest import let_the_heartbeat_go_stale, publish_artifact, relaxed_config

Q = "truce-by-2027"


def _sessions(settings):  # type: ignore[no-untyped-def]
    return make_session_factory(make_engine(settings))


def crashing_fitter(config, data, fit_id):  # type: ignore[no-untyped-def]
    raise RuntimeError(f"sampler exploded mid-fit {fit_id}")


def test_first_start_queues_one_fit(prepared):
    with _sessions(prepared)() as session:
        jobs = session.scalars(select(FitJobRow)).all()
    assert [(j.status, j.reason) for j in jobs] == [("queued", "first start: no published fit")]


def test_a_crashed_fit_is_recorded_and_leaves_the_published_forecast(live_client, published):
    before = live_client.get(f"/v1/questions/{Q}/forecast").json()
    sessions = _sessions(published)
    fit = work_once(published, sessions, "test-worker", fitter=crashing_fitter)
    assert fit is not None and fit.status == "failed"
    # The model was handed the id the fit is recorded under (its log lines about retried
    # attempts name it), not one of its own.
    assert f"sampler exploded mid-fit {fit.id}" in (fit.reason or "")
    shown = live_client.get(f"/v1/fits/{fit.id}").json()
    assert shown["status"] == "failed" and "RuntimeError" in shown["reason"]
    assert shown["inputs"]["questions"] and shown["inputs"]["elicitations"]
    with sessions() as session:
        job = session.get(FitJobRow, fit.job_id)
        assert job is not None and job.status == "failed" and job.error
    live_client.app.state.live.refresh()
    assert live_client.get(f"/v1/questions/{Q}/forecast").json() == before
    assert live_client.get("/v1/fits/latest").json()["id"] == "fit-fixture"


def test_a_job_whose_worker_died_is_picked_up_again(prepared):
    sessions = _sessions(prepared)
    with sessions() as session:
        job = claim_next_job(
            session,
            "dead-worker",
            prepared.stale_job_seconds,
            max_attempts=prepared.max_job_attempts,
        )
        assert job is not None and job.attempts == 1
        # Nobody else may take it while its heartbeat is fresh.
        assert (
            claim_next_job(
                session,
                "other-worker",
                prepared.stale_job_seconds,
                max_attempts=prepared.max_job_attempts,
            )
            is None
        )
        let_the_heartbeat_go_stale(session, job.id, prepared)
        again = claim_next_job(
            session,
            "other-worker",
            prepared.stale_job_seconds,
            max_attempts=prepared.max_job_attempts,
        )
        assert again is not None and again.id == job.id and again.attempts == 2
        row = session.get(FitJobRow, job.id)
        assert row is not None
        session.refresh(row)
        assert row.worker_id == "other-worker" and row.status == "running"


def test_a_job_is_given_up_after_too_many_dead_workers(prepared):
    sessions = _sessions(prepared)
    with sessions() as session:
        job = session.scalars(select(FitJobRow)).one()
        job.status, job.attempts = "running", prepared.max_job_attempts
        job.heartbeat_at = datetime.now(UTC) - timedelta(hours=1)
        session.commit()
    assert work_once(prepared, sessions, "w", fitter=crashing_fitter) is None
    with sessions() as session:
        job = session.scalars(select(FitJobRow)).one()
        assert (job.status, job.attempts) == ("failed", prepared.max_job_attempts)
        assert job.error == "given up after 3 attempts whose workers died or stopped beating"


def test_taking_over_a_stale_job_fails_the_fit_its_worker_left_running(prepared):
    """By the claim that takes the job over, saying why; the job's finished fits and another
    job's running fit are left alone, and so is everything while the heartbeat is fresh."""
    sessions = _sessions(prepared)
    with sessions() as session:
        job = claim_next_job(
            session,
            "dead-worker",
            prepared.stale_job_seconds,
            max_attempts=prepared.max_job_attempts,
        )
        assert job is not None
        alive = FitJobRow(
            status="running", worker_id="alive", attempts=1, heartbeat_at=datetime.now(UTC)
        )
        session.add(alive)
        session.flush()
        session.add_all(
            [
                FitRow(id="f-earlier", job_id=job.id, status="failed", inputs={}, reason="x"),
                FitRow(id="f-dead", job_id=job.id, status="running", inputs={}),
                FitRow(id="f-alive", job_id=alive.id, status="running", inputs={}),
            ]
        )
        session.commit()
        assert (
            claim_next_job(
                session,
                "other-worker",
                prepared.stale_job_seconds,
                max_attempts=prepared.max_job_attempts,
            )
            is None
        )
        fit = session.get(FitRow, "f-dead")
        assert fit is not None and fit.status == "running"
        let_the_heartbeat_go_stale(session, job.id, prepared)
        again = claim_next_job(
            session,
            "other-worker",
            prepared.stale_job_seconds,
            max_attempts=prepared.max_job_attempts,
        )
        assert again is not None and again.id == job.id and again.attempts == 2

    with sessions() as session:
        fits = {f.id: f for f in session.scalars(select(FitRow))}
        assert fits["f-dead"].status == "failed" and fits["f-dead"].finished_at is not None
        assert fits["f-dead"].reason == (
            "its worker dead-worker stopped beating (heartbeat stale: older than 30 s); "
            "the job was taken over by worker other-worker"
        )
        assert (fits["f-earlier"].status, fits["f-earlier"].reason) == ("failed", "x")
        assert fits["f-alive"].status == "running"


def _a_stale_job_at_its_last_attempt(settings, sessions) -> int:  # type: ignore[no-untyped-def]
    """The first job, claimed ``max_job_attempts`` times by workers that each recorded a fit
    and stopped beating: the last one's fit is left ``running``."""
    with sessions() as session:
        for n in range(1, settings.max_job_attempts + 1):
            job = claim_next_job(
                session,
                f"worker-{n}",
                settings.stale_job_seconds,
                max_attempts=settings.max_job_attempts,
            )
            assert job is not None and job.attempts == n
            session.add(FitRow(id=f"f-{n}", job_id=job.id, status="running", inputs={}))
            session.commit()
            let_the_heartbeat_go_stale(session, job.id, settings)
        return job.id


GIVEN_UP_AFTER_3 = "given up after 3 attempts whose workers died or stopped beating"


def test_a_stale_job_given_up_counts_its_dead_attempts_and_leaves_no_fit_running(prepared):
    """Three workers claim the job, record a fit and stop beating; the fourth claim gives it
    up after those 3 attempts, without counting one of its own (it fits nothing)."""
    assert prepared.max_job_attempts == 3
    sessions = _sessions(prepared)
    _a_stale_job_at_its_last_attempt(prepared, sessions)
    assert work_once(prepared, sessions, "worker-4", fitter=crashing_fitter) is None
    with sessions() as session:
        row = session.scalars(select(FitJobRow)).one()
        assert (row.status, row.attempts, row.error) == ("failed", 3, GIVEN_UP_AFTER_3)
        fits = session.scalars(select(FitRow).order_by(FitRow.id)).all()
        assert [(f.id, f.status) for f in fits] == [(f"f-{n}", "failed") for n in (1, 2, 3)]
        assert "the job was taken over by worker worker-3" in (fits[1].reason or "")
        # The last fit says what became of the job: given up, not taken over.
        assert fits[2].reason == (
            "its worker worker-3 stopped beating (heartbeat stale: older than 30 s); "
            f"the job was given up: {GIVEN_UP_AFTER_3}"
        )


def test_the_claim_gives_a_stale_job_at_its_last_attempt_up_in_one_transaction(prepared):
    """The worker's claim is the give-up: one commit, after which the job is ``failed`` and
    no fit of it ``running``; nothing is fitted."""
    sessions = _sessions(prepared)
    job_id = _a_stale_job_at_its_last_attempt(prepared, sessions)
    commits: list[bool] = []
    event.listen(sessions, "after_commit", lambda session: commits.append(True))

    def fitter(config, data, fit_id):  # type: ignore[no-untyped-def]
        raise AssertionError("a job given up is not fitted")

    assert work_once(prepared, sessions, "worker-4", fitter=fitter) is None
    assert len(commits) == 1
    with sessions() as session:
        row = session.get(FitJobRow, job_id)
        assert row is not None and row.finished_at is not None
        assert (row.status, row.attempts, row.error) == ("failed", 3, GIVEN_UP_AFTER_3)
        running = session.scalars(select(FitRow).where(FitRow.status == "running")).all()
        assert running == []
        dead = session.get(FitRow, "f-3")
        assert dead is not None and dead.reason == (
            "its worker worker-3 stopped beating (heartbeat stale: older than 30 s); "
            f"the job was given up: {GIVEN_UP_AFTER_3}"
        )


class _WorkerDied(BaseException):
    """The worker process ends here (killed): nothing after this runs."""


def test_a_worker_that_dies_right_after_its_claim_never_leaves_a_job_past_its_attempts(
    prepared, monkeypatch
):
    """Each claimant dies the moment its claim returns (before it fits or records anything)
    and its heartbeat goes stale. The job is claimed ``max_job_attempts`` times, then given
    up by the next claim: at no point is it ``running`` with more attempts than that, and
    the later claims count no more attempts either."""
    sessions = _sessions(prepared)
    claim = worker.claim_next_job

    def claim_and_die(*args, **kwargs):  # type: ignore[no-untyped-def]
        claim(*args, **kwargs)
        raise _WorkerDied

    monkeypatch.setattr(worker, "claim_next_job", claim_and_die)
    for n in range(1, prepared.max_job_attempts + 3):
        with pytest.raises(_WorkerDied):
            work_once(prepared, sessions, f"worker-{n}", fitter=crashing_fitter)
        with sessions() as session:
            row = session.scalars(select(FitJobRow)).one()
            if n <= prepared.max_job_attempts:
                assert (row.status, row.attempts, row.worker_id) == ("running", n, f"worker-{n}")
                let_the_heartbeat_go_stale(session, row.id, prepared)
            else:
                assert (row.status, row.attempts, row.error) == ("failed", 3, GIVEN_UP_AFTER_3)
                assert row.worker_id == "worker-3"
    monkeypatch.undo()
    assert work_once(prepared, sessions, "worker-last", fitter=crashing_fitter) is None


def test_a_job_queued_behind_one_given_up_is_claimed_by_the_same_call(prepared):
    """The worker does not wait a poll interval: the claim that gives the stale job up goes
    on to the job queued after it, and runs it."""
    sessions = _sessions(prepared)
    stale_id = _a_stale_job_at_its_last_attempt(prepared, sessions)
    with sessions() as session:
        queued_id = enqueue_refit(session, "evidence:ev-1", "fred")
        session.commit()
    assert queued_id > stale_id
    fit = work_once(prepared, sessions, "worker-4", fitter=crashing_fitter)
    assert fit is not None and fit.job_id == queued_id
    with sessions() as session:
        stale = session.get(FitJobRow, stale_id)
        queued = session.get(FitJobRow, queued_id)
        assert stale is not None and queued is not None
        assert (stale.status, stale.attempts, stale.error) == ("failed", 3, GIVEN_UP_AFTER_3)
        # Run (the crashing fitter failed it) by the worker whose claim gave the other up.
        assert (queued.status, queued.attempts, queued.worker_id) == ("failed", 1, "worker-4")
        assert "sampler exploded" in (queued.error or "")


def _race_to_claim(prepared, sessions, racers: int = 8) -> list[int]:  # type: ignore[no-untyped-def]
    """``racers`` threads call ``claim_next_job`` at once, each as its own worker; the ids
    they claimed."""
    import threading

    claimed: list[int] = []
    barrier = threading.Barrier(racers)

    def claim(n: int) -> None:
        barrier.wait()
        with sessions() as session:
            job = claim_next_job(
                session,
                f"racer-{n}",
                prepared.stale_job_seconds,
                max_attempts=prepared.max_job_attempts,
            )
            if job is not None:
                claimed.append(job.id)

    threads = [threading.Thread(target=claim, args=(n,)) for n in range(racers)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=30)
    return claimed


def test_concurrent_workers_give_a_spent_job_up_once(prepared):
    """Eight workers race for a stale job at its last attempt and three queued behind it: the
    job is given up once, with its count, and each queued job is claimed by one worker."""
    sessions = _sessions(prepared)
    stale_id = _a_stale_job_at_its_last_attempt(prepared, sessions)
    with sessions() as session:
        for i in range(3):
            session.add(FitJobRow(status="queued", reason=f"extra {i}"))
        session.commit()
    claimed = _race_to_claim(prepared, sessions)
    assert len(claimed) == len(set(claimed)) and 1 <= len(claimed) <= 3
    assert stale_id not in claimed
    with sessions() as session:
        stale = session.get(FitJobRow, stale_id)
        assert stale is not None
        assert (stale.status, stale.attempts, stale.error) == ("failed", 3, GIVEN_UP_AFTER_3)
        running = session.scalars(select(FitJobRow).where(FitJobRow.status == "running")).all()
        assert sorted(j.id for j in running) == sorted(claimed)
        assert all(j.attempts == 1 for j in running)
        assert session.scalars(select(FitRow).where(FitRow.status == "running")).all() == []


# --- a slow worker that lost its job: its result is discarded ---------------------------------


def _fitter_that_loses_the_job(artifact, lose):  # type: ignore[no-untyped-def]
    """A fitter during whose fit ``lose()`` takes the job from its worker; it then returns a
    publishable posterior (the tiny catalog's fit)."""

    def fitter(config, data, fit_id):  # type: ignore[no-untyped-def]
        lose()
        return load(artifact)

    return fitter


def _the_published_fit_and_the_artifacts_are_as_before(settings, sessions):  # type: ignore[no-untyped-def]
    with sessions() as session:
        assert FitRepository(session).get_latest_published_id() == "fit-fixture"
    # The discarded fit's artifact is deleted: nothing is left that no fit row serves.
    assert sorted(p.name for p in settings.artifacts_dir.iterdir()) == ["fit-fixture.nc"]


def _the_fit_failed_with(sessions, fit, reason: str) -> None:  # type: ignore[no-untyped-def]
    """``fit`` (as ``run_fit_job`` returned it, and as stored) failed with ``reason`` and was
    not published."""
    assert (fit.status, fit.reason, fit.published_at) == ("failed", reason, None)
    with sessions() as session:
        stored = session.get(FitRow, fit.id)
        assert stored is not None and (stored.status, stored.reason) == ("failed", reason)


def test_a_worker_whose_job_was_taken_over_while_it_fitted_discards_its_result(
    published, published_artifact
):
    """Worker A is only slow: its heartbeat goes stale and B takes the job over while A fits.
    A's publishable result is not published and leaves the job to B; B's is published."""
    # A beats no more during the test (its beat would refresh the heartbeat made stale here).
    settings = published.model_copy(update={"heartbeat_seconds": 3600})
    sessions = _sessions(settings)
    with sessions() as session:
        job = claim_next_job(
            session,
            "slow-worker",
            settings.stale_job_seconds,
            max_attempts=settings.max_job_attempts,
        )
        assert job is not None
    taken: list[ClaimedJob] = []

    def take_over() -> None:
        with sessions() as session:
            let_the_heartbeat_go_stale(session, job.id, settings)
            again = claim_next_job(
                session,
                "other-worker",
                settings.stale_job_seconds,
                max_attempts=settings.max_job_attempts,
            )
            assert again is not None and again.id == job.id
            taken.append(again)

    fitter = _fitter_that_loses_the_job(published_artifact, take_over)
    fit = run_fit_job(
        settings, sessions, job, "slow-worker", config=relaxed_config(), fitter=fitter
    )
    assert taken
    reason = (
        "its worker slow-worker stopped beating (heartbeat stale: older than 30 s); the job was "
        "taken over by worker other-worker; result discarded: the job was taken over by worker "
        "other-worker before worker slow-worker finished the fit"
    )
    _the_fit_failed_with(sessions, fit, reason)
    assert fit.artifact_path is None
    with sessions() as session:
        row = session.get(FitJobRow, job.id)
        assert row is not None
        assert (row.status, row.worker_id, row.finished_at, row.error) == (
            "running",
            "other-worker",
            None,
            None,
        )
    _the_published_fit_and_the_artifacts_are_as_before(settings, sessions)

    # The worker that took the job over still finishes it.
    mine = run_fit_job(
        settings,
        sessions,
        taken[0],
        "other-worker",
        fitter=lambda c, d, f: load(published_artifact),
    )
    assert mine.status == "published", mine.reason
    with sessions() as session:
        row = session.get(FitJobRow, job.id)
        assert row is not None and (row.status, row.fit_id) == ("done", mine.id)
        assert FitRepository(session).get_latest_published_id() == mine.id


@pytest.mark.parametrize("given_up", [False, True], ids=["queued-again", "given-up"])
def test_a_worker_whose_job_was_released_while_it_fitted_discards_its_result(
    published, published_artifact, given_up
):
    """The API process took worker A for dead (``release_jobs_of_dead_worker``) while A was
    only slow: A's result neither publishes nor ends the job queued again or given up."""
    settings = published.model_copy(update={"heartbeat_seconds": 3600})
    sessions = _sessions(settings)
    with sessions() as session:
        job = claim_next_job(
            session,
            "slow-worker",
            settings.stale_job_seconds,
            max_attempts=settings.max_job_attempts,
        )
        assert job is not None
    status = "failed" if given_up else "queued"

    def release() -> None:
        with sessions() as session:
            released = release_jobs_of_dead_worker(
                session,
                "slow-worker",
                "died (exit code -9)",
                1 if given_up else settings.max_job_attempts,
            )
            assert released == [ReleasedJob(id=job.id, status=status, attempts=1)]

    fitter = _fitter_that_loses_the_job(published_artifact, release)
    fit = run_fit_job(
        settings, sessions, job, "slow-worker", config=relaxed_config(), fitter=fitter
    )
    fate = "given up" if given_up else "queued again"
    reason = (
        "its worker slow-worker died (exit code -9); result discarded: the job was "
        f"{fate} before worker slow-worker finished the fit"
    )
    _the_fit_failed_with(sessions, fit, reason)
    with sessions() as session:
        row = session.get(FitJobRow, job.id)
        assert row is not None and row.status == status
        if given_up:
            assert row.error == "given up after 1 attempt whose worker died or stopped beating"
        else:
            assert (row.finished_at, row.error, row.fit_id) == (None, None, None)
    _the_published_fit_and_the_artifacts_are_as_before(settings, sessions)


def test_a_worker_whose_job_was_given_up_while_it_fitted_discards_its_result(
    published, published_artifact
):
    """Worker A, at the job's last attempt, is only slow: its heartbeat goes stale and B's
    claim gives the job up while A fits. A's fit says the job was given up (B never had it),
    and A's result is discarded."""
    settings = published.model_copy(update={"heartbeat_seconds": 3600, "max_job_attempts": 1})
    sessions = _sessions(settings)
    with sessions() as session:
        job = claim_next_job(
            session,
            "slow-worker",
            settings.stale_job_seconds,
            max_attempts=settings.max_job_attempts,
        )
        assert job is not None and job.attempts == 1

    def give_up() -> None:
        with sessions() as session:
            let_the_heartbeat_go_stale(session, job.id, settings)
        assert work_once(settings, sessions, "other-worker", fitter=crashing_fitter) is None

    fitter = _fitter_that_loses_the_job(published_artifact, give_up)
    fit = run_fit_job(
        settings, sessions, job, "slow-worker", config=relaxed_config(), fitter=fitter
    )
    error = "given up after 1 attempt whose worker died or stopped beating"
    reason = (
        "its worker slow-worker stopped beating (heartbeat stale: older than 30 s); the job was "
        f"given up: {error}; result discarded: the job was given up before worker slow-worker "
        "finished the fit"
    )
    _the_fit_failed_with(sessions, fit, reason)
    assert fit.artifact_path is None
    with sessions() as session:
        row = session.get(FitJobRow, job.id)
        assert row is not None
        assert (row.status, row.attempts, row.error) == ("failed", 1, error)
    _the_published_fit_and_the_artifacts_are_as_before(settings, sessions)


def test_a_worker_whose_job_was_taken_over_before_it_fitted_does_not_fit(prepared):
    """Its first write (the fit's id on the job) finds the job lost: no fit runs, the job is
    left to the worker that took it over, and the fit is returned recorded failed."""
    sessions = _sessions(prepared)
    with sessions() as session:
        job = claim_next_job(
            session,
            "slow-worker",
            prepared.stale_job_seconds,
            max_attempts=prepared.max_job_attempts,
        )
        assert job is not None
        let_the_heartbeat_go_stale(session, job.id, prepared)
        assert (
            claim_next_job(
                session,
                "other-worker",
                prepared.stale_job_seconds,
                max_attempts=prepared.max_job_attempts,
            )
            is not None
        )
    fitted: list[str] = []

    def fitter(config, data, fit_id):  # type: ignore[no-untyped-def]
        fitted.append(fit_id)
        raise RuntimeError("must not fit")

    fit = run_fit_job(prepared, sessions, job, "slow-worker", fitter=fitter)
    assert fitted == []
    reason = (
        "not fitted: the job was taken over by worker other-worker before worker slow-worker "
        "started the fit"
    )
    _the_fit_failed_with(sessions, fit, reason)
    with sessions() as session:
        stored = session.get(FitRow, fit.id)
        assert stored is not None and stored.finished_at is not None
        row = session.get(FitJobRow, job.id)
        assert row is not None
        assert (row.status, row.worker_id, row.fit_id) == ("running", "other-worker", None)


def test_worker_publishes_a_new_fit_and_the_api_picks_it_up(published, keys):
    sessions = _sessions(published)
    with TestClient(create_app(published)) as client:
        assert client.get(f"/v1/questions/{Q}/forecast").json()["fit_id"] == "fit-fixture"
        posted = client.post(
            f"/v1/questions/{Q}/resolution",
            json={"outcome": 1, "resolved_at": "2026-08-01T00:00:00Z"},
            headers=keys.auth("admin"),
        )
        assert posted.status_code == 200
        fit = work_once(published, sessions, "test-worker", config=relaxed_config())
        assert fit is not None and fit.status == "published", fit.reason
        assert fit.artifact_sha256 and fit.diagnostics and fit.diagnostics["publishable"]
        assert fit.inputs["resolutions"] == [{"question_id": Q, "outcome": 1}]
        # One resolved question in one group: nothing to tell groups apart, the topic terms
        # are off, and the fit's record says why (models/topics.py).
        assert fit.diagnostics["topic_effects"] is False
        assert fit.diagnostics["topic_evidence"]["groups"] == 1
        assert fit.diagnostics["topic_evidence"]["p_value"] is None
        served = client.get(f"/v1/fits/{fit.id}").json()["diagnostics"]
        assert served["topic_evidence"] == fit.diagnostics["topic_evidence"]
        # The API polls for the latest publishable fit (poll_seconds = 0.2 in the tests).
        assert client.app.state.live.refresh() or client.app.state.live.fit_id == fit.id
        f = client.get(f"/v1/questions/{Q}/forecast").json()
        assert f["fit_id"] == fit.id and f["cause"] == {"type": "fit", "id": fit.id}
        assert client.get("/v1/fits/latest").json()["id"] == fit.id
    with sessions() as session:
        assert session.get(FitRow, fit.id) is not None
        assert work_once(published, sessions, "test-worker") is None  # queue empty


def test_posts_during_a_fit_make_one_more_refit(prepared):
    sessions = _sessions(prepared)
    with sessions() as session:
        running = claim_next_job(
            session, "w", prepared.stale_job_seconds, max_attempts=prepared.max_job_attempts
        )
        assert running is not None
        ids = {enqueue_refit(session, f"evidence:ev-{i}", "fred") for i in range(5)}
        session.commit()
        assert len(ids) == 1 and running.id not in ids
        queued = session.get(FitJobRow, ids.pop())
        assert queued is not None and queued.reason.count("evidence:") == 5


def test_a_corrupt_artifact_is_refused_and_the_current_fit_kept(live_client, published):
    from service.live import sha256_of

    sessions = _sessions(published)
    path = published.artifacts_dir / "fit-fixture.nc"
    corrupt = published.artifacts_dir / "fit-corrupt.nc"
    corrupt.write_bytes(path.read_bytes()[:-10] + b"0123456789")
    with sessions() as session:
        now = datetime.now(UTC) + timedelta(seconds=1)
        session.add(
            FitRow(
                id="fit-corrupt",
                status="published",
                started_at=now,
                published_at=now,
                inputs={},
                artifact_path=str(corrupt),
                artifact_sha256=sha256_of(path),
            )
        )
        session.commit()
    assert live_client.app.state.live.refresh() is False
    assert live_client.app.state.live.fit_id == "fit-fixture"
    assert live_client.get(f"/v1/questions/{Q}/forecast").json()["fit_id"] == "fit-fixture"


def test_concurrent_workers_never_claim_one_job_twice(prepared):
    """SKIP LOCKED on PostgreSQL, the guarded UPDATE on both backends."""
    sessions = _sessions(prepared)
    with sessions() as session:
        for i in range(3):
            session.add(FitJobRow(status="queued", reason=f"extra {i}"))
        session.commit()
    claimed = _race_to_claim(prepared, sessions)
    assert len(claimed) == len(set(claimed)) and 1 <= len(claimed) <= 4
    with sessions() as session:
        running = session.scalars(select(FitJobRow).where(FitJobRow.status == "running")).all()
        assert sorted(j.id for j in running) == sorted(claimed)


def test_the_api_frees_the_fit_it_replaces_at_once(published, published_artifact):
    # A posterior is a tree of objects that point at each other: without the collection
    # that follows a swap, the replaced fit would stay in memory until the garbage
    # collector's next full pass (rare in a process with a model compiled), or, had a
    # compilation frozen it, until the next compilation.
    live = LiveForecasts(published, _sessions(published))
    assert live.refresh() and live.fit_id == "fit-fixture"
    old = weakref.ref(live.base.posterior)  # the DataTree: the cycle
    freeze_long_lived()  # as a compilation in the fit worker freezes what is alive
    # The same artifact published again under another id: loaded anew, as a newer fit is.
    publish_artifact(published, published_artifact, fit_id="fit-newer")
    gc.disable()
    try:
        assert live.refresh()
        assert old() is None
    finally:
        gc.enable()


def test_a_swap_thaws_only_if_something_froze_since_the_replaced_fit_was_loaded(
    published, published_artifact
):
    # A thaw makes the collection a full pass over every object (seconds in a process with
    # several models compiled); with nothing frozen since the load, the replaced fit is not
    # frozen, and a collection of what is not frozen frees it.
    live = LiveForecasts(published, _sessions(published))
    assert live.refresh()
    old = weakref.ref(live.base.posterior)
    publish_artifact(published, published_artifact, fit_id="fit-newer")
    before = freezes()
    gc.disable()
    try:
        assert live.refresh()
        assert old() is None
        assert freezes() == before  # nothing thawed, nothing frozen
    finally:
        gc.enable()
