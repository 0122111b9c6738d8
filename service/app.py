"""The app factory: routers, middleware, error handlers, and the lifespan that loads the
published posterior, polls for new fits and (under ``helsinki serve``) runs the fit worker."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import multiprocessing
from collections.abc import AsyncIterator
from typing import Any

from fastapi import FastAPI
from starlette.concurrency import run_in_threadpool

from service.api import evidence, fits, forecasts, health, plots, questions, stream
from service.bodylimit import BodySizeLimit
from service.domain.plots import PlotCache
from service.errors import install_error_handlers
from service.live import LiveForecasts
from service.metrics import Metrics, RequestTimer
from service.settings import Settings
from service.store.database import make_engine, make_session_factory
from service.web import pages

log = logging.getLogger(__name__)

DESCRIPTION = """Bayesian forecasts of binary questions from expert elicitations and evidence.

Every probability comes with its 90% interval, the fit it comes from, its tier (`refit`:
straight from a fit; `instant`: a fit updated at once by newer elicitations or evidence) and
its cause. Errors are `application/problem+json` (RFC 9457). See docs/api.md.
"""


async def _poll_published_fits(live: LiveForecasts, seconds: float) -> None:
    while True:
        await asyncio.sleep(seconds)
        try:
            await run_in_threadpool(live.refresh)
        except Exception:
            log.exception("could not load the latest published fit; keeping the current one")


def _start_worker(settings: Settings) -> tuple[Any, Any]:
    from service.jobs.worker import worker_process_main

    ctx = multiprocessing.get_context("spawn")
    # The worker stops when this pipe's write end closes: closing never blocks, whatever
    # state the worker is in (setting a multiprocessing.Event waits for its waiters to wake,
    # and hung shutdown when the worker could not).
    reader, writer = ctx.Pipe(duplex=False)
    process = ctx.Process(
        target=worker_process_main, args=(settings, reader), name="helsinki-worker", daemon=False
    )
    process.start()
    reader.close()  # the worker has its own copy
    log.info("fit worker process %s started", process.pid)
    return process, writer


def _stop_worker(process: Any, writer: Any) -> None:
    writer.close()
    process.join(timeout=10)
    if process.is_alive():
        # Mid-fit: the job's heartbeat goes stale and another worker picks it up again.
        process.terminate()
        process.join(timeout=5)
    if process.is_alive():  # still in native code, where a signal handler cannot run
        process.kill()
        process.join(timeout=5)
    log.info("fit worker process stopped (exit code %s)", process.exitcode)


@contextlib.asynccontextmanager
async def lifespan(app: FastAPI) -> AsyncIterator[None]:
    settings: Settings = app.state.settings
    live: LiveForecasts = app.state.live
    try:
        await run_in_threadpool(live.refresh)
    except Exception:
        log.exception("could not load the latest published fit at start")
    poller = asyncio.create_task(_poll_published_fits(live, settings.poll_seconds))
    worker = _start_worker(settings) if settings.start_worker else None
    try:
        yield
    finally:
        poller.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await poller
        if worker is not None:
            await run_in_threadpool(_stop_worker, *worker)
        app.state.engine.dispose()


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or Settings()
    app = FastAPI(
        title="Helsinki",
        version="1",
        description=DESCRIPTION,
        lifespan=lifespan,
        docs_url="/docs",
    )
    engine = make_engine(settings)
    session_factory = make_session_factory(engine)
    app.state.settings = settings
    app.state.engine = engine
    app.state.session_factory = session_factory
    app.state.live = LiveForecasts(settings, session_factory)
    app.state.metrics = Metrics(session_factory)
    app.state.plots = PlotCache()
    install_error_handlers(app)
    for module in (questions, forecasts, evidence, fits, plots, stream, health):
        app.include_router(module.router)
    app.include_router(pages.router)
    app.mount("/static", pages.static_files(), name="static")
    app.add_middleware(BodySizeLimit, max_bytes=settings.max_body_bytes)
    app.add_middleware(RequestTimer, metrics=app.state.metrics)
    return app
