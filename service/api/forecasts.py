"""/v1/questions/{id}/forecast: the current forecast (ETag), one at a past time, the history,
and what moves it."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Header, Query, Request, Response

from service.api.deps import LiveDep, ReaderDep, SessionDep
from service.api.responses import PROBLEMS, csv_download, etagged
from service.domain import forecasts, influence
from service.schemas.forecasts import ForecastHistoryPublic, ForecastPublic
from service.schemas.influence import ForecastInfluencePublic

router = APIRouter(prefix="/v1/questions", tags=["forecasts"], responses=PROBLEMS)


@router.get("/{question_id}/forecast", response_model=ForecastPublic)
def get_forecast(
    question_id: str,
    request: Request,
    session: SessionDep,
    live: LiveDep,
    _: ReaderDep,
    at: Annotated[datetime | None, Query(description="a past time (ISO 8601)")] = None,
) -> Response:
    """The question's forecast now, or at `at`; send If-None-Match for a 304."""
    if at is None:
        public, etag = forecasts.get_current_forecast(session, question_id)
    else:
        public, etag = forecasts.get_forecast_at(session, live, question_id, at)
    return etagged(request, public.model_dump(mode="json"), etag)


@router.get(
    "/{question_id}/forecast/history",
    response_model=ForecastHistoryPublic,
    responses={200: {"content": {"text/csv": {}}}},
)
def get_forecast_history(
    question_id: str,
    request: Request,
    session: SessionDep,
    _: ReaderDep,
    since: datetime | None = None,
    until: datetime | None = None,
    limit: Annotated[int, Query(ge=1, le=5000)] = 1000,
    format: Annotated[
        Literal["json", "csv"] | None,
        Query(description="`json` or `csv` (a download); default: by `Accept`, else JSON"),
    ] = None,
    accept: Annotated[str | None, Header()] = None,
) -> Response:
    """Every forecast served for the question, oldest first, each with its cause."""
    history = forecasts.get_forecast_history(session, question_id, since, until, limit)
    last = history.items[-1].event_id if history.items else 0
    as_csv = format == "csv" or (format is None and "text/csv" in (accept or ""))
    etag = f'"fhh-{question_id}-{last}-{since}-{until}-{limit}-{int(as_csv)}"'.replace(" ", "_")
    if as_csv:
        text = forecasts.history_csv(history)
        return csv_download(request, text, f"{question_id}-history.csv", etag)
    return etagged(request, history.model_dump(mode="json"), etag)


def get_influence_cache(request: Request) -> influence.InfluenceCache:
    return request.app.state.influence  # type: ignore[no-any-return]


@router.get("/{question_id}/forecast/influence", response_model=ForecastInfluencePublic)
def get_forecast_influence(
    question_id: str,
    request: Request,
    session: SessionDep,
    live: LiveDep,
    _: ReaderDep,
    cache: Annotated[influence.InfluenceCache, Depends(get_influence_cache)],
) -> Response:
    """What moves an open question's forecast: each elicitation and evidence item left out
    in turn (the probability without it, and its pull), and the question's group before any
    of them. Computed once per state of the forecasts; send If-None-Match for a 304."""
    public, etag = influence.question_influence(session, live, cache, question_id)
    return etagged(request, public.model_dump(mode="json"), etag)
