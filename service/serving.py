"""What ``helsinki serve``, ``worker``, ``keys`` and ``import`` do (the CLI stays thin)."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

from service.settings import Settings
from service.store.database import make_engine, make_session_factory, migrate

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

    from service.domain.imports import ImportReport
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


def import_file(
    settings: Settings,
    path: Path,
    *,
    prefix: str = "",
    skip_bad: bool = False,
    dry_run: bool = False,
) -> ImportReport:
    """``helsinki import``: read a forecasts CSV and write it into the prepared database in one
    transaction (service/domain/imports.py); nothing is written on a bad row (unless
    ``skip_bad``), a conflict, or ``dry_run``. Raises ``models.exceptions.DataError`` for the
    file, ``ImportConflict`` for the database."""
    from models.catalog import MODEL_FILE, load_model_config
    from models.history import read_forecasts_csv
    from service.domain.imports import import_forecasts

    table = read_forecasts_csv(path, skip_bad=skip_bad)
    # The clip the worker's fits use: its priors/model.yaml (service.jobs.worker).
    eps = load_model_config(settings.priors_dir / MODEL_FILE).probability_eps
    # A dry run migrates (to read the database) but loads no catalog and queues no fit.
    migrate(settings) if dry_run else prepare_database(settings)
    engine = make_engine(settings)
    try:
        with make_session_factory(engine)() as session:
            report = import_forecasts(session, table, eps=eps, prefix=prefix, dry_run=dry_run)
            if dry_run:
                session.rollback()
            else:
                session.commit()
            return report
    finally:
        engine.dispose()
