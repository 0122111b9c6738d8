"""/v1/evidence: post evidence (instant forecasts of every affected question), retract it."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

from service.api.deps import ForecasterDep, IdempotencyKeyDep, JsonBodyDep, LiveDep, SessionDep
from service.api.responses import WRITE_PROBLEMS, written
from service.domain import evidence
from service.domain.writes import perform_write
from service.schemas.evidence import (
    EvidenceCreate,
    EvidencePublic,
    EvidenceRetractionCreate,
    EvidenceRetractionPublic,
)

router = APIRouter(
    prefix="/v1/evidence", tags=["evidence"], responses=WRITE_PROBLEMS, dependencies=[JsonBodyDep]
)


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
