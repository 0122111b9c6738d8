"""Reading forecasts: the latest served (from history), one at a past time, the history."""

from __future__ import annotations

import csv
import hashlib
import io
import math
from datetime import UTC, datetime
from typing import Any

from sqlalchemy.orm import Session

from models.constants import KHAT_THRESHOLD
from models.forecast_model import Posterior, QuestionForecast
from service.errors import InvalidInput, NoPublishedFit, NotFound
from service.live import LiveForecasts, state_key
from service.schemas.forecasts import (
    Cause,
    ForecastHistoryPoint,
    ForecastHistoryPublic,
    ForecastPreview,
    ForecastPublic,
)
from service.schemas.times import is_in_the_future, utc, utc_text
from service.store.repositories import ForecastHistoryRepository, QuestionRepository
from service.store.tables import ForecastHistoryRow, QuestionRow


def _khat(value: float | None) -> float | None:
    return value if value is not None and math.isfinite(value) else None


def forecast_public(row: ForecastHistoryRow) -> ForecastPublic:
    return ForecastPublic(
        question_id=row.question_id,
        probability=row.probability,
        interval=(row.interval_low, row.interval_high),
        interval_prob=row.interval_prob,
        median=row.median,
        contentious=row.contentious,
        tier=row.tier,  # type: ignore[arg-type]
        fit_id=row.fit_id,
        computed_at=row.computed_at,
        as_of=row.as_of,
        cause=Cause(type=row.cause_type, id=row.cause_id),  # type: ignore[arg-type]
        khat=_khat(row.khat),
        needs_refit=row.khat is not None and not row.khat <= KHAT_THRESHOLD,
    )


def _numbers(f: QuestionForecast) -> dict[str, Any]:
    """The fields of :class:`ForecastNumbers` from a model's forecast."""
    return {
        "question_id": f.question_id,
        "probability": f.probability,
        "interval": f.interval,
        "interval_prob": f.interval_prob,
        "median": f.median,
        "contentious": f.contentious,
        "as_of": f.as_of,
    }


def current_posterior(live: LiveForecasts) -> Posterior | None:
    """The live posterior as it stands (a reader's snapshot: updates make new posteriors)."""
    with live.lock:
        return live.current


def forecast_previews(
    session: Session, posterior: Posterior, forecasts: list[QuestionForecast]
) -> list[ForecastPreview]:
    """What ``posterior`` would serve, beside the forecasts served now; nothing is written."""
    served = ForecastHistoryRepository(session).get_latest_of_questions(
        [f.question_id for f in forecasts]
    )
    now = datetime.now(UTC)
    previews = []
    for f in forecasts:
        before = served.get(f.question_id)
        previews.append(
            ForecastPreview(
                **_numbers(f),
                fit_id=posterior.fit_id,
                computed_at=now,
                khat=_khat(posterior.khat),
                needs_refit=posterior.needs_refit(),
                served=None if before is None else forecast_public(before),
                change=None if before is None else f.probability - before.probability,
            )
        )
    return previews


def etag_of_history_row(row: ForecastHistoryRow) -> str:
    return f'"fh-{row.id}"'


def get_question_or_404(session: Session, question_id: str) -> QuestionRow:
    row = QuestionRepository(session).get_by_id(question_id)
    if row is None:
        raise NotFound(
            f"no question {question_id!r}; list them with GET /v1/questions (ids are slugs)"
        )
    return row


def get_current_forecast(session: Session, question_id: str) -> tuple[ForecastPublic, str]:
    """The latest forecast served for the question, and its ETag."""
    get_question_or_404(session, question_id)
    row = ForecastHistoryRepository(session).get_latest_of_question(question_id)
    if row is None:
        raise NoPublishedFit(
            f"question {question_id!r} has no forecast yet: it waits for a published fit "
            "(see GET /v1/fits/latest)"
        )
    return forecast_public(row), etag_of_history_row(row)


