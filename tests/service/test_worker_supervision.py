"""The API process's fit worker is kept running: a worker that dies is started again after a
backoff, its job queued again at once (not after the stale limit), and /readyz and /metrics
say so; a shutdown mid-fit queues the job again without using one of its attempts; a Ctrl-C
or SIGTERM in the worker's first second does not end it with a traceback.

Real worker processes (spawned as under ``helsinki serve``) on a real database. No test
waits for a fit: the worker either idles (its only job is held by another worker id), fits
with a fitter that never returns, or is killed as soon as it has claimed its job. The
backoff is read from fake worker processes and an injected sleep. Waits are hang checks
(pytest-timeout), never assertions on a time.
"""

from __future__ import annotations

import asyncio
import functools
import os
import signal
import sys
import time
from collections.abc import Callable, Iterator

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from service.app import create_app
from service.jobs.queue import (
    ReleasedJob,
    claim_next_job,
    release_jobs_of_dead_worker,
    release_jobs_of_stopped_worker,
    stopped_by_shutdown_reason,
)
from service.jobs.supervisor import (
    WorkerProcess,
    WorkerSupervisor,
    start_worker_process,
    stop_worker_process,
)
from service.settings import Settings
from service.store.database import make_engine, make_session_factory
from service.store.tables import FitJobRow, FitRow
from tests.service.conftest import let_the_heartbeat_go_stale

pytestmark = pytest.mark.skipif(sys.platform != "linux", reason="POSIX signals and spawn")

HANG_SECONDS = 120


def _sessions(settings: Settings):  # type: ignore[no-untyped-def]
    return make_session_factory(make_engine(settings))


def _until(condition: Callable[[], object]) -> None:
    """Poll until ``condition()`` holds; pytest-timeout ends a wait that never does."""
    while not condition():
        time.sleep(0.05)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def _the_first_job(settings: Settings) -> FitJobRow:
    with _sessions(settings)() as session:
        job = session.scalars(select(FitJobRow)).one()
        session.expunge(job)
        return job


def _hold_the_first_job_elsewhere(settings: Settings) -> None:
    """Another worker id holds the queued first fit: the supervised worker idles."""
    with _sessions(settings)() as session:
        assert claim_next_job(
            session,
            "a-worker-elsewhere",
            settings.stale_job_seconds,
            max_attempts=settings.max_job_attempts,
        )


@pytest.fixture
def serving(prepared: Settings) -> Settings:
    """``helsinki serve``'s settings: the lifespan starts the worker; a stale heartbeat would
    take an hour, so only the release of a dead worker's job can make it claimable soon."""
    return prepared.model_copy(
        update={"start_worker": True, "stale_job_seconds": 3600, "worker_restart_seconds": 0.1}
    )


def _supervisor(client: TestClient) -> WorkerSupervisor:
    supervisor: WorkerSupervisor = client.app.state.worker  # type: ignore[attr-defined]
    return supervisor


@pytest.mark.timeout(HANG_SECONDS)
def test_a_worker_that_dies_is_started_again_and_readyz_and_metrics_say_so(
    serving: Settings, caplog: pytest.LogCaptureFixture
) -> None:
    _hold_the_first_job_elsewhere(serving)
    with TestClient(create_app(serving)) as client:
        supervisor = _supervisor(client)
        assert client.get("/readyz").json()["worker"] == {
            "state": "running",
            "restarts": 0,
            "last_exit_code": None,
        }
        first = supervisor.worker
        assert first is not None and first.process.pid is not None
        os.kill(first.process.pid, signal.SIGKILL)  # as the OOM killer does

        _until(lambda: supervisor.restarts == 1 and supervisor.state == "running")
        second = supervisor.worker
        assert second is not None and second.process.pid is not None
        assert second.process.pid != first.process.pid and _alive(second.process.pid)
        # A new id: jobs claimed under the dead worker's id are not the new worker's.
        assert second.worker_id != first.worker_id
        assert client.get("/readyz").json()["worker"] == {
            "state": "running",
            "restarts": 1,
            "last_exit_code": -signal.SIGKILL,
        }
        metrics = client.get("/metrics").text
        assert 'helsinki_fit_worker_state{state="running"} 1.0' in metrics
        assert 'helsinki_fit_worker_state{state="restarting"} 0.0' in metrics
        assert "helsinki_fit_worker_restarts_total 1.0" in metrics
    # The shutdown stopped the current worker, cleanly, and started none after it.
    assert second.process.exitcode == 0 and supervisor.worker is second
    assert supervisor.state == "stopped"
    assert f"died with exit code {-signal.SIGKILL}" in caplog.text


