"""The service's track record: each resolved question scored on the last forecast the service
served at least ``horizon_days`` before it resolved, against the crowd of its elicitations.

Only forecasts served before the resolution count (the record the service had when it could
still be wrong), so a resolution posted late does not let later forecasts in: the cut is
``resolved_at``, the time the outcome became known, not the time it was posted.
"""

from __future__ import annotations

import csv
import io
import math
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

import numpy as np
from sqlalchemy.orm import Session

from models.scoring import (
    CALIBRATION_BINS,
    brier,
    calibration_check,
    log_score,
    paired_bootstrap,
    reliability_table,
    score_all,
)
from service.domain.forecasts import forecast_public
from service.domain.questions import require_known_group
from service.errors import InvalidInput
from service.schemas.times import utc_text
from service.schemas.track_record import (
    AgainstCrowdPublic,
    CalibrationPublic,
    CrowdPublic,
    NotScoredItem,
    ReliabilityBin,
    ScoreDifferencePublic,
    ScoresPublic,
    TrackRecordItem,
    TrackRecordPublic,
)
from service.store.repositories import (
    ElicitationRepository,
    ForecastHistoryRepository,
    QuestionRepository,
)
from service.store.tables import ElicitationRow

#: The longest horizon asked for (ten years).
MAX_HORIZON_DAYS = 3650.0


def _scores(p: np.ndarray, y: np.ndarray) -> ScoresPublic:
    scores = score_all(p, y)
    check = calibration_check(p, y)
    return ScoresPublic(
        brier=scores["brier"],
        log_score=scores["log_score"],
        ece=scores["ece"],
        sharpness=scores["sharpness"],
        base_rate=float(y.mean()),
        calibration=CalibrationPublic(expected_ece=check.expected_ece, p_value=check.p_value),
    )


def _edges(edges: np.ndarray) -> list[float]:
    """Bin edges as written (0.7, not linspace's 0.7000000000000001)."""
    return [round(float(e), 12) for e in edges]


def _bins(p: np.ndarray, y: np.ndarray) -> list[ReliabilityBin]:
    if p.size == 0:
        edges = _edges(np.linspace(0.0, 1.0, CALIBRATION_BINS + 1))
        return [
            ReliabilityBin(low=edges[b], high=edges[b + 1], count=0)
            for b in range(CALIBRATION_BINS)
        ]
    table = reliability_table(p, y)
    edges = _edges(table.edges)
    return [
        ReliabilityBin(
            low=edges[b],
            high=edges[b + 1],
            count=int(table.count[b]),
            mean_forecast=float(table.mean_forecast[b]) if table.count[b] else None,
            observed_frequency=float(table.observed_frequency[b]) if table.count[b] else None,
        )
        for b in range(table.count.size)
    ]


def crowd_before(elicitations: Sequence[ElicitationRow], before: datetime) -> CrowdPublic | None:
    """The mean log-odds rule over each forecaster's latest elicitation made before ``before``
    (``elicitations`` in creation order), or None if there is none."""
    latest: dict[str, float] = {}
    for e in elicitations:
        if e.created_at < before:
            latest[e.forecaster_id] = e.logit_mean
    if not latest:
        return None
    mean = sum(latest.values()) / len(latest)
    return CrowdPublic(probability=1.0 / (1.0 + math.exp(-mean)), forecasters=len(latest))


def _against_crowd(items: list[TrackRecordItem]) -> AgainstCrowdPublic | None:
    service, crowd, y = _paired(items)
    if not y.size:
        return None
    differences = paired_bootstrap(service, crowd, y)
    return AgainstCrowdPublic(
        questions=y.size,
        crowd_scores=_scores(crowd, y),
        service_scores=_scores(service, y),
        differences=[
            ScoreDifferencePublic(
                score=d.score,  # type: ignore[arg-type]
                difference=d.difference,
                interval=(d.low, d.high),
                share_service_better=d.share_a_better,
            )
            for d in differences.values()
        ],
    )


def served_before(horizon_days: float) -> str:
    """When a scored forecast was served, in words: "before it resolved", "7 days or more
    before it resolved"."""
    if horizon_days == 0:
        return "before it resolved"
    return f"{horizon_days:g} days or more before it resolved"


