"""Forecasters as the published fit reads them (discrimination, bias, noise) with their own
record on resolved questions: what a forecaster checks to see how the model weighs them."""

from __future__ import annotations

import math
import threading
from collections import defaultdict
from typing import Any

import numpy as np
from sqlalchemy.orm import Session

from models.constants import INTERVAL_PROB
from models.scoring import brier, log_score
from service.domain.pages import invalid_cursor, page_and_next
from service.errors import NoPublishedFit, NotFound
from service.live import LiveForecasts
from service.schemas.forecasters import (
    ForecasterPublic,
    ForecasterRecordPublic,
    ForecastersPublic,
    ParameterSummary,
)
from service.store.repositories import ElicitationRepository

#: The model's parameter of each field of ``ForecasterPublic``.
PARAMETERS = {"discrimination": "alpha", "bias": "beta", "noise": "sigma"}


class _FitSummaries:
    """The fit's forecaster and newcomer summaries, computed once per published fit."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._fit_id: str | None = None
        self._value: tuple[dict[str, dict[str, Any]], dict[str, Any]] = ({}, {})

    def of(self, posterior: Any) -> tuple[dict[str, dict[str, Any]], dict[str, Any]]:
        with self._lock:
            if self._fit_id != posterior.fit_id:
                rows = {r["forecaster_id"]: r for r in posterior.forecaster_summary()}
                self._value = (rows, posterior.newcomer_summary())
                self._fit_id = posterior.fit_id
            return self._value


SUMMARIES = _FitSummaries()


def _base(live: LiveForecasts) -> Any:
    with live.lock:
        base = live.base
    if base is None:
        raise NoPublishedFit(
            "no fit has been published yet, so no forecaster has been read; the worker runs "
            "one at first start (see GET /v1/fits/latest)"
        )
    return base


def _summary(cell: dict[str, Any]) -> ParameterSummary:
    return ParameterSummary(mean=cell["mean"], interval=tuple(cell["interval"]))


def records(session: Session, who: str | None = None) -> dict[str, ForecasterRecordPublic]:
    """Each forecaster's record (only ``who``'s if given): on every resolved question they had
    an elicitation on by its ``resolved_at``, their latest such one (its median,
    ``sigmoid(logit_mean)``) against the outcome."""
    latest: dict[tuple[str, str], tuple[float, float]] = {}
    statements = ElicitationRepository(
        session
    ).list_statements_on_resolved_questions_in_creation_order(who)
    for forecaster_id, question_id, _, logit_mean, _, outcome in statements:
        assert outcome is not None  # the query reads resolved questions only
        p = 1.0 / (1.0 + math.exp(-logit_mean))
        latest[(forecaster_id, question_id)] = (p, float(outcome))
    scored: dict[str, tuple[list[float], list[float]]] = defaultdict(lambda: ([], []))
    for (forecaster_id, _), (p, y) in latest.items():
        probs, outcomes = scored[forecaster_id]
        probs.append(p)
        outcomes.append(y)
    return {
        forecaster_id: ForecasterRecordPublic(
            resolved_questions=len(p),
            brier=brier(np.array(p), np.array(y)),
            log_score=log_score(np.array(p), np.array(y)),
        )
        for forecaster_id, (p, y) in scored.items()
    }


def _forecaster(
    who: str,
    rows: dict[str, dict[str, Any]],
    newcomer: dict[str, Any],
    record: ForecasterRecordPublic | None,
) -> ForecasterPublic:
    row = rows.get(who)
    cells = newcomer if row is None else row
    return ForecasterPublic(
        id=who,
        in_fit=row is not None,
        forecasts_in_fit=0 if row is None else row["forecasts"],
        **{field: _summary(cells[name]) for field, name in PARAMETERS.items()},
        record=record or ForecasterRecordPublic(resolved_questions=0),
    )


def _known(session: Session, rows: dict[str, dict[str, Any]]) -> list[str]:
    return sorted(set(rows) | ElicitationRepository(session).list_forecaster_ids())


def all_forecasters(session: Session, live: LiveForecasts) -> ForecastersPublic:
    """Every forecaster (in the published fit, or with an elicitation since), in id order."""
    base = _base(live)
    rows, newcomer = SUMMARIES.of(base)
    record = records(session)
    return ForecastersPublic(
        fit_id=base.fit_id,
        interval_prob=INTERVAL_PROB,
        newcomer={field: _summary(newcomer[name]) for field, name in PARAMETERS.items()},
        items=[_forecaster(w, rows, newcomer, record.get(w)) for w in _known(session, rows)],
    )


def list_forecasters(
    session: Session, live: LiveForecasts, cursor: str | None, limit: int
) -> ForecastersPublic:
    """``all_forecasters`` a page at a time: ``cursor`` is the last id of the previous page."""
    everyone = all_forecasters(session, live)
    known = [i.id for i in everyone.items]
    if cursor is not None and cursor not in known:
        raise invalid_cursor(cursor)
    start = 0 if cursor is None else known.index(cursor) + 1
    page, following = page_and_next(everyone.items[start : start + limit + 1], limit)
    return everyone.model_copy(update={"items": list(page), "next": following})


def get_forecaster(session: Session, live: LiveForecasts, who: str) -> ForecasterPublic:
    base = _base(live)
    rows, newcomer = SUMMARIES.of(base)
    if who not in rows and not ElicitationRepository(session).exists_of_forecaster(who):
        raise NotFound(
            f"no forecaster {who!r}: a forecaster is named by the API key they post "
            "elicitations with (GET /v1/forecasters lists them)"
        )
    return _forecaster(who, rows, newcomer, records(session, who).get(who))