@pytest.mark.timeout(HANG_SECONDS)
def test_the_job_of_a_worker_that_died_is_queued_again_at_once(serving: Settings) -> None:
    # A long backoff: no new worker takes the job before the test has looked at it.
    serving = serving.model_copy(update={"worker_restart_seconds": 600})
    sessions = _sessions(serving)
    with TestClient(create_app(serving)) as client:
        supervisor = _supervisor(client)
        worker = supervisor.worker
        assert worker is not None and worker.process.pid is not None

        def fitting() -> bool:
            job = _the_first_job(serving)
            return job.status == "running" and job.fit_id is not None

        _until(fitting)  # the worker claimed the first fit and recorded it as running
        running = _the_first_job(serving)
        assert running.worker_id == worker.worker_id and running.attempts == 1
        os.kill(worker.process.pid, signal.SIGKILL)

        _until(lambda: _the_first_job(serving).status == "queued")
        with sessions() as session:
            fit = session.get(FitRow, running.fit_id)
            assert fit is not None and fit.status == "failed"
            assert worker.worker_id in (fit.reason or "") and "exit code -9" in (fit.reason or "")
        assert client.get("/readyz").json()["worker"] == {
            "state": "restarting",
            "restarts": 0,
            "last_exit_code": -signal.SIGKILL,
        }
        assert 'helsinki_fit_worker_state{state="restarting"} 1.0' in client.get("/metrics").text
        # Claimable now, an hour before its heartbeat would have gone stale.
        with sessions() as session:
            again = claim_next_job(
                session,
                "another-worker",
                serving.stale_job_seconds,
                max_attempts=serving.max_job_attempts,
            )
            assert again is not None and again.id == running.id and again.attempts == 2
    # Stopped during the backoff: no worker was started after the dead one.
    assert supervisor.worker is worker and supervisor.restarts == 0
    assert supervisor.state == "stopped"
    # The death counted its attempt, and the shutdown left the job of another worker alone.
    job = _the_first_job(serving)
    assert (job.status, job.worker_id, job.attempts) == ("running", "another-worker", 2)


def test_releasing_a_dead_workers_jobs_gives_up_as_the_stale_path_does(prepared: Settings):
    """Only the dead worker's running jobs change, each with its fit, in one transaction; a
    job that has had ``max_job_attempts`` workers die is given up, not queued again."""
    sessions = _sessions(prepared)
    with sessions() as session:
        first = session.scalars(select(FitJobRow)).one()
        first.status, first.worker_id, first.attempts, first.fit_id = "running", "dead", 1, "f-1"
        spent = FitJobRow(status="running", worker_id="dead", attempts=prepared.max_job_attempts)
        other = FitJobRow(status="running", worker_id="alive", attempts=1)
        session.add_all([spent, other])
        session.flush()
        for fit_id, job in (("f-1", first), ("f-2", spent), ("f-3", other)):
            session.add(FitRow(id=fit_id, job_id=job.id, status="running", inputs={}))
        session.add(FitRow(id="f-0", job_id=first.id, status="failed", inputs={}, reason="x"))
        session.commit()
        ids = (first.id, spent.id, other.id)

    with sessions() as session:
        released = release_jobs_of_dead_worker(
            session, "dead", "died (exit code -9)", prepared.max_job_attempts
        )
    assert [(j.id, j.status) for j in released] == [(ids[0], "queued"), (ids[1], "failed")]

    with sessions() as session:
        jobs = [session.get(FitJobRow, i) for i in ids]
        assert [j.status for j in jobs if j] == ["queued", "failed", "running"]
        assert jobs[0] is not None and jobs[0].fit_id is None and jobs[0].attempts == 1
        assert jobs[1] is not None and "given up after 3 attempts" in (jobs[1].error or "")
        fits = {f.id: f for f in session.scalars(select(FitRow))}
        assert [fits[f].status for f in ("f-0", "f-1", "f-2", "f-3")] == [
            "failed",
            "failed",
            "failed",
            "running",
        ]
        assert fits["f-0"].reason == "x"  # finished before: left as it was
        assert "its worker dead died (exit code -9)" == fits["f-1"].reason
    # Twice is once: nothing of the dead worker runs any more.
    with sessions() as session:
        assert (
            release_jobs_of_dead_worker(
                session, "dead", "died (exit code -9)", prepared.max_job_attempts
            )
            == []
        )