def _paired(items: list[TrackRecordItem]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The service's forecasts, the crowd's and the outcomes, on the items with a crowd."""
    paired = [i for i in items if i.crowd is not None]
    service = np.array([i.forecast.probability for i in paired])
    crowd = np.array([i.crowd.probability for i in paired if i.crowd is not None])
    y = np.array([i.outcome for i in paired], dtype=float)
    return service, crowd, y


@dataclass(frozen=True)
class ScoredQuestions:
    """The resolved questions in scope: those scored, and those not with why."""

    resolved: int
    resolved_before_added: int
    items: list[TrackRecordItem]
    not_scored: list[NotScoredItem]


def scored_questions(
    session: Session, horizon_days: float = 0.0, group: str | None = None
) -> ScoredQuestions:
    """Every resolved question (in ``group``, if given) with the last forecast served at least
    ``horizon_days`` before its ``resolved_at``; questions with no such forecast are listed in
    ``not_scored`` with the reason."""
    if not 0.0 <= horizon_days <= MAX_HORIZON_DAYS:
        raise InvalidInput.at(
            ["query", "horizon_days"],
            f"must be between 0 and {MAX_HORIZON_DAYS:g} days, got {horizon_days:g}",
        )
    questions = QuestionRepository(session).list_not_annulled()
    if group is not None:
        require_known_group(group, (q.group for q in questions))
    in_scope = [
        q
        for q in questions
        if q.status == "resolved"
        and q.outcome is not None
        and q.resolved_at is not None
        and (group is None or q.group == group)
    ]
    # A question that had resolved before it was added (an imported record, a resolution
    # entered with the question) was never the service's to forecast: not in its record.
    resolved = [q for q in in_scope if q.resolved_at is not None and q.resolved_at >= q.created_at]
    history = ForecastHistoryRepository(session)
    by_question: dict[str, list[ElicitationRow]] = defaultdict(list)
    for e in ElicitationRepository(session).list_of_questions_in_creation_order(
        [q.id for q in resolved]
    ):
        by_question[e.question_id].append(e)
    lead = timedelta(days=horizon_days)
    when = served_before(horizon_days)
    items, not_scored = [], []
    for q in resolved:
        assert q.resolved_at is not None and q.outcome is not None
        row = history.get_latest_of_question_before(q.id, q.resolved_at - lead)
        if row is None:
            not_scored.append(NotScoredItem(question_id=q.id, reason=f"no forecast served {when}"))
            continue
        items.append(
            TrackRecordItem(
                question_id=q.id,
                title=q.title,
                group=q.group,
                outcome=int(q.outcome),
                resolved_at=q.resolved_at,
                forecast=forecast_public(row),
                lead_days=(q.resolved_at - row.computed_at).total_seconds() / 86400.0,
                crowd=crowd_before(by_question[q.id], row.computed_at),
            )
        )
    return ScoredQuestions(len(resolved), len(in_scope) - len(resolved), items, not_scored)


def track_record(
    session: Session, horizon_days: float = 0.0, group: str | None = None
) -> TrackRecordPublic:
    """``scored_questions`` with their scores, reliability bins and the comparison with the
    crowd of their elicitations."""
    scored = scored_questions(session, horizon_days, group)
    items = scored.items
    p = np.array([i.forecast.probability for i in items])
    y = np.array([i.outcome for i in items], dtype=float)
    return TrackRecordPublic(
        horizon_days=horizon_days,
        group=group,
        resolved=scored.resolved,
        resolved_before_added=scored.resolved_before_added,
        scored=len(items),
        scores=_scores(p, y) if items else None,
        bins=_bins(p, y),
        against_crowd=_against_crowd(items),
        items=items,
        not_scored=scored.not_scored,
    )


@dataclass(frozen=True)
class HorizonRow:
    """The record at one horizon: the service's Brier and log score, and the crowd's on the
    questions that had elicitations in time."""

    horizon_days: float
    scored: int
    brier: float | None
    log_score: float | None
    crowd_questions: int
    crowd_brier: float | None
    service_brier_on_crowd_questions: float | None


def by_horizon(
    session: Session, horizons: Sequence[float], group: str | None = None
) -> list[HorizonRow]:
    """How the record changes with the time left before the outcome: each horizon's scores
    (no bootstrap: the page's summary table; GET /v1/track-record has the intervals)."""
    rows = []
    for h in horizons:
        items = scored_questions(session, h, group).items
        p = np.array([i.forecast.probability for i in items])
        y = np.array([i.outcome for i in items], dtype=float)
        ps, pc, yc = _paired(items)
        rows.append(
            HorizonRow(
                horizon_days=h,
                scored=len(items),
                brier=brier(p, y) if items else None,
                log_score=log_score(p, y) if items else None,
                crowd_questions=yc.size,
                crowd_brier=brier(pc, yc) if yc.size else None,
                service_brier_on_crowd_questions=brier(ps, yc) if yc.size else None,
            )
        )
    return rows


#: The columns of the track record as CSV: one row per scored question.
TRACK_RECORD_CSV_COLUMNS = (
    "question_id",
    "title",
    "group",
    "outcome",
    "resolved_at",
    "probability",
    "interval_low",
    "interval_high",
    "interval_prob",
    "computed_at",
    "lead_days",
    "fit_id",
    "tier",
    "cause_type",
    "cause_id",
    "as_of",
    "crowd_probability",
    "crowd_forecasters",
)


def track_record_csv(record: TrackRecordPublic) -> str:
    """The scored questions as CSV (numbers unrounded, times in UTC as the JSON writes them,
    an empty cell for a null); the scores themselves are in the JSON."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(TRACK_RECORD_CSV_COLUMNS)
    for i in record.items:
        f = i.forecast
        writer.writerow(
            (
                i.question_id,
                i.title,
                i.group,
                i.outcome,
                utc_text(i.resolved_at),
                repr(f.probability),
                repr(f.interval[0]),
                repr(f.interval[1]),
                f.interval_prob,
                utc_text(f.computed_at),
                repr(i.lead_days),
                f.fit_id,
                f.tier,
                f.cause.type,
                f.cause.id,
                "" if f.as_of is None else utc_text(f.as_of),
                "" if i.crowd is None else repr(i.crowd.probability),
                "" if i.crowd is None else i.crowd.forecasters,
            )
        )
    return out.getvalue()
