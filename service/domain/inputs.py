"""The database's records as the inputs of a fit (``models.dataset.ForecastData``)."""

from __future__ import annotations

import math
from typing import Any

from sqlalchemy.orm import Session

from models.dataset import Evidence, EvidenceEffect, Forecast, ForecastData, Question, Resolution
from models.dataset import logit as clipped_logit
from service.store.repositories import (
    ElicitationRepository,
    EvidenceRepository,
    QuestionRepository,
)
from service.store.tables import ElicitationRow, EvidenceEffectRow, EvidenceRow, QuestionRow


def question_of(row: QuestionRow) -> Question:
    return Question(
        id=row.id,
        group=row.group,
        title=row.title,
        opens_at=row.opens_at,
        resolves_at=row.resolves_at,
    )


def forecast_of(row: ElicitationRow, eps: float) -> Forecast:
    # The model clips probabilities to [eps, 1 - eps]; centres are clipped the same way.
    bound = -clipped_logit(0.0, eps)
    return Forecast(
        question_id=row.question_id,
        forecaster_id=row.forecaster_id,
        created_at=row.created_at,
        logit_center=min(max(row.logit_mean, -bound), bound),
        logit_spread=row.logit_sd,
        id=row.id,
    )


def evidence_of(row: EvidenceRow, effects: list[EvidenceEffectRow]) -> Evidence:
    return Evidence(
        id=row.id,
        observed_at=row.observed_at,
        reliability=row.reliability,
        effects=tuple(EvidenceEffect(e.question_id, e.likelihood_ratio) for e in effects),
        title=row.title,
    )


def fit_inputs(session: Session, eps: float) -> tuple[ForecastData, dict[str, Any]]:
    """Every record in force: questions not annulled, their elicitations, evidence not
    retracted, resolutions. Also returns the ids, for the fit's ``inputs`` record."""
    questions = QuestionRepository(session).list_not_annulled()
    qids = {q.id for q in questions}
    elicitations = ElicitationRepository(session).list_on_questions_not_annulled_in_creation_order()
    evidence = []
    for ev, effects in EvidenceRepository(
        session
    ).list_not_retracted_with_effects_in_creation_order():
        kept = [e for e in effects if e.question_id in qids]
        if kept:
            evidence.append(evidence_of(ev, kept))
    resolutions = [
        Resolution(q.id, int(q.outcome), q.resolved_at)
        for q in questions
        if q.status == "resolved" and q.outcome is not None
    ]
    data = ForecastData(
        questions=tuple(question_of(q) for q in questions),
        forecasts=tuple(forecast_of(e, eps) for e in elicitations),
        evidence=tuple(evidence),
        resolutions=tuple(resolutions),
    )
    ids = {
        "questions": [q.id for q in questions],
        "elicitations": [e.id for e in elicitations],
        "evidence": [e.id for e in evidence],
        "resolutions": [
            {"question_id": r.question_id, "outcome": r.outcome} for r in data.resolutions
        ],
    }
    return data, ids


def is_finite(x: float | None) -> bool:
    return x is not None and math.isfinite(x)