def test_a_released_job_given_up_counts_its_dead_attempts(prepared: Settings) -> None:
    """Its first worker stops beating, its second dies and its third dies: given up after 3
    attempts, with the message the stale path gives, and no fit of it left ``running``."""
    assert prepared.max_job_attempts == 3
    sessions = _sessions(prepared)

    def claim_and_record_a_fit(session: Session, worker_id: str, attempt: int) -> int:
        job = claim_next_job(
            session, worker_id, prepared.stale_job_seconds, max_attempts=prepared.max_job_attempts
        )
        assert job is not None and job.attempts == attempt
        session.add(FitRow(id=f"f-{attempt}", job_id=job.id, status="running", inputs={}))
        session.commit()
        return job.id

    with sessions() as session:
        job_id = claim_and_record_a_fit(session, "stale", 1)
        let_the_heartbeat_go_stale(session, job_id, prepared)
        claim_and_record_a_fit(session, "dead-1", 2)
        assert release_jobs_of_dead_worker(
            session, "dead-1", "died (exit code -9)", prepared.max_job_attempts
        ) == [ReleasedJob(id=job_id, status="queued", attempts=2)]
        claim_and_record_a_fit(session, "dead-2", 3)
        assert release_jobs_of_dead_worker(
            session, "dead-2", "died (exit code -9)", prepared.max_job_attempts
        ) == [ReleasedJob(id=job_id, status="failed", attempts=3)]

    with sessions() as session:
        row = session.get(FitJobRow, job_id)
        assert row is not None and row.status == "failed"
        assert row.error == "given up after 3 attempts whose workers died or stopped beating"
        fits = session.scalars(select(FitRow).order_by(FitRow.id)).all()
        assert [(f.id, f.status) for f in fits] == [(f"f-{n}", "failed") for n in (1, 2, 3)]


# --- a shutdown mid-fit does not use up an attempt ------------------------------------------


def fit_until_stopped(config, data, fit_id):  # type: ignore[no-untyped-def]
    """A fit that never ends: the worker is still fitting when the service stops it (a
    module-level function, so that the spawned worker can unpickle it)."""
    while True:
        time.sleep(3600)


@pytest.mark.timeout(HANG_SECONDS)
@pytest.mark.parametrize("sigterm_first", [False, True], ids=["stopped", "SIGTERM-then-stopped"])
def test_a_shutdown_mid_fit_queues_the_job_again_without_using_an_attempt(
    serving: Settings, sigterm_first: bool, caplog: pytest.LogCaptureFixture
) -> None:
    before = _the_first_job(serving)
    assert before.status == "queued"
    app = create_app(serving)
    supervisor: WorkerSupervisor = app.state.worker
    supervisor.start_process = functools.partial(start_worker_process, fitter=fit_until_stopped)
    supervisor.stop_grace_seconds = 0.5  # then terminated, as after 10 s under `serve`
    with TestClient(app):
        worker = supervisor.worker
        assert worker is not None and worker.process.pid is not None

        def fitting() -> bool:
            job = _the_first_job(serving)
            return job.status == "running" and job.fit_id is not None

        _until(fitting)
        running = _the_first_job(serving)
        assert running.worker_id == worker.worker_id
        assert running.attempts == before.attempts + 1
        if sigterm_first:  # as a SIGTERM to the whole group reaches the worker first
            os.kill(worker.process.pid, signal.SIGTERM)
    # The lifespan's shutdown stopped the worker: terminated mid-fit.
    assert worker.process.exitcode == -signal.SIGTERM
    job = _the_first_job(serving)
    assert (job.status, job.attempts, job.fit_id) == ("queued", before.attempts, None)
    with _sessions(serving)() as session:
        fit = session.get(FitRow, running.fit_id)
        assert fit is not None and fit.status == "failed" and fit.finished_at is not None
        assert fit.reason == stopped_by_shutdown_reason(worker.worker_id)
    assert "the attempt is not counted" in caplog.text


