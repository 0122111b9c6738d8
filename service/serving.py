"""What ``helsinki serve``, ``helsinki worker`` and ``helsinki keys`` do (the CLI stays thin)."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING

from service.settings import Settings
from service.store.database import make_engine, make_session_factory, migrate

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

    from service.domain.keys import KeyInfo

log = logging.getLogger(__name__)


def prepare_database(settings: Settings) -> None:
    """Migrate; load the priors catalog on first start; queue a fit if none is published."""
    from service.domain.catalog import load_catalog_into_empty_database
    from service.jobs.queue import enqueue_refit
    from service.store.repositories import FitJobRepository, FitRepository

    migrate(settings)
    engine = make_engine(settings)
    try:
        with make_session_factory(engine)() as session:
            added = load_catalog_into_empty_database(session, settings.priors_dir)
            if added:
                log.info("loaded %d questions from %s", added, settings.priors_dir)
            no_fit = FitRepository(session).get_latest_published_id() is None
            if no_fit and FitJobRepository(session).count_queued_or_running() == 0:
                job = enqueue_refit(session, "first start: no published fit", "system")
                session.commit()
                log.info("queued fit job %d (no published fit yet)", job)
    finally:
        engine.dispose()


def serve(settings: Settings) -> None:
    """Prepare the database, then run the API; its lifespan starts and stops the worker."""
    import uvicorn

    from service.app import create_app

    prepare_database(settings)
    settings = settings.model_copy(update={"start_worker": True})
    log.info("serving on http://%s:%d (OpenAPI at /docs)", settings.host, settings.port)
    uvicorn.run(create_app(settings), host=settings.host, port=settings.port, log_level="info")


def run_worker_alone(settings: Settings) -> None:
    import signal

    from service.jobs.worker import WorkerStop, run_worker

    migrate(settings)
    # Ctrl-C and SIGTERM end the loop between jobs (a fit in progress finishes first).
    # Not a threading.Event: its set() takes the lock its wait() holds, and a handler runs
    # in the thread it interrupts.
    stop = WorkerStop()
    signal.signal(signal.SIGTERM, lambda *_: stop.request())
    signal.signal(signal.SIGINT, lambda *_: stop.request())
    run_worker(settings, stop)


@contextmanager
def _migrated_session(settings: Settings) -> Iterator[Session]:
    """A session on the migrated database, for one command; the engine is disposed after."""
    migrate(settings)
    engine = make_engine(settings)
    try:
        with make_session_factory(engine)() as session:
            yield session
    finally:
        engine.dispose()


def list_keys(settings: Settings) -> list[KeyInfo]:
    from service.domain.keys import list_api_keys

    with _migrated_session(settings) as session:
        return list_api_keys(session)


def revoke_key(settings: Settings, key_id: int) -> KeyInfo:
    from service.domain.keys import revoke_api_key

    with _migrated_session(settings) as session:
        return revoke_api_key(session, key_id)


def create_key(settings: Settings, role: str, name: str) -> str:
    from service.domain.keys import create_api_key

    with _migrated_session(settings) as session:
        return create_api_key(session, settings, role, name)  # type: ignore[arg-type]
