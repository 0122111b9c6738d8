"""Elicitations: fit the stated distribution, absorb it instantly, refit if that is unsafe."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

from sqlalchemy.orm import Session

from models.elicitation import fit_probability, fit_quantiles
from service.domain.forecasts import forecast_public, get_question_or_404
from service.domain.inputs import forecast_of
from service.domain.keys import Principal
from service.domain.questions import require_open
from service.domain.writes import WriteResult
from service.jobs.queue import enqueue_refit
from service.live import Change, LiveForecasts
from service.schemas.elicitations import ElicitationCreate, ElicitationPublic
from service.store.repositories import ElicitationRepository
from service.store.tables import ElicitationRow


def create_elicitation(
    session: Session,
    live: LiveForecasts,
    who: Principal,
    question_id: str,
    body: ElicitationCreate,
) -> WriteResult:
    """Call under ``live.lock`` (perform_write does)."""
    require_open(get_question_or_404(session, question_id))
    if body.quantiles is not None:
        stated: dict[float | str, float] = {k: v for k, v in body.quantiles.items()}
        fit = fit_quantiles(stated)
    else:
        assert body.probability is not None
        fit = fit_probability(body.probability, body.confidence)
    now = datetime.now(UTC)
    row = ElicitationRepository(session).add(
        ElicitationRow(
            id="el-" + uuid.uuid4().hex[:16],
            question_id=question_id,
            forecaster_id=who.name,
            created_at=now,
            probability=body.probability,
            confidence=body.confidence,
            quantiles=body.quantiles,
            logit_mean=float(fit.logit_mean),
            logit_sd=float(fit.logit_sd),
            fitted=fit.to_dict(),
            source="api",
            created_by=who.label,
        )
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
    (hist,) = live.write_history(session, updated, [Change(f, "elicitation", row.id)], now)
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
