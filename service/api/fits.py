"""/v1/fits: a fit's status, diagnostics and inputs."""

from __future__ import annotations

from fastapi import APIRouter

from service.api.deps import ReaderDep, SessionDep
from service.api.responses import PROBLEMS
from service.domain import fits
from service.schemas.fits import FitPublic

router = APIRouter(prefix="/v1/fits", tags=["fits"], responses=PROBLEMS)


@router.get("/latest", response_model=FitPublic)
def get_latest_fit(session: SessionDep, _: ReaderDep) -> FitPublic:
    """The latest published fit (the one forecasts come from)."""
    return fits.get_latest_published_fit(session)


@router.get("/{fit_id}", response_model=FitPublic)
def get_fit(fit_id: str, session: SessionDep, _: ReaderDep) -> FitPublic:
    """One fit: status (running, published, rejected, failed), diagnostics, inputs by id."""
    return fits.get_fit(session, fit_id)
