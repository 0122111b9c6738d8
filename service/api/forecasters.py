"""/v1/forecasters: how the published fit reads each forecaster, and their record."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Request, Response

from service.api.deps import LiveDep, ReaderDep, SessionDep, SettingsDep
from service.api.responses import PROBLEMS, etagged_content
from service.domain import forecasters
from service.schemas.forecasters import ForecasterPublic, ForecastersPublic

router = APIRouter(prefix="/v1/forecasters", tags=["forecasters"], responses=PROBLEMS)


@router.get("", response_model=ForecastersPublic)
def list_forecasters(
    request: Request,
    session: SessionDep,
    live: LiveDep,
    settings: SettingsDep,
    _: ReaderDep,
    cursor: Annotated[str | None, Query(description="`next` of the previous page")] = None,
    limit: Annotated[int | None, Query(ge=1, le=500)] = None,
) -> Response:
    """Every forecaster (in the published fit, or with an elicitation since) in id order:
    their discrimination, bias and noise as the fit reads them, with 90% intervals, and
    their Brier and log score on resolved questions. Send If-None-Match for a 304."""
    page = forecasters.list_forecasters(session, live, cursor, limit or settings.page_size)
    return etagged_content(request, "fcs", page.model_dump(mode="json"))


@router.get("/{forecaster_id}", response_model=ForecasterPublic)
def get_forecaster(
    forecaster_id: str, request: Request, session: SessionDep, live: LiveDep, _: ReaderDep
) -> Response:
    """One forecaster; one who posted after the published fit has the population's values
    (`in_fit` false) until the next fit reads them."""
    item = forecasters.get_forecaster(session, live, forecaster_id)
    return etagged_content(request, "fc", item.model_dump(mode="json"))
