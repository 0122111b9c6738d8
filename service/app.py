"""The app factory: routers, middleware, error handlers, and the lifespan that loads the
published posterior, polls for new fits and (under ``helsinki serve``) runs the fit worker,
started again if it dies (``service.jobs.supervisor``)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator

from fastapi import FastAPI
from starlette.concurrency import run_in_threadpool

from service.api import (
    elicitations,
    evidence,
    fits,
    forecasters,
    forecasts,
    health,
    plots,
    questions,
    stream,
    track_record,
)
from service.bodylimit import BodySizeLimit
from service.domain.influence import InfluenceCache
from service.domain.plots import PlotCache
from service.errors import install_error_handlers
from service.jobs.supervisor import FitWorkerCollector, WorkerSupervisor
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


@contextlib.asynccontextmanager
async def lifespan(app: FastAPI) -> AsyncIterator[None]:
    settings: Settings = app.state.settings
    live: LiveForecasts = app.state.live
    try:
        await run_in_threadpool(live.refresh)
    except Exception:
        log.exception("could not load the latest published fit at start")
    poller = asyncio.create_task(_poll_published_fits(live, settings.poll_seconds))
    worker: WorkerSupervisor = app.state.worker
    if settings.start_worker:
        worker.start()
    try:
        yield
    finally:
        poller.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await poller
        await worker.stop()
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
    app.state.worker = WorkerSupervisor(settings, session_factory)
    app.state.metrics.registry.register(FitWorkerCollector(app.state.worker))
    app.state.plots = PlotCache()
    app.state.influence = InfluenceCache()
    install_error_handlers(app)
    for module in (
        questions,
        forecasts,
        evidence,
        elicitations,
        fits,
        forecasters,
        plots,
        track_record,
        stream,
        health,
    ):
        app.include_router(module.router)
    app.include_router(evidence.retractions)
    app.include_router(pages.router)
    app.mount("/static", pages.static_files(), name="static")
    app.add_middleware(BodySizeLimit, max_bytes=settings.max_body_bytes)
    app.add_middleware(RequestTimer, metrics=app.state.metrics)
    return app
