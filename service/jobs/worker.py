"""The fit worker: claims jobs from the database, fits, publishes only publishable fits.

The only caller of ``ForecastModel.fit``. The compiled sampler is cached per process by
``models.forecast_model.COMPILED``, so a long-running worker compiles once per model
structure. A fit that raises, or is not publishable, is recorded with its reason and
leaves the last published fit in place; a job whose worker died (stale heartbeat, or
released at once by the API process that saw its own worker die: ``service.jobs.supervisor``)
is claimed again, up to ``max_job_attempts``.
"""

from __future__ import annotations

import contextlib
import dataclasses
import logging
import multiprocessing.connection
import os
import signal
import socket
import threading
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from multiprocessing.connection import Connection
from types import FrameType
from typing import Protocol

from sqlalchemy.orm import Session, sessionmaker

from models.artifacts import save
from models.catalog import load_model_config
from models.config import ModelConfig, SamplerSettings
from models.dataset import ForecastData
from models.forecast_model import ForecastModel, Posterior
from service.domain.inputs import fit_inputs
from service.jobs.queue import ClaimedJob, beat, claim_next_job
from service.live import sha256_of
from service.schemas.jsonable import json_safe
from service.settings import Settings
from service.store.database import make_engine, make_session_factory
from service.store.repositories import FitJobRepository, FitRepository
from service.store.tables import FitRow

log = logging.getLogger(__name__)

#: ``fitter(config, data, fit_id)``: the posterior, under the fit id the job recorded (so the
#: model's log lines about retried attempts name the fit that ``GET /v1/fits/{id}`` shows).
Fitter = Callable[[ModelConfig, ForecastData, str], Posterior]


class StopSignal(Protocol):
    def is_set(self) -> bool: ...
    def wait(self, timeout: float | None = None) -> bool: ...


class WorkerStop:
    """Whether a worker should stop: a signal handler asked (``request``), or the process
    that started it closed the other end of ``parent`` (or died).

    ``request`` only sets a flag and writes a byte to a pipe, so a signal handler may call
    it. A handler must take no lock that the code it interrupts may hold: one that set a
    ``multiprocessing.Event`` while the worker waited on that Event deadlocked the worker
    (``set`` waits for the interrupted ``wait`` to wake), and the API process with it.
    """

    def __init__(self, parent: Connection | None = None) -> None:
        self._parent = parent
        self._requested = False
        self._wakeup_read, self._wakeup_write = os.pipe()
        os.set_blocking(self._wakeup_write, False)

    def request(self) -> None:
        self._requested = True
        with contextlib.suppress(BlockingIOError):  # a full pipe wakes the waiter anyway
            os.write(self._wakeup_write, b"\0")

    def is_set(self) -> bool:
        # The parent never writes: its end closed reads as "ready" (EOF).
        return self._requested or (self._parent is not None and self._parent.poll())

    def wait(self, timeout: float | None = None) -> bool:
        if not self.is_set():
            waitables: list[int | Connection] = [self._wakeup_read]
            if self._parent is not None:
                waitables.append(self._parent)
            multiprocessing.connection.wait(waitables, timeout)
        return self.is_set()


def model_config_for(settings: Settings) -> ModelConfig:
    """priors/model.yaml, with the sampler overrides of the settings."""
    config = load_model_config(settings.priors_dir / "model.yaml")
    overrides = {
        k: v
        for k, v in (
            ("chains", settings.fit_chains),
            ("draws", settings.fit_draws),
            ("tune", settings.fit_tune),
        )
        if v is not None
    }
    if overrides:
        sampler = SamplerSettings(**{**config.sampler.model_dump(), **overrides})
        config = config.model_copy(update={"sampler": sampler})
    return config


def fit_with_model(config: ModelConfig, data: ForecastData, fit_id: str) -> Posterior:
    return ForecastModel(config).fit(data, fit_id=fit_id)


def worker_identity(label: str | None = None) -> str:
    """``host:label:random``, the label this process's pid by default (the jobs table's
    ``worker_id``)."""
    return f"{socket.gethostname()}:{label or os.getpid()}:{uuid.uuid4().hex[:6]}"