def test_releasing_a_stopped_workers_jobs_gives_their_attempt_back(prepared: Settings) -> None:
    """Only the stopped worker's running jobs change, each with its fit: queued again with
    the attempt of their claim taken back. Its job that finished before the stop, and the
    job another worker claimed, are left alone."""
    sessions = _sessions(prepared)
    with sessions() as session:
        first = session.scalars(select(FitJobRow)).one()
        first.status, first.worker_id, first.attempts, first.fit_id = "running", "w", 2, "f-1"
        done = FitJobRow(status="done", worker_id="w", attempts=1)
        other = FitJobRow(status="running", worker_id="other", attempts=1)
        session.add_all([done, other])
        session.flush()
        for fit_id, job, status in (
            ("f-1", first, "running"),
            ("f-2", done, "published"),
            ("f-3", other, "running"),
        ):
            session.add(FitRow(id=fit_id, job_id=job.id, status=status, inputs={}))
        session.commit()
        ids = (first.id, done.id, other.id)

    with sessions() as session:
        assert release_jobs_of_stopped_worker(session, "w") == [
            ReleasedJob(id=ids[0], status="queued", attempts=1)
        ]
    with sessions() as session:
        jobs = [session.get(FitJobRow, i) for i in ids]
        assert [(j.status, j.attempts) for j in jobs if j] == [
            ("queued", 1),
            ("done", 1),
            ("running", 1),
        ]
        assert jobs[0] is not None and jobs[0].fit_id is None
        fits = {f.id: f for f in session.scalars(select(FitRow))}
        assert [fits[f].status for f in ("f-1", "f-2", "f-3")] == ["failed", "published", "running"]
        assert fits["f-1"].reason == stopped_by_shutdown_reason("w")
    with sessions() as session:  # twice is once
        assert release_jobs_of_stopped_worker(session, "w") == []


# --- the supervisor with fake worker processes: the backoff, whose job a stop gives back -----


class _FakeProcess:
    """Stands in for a worker process. ``end(code)`` makes its sentinel ready, as an exit
    does; asked to stop (joined while alive), it exits at once with ``stops_with``."""

    pid = None

    def __init__(self, stops_with: int = 0) -> None:
        self.sentinel, self._write = os.pipe()
        self.exitcode: int | None = None
        self.stops_with = stops_with

    def end(self, code: int) -> None:
        self.exitcode = code
        os.close(self._write)

    def is_alive(self) -> bool:
        return self.exitcode is None

    def join(self, timeout: float | None = None) -> None:
        if self.exitcode is None:
            self.end(self.stops_with)


class _FakeWriter:
    def close(self) -> None:
        pass


def _fake_worker(worker_id: str, stops_with: int = 0) -> WorkerProcess:
    process: object = _FakeProcess(stops_with)
    return WorkerProcess(process, _FakeWriter(), worker_id, time.monotonic())  # type: ignore[arg-type]


def _backoffs(
    settings: Settings, lives: list[float], fails_to_start: int = 0
) -> tuple[list[float], int]:
    """The backoffs the supervisor waits, and its restarts, when its workers die one after the
    other, each having lived ``lives[i]`` seconds; the first ``fails_to_start`` starts after
    a death raise."""
    waits: list[float] = []
    failures = [fails_to_start]

    async def sleep(seconds: float) -> None:
        waits.append(seconds)
        await asyncio.sleep(0)

    def start(settings: Settings, worker_id: str) -> WorkerProcess:
        if waits and failures[0] > 0:
            failures[0] -= 1
            raise OSError("cannot fork")
        return _fake_worker(worker_id)

    async def scenario() -> int:
        supervisor = WorkerSupervisor(
            settings, _sessions(settings), start_process=start, sleep=sleep
        )
        supervisor.start()
        for lived in lives:
            worker = supervisor.worker
            assert worker is not None
            worker.started_at -= lived
            worker.process.end(-signal.SIGKILL)  # type: ignore[attr-defined]
            while supervisor.worker is worker:  # pytest-timeout if it is never restarted
                await asyncio.sleep(0.001)
        await supervisor.stop()
        return supervisor.restarts

    restarts = asyncio.run(scenario())
    return waits, restarts


@pytest.fixture
def backoff(prepared: Settings) -> Settings:
    return prepared.model_copy(
        update={"worker_restart_seconds": 1, "worker_restart_max_seconds": 60}
    )


@pytest.mark.timeout(HANG_SECONDS)
def test_the_restart_backoff_doubles_at_each_death_up_to_the_maximum(backoff: Settings) -> None:
    waits, restarts = _backoffs(backoff, lives=[0] * 8)
    assert waits == [1, 2, 4, 8, 16, 32, 60, 60]
    assert restarts == 8