def get_forecast_at(
    session: Session, live: LiveForecasts, question_id: str, at: datetime
) -> tuple[ForecastPublic, str]:
    """The probability at a past time under the current posterior (evidence up to ``at``).

    ``at`` in the future, or before the question opened, is a 422: there was no forecast then
    to reconstruct (and a future ``at`` would only repeat the current forecast)."""
    question = get_question_or_404(session, question_id)
    at = utc(at)
    if is_in_the_future(at):
        raise InvalidInput.at(
            ["query", "at"],
            f"at ({utc_text(at)}) is in the future: `at` asks for the probability at a past "
            "time; leave it out for the current forecast",
        )
    if question.opens_at is not None and at < question.opens_at:
        raise InvalidInput.at(
            ["query", "at"],
            f"at ({utc_text(at)}) is before question {question_id!r} opened "
            f"(opens_at {utc_text(question.opens_at)}): give a time from then on",
        )
    posterior = current_posterior(live)
    if posterior is None or question_id not in posterior.question_ids:
        raise NoPublishedFit(f"question {question_id!r} has no forecast yet")
    (f,) = posterior.predict([question_id], at=at)
    version = f"{state_key(posterior)}|{at.isoformat()}|{question_id}"
    etag = '"at-' + hashlib.sha256(version.encode()).hexdigest()[:24] + '"'
    public = ForecastPublic(
        **_numbers(f),
        tier=posterior.tier,  # type: ignore[arg-type]
        fit_id=posterior.fit_id,
        computed_at=datetime.now(UTC),
        cause=Cause(
            type="as-of", id=posterior.updates[-1] if posterior.updates else posterior.fit_id
        ),
        khat=_khat(posterior.khat),
        needs_refit=posterior.needs_refit(),
        at=at,
    )
    return public, etag


def get_forecast_history(
    session: Session,
    question_id: str,
    since: datetime | None,
    until: datetime | None,
    limit: int,
) -> ForecastHistoryPublic:
    get_question_or_404(session, question_id)
    since = None if since is None else utc(since)
    until = None if until is None else utc(until)
    if since is not None and until is not None and since > until:
        raise InvalidInput.at(
            ["query", "since"],
            f"since ({utc_text(since)}) is later than until ({utc_text(until)}): no forecast "
            "can be in that range; swap them, or leave one out",
        )
    rows = ForecastHistoryRepository(session).list_of_question_between(
        question_id, since, until, limit
    )
    return ForecastHistoryPublic(
        question_id=question_id,
        items=[
            ForecastHistoryPoint(
                **forecast_public(r).model_dump(),
                event_id=r.id,
                previous_probability=r.previous_probability,
            )
            for r in rows
        ],
    )


#: Columns of the history CSV download, in order.
HISTORY_CSV_COLUMNS = (
    "event_id",
    "question_id",
    "computed_at",
    "probability",
    "interval_low",
    "interval_high",
    "interval_prob",
    "median",
    "contentious",
    "previous_probability",
    "tier",
    "fit_id",
    "cause_type",
    "cause_id",
    "khat",
    "needs_refit",
    "as_of",
)


def history_csv(history: ForecastHistoryPublic) -> str:
    """The history as CSV (one row per forecast served, oldest first; numbers unrounded)."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(HISTORY_CSV_COLUMNS)
    for p in history.items:
        writer.writerow(
            (
                p.event_id,
                p.question_id,
                utc_text(p.computed_at),
                repr(p.probability),
                repr(p.interval[0]),
                repr(p.interval[1]),
                p.interval_prob,
                "" if p.median is None else repr(p.median),
                "" if p.contentious is None else repr(p.contentious),
                "" if p.previous_probability is None else repr(p.previous_probability),
                p.tier,
                p.fit_id,
                p.cause.type,
                p.cause.id,
                "" if p.khat is None else repr(p.khat),
                str(p.needs_refit).lower(),
                "" if p.as_of is None else utc_text(p.as_of),
            )
        )
    return out.getvalue()
