"""/v1/evidence: post evidence (instant forecasts of every affected question), preview what it
would do, retract it, read it back (one item, or pages newest recorded first)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Request, Response
from fastapi.responses import JSONResponse

from service.api.deps import (
    ForecasterDep,
    IdempotencyKeyDep,
    JsonBodyDep,
    LiveDep,
    ReaderDep,
    SessionDep,
    SettingsDep,
)
from service.api.responses import PROBLEMS, WRITE_PROBLEMS, etagged_content, written
from service.domain import evidence
from service.domain.writes import perform_write
from service.schemas.evidence import (
    EvidenceCreate,
    EvidenceItemPublic,
    EvidenceItemsPublic,
    EvidencePreviewPublic,
    EvidencePublic,
    EvidenceRetractionCreate,
    EvidenceRetractionPublic,
    RetractionPublic,
)

router = APIRouter(
    prefix="/v1/evidence", tags=["evidence"], responses=WRITE_PROBLEMS, dependencies=[JsonBodyDep]
)


@router.get("", response_model=EvidenceItemsPublic)
def list_evidence(
    request: Request,
    session: SessionDep,
    settings: SettingsDep,
    _: ReaderDep,
    question_id: Annotated[
        str | None, Query(description="only the evidence bearing on this question")
    ] = None,
    cursor: Annotated[str | None, Query(description="`next` of the previous page")] = None,
    limit: Annotated[int | None, Query(ge=1, le=500)] = None,
) -> Response:
    """Evidence newest recorded first (`created_at`, then `id`, descending), each with its
    effects and retraction; follow `next` for more. Send If-None-Match for a 304."""
    page = evidence.list_evidence(session, question_id, cursor, limit or settings.page_size)
    return etagged_content(request, "evs", page.model_dump(mode="json"))


@router.get("/{evidence_id}", response_model=EvidenceItemPublic)
def get_evidence(evidence_id: str, request: Request, session: SessionDep, _: ReaderDep) -> Response:
    """One evidence item: what was posted, its effects and its retraction (null if none).
    Send If-None-Match for a 304; a retraction changes the ETag."""
    item = evidence.get_evidence_item(session, evidence_id)
    return etagged_content(request, "ev", item.model_dump(mode="json"))


@router.post("", status_code=201, response_model=EvidencePublic)
def create_evidence(
    body: EvidenceCreate,
    request: Request,
    session: SessionDep,
    live: LiveDep,
    who: ForecasterDep,
    idem: IdempotencyKeyDep,
) -> JSONResponse:
    """Record evidence; returns the instant forecasts of the questions it bears on."""
    return written(
        perform_write(
            session, live, who, idem, "POST", request.url.path, body, 201,
            lambda: evidence.create_evidence(session, live, who, body),
        )
    )  # fmt: skip


@router.post("/preview", response_model=EvidencePreviewPublic)
def preview_evidence(
    body: EvidenceCreate, session: SessionDep, live: LiveDep, who: ForecasterDep
) -> EvidencePreviewPublic:
    """What posting this evidence would do to the forecasts now, beside the forecasts served
    (`served`, `change`). The same checks and instant update as POST /v1/evidence; nothing
    is written and no refit is queued."""
    return evidence.preview_evidence(session, live, who, body)


@router.post("/{evidence_id}/retraction", status_code=201, response_model=EvidenceRetractionPublic)
def retract_evidence(
    evidence_id: str,
    body: EvidenceRetractionCreate,
    request: Request,
    session: SessionDep,
    live: LiveDep,
    who: ForecasterDep,
    idem: IdempotencyKeyDep,
) -> JSONResponse:
    """Retract evidence (a new record; the evidence stays on file); enqueues a refit."""
    return written(
        perform_write(
            session, live, who, idem, "POST", request.url.path, body, 201,
            lambda: evidence.retract_evidence(session, live, who, evidence_id, body),
        )
    )  # fmt: skip


#: /v1/retractions/{id}: a forecast whose cause is a retraction names it by this id.
retractions = APIRouter(prefix="/v1/retractions", tags=["evidence"], responses=PROBLEMS)


@retractions.get("/{retraction_id}", response_model=RetractionPublic)
def get_retraction(
    retraction_id: str, request: Request, session: SessionDep, _: ReaderDep
) -> Response:
    """One retraction: the evidence it withdrew (`evidence_id`), the reason, who and when.
    Send If-None-Match for a 304."""
    record = evidence.get_retraction(session, retraction_id)
    return etagged_content(request, "rt", record.model_dump(mode="json"))
