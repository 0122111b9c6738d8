"""What each dashboard page shows, read through the domain functions and repositories.

The pages only read. Everything here returns plain records for the templates; the routes in
``pages.py`` stay thin.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from markupsafe import Markup
from sqlalchemy.orm import Session

from service.domain import questions
from service.domain.fits import fit_public
from service.schemas.fits import FitPublic
from service.schemas.questions import QuestionPublic
from service.store.repositories import (
    ElicitationRepository,
    EvidenceRepository,
    FitRepository,
    ForecastHistoryRepository,
    QuestionRepository,
)
from service.store.tables import ElicitationRow, ForecastHistoryRow
from service.web.sparkline import sparkline_svg

#: Forecasts drawn in a sparkline (the newest ones).
SPARKLINE_POINTS = 60
#: Fits listed on /fits.
FITS_SHOWN = 50
#: Questions read for the list (pages of the domain's own listing).
QUESTIONS_PAGE = 500
MAX_QUESTIONS = 5000
#: The levels of a fitted distribution the question page shows: its 90% interval and median.
FITTED_LEVELS = ("0.05", "0.5", "0.95")

SORT_KEYS = ("title", "probability", "change", "resolves_at")


@dataclass(frozen=True)
class Cause:
    """What produced a forecast, in words, with a link when there is a page for it."""

    type: str
    label: str
    href: str | None = None


@dataclass(frozen=True)
class LastChange:
    at: datetime
    #: new - previous probability; None for the first forecast of the question.
    delta: float | None
    cause: Cause


@dataclass(frozen=True)
class QuestionRow:
    question: QuestionPublic
    sparkline: Markup
    last_change: LastChange | None


@dataclass(frozen=True)
class EvidenceItem:
    id: str
    title: str
    observed_at: datetime
    created_by: str
    likelihood_ratio: float
    strength: str | None
    reliability: str
    source_url: str | None
    retracted: bool
    retraction_reason: str | None

    @property
    def source_href(self) -> str | None:
        """The source as a link only when it is a web address (no ``javascript:`` links)."""
        url = (self.source_url or "").strip()
        return url if url.lower().startswith(("https://", "http://")) else None


@dataclass(frozen=True)
class ElicitationItem:
    id: str
    forecaster_id: str
    created_at: datetime
    probability: float | None
    confidence: float | None
    quantiles: list[tuple[str, float]]
    logit_mean: float
    logit_sd: float
    #: The fitted logit-normal's 5%, 50% and 95% quantiles of P, when stored.
    fitted: dict[str, float] = field(default_factory=dict)
    fit_error: float | None = None
    source: str = ""


@dataclass(frozen=True)
class QuestionPage:
    question: QuestionPublic
    sparkline: Markup
    last_change: LastChange | None
    evidence: list[EvidenceItem]
    elicitations: list[ElicitationItem]


class CauseDescriber:
    """Names the cause of a forecast (evidence title, elicitation, fit), once per id."""

    def __init__(self, session: Session) -> None:
        self.evidence = EvidenceRepository(session)
        self.elicitations = ElicitationRepository(session)
        self.seen: dict[tuple[str, str], Cause] = {}

    def __call__(self, row: ForecastHistoryRow) -> Cause:
        key = (row.cause_type, row.cause_id)
        if key not in self.seen:
            self.seen[key] = self._describe(row)
        return self.seen[key]

    def _describe(self, row: ForecastHistoryRow) -> Cause:
        kind, ident = row.cause_type, row.cause_id
        if kind == "evidence":
            ev = self.evidence.get_by_id(ident)
            title = ev.title if ev is not None else ident
            return Cause(kind, title, f"/questions/{row.question_id}#{ident}")
        if kind == "elicitation":
            el = self.elicitations.get_by_id(ident)
            who = f" by {el.forecaster_id}" if el is not None else ""
            return Cause(kind, who.strip() or ident, f"/questions/{row.question_id}#{ident}")
        if kind == "retraction":
            rt = self.evidence.get_retraction_by_id(ident)
            ev = None if rt is None else self.evidence.get_by_id(rt.evidence_id)
            what = f"of “{ev.title}”" if ev is not None else ident
            href = None if rt is None else f"/questions/{row.question_id}#{rt.evidence_id}"
            return Cause(kind, what, href)
        if kind == "fit":
            return Cause(kind, ident, f"/v1/fits/{ident}")
        return Cause(kind, ident)


def _last_change(rows: Sequence[ForecastHistoryRow], describe: CauseDescriber) -> LastChange | None:
    if not rows:
        return None
    last = rows[-1]
    delta = (
        None if last.previous_probability is None else last.probability - last.previous_probability
    )
    return LastChange(at=last.computed_at, delta=delta, cause=describe(last))


def _sparkline(rows: Sequence[ForecastHistoryRow], title: str) -> Markup:
    values = [r.probability for r in rows]
    if not values:
        return Markup("")
    label = (
        f"{title}: {len(values)} forecasts, from {values[0]:.1%} to {values[-1]:.1%}"
        if len(values) > 1
        else f"{title}: one forecast, {values[0]:.1%}"
    )
    return sparkline_svg(values, label=label)


def _all_questions(session: Session, status: str | None, text: str | None) -> list[QuestionPublic]:
    items: list[QuestionPublic] = []
    cursor: str | None = None
    while len(items) < MAX_QUESTIONS:
        page = questions.list_questions(session, cursor, QUESTIONS_PAGE, status, text=text)
        items.extend(page.items)
        if page.next is None:
            break
        cursor = page.next
    return items


def _sort_key(sort: str) -> Callable[[QuestionRow], Any]:
    # Rows without a value go last whatever the key (the tuple's first element).
    if sort == "probability":
        return lambda r: (
            r.question.forecast is None,
            -(r.question.forecast.probability if r.question.forecast else 0.0),
        )
    if sort == "change":
        return lambda r: (
            r.last_change is None or r.last_change.delta is None,
            -abs(r.last_change.delta if r.last_change and r.last_change.delta else 0.0),
        )
    if sort == "resolves_at":
        return lambda r: (r.question.resolves_at is None, r.question.resolves_at or datetime.min)
    return lambda r: r.question.title.casefold()


def question_list(
    session: Session, sort: str | None, status: str | None = None, text: str | None = None
) -> list[QuestionRow]:
    """Every question (of ``status``, and whose title or id contains ``text``, if given) with
    its forecast, sparkline and last change, in ``sort`` order:
    probability high to low, largest last change first, soonest resolution first, title
    A to Z; or id order (the API's) when ``sort`` is None or unknown."""
    # One query for every question's recent history (not one per question).
    recent = ForecastHistoryRepository(session).list_newest_per_question_oldest_first(
        SPARKLINE_POINTS
    )
    describe = CauseDescriber(session)
    rows = []
    for q in _all_questions(session, status, text):
        served = recent.get(q.id, [])
        rows.append(QuestionRow(q, _sparkline(served, q.title), _last_change(served, describe)))
    if sort in SORT_KEYS:
        rows.sort(key=_sort_key(sort))
    return rows


def _elicitation_item(row: ElicitationRow) -> ElicitationItem:
    fitted_json: dict[str, Any] = row.fitted or {}
    logitnormal = fitted_json.get("fitted_logitnormal") or {}
    fitted = {k: float(logitnormal[k]) for k in FITTED_LEVELS if logitnormal.get(k) is not None}
    stated = row.quantiles or {}
    error = fitted_json.get("error_logitnormal")
    return ElicitationItem(
        id=row.id,
        forecaster_id=row.forecaster_id,
        created_at=row.created_at,
        probability=row.probability,
        confidence=row.confidence,
        quantiles=sorted(((k, float(v)) for k, v in stated.items()), key=lambda kv: float(kv[0])),
        logit_mean=row.logit_mean,
        logit_sd=row.logit_sd,
        fitted=fitted,
        fit_error=None if error is None else float(error),
        source=row.source,
    )


def question_page(session: Session, question_id: str) -> QuestionPage:
    """The question, its forecast and history, evidence bearing on it (newest observed
    first) and elicitations (oldest first). Raises ``NotFound`` for an unknown id."""
    question = questions.get_question(session, question_id)
    served = ForecastHistoryRepository(session).list_newest_of_question_oldest_first(
        question_id, SPARKLINE_POINTS
    )
    evidence = [
        EvidenceItem(
            id=ev.id,
            title=ev.title,
            observed_at=ev.observed_at,
            created_by=ev.created_by,
            likelihood_ratio=eff.likelihood_ratio,
            strength=eff.strength,
            reliability=ev.reliability,
            source_url=ev.source_url,
            retracted=rt is not None,
            retraction_reason=None if rt is None else rt.reason,
        )
        for ev, eff, rt in EvidenceRepository(
            session
        ).list_with_effect_on_question_and_retraction_newest_observed_first(question_id)
    ]
    elicitations = [
        _elicitation_item(r)
        for r in ElicitationRepository(session).list_of_question_in_creation_order(question_id)
    ]
    return QuestionPage(
        question=question,
        sparkline=_sparkline(served, question.title),
        last_change=_last_change(served, CauseDescriber(session)),
        evidence=evidence,
        elicitations=elicitations,
    )


def latest_fits(session: Session, limit: int = FITS_SHOWN) -> list[FitPublic]:
    """The latest fits by start time, whatever their status."""
    return [fit_public(r) for r in FitRepository(session).list_latest_started(limit)]


def groups(session: Session) -> list[str]:
    """The groups of the questions not annulled, sorted (the track record page's filter)."""
    return QuestionRepository(session).list_groups(include_annulled=False)
