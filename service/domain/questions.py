"""Questions: create, edit, resolve, annul (each enqueues a refit), list and read."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime

from sqlalchemy.orm import Session

from service.domain.forecasts import forecast_public, get_question_or_404
from service.domain.keys import Principal
from service.domain.pages import invalid_cursor, page_and_next
from service.domain.writes import WriteResult
from service.errors import Conflict, InvalidInput
from service.jobs.queue import enqueue_refit
from service.schemas.questions import (
    QuestionAnnul,
    QuestionCreate,
    QuestionPublic,
    QuestionResolve,
    QuestionsPublic,
    QuestionUpdate,
)
from service.schemas.times import utc, utc_text
from service.store.repositories import ForecastHistoryRepository, QuestionRepository
from service.store.tables import ForecastHistoryRow, QuestionRow


def question_public(
    row: QuestionRow, latest: ForecastHistoryRow | None, refit_job_id: int | None = None
) -> QuestionPublic:
    return QuestionPublic(
        id=row.id,
        title=row.title,
        group=row.group,
        resolution_criteria=row.resolution_criteria,
        opens_at=row.opens_at,
        resolves_at=row.resolves_at,
        status=row.status,  # type: ignore[arg-type]
        outcome=row.outcome,
        resolved_at=row.resolved_at,
        annul_reason=row.annul_reason,
        created_by=row.created_by,
        forecast=None if latest is None else forecast_public(latest),
        refit_job_id=refit_job_id,
    )


def require_known_group(group: str, groups: Iterable[str]) -> None:
    """A 422 (on the query's ``group``) naming the groups there are, unless ``group`` is one."""
    known = sorted(set(groups))
    if group not in known:
        raise InvalidInput.at(
            ["query", "group"],
            f"no question is in group {group!r}; the groups are: {', '.join(known) or 'none'}",
        )


def list_questions(
    session: Session,
    cursor: str | None,
    limit: int,
    status: str | None = None,
    group: str | None = None,
    text: str | None = None,
) -> QuestionsPublic:
    """A page of questions in id order, with their latest forecasts; only those of ``status``
    and ``group``, and whose title or id contains ``text`` (any case), when given (an unknown
    group is a 422 that lists the groups)."""
    if text is not None and not text.strip():
        raise InvalidInput.at(
            ["query", "q"], "q is blank: give the text to look for, or leave q out"
        )
    repo = QuestionRepository(session)
    # A cursor is the id of the last question of a page (questions are never deleted), so
    # anything else did not come from `next`: say so rather than page from a made-up place.
    if cursor is not None and repo.get_by_id(cursor) is None:
        raise invalid_cursor(cursor)
    if group is not None:
        require_known_group(group, repo.list_groups())
    rows = repo.list_page_after_id(
        cursor, limit + 1, status, group, None if text is None else text.strip()
    )
    page, following = page_and_next(rows, limit)
    latest = ForecastHistoryRepository(session).get_latest_of_questions([r.id for r in page])
    return QuestionsPublic(
        items=[question_public(r, latest.get(r.id)) for r in page], next=following
    )


def get_question(session: Session, question_id: str) -> QuestionPublic:
    row = get_question_or_404(session, question_id)
    return question_public(row, ForecastHistoryRepository(session).get_latest_of_question(row.id))


def require_open(row: QuestionRow) -> None:
    if row.status == "resolved":
        raise Conflict(
            f"question {row.id!r} is resolved (outcome {row.outcome}); it takes no more "
            "forecasts or evidence"
        )
    if row.status == "annulled":
        raise Conflict(f"question {row.id!r} is annulled ({row.annul_reason}); it is closed")


def create_question(session: Session, who: Principal, body: QuestionCreate) -> WriteResult:
    repo = QuestionRepository(session)
    if repo.get_by_id(body.id) is not None:
        raise Conflict(f"a question {body.id!r} exists already; choose another id or PATCH it")
    row = repo.add(
        QuestionRow(
            id=body.id,
            title=body.title,
            group=body.group,
            resolution_criteria=body.resolution_criteria,
            opens_at=body.opens_at,
            resolves_at=body.resolves_at,
            status="open",
            created_by=who.label,
            created_at=datetime.now(UTC),
        )
    )
    job = enqueue_refit(session, f"question:{row.id}", who.label)
    return WriteResult(question_public(row, None, job))


def update_question(
    session: Session, who: Principal, question_id: str, body: QuestionUpdate
) -> WriteResult:
    row = get_question_or_404(session, question_id)
    require_open(row)
    changes = body.model_dump(exclude_unset=True)
    resolves_at = changes.get("resolves_at")
    if resolves_at is not None and row.opens_at is not None and not row.opens_at < resolves_at:
        raise InvalidInput.at(
            ["body", "resolves_at"],
            f"resolves_at ({utc_text(resolves_at)}) must be after the question's opens_at "
            f"({utc_text(row.opens_at)}): a question opens before it resolves; "
            "give a later resolves_at",
        )
    for name, value in changes.items():
        if value is None and name in ("title", "group"):
            continue
        setattr(row, name, value)
    row.updated_at, row.updated_by = datetime.now(UTC), who.label
    session.flush()
    job = enqueue_refit(session, f"question:{row.id}", who.label) if changes else None
    latest = ForecastHistoryRepository(session).get_latest_of_question(row.id)
    return WriteResult(question_public(row, latest, job))


def resolve_question(
    session: Session, who: Principal, question_id: str, body: QuestionResolve
) -> WriteResult:
    row = get_question_or_404(session, question_id)
    require_open(row)
    if row.opens_at is not None and utc(body.resolved_at) < row.opens_at:
        raise InvalidInput.at(
            ["body", "resolved_at"],
            f"resolved_at ({utc_text(body.resolved_at)}) is before the question opened "
            f"(opens_at {utc_text(row.opens_at)}): give the time the outcome became known",
        )
    row.status, row.outcome = "resolved", int(body.outcome)
    row.resolved_at, row.resolved_by = body.resolved_at, who.label
    session.flush()
    job = enqueue_refit(session, f"resolution:{row.id}", who.label)
    latest = ForecastHistoryRepository(session).get_latest_of_question(row.id)
    return WriteResult(question_public(row, latest, job))


def annul_question(
    session: Session, who: Principal, question_id: str, body: QuestionAnnul
) -> WriteResult:
    row = get_question_or_404(session, question_id)
    if row.status == "annulled":
        raise Conflict(f"question {row.id!r} is annulled already")
    row.status, row.annul_reason = "annulled", body.reason
    row.annulled_at, row.annulled_by = datetime.now(UTC), who.label
    session.flush()
    job = enqueue_refit(session, f"annulment:{row.id}", who.label)
    latest = ForecastHistoryRepository(session).get_latest_of_question(row.id)
    return WriteResult(question_public(row, latest, job))
