"""GET /v1/fits/latest before the first publication: the 503 names the fit job that is queued
or running (and its fit), or how the last one ended, and what to do."""

from __future__ import annotations

from sqlalchemy import select

from service.jobs.queue import claim_next_job
from service.jobs.worker import work_once
from service.store.database import make_engine, make_session_factory
from service.store.tables import FitJobRow, FitRow
from tests.service.test_jobs import crashing_fitter


def _detail(client) -> str:  # type: ignore[no-untyped-def]
    r = client.get("/v1/fits/latest")
    assert r.status_code == 503, r.text
    assert r.headers["content-type"].startswith("application/problem+json")
    body = r.json()
    assert body["type"].endswith("/no-published-fit")
    return str(body["detail"])


def test_latest_before_the_first_fit_names_the_queued_then_the_running_job(client, prepared):
    sessions = make_session_factory(make_engine(prepared))
    with sessions() as session:
        first = session.scalars(select(FitJobRow)).one()  # queued by the first start

    detail = _detail(client)
    assert f"fit job {first.id} is queued" in detail and "Wait" in detail, detail

    with sessions() as session:
        job = claim_next_job(
            session, "w", prepared.stale_job_seconds, max_attempts=prepared.max_job_attempts
        )
        assert job is not None and job.id == first.id
    detail = _detail(client)
    assert f"fit job {first.id} is running (attempt 1" in detail and "Wait" in detail, detail

    # The worker has recorded its fit: the detail names it, and where to watch it.
    with sessions() as session:
        session.add(FitRow(id="fit-underway", job_id=first.id, status="running", inputs={}))
        row = session.get(FitJobRow, first.id)
        assert row is not None
        row.fit_id = "fit-underway"
        queued = FitJobRow(status="queued", reason="evidence:ev-1")
        session.add(queued)
        session.commit()
        queued_id = queued.id
    detail = _detail(client)
    assert f"fit job {first.id} is running as fit 'fit-underway'" in detail, detail
    assert "GET /v1/fits/fit-underway" in detail, detail
    assert f"fit job {queued_id} is queued after it" in detail, detail


def test_latest_before_the_first_fit_says_how_the_last_one_ended(client, prepared):
    sessions = make_session_factory(make_engine(prepared))
    fit = work_once(prepared, sessions, "w", fitter=crashing_fitter)
    assert fit is not None and fit.status == "failed"

    detail = _detail(client)
    assert "none is queued or running" in detail, detail
    assert f"The last fit, {fit.id!r}, has status failed: RuntimeError" in detail, detail
    assert f"GET /v1/fits/{fit.id}" in detail, detail
    # What queues the next one: no endpoint does; a change of the inputs or a restart does.
    assert "queued by a change of the inputs" in detail and "helsinki serve" in detail, detail
