"""/v1/fits: a fit's status, diagnostics and inputs."""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import FileResponse

from service.api.deps import ReaderDep, SessionDep, SettingsDep
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


@router.get(
    "/{fit_id}/posterior.nc",
    response_class=FileResponse,
    responses={200: {"content": {"application/x-netcdf": {}}}},
)
def download_fit_posterior(
    fit_id: str, session: SessionDep, settings: SettingsDep, _: ReaderDep
) -> FileResponse:
    """The fit's posterior as NetCDF (`arviz.from_netcdf` opens it): groups `posterior`
    (incl. `probability`, P(yes) per question) and `sample_stats`; the root attributes hold
    the model version, hashes, sampler settings, diagnostics and the inputs (JSON)."""
    row = fits.get_fit_or_404(session, fit_id)
    path = fits.fit_artifact_path(settings, row)
    return FileResponse(
        path,
        media_type="application/x-netcdf",
        filename=f"helsinki-{row.id}.nc",
        headers={"ETag": f'"nc-{row.artifact_sha256 or row.id}"'},
    )
