"""Elicitations: fit the stated distribution, absorb it instantly, refit if that is unsafe;
read them back (one, or a question's newest first) with the fit stored when they were posted."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

from sqlalchemy.orm import Session

from models.elicitation import ElicitationFit, LogitNormal, fit_probability, fit_quantiles
from service.domain.forecasts import (
    current_posterior,
    forecast_previews,
    forecast_public,
    get_question_or_404,
)
from service.domain.inputs import forecast_of
from service.domain.keys import Principal
from service.domain.pages import invalid_cursor, page_and_next
from service.domain.questions import require_open
from service.domain.writes import WriteResult
from service.errors import NotFound
from service.jobs.queue import enqueue_refit
from service.live import Change, LiveForecasts
from service.schemas.elicitations import (
    ElicitationCreate,
    ElicitationFittedPublic,
    ElicitationPreviewPublic,
    ElicitationPublic,
    ElicitationRecordPublic,
    ElicitationRecordsPublic,
)
from service.schemas.jsonable import json_safe
from service.store.repositories import ElicitationRepository
from service.store.tables import ElicitationRow


def _fitted(body: ElicitationCreate) -> ElicitationFit:
    """The logit-normal of the statement: its quantiles, or its probability and confidence."""
    if body.quantiles is not None:
        stated: dict[float | str, float] = {k: v for k, v in body.quantiles.items()}
        return fit_quantiles(stated)
    assert body.probability is not None
    return fit_probability(body.probability, body.confidence)


def _elicitation_row(
    body: ElicitationCreate, fit: ElicitationFit, who: Principal, question_id: str, row_id: str
) -> ElicitationRow:
    """The record of ``body`` by ``who``, made now (not added to any session)."""
    return ElicitationRow(
        id=row_id,
        question_id=question_id,
        forecaster_id=who.name,
        created_at=datetime.now(UTC),
        probability=body.probability,
        confidence=body.confidence,
        quantiles=body.quantiles,
        logit_mean=float(fit.logit_mean),
        logit_sd=float(fit.logit_sd),
        fitted=fit.to_dict(),
        source="api",
        created_by=who.label,
    )


def create_elicitation(
    session: Session,
    live: LiveForecasts,
    who: Principal,
    question_id: str,
    body: ElicitationCreate,
) -> WriteResult:
    """Call under ``live.lock`` (perform_write does)."""
    require_open(get_question_or_404(session, question_id))
    fit = _fitted(body)
    row = ElicitationRepository(session).add(
        _elicitation_row(body, fit, who, question_id, "el-" + uuid.uuid4().hex[:16])
    )
    current = live.current
    if current is None or question_id not in current.question_ids:
        job = enqueue_refit(session, f"elicitation:{row.id}", who.label)
        return WriteResult(
            ElicitationPublic(
                id=row.id,
                question_id=question_id,
                forecaster_id=row.forecaster_id,
                fitted=fit.to_dict(),
                forecast=None,
                needs_refit=True,
                refit_job_id=job,
            )
        )
    updated = current.with_forecast(forecast_of(row, current.config.probability_eps))
    refit_job: int | None = None
    if updated.needs_refit():
        refit_job = enqueue_refit(session, f"elicitation:{row.id}", who.label)
    (f,) = updated.predict([question_id])
    (hist,) = live.write_history(
        session, updated, [Change(f, "elicitation", row.id)], row.created_at
    )
    return WriteResult(
        ElicitationPublic(
            id=row.id,
            question_id=question_id,
            forecaster_id=row.forecaster_id,
            fitted=fit.to_dict(),
            forecast=forecast_public(hist),
            needs_refit=updated.needs_refit(),
            refit_job_id=refit_job,
        ),
        posterior=updated,
    )


def preview_elicitation(
    session: Session,
    live: LiveForecasts,
    who: Principal,
    question_id: str,
    body: ElicitationCreate,
) -> ElicitationPreviewPublic:
    """What posting ``body`` as ``who`` would do to the question's forecast now: the same
    checks, fit and instant update as :func:`create_elicitation`, on a snapshot of the live
    posterior; nothing is written and no refit is queued."""
    require_open(get_question_or_404(session, question_id))
    fit = _fitted(body)
    current = current_posterior(live)
    if current is None or question_id not in current.question_ids:
        return ElicitationPreviewPublic(
            question_id=question_id,
            forecaster_id=who.name,
            fitted=fit.to_dict(),
            forecast=None,
            needs_refit=True,
        )
    row = _elicitation_row(body, fit, who, question_id, "el-preview")
    updated = current.with_forecast(forecast_of(row, current.config.probability_eps))
    (preview,) = forecast_previews(session, updated, updated.predict([question_id]))
    return ElicitationPreviewPublic(
        question_id=question_id,
        forecaster_id=who.name,
        fitted=fit.to_dict(),
        forecast=preview,
        needs_refit=updated.needs_refit(),
    )


# --- reading them back -------------------------------------------------------------------

#: What a read's `fitted` always holds (the summary the POST's `fitted` showed).
FITTED_SUMMARY = ("logit_mean", "logit_sd", "probability", "median", "interval", "interval_prob")


def fitted_summary(row: ElicitationRow) -> dict[str, Any]:
    """The fit stored with the row (``ElicitationFit.to_dict()``, what the POST answered).
    Should a stored fit lack part of the summary, that part comes from the stored logit-normal
    parameters by ``LogitNormal.to_dict()``: the formulas the POST's fit used for its mean,
    median and 90% interval (a quadrature and two quantiles; nothing is fitted again)."""
    stored: dict[str, Any] = dict(row.fitted or {})
    if any(stored.get(k) is None for k in FITTED_SUMMARY):
        computed = LogitNormal(row.logit_mean, row.logit_sd).to_dict()
        stored.update({k: v for k, v in computed.items() if stored.get(k) is None})
    return json_safe(stored)  # type: ignore[no-any-return]


def elicitation_record_public(row: ElicitationRow) -> ElicitationRecordPublic:
    return ElicitationRecordPublic(
        id=row.id,
        question_id=row.question_id,
        forecaster_id=row.forecaster_id,
        probability=row.probability,
        confidence=row.confidence,
        quantiles=row.quantiles,
        fitted=ElicitationFittedPublic.model_validate(fitted_summary(row)),
        source=row.source,
        created_at=row.created_at,
    )


def get_elicitation(session: Session, elicitation_id: str) -> ElicitationRecordPublic:
    row = ElicitationRepository(session).get_by_id(elicitation_id)
    if row is None:
        raise NotFound(
            f"no elicitation {elicitation_id!r}; a question's are listed at "
            "GET /v1/questions/{id}/elicitations"
        )
    return elicitation_record_public(row)


def list_elicitations_of_question(
    session: Session, question_id: str, cursor: str | None, limit: int
) -> ElicitationRecordsPublic:
    """Newest first: by ``created_at``, then ``id``, both descending. A cursor is the id of
    the last elicitation of a page, one of this question's."""
    get_question_or_404(session, question_id)
    repo = ElicitationRepository(session)
    after = None if cursor is None else repo.get_by_id(cursor)
    if cursor is not None and (after is None or after.question_id != question_id):
        raise invalid_cursor(cursor, of=" of this question's elicitations")
    page, following = page_and_next(
        repo.list_page_of_question_newest_first_after(question_id, after, limit + 1), limit
    )
    return ElicitationRecordsPublic(
        items=[elicitation_record_public(r) for r in page], next=following
    )