@pytest.mark.timeout(HANG_SECONDS)
def test_a_worker_that_lived_the_maximum_resets_the_restart_backoff(backoff: Settings) -> None:
    # The fourth lived half the maximum: no reset. The fifth lived the maximum: reset.
    waits, _ = _backoffs(backoff, lives=[0, 0, 0, 30, 60, 0])
    assert waits == [1, 2, 4, 8, 1, 2]


@pytest.mark.timeout(HANG_SECONDS)
def test_a_worker_that_could_not_be_started_is_tried_again_after_the_next_backoff(
    backoff: Settings,
) -> None:
    waits, restarts = _backoffs(backoff, lives=[0, 0], fails_to_start=2)
    assert waits == [1, 2, 4, 8]
    assert restarts == 2


@pytest.mark.timeout(HANG_SECONDS)
@pytest.mark.parametrize(
    ("alive_at_the_stop", "attempts", "reason"),
    [
        (True, 0, "its worker w-1 was stopped by a shutdown of the service"),
        (False, 1, "its worker w-1 died (exit code -9)"),
    ],
    ids=["stopped", "died-before-the-stop"],
)
def test_only_a_worker_that_the_shutdown_stopped_gives_its_attempt_back(
    prepared: Settings, alive_at_the_stop: bool, attempts: int, reason: str
) -> None:
    """A worker still fitting when the service stops it (terminated: -15) has its job queued
    with the attempt given back; one found already dead (it died by itself just before the
    shutdown, its death not yet handled) has its attempt counted."""
    sessions = _sessions(prepared)
    with sessions() as session:
        job = claim_next_job(
            session, "w-1", prepared.stale_job_seconds, max_attempts=prepared.max_job_attempts
        )
        assert job is not None and job.attempts == 1
        session.add(FitRow(id="f-1", job_id=job.id, status="running", inputs={}))
        session.commit()
    supervisor = WorkerSupervisor(prepared, sessions)
    supervisor.worker = _fake_worker("w-1", stops_with=-signal.SIGTERM)
    if not alive_at_the_stop:
        supervisor.worker.process.end(-signal.SIGKILL)  # type: ignore[attr-defined]
    asyncio.run(supervisor.stop())
    row = _the_first_job(prepared)
    assert (row.status, row.attempts) == ("queued", attempts)
    with sessions() as session:
        fit = session.get(FitRow, "f-1")
        assert fit is not None and fit.status == "failed"
        assert (fit.reason or "").startswith(reason)


# --- a Ctrl-C or SIGTERM in the worker's first second ----------------------------------------


@pytest.fixture
def idle(prepared: Settings) -> Iterator[Settings]:
    settings = prepared.model_copy(update={"stale_job_seconds": 3600})
    _hold_the_first_job_elsewhere(settings)
    yield settings


@pytest.mark.timeout(HANG_SECONDS)
def test_a_ctrl_c_in_the_workers_first_second_is_left_to_the_api_process(
    idle: Settings, capfd: pytest.CaptureFixture[str]
) -> None:
    worker = start_worker_process(idle, "test-worker")
    pid = worker.process.pid
    assert pid is not None
    err = ""
    try:
        # From its first moments (the interpreter starting, the imports of numpy, PyMC, ...)
        # until it has started or ended, as a shell's Ctrl-C reaches the whole group.
        while "fit worker test-worker started" not in err and worker.process.exitcode is None:
            os.kill(pid, signal.SIGINT)
            time.sleep(0.02)
            err += capfd.readouterr().err
        assert worker.process.is_alive(), err
    finally:
        code = stop_worker_process(worker)  # as the API process does on its own Ctrl-C
    err += capfd.readouterr().err
    assert "Traceback" not in err and "KeyboardInterrupt" not in err, err
    assert code == 0, err
    assert "fit worker test-worker stopped" in err, err


@pytest.mark.timeout(HANG_SECONDS)
def test_a_sigterm_in_the_workers_first_second_stops_it_cleanly(
    idle: Settings, capfd: pytest.CaptureFixture[str]
) -> None:
    worker = start_worker_process(idle, "test-worker")
    assert worker.process.pid is not None
    os.kill(worker.process.pid, signal.SIGTERM)  # while its interpreter starts
    try:
        worker.process.join()  # it stops of its own accord: pytest-timeout if it does not
    finally:
        code = stop_worker_process(worker)
    err = capfd.readouterr().err
    assert code == 0, err  # asked to stop (not ended by the signal's default action: -15)
    assert "fit worker test-worker started" in err and "fit worker test-worker stopped" in err
    assert "Traceback" not in err, err
