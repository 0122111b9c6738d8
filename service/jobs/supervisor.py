"""The API process's fit worker under ``helsinki serve``: started with the API, started again
when it dies (its running job handed back to the queue at once), stopped with the API (a job
it was still fitting queued again, the attempt not counted)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import multiprocessing
import os
import signal
import time
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass
from multiprocessing import resource_tracker
from multiprocessing.connection import Connection
from multiprocessing.process import BaseProcess
from typing import TYPE_CHECKING, Any, Literal

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.registry import Collector
from sqlalchemy.orm import Session, sessionmaker
from starlette.concurrency import run_in_threadpool

from service.jobs.queue import (
    ReleasedJob,
    release_jobs_of_dead_worker,
    release_jobs_of_stopped_worker,
)
from service.settings import Settings

if TYPE_CHECKING:
    from service.jobs.worker import Fitter

log = logging.getLogger(__name__)

#: ``not_started``: this API process runs no worker (``start_worker`` off); ``running``;
#: ``restarting``: it died, a new one starts after the backoff; ``stopped``: it stopped of its
#: own accord (exit code 0: a SIGTERM asked it to) or the service is stopping.
WorkerState = Literal["not_started", "running", "restarting", "stopped"]
WORKER_STATES: tuple[WorkerState, ...] = ("not_started", "running", "restarting", "stopped")


@dataclass
class WorkerProcess:
    """One fit worker process, the pipe whose closing asks it to stop, and the id its jobs are
    claimed under."""

    process: BaseProcess
    writer: Connection
    worker_id: str
    started_at: float  # time.monotonic()
    #: Its exit was seen and its jobs released: nothing is left to do about it.
    handled: bool = False


def start_worker_process(
    settings: Settings, worker_id: str, fitter: Fitter | None = None
) -> WorkerProcess:
    """Spawn a fit worker that claims its jobs as ``worker_id`` (and fits with ``fitter``, a
    module-level function, if given: tests)."""
    from service.jobs.worker import STARTUP_SIGNALS, fit_with_model, worker_process_main

    ctx = multiprocessing.get_context("spawn")
    # The worker stops when this pipe's write end closes: closing never blocks, whatever
    # state the worker is in (setting a multiprocessing.Event waits for its waiters to wake,
    # and hung shutdown when the worker could not).
    reader, writer = ctx.Pipe(duplex=False)
    process = ctx.Process(
        target=worker_process_main,
        args=(settings, reader, worker_id, fitter or fit_with_model),
        name="helsinki-worker",
        daemon=False,
    )
    # A new process inherits the signal mask of the thread that starts it: blocked here, a
    # Ctrl-C or SIGTERM waits until the worker handles them (it unblocks them then) instead of
    # raising KeyboardInterrupt in its interpreter's start and imports. The resource tracker
    # is started first because starting it unblocks both signals in the calling thread.
    resource_tracker.ensure_running()
    unblocked = signal.pthread_sigmask(signal.SIG_BLOCK, STARTUP_SIGNALS)
    try:
        process.start()
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, unblocked)
    reader.close()  # the worker has its own copy
    log.info("fit worker process %s started (worker %s)", process.pid, worker_id)
    return WorkerProcess(process, writer, worker_id, time.monotonic())


#: How long a worker asked to stop may take to finish its fit before it is terminated.
STOP_GRACE_SECONDS = 10.0


def stop_worker_process(
    worker: WorkerProcess, grace_seconds: float = STOP_GRACE_SECONDS
) -> int | None:
    """Ask the worker to stop; terminate it after ``grace_seconds``, kill it 5 s later. Its
    exit code."""
    process = worker.process
    worker.writer.close()
    process.join(timeout=grace_seconds)
    if process.is_alive():
        # Mid-fit: the caller queues its job again (WorkerSupervisor.stop).
        process.terminate()
        process.join(timeout=5)
    if process.is_alive():  # still in native code, where a signal handler cannot run
        process.kill()
        process.join(timeout=5)
    log.info("fit worker process stopped (exit code %s)", process.exitcode)
    return process.exitcode


async def _exited(process: BaseProcess) -> None:
    """Returns once ``process`` has ended (its sentinel reads as ready), holding no thread."""
    loop = asyncio.get_running_loop()
    ended = loop.create_future()

    def on_ready() -> None:
        if not ended.done():
            ended.set_result(None)

    loop.add_reader(process.sentinel, on_ready)
    try:
        await ended
    finally:
        loop.remove_reader(process.sentinel)


class WorkerSupervisor:
    """The fit worker of the API process, kept running.

    ``start`` starts the worker and a task that waits for it to exit. A worker that dies (a
    signal, the OOM killer, a crash: any exit code but 0) is reported with its exit code, its
    running job is made claimable at once (``release_jobs_of_dead_worker``), and a new worker
    starts after a backoff: ``worker_restart_seconds``, doubled at each death up to
    ``worker_restart_max_seconds``, and back to the first once a worker has lived that long.
    A worker that exits with code 0 was asked to stop (its SIGTERM handler or its pipe) and
    is not started again. ``stop`` ends the task before it stops the worker, so a restart can
    neither follow the stop nor race it; a job the stopped worker left ``running`` is queued
    again with its attempt given back (``release_jobs_of_stopped_worker``).

    ``start_process`` (how a worker is started), ``sleep`` (how the backoff is waited) and
    ``stop_grace_seconds`` are the production ones but in tests.
    """

    def __init__(
        self,
        settings: Settings,
        session_factory: sessionmaker[Session],
        *,
        start_process: Callable[[Settings, str], WorkerProcess] = start_worker_process,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
        stop_grace_seconds: float = STOP_GRACE_SECONDS,
    ) -> None:
        self.settings = settings
        self.session_factory = session_factory
        self.start_process = start_process
        self.sleep = sleep
        self.stop_grace_seconds = stop_grace_seconds
        #: Workers started after one died.
        self.restarts = 0
        self.last_exit_code: int | None = None
        self.state: WorkerState = "not_started"
        self.worker: WorkerProcess | None = None
        self._started = 0
        self._stopping = False
        self._task: asyncio.Task[None] | None = None

    def status(self) -> dict[str, Any]:
        """What /readyz shows."""
        return {
            "state": self.state,
            "restarts": self.restarts,
            "last_exit_code": self.last_exit_code,
        }

    def start(self) -> None:
        """Start the worker and its supervision; called in the running event loop."""
        self._start_worker()
        self._task = asyncio.create_task(self._supervise(), name="fit-worker-supervisor")

    def _start_worker(self) -> None:
        from service.jobs.worker import worker_identity

        # Chosen here, not by the worker: the API process must know whose jobs to release.
        self._started += 1
        worker_id = worker_identity(f"{os.getpid()}-worker{self._started}")
        self.worker = self.start_process(self.settings, worker_id)
        self.state = "running"

    async def _supervise(self) -> None:
        first = self.settings.worker_restart_seconds
        longest = max(first, self.settings.worker_restart_max_seconds)
        backoff = first
        while True:
            worker = self.worker
            assert worker is not None
            await _exited(worker.process)
            await run_in_threadpool(worker.process.join)
            code = worker.process.exitcode
            lived = time.monotonic() - worker.started_at
            worker.writer.close()
            self.last_exit_code = code
            if self._stopping:
                return
            if code == 0:
                worker.handled = True
                self.state = "stopped"
                # Its SIGTERM handler: most often the whole process group is stopping, this
                # process too (systemd, a container runtime).
                log.info(
                    "fit worker process stopped (exit code 0) after %.0f s: a SIGTERM asked it "
                    "to stop; it is not started again",
                    lived,
                )
                return
            self.state = "restarting"
            if lived >= longest:
                backoff = first
            log.error(
                "fit worker process %s (worker %s) died with exit code %s after %.0f s; "
                "starting a new one in %g s",
                worker.process.pid,
                worker.worker_id,
                code,
                lived,
                backoff,
            )
            await self._release_jobs(worker, f"died (exit code {code})")
            worker.handled = True
            while True:
                await self.sleep(backoff)
                backoff = min(2 * backoff, longest)
                if self._stopping:
                    return
                try:
                    self._start_worker()
                    break
                except Exception:
                    log.exception("could not start a fit worker process; trying again")
            self.restarts += 1

    async def _release_jobs(
        self, worker: WorkerProcess, what_happened: str, *, stopped: bool = False
    ) -> None:
        """Queue the running jobs of ``worker``, which has exited: ``stopped`` by this process
        (the attempt given back), or dead (the attempt counted; given up after too many)."""

        def release() -> list[ReleasedJob]:
            with self.session_factory() as session:
                if stopped:
                    return release_jobs_of_stopped_worker(session, worker.worker_id)
                return release_jobs_of_dead_worker(
                    session, worker.worker_id, what_happened, self.settings.max_job_attempts
                )

        try:
            released = await run_in_threadpool(release)
        except Exception:
            log.exception(
                "could not release the jobs of worker %s; they are claimed again once their "
                "heartbeat is %g s old",
                worker.worker_id,
                self.settings.stale_job_seconds,
            )
            return
        for job in released:
            if stopped:
                log.warning(
                    "fit job %d of worker %s queued again: the worker %s before its fit "
                    "finished; the attempt is not counted",
                    job.id,
                    worker.worker_id,
                    what_happened,
                )
            elif job.status == "queued":
                log.warning("fit job %d of worker %s queued again", job.id, worker.worker_id)
            else:
                log.error("fit job %d given up: %d workers died running it", job.id, job.attempts)

    async def stop(self) -> None:
        """Stop supervising, then stop the current worker; a job it leaves ``running`` (it was
        terminated or killed mid-fit) is queued again without counting the attempt.

        This process, not the worker, queues it: the worker may be killed before it could
        write anything, and only this process knows that the stop was asked for and sees
        the worker gone. A worker found dead before it was asked to stop died by itself: its
        job counts the attempt, as under supervision."""
        self._stopping = True
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        worker = self.worker
        if worker is not None and not worker.handled:
            asked = worker.process.is_alive()
            code = await run_in_threadpool(stop_worker_process, worker, self.stop_grace_seconds)
            self.last_exit_code = code
            if asked:
                # Guarded by owner and status: a job whose fit ended before the stop is left.
                await self._release_jobs(worker, f"was stopped (exit code {code})", stopped=True)
            elif code != 0:
                await self._release_jobs(worker, f"died (exit code {code})")
            worker.handled = True
        if self.state != "not_started":
            self.state = "stopped"


class FitWorkerCollector(Collector):
    """``helsinki_fit_worker_state{state}`` (1 for the current state, 0 for the others) and
    ``helsinki_fit_worker_restarts_total``."""

    def __init__(self, supervisor: WorkerSupervisor) -> None:
        self.supervisor = supervisor

    def collect(self) -> Iterator[Any]:
        state = GaugeMetricFamily(
            "helsinki_fit_worker_state",
            "The API process's fit worker: 1 for its current state",
            labels=["state"],
        )
        for name in WORKER_STATES:
            state.add_metric([name], 1 if self.supervisor.state == name else 0)
        yield state
        restarts = CounterMetricFamily(
            "helsinki_fit_worker_restarts", "Fit worker processes started after one died"
        )
        restarts.add_metric([], self.supervisor.restarts)
        yield restarts
