"""/v1/elicitations/{id}: one elicitation read back (they are posted on a question)."""

from __future__ import annotations

from fastapi import APIRouter, Request, Response

from service.api.deps import ReaderDep, SessionDep
from service.api.responses import PROBLEMS, etagged_content
from service.domain import elicitations
from service.schemas.elicitations import ElicitationRecordPublic

router = APIRouter(prefix="/v1/elicitations", tags=["elicitations"], responses=PROBLEMS)


@router.get("/{elicitation_id}", response_model=ElicitationRecordPublic)
def get_elicitation(
    elicitation_id: str, request: Request, session: SessionDep, _: ReaderDep
) -> Response:
    """One elicitation: who stated what (a probability and confidence, or quantiles), the
    fitted distribution stored when it was posted, and when. If-None-Match gives a 304."""
    record = elicitations.get_elicitation(session, elicitation_id)
    return etagged_content(request, "el", record.model_dump(mode="json"))