def run_fit_job(
    settings: Settings,
    session_factory: sessionmaker[Session],
    job: ClaimedJob,
    worker_id: str,
    *,
    config: ModelConfig | None = None,
    fitter: Fitter = fit_with_model,
) -> FitRow:
    """Fit the database's current inputs for ``job``; publish the fit if it is publishable.

    Publication is one transaction (fit row published + job done) after the artifact is
    on disk, so readers see either the old fit or the new one, never half of it.

    Both writes to the job (recording the fit's id before fitting, and its end after) happen
    only if the job is still ``running`` under ``worker_id``, checked by the guarded
    ``UPDATE`` that writes it, in the transaction that records the fit (it locks the job row
    until the commit). A worker that was only slow (its heartbeat went stale, or the API
    process took it for dead) may have lost the job meanwhile: taken over by another worker
    (``claim_next_job``), queued again (``release_jobs_of_dead_worker``) or given up (either
    of them). It then leaves the job alone and discards its result: its fit ends
    ``failed`` (the reason recorded when the job was taken from it, if any, followed by
    ``result discarded: ...``), nothing is published, and the artifact it wrote is deleted.
    Lost before fitting, it does not fit: the fit is recorded ``failed`` (``not fitted:
    ...``) and returned at once, so ``work_once`` and the worker loop carry on as after any
    other fit. Either way a warning is logged and the fit row returned.
    """
    config = config or model_config_for(settings)
    fit_id = "fit-" + uuid.uuid4().hex[:12]
    with session_factory() as session:
        data, ids = fit_inputs(session, config.probability_eps)
        owned = FitJobRepository(session).set_fit_if_still_running_owned_by(
            job.id, worker_id, fit_id
        )
        fit = FitRow(
            id=fit_id,
            job_id=job.id,
            status="running",
            started_at=datetime.now(UTC),
            inputs={**ids, "job_reason": job.reason},
            sampler=config.sampler.model_dump(),
            data_hash=data.content_hash(),
        )
        if not owned:
            why = _how_the_job_was_lost(session, job.id)
            fit.status, fit.finished_at = "failed", fit.started_at
            fit.reason = f"not fitted: {why} before worker {worker_id} started the fit"
        FitRepository(session).add(fit)
        session.commit()
    if not owned:
        log.warning("fit %s (job %s) not run: %s", fit_id, job.id, fit.reason)
        return fit

    stop_beating = threading.Event()

    def heartbeat() -> None:
        while not stop_beating.wait(settings.heartbeat_seconds):
            try:
                with session_factory() as s:
                    beat(s, job.id, worker_id)
            except Exception:  # pragma: no cover - a missed beat is retried
                log.exception("heartbeat of job %s failed", job.id)

    beating = threading.Thread(target=heartbeat, name=f"heartbeat-{job.id}", daemon=True)
    beating.start()
    started = time.perf_counter()
    path = settings.artifacts_dir / f"{fit_id}.nc"
    error: str | None = None
    try:
        posterior = dataclasses.replace(fitter(config, data, fit_id), fit_id=fit_id)
        save(posterior, path)
        digest = sha256_of(path)
    except Exception as exc:
        log.exception("fit %s (job %s) failed", fit_id, job.id)
        posterior, error = None, f"{type(exc).__name__}: {exc}"
    finally:
        stop_beating.set()
        beating.join(timeout=5)
    seconds = time.perf_counter() - started
    now = datetime.now(UTC)
    with session_factory() as session:
        jobs = FitJobRepository(session)
        if error is not None:
            owned = jobs.fail_if_still_running_owned_by(job.id, worker_id, now, error)
        else:
            owned = jobs.finish_if_still_running_owned_by(job.id, worker_id, now)
        found = FitRepository(session).get_by_id_for_update(fit_id)
        assert found is not None
        fit = found
        fit.seconds = seconds
        if not owned:
            discarded = (
                f"result discarded: {_how_the_job_was_lost(session, job.id)} before worker "
                f"{worker_id} finished the fit"
            )
            fit.status, fit.finished_at = "failed", fit.finished_at or now
            fit.reason = f"{fit.reason}; {discarded}" if fit.reason else discarded
        elif posterior is None:
            fit.finished_at, fit.status, fit.reason = now, "failed", error
        else:
            diag = posterior.diagnostics
            fit.finished_at = now
            fit.diagnostics = json_safe(diag.to_dict())
            fit.artifact_path, fit.artifact_sha256 = str(path.resolve()), digest
            if diag.publishable:
                fit.status, fit.published_at = "published", now
            else:
                fit.status = "rejected"
                fit.reason = "not publishable: " + "; ".join(diag.reasons)
        session.commit()
    if not owned:
        # Nothing refers to it: a fit recorded failed is never served.
        path.unlink(missing_ok=True)
        log.warning("fit %s (job %s) failed, its result discarded: %s", fit_id, job.id, fit.reason)
        return fit
    log.info("fit %s: %s in %.1f s", fit_id, fit.status, seconds)
    return fit


