"""/v1/track-record: the service's forecasts on resolved questions, scored and compared with
the crowd of their elicitations."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Header, Query, Request, Response

from service.api.deps import ReaderDep, SessionDep
from service.api.responses import PROBLEMS, content_etag, csv_download, etagged_content
from service.domain import track_record
from service.schemas.track_record import TrackRecordPublic

router = APIRouter(tags=["track record"], responses=PROBLEMS)

HorizonQuery = Annotated[
    float,
    Query(
        ge=0,
        le=track_record.MAX_HORIZON_DAYS,
        description="score each question on the last forecast served at least this many days "
        "before it resolved (0: the last one before it resolved)",
    ),
]
GroupQuery = Annotated[str | None, Query(description="only the questions of this group")]


@router.get(
    "/v1/track-record",
    response_model=TrackRecordPublic,
    responses={200: {"content": {"text/csv": {}}}},
)
def get_track_record(
    request: Request,
    session: SessionDep,
    _: ReaderDep,
    horizon_days: HorizonQuery = 0.0,
    group: GroupQuery = None,
    format: Annotated[
        Literal["json", "csv"] | None,
        Query(
            description="`json` or `csv` (the scored questions, a download); default: by "
            "`Accept`, else JSON"
        ),
    ] = None,
    accept: Annotated[str | None, Header()] = None,
) -> Response:
    """Every resolved question scored on the forecast the service served before it resolved:
    Brier, log score, calibration (ECE with a check against chance) and reliability bins,
    and the same questions scored for the mean log-odds of their elicitations, with
    bootstrap intervals on the differences. Send If-None-Match for a 304."""
    record = track_record.track_record(session, horizon_days, group)
    if format == "csv" or (format is None and "text/csv" in (accept or "")):
        text = track_record.track_record_csv(record)
        return csv_download(request, text, "track-record.csv", content_etag("trc", text))
    return etagged_content(request, "tr", record.model_dump(mode="json"))
