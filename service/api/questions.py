"""/v1/questions: list, read, create, edit, resolve, annul, and elicitations on a question
(post one, preview one, list them newest first)."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Query, Request, Response
from fastapi.responses import JSONResponse

from service.api.deps import (
    AdminDep,
    ForecasterDep,
    IdempotencyKeyDep,
    JsonBodyDep,
    LiveDep,
    ReaderDep,
    SessionDep,
    SettingsDep,
)
from service.api.responses import WRITE_PROBLEMS, etagged_content, written
from service.domain import elicitations, questions
from service.domain.writes import perform_write
from service.schemas.elicitations import (
    ElicitationCreate,
    ElicitationPreviewPublic,
    ElicitationPublic,
    ElicitationRecordsPublic,
)
from service.schemas.questions import (
    QuestionAnnul,
    QuestionCreate,
    QuestionPublic,
    QuestionResolve,
    QuestionsPublic,
    QuestionUpdate,
)

router = APIRouter(
    prefix="/v1/questions", tags=["questions"], responses=WRITE_PROBLEMS, dependencies=[JsonBodyDep]
)


@router.get("", response_model=QuestionsPublic)
def list_questions(
    session: SessionDep,
    settings: SettingsDep,
    _: ReaderDep,
    cursor: Annotated[str | None, Query(description="`next` of the previous page")] = None,
    limit: Annotated[int | None, Query(ge=1, le=500)] = None,
    status: Annotated[
        Literal["open", "resolved", "annulled"] | None, Query(description="only these")
    ] = None,
    group: Annotated[str | None, Query(description="only the questions of this group")] = None,
    q: Annotated[
        str | None,
        Query(
            min_length=1,
            max_length=200,
            description="only the questions whose title or id contains this text, in any case",
        ),
    ] = None,
) -> QuestionsPublic:
    """Questions in id order, each with its latest forecast; follow `next` for more (with
    the same `status`, `group` and `q`)."""
    return questions.list_questions(session, cursor, limit or settings.page_size, status, group, q)


@router.get("/{question_id}", response_model=QuestionPublic)
def get_question(question_id: str, session: SessionDep, _: ReaderDep) -> QuestionPublic:
    """One question with its latest forecast."""
    return questions.get_question(session, question_id)


@router.post("", status_code=201, response_model=QuestionPublic)
def create_question(
    body: QuestionCreate,
    request: Request,
    session: SessionDep,
    live: LiveDep,
    who: AdminDep,
    idem: IdempotencyKeyDep,
) -> JSONResponse:
    """Add a question (admin); it gets a forecast at the next fit, which this enqueues."""
    return written(
        perform_write(
            session, live, who, idem, "POST", request.url.path, body, 201,
            lambda: questions.create_question(session, who, body),
        )
    )  # fmt: skip


@router.patch("/{question_id}", response_model=QuestionPublic)
def update_question(
    question_id: str,
    body: QuestionUpdate,
    request: Request,
    session: SessionDep,
    live: LiveDep,
    who: AdminDep,
    idem: IdempotencyKeyDep,
) -> JSONResponse:
    """Edit an open question's title, group, criteria or date (admin); enqueues a refit."""
    return written(
        perform_write(
            session, live, who, idem, "PATCH", request.url.path, body, 200,
            lambda: questions.update_question(session, who, question_id, body),
        )
    )  # fmt: skip


@router.post("/{question_id}/resolution", response_model=QuestionPublic)
def resolve_question(
    question_id: str,
    body: QuestionResolve,
    request: Request,
    session: SessionDep,
    live: LiveDep,
    who: AdminDep,
    idem: IdempotencyKeyDep,
) -> JSONResponse:
    """Resolve a question with its outcome and time (admin); enqueues a refit."""
    return written(
        perform_write(
            session, live, who, idem, "POST", request.url.path, body, 200,
            lambda: questions.resolve_question(session, who, question_id, body),
        )
    )  # fmt: skip


@router.post("/{question_id}/annulment", response_model=QuestionPublic)
def annul_question(
    question_id: str,
    body: QuestionAnnul,
    request: Request,
    session: SessionDep,
    live: LiveDep,
    who: AdminDep,
    idem: IdempotencyKeyDep,
) -> JSONResponse:
    """Annul a question (admin): it leaves the fits; its records stay."""
    return written(
        perform_write(
            session, live, who, idem, "POST", request.url.path, body, 200,
            lambda: questions.annul_question(session, who, question_id, body),
        )
    )  # fmt: skip


@router.get("/{question_id}/elicitations", response_model=ElicitationRecordsPublic)
def list_elicitations(
    question_id: str,
    request: Request,
    session: SessionDep,
    settings: SettingsDep,
    _: ReaderDep,
    cursor: Annotated[str | None, Query(description="`next` of the previous page")] = None,
    limit: Annotated[int | None, Query(ge=1, le=500)] = None,
) -> Response:
    """The question's elicitations newest first (`created_at`, then `id`, descending): what
    was stated and the fitted distribution; follow `next` for more. If-None-Match: 304."""
    page = elicitations.list_elicitations_of_question(
        session, question_id, cursor, limit or settings.page_size
    )
    return etagged_content(request, "els", page.model_dump(mode="json"))


@router.post("/{question_id}/elicitations/preview", response_model=ElicitationPreviewPublic)
def preview_elicitation(
    question_id: str,
    body: ElicitationCreate,
    session: SessionDep,
    live: LiveDep,
    who: ForecasterDep,
) -> ElicitationPreviewPublic:
    """What posting this elicitation with your key would do to the question's forecast now,
    beside the forecast served (`served`, `change`). The same checks, fit and instant update
    as POST .../elicitations; nothing is written and no refit is queued."""
    return elicitations.preview_elicitation(session, live, who, question_id, body)


@router.post("/{question_id}/elicitations", status_code=201, response_model=ElicitationPublic)
def create_elicitation(
    question_id: str,
    body: ElicitationCreate,
    request: Request,
    session: SessionDep,
    live: LiveDep,
    who: ForecasterDep,
    idem: IdempotencyKeyDep,
) -> JSONResponse:
    """State a probability (optionally with confidence) or quantiles; the forecast updates at once."""
    return written(
        perform_write(
            session, live, who, idem, "POST", request.url.path, body, 201,
            lambda: elicitations.create_elicitation(session, live, who, question_id, body),
        )
    )  # fmt: skip