def _how_the_job_was_lost(session: Session, job_id: int) -> str:
    """What became of a job that its worker no longer runs, in the fit's reason."""
    row = FitJobRepository(session).get_by_id(job_id)
    if row is None:
        return "the job was deleted"
    session.refresh(row)  # not a copy cached earlier in this session
    if row.status == "running":
        return f"the job was taken over by worker {row.worker_id}"
    if row.status == "queued":
        return "the job was queued again"
    if row.status == "failed":
        return "the job was given up"
    return f"the job was {row.status}"


def work_once(
    settings: Settings,
    session_factory: sessionmaker[Session],
    worker_id: str,
    *,
    config: ModelConfig | None = None,
    fitter: Fitter = fit_with_model,
) -> FitRow | None:
    """Claim one job and run it; None when there was nothing to do. Jobs that have had
    ``max_job_attempts`` attempts are given up by the claim, which then takes the next job
    (``claim_next_job``). The fit row it returns may be ``failed`` without a fit having run:
    the job was lost (taken over, queued again or given up) between the claim and its first
    write (``run_fit_job``)."""
    with session_factory() as session:
        job = claim_next_job(
            session, worker_id, settings.stale_job_seconds, max_attempts=settings.max_job_attempts
        )
    if job is None:
        return None
    return run_fit_job(settings, session_factory, job, worker_id, config=config, fitter=fitter)


def run_worker(
    settings: Settings,
    stop: StopSignal,
    worker_id: str | None = None,
    *,
    fitter: Fitter = fit_with_model,
) -> None:
    """Loop until ``stop`` is set: claim a job, fit, publish; sleep when the queue is empty.

    ``worker_id`` is the id its jobs are claimed under (default: a new one); the API process
    chooses it for the worker it starts, so that it can release their jobs if it dies or it
    stops it. ``fitter`` is the model's fit but in tests.
    """
    for noisy in ("pytensor", "arviz_base", "arviz_stats", "arviz_plots"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    engine = make_engine(settings)
    session_factory = make_session_factory(engine)
    worker_id = worker_id or worker_identity()
    config = model_config_for(settings)
    log.info("fit worker %s started", worker_id)
    try:
        while not stop.is_set():
            try:
                done = work_once(settings, session_factory, worker_id, config=config, fitter=fitter)
            except Exception:
                log.exception("worker loop error; retrying")
                done = None
            if done is None:
                stop.wait(settings.poll_seconds)
    except KeyboardInterrupt:
        pass
    finally:
        engine.dispose()
        log.info("fit worker %s stopped", worker_id)


#: Held back from the worker process until it has installed its own handling (below).
STARTUP_SIGNALS = frozenset({signal.SIGINT, signal.SIGTERM})


def worker_process_main(
    settings: Settings, parent: Connection, worker_id: str, fitter: Fitter = fit_with_model
) -> None:
    """Entry point of the worker process started by ``helsinki serve``, claiming its jobs as
    ``worker_id`` (and fitting with ``fitter``: the model's fit but in tests).

    The API process asks it to stop by closing its end of ``parent``. Ctrl-C reaches the
    whole process group and is left to the API process. A SIGTERM (also sent to the whole
    group, by systemd or a container runtime) asks for the same stop, after the fit in
    progress; a SIGTERM once a stop was asked (the API process's ``terminate``, 10 s after
    it asked) ends the process at once. It records nothing about a stop mid-fit: the API
    process, which asked for the stop, queues its job again once it has exited, without
    counting the attempt (``WorkerSupervisor.stop``).

    The API process starts it with ``STARTUP_SIGNALS`` blocked
    (``service.jobs.supervisor.start_worker_process``): a Ctrl-C in its first seconds, while
    the interpreter starts and the imports run (PyMC's take a second or two), would otherwise
    raise KeyboardInterrupt there and end it with a traceback. They are unblocked only once
    handled here: a pending Ctrl-C is then dropped, a pending SIGTERM asks for the stop.
    """
    stop = WorkerStop(parent)

    def on_sigterm(signum: int, frame: FrameType | None) -> None:
        if stop.is_set():
            signal.signal(signum, signal.SIG_DFL)
            signal.raise_signal(signum)
        stop.request()

    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, on_sigterm)
    signal.pthread_sigmask(signal.SIG_UNBLOCK, STARTUP_SIGNALS)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s worker %(levelname)s %(message)s")
    run_worker(settings, stop, worker_id, fitter=fitter)
