"""Plots as PNG or SVG (``Accept`` or ``?format=``): questions, all questions, forecasters,
calibration, and a fit's diagnostics. Drawn once per fit and state, then served from memory."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Header, Query, Request, Response

from service.api.deps import LiveDep, ReaderDep, SessionDep, SettingsDep
from service.api.responses import PROBLEMS
from service.api.track_record import GroupQuery, HorizonQuery
from service.domain import plots
from service.domain.plots import Format, Image, PlotCache

IMAGE_RESPONSES: dict[int | str, dict[str, object]] = {
    **PROBLEMS,
    200: {
        "description": "the plot",
        "content": {"image/png": {}, "image/svg+xml": {}},
    },
    406: {"description": "the Accept header asks for neither PNG nor SVG"},
    503: {"description": "no fit has been published yet"},
}

router = APIRouter(tags=["plots"], responses=IMAGE_RESPONSES)


def get_plot_cache(request: Request) -> PlotCache:
    return request.app.state.plots  # type: ignore[no-any-return]


PlotCacheDep = Annotated[PlotCache, Depends(get_plot_cache)]


def get_format(
    format: Annotated[
        str | None, Query(description="`png` or `svg`; default: by `Accept`, else PNG")
    ] = None,
    accept: Annotated[str | None, Header()] = None,
) -> Format:
    return plots.negotiate_format(format, accept)


FormatDep = Annotated[Format, Depends(get_format)]


def image_response(request: Request, image: Image) -> Response:
    headers = {"ETag": image.etag, "Cache-Control": "no-cache", "Vary": "Accept"}
    match = request.headers.get("if-none-match")
    if match and image.etag in [m.strip() for m in match.split(",")]:
        return Response(status_code=304, headers=headers)
    return Response(image.content, media_type=image.media_type, headers=headers)


@router.get("/v1/questions/{question_id}/plots/{kind}", response_class=Response)
def get_question_plot(
    question_id: str,
    kind: Literal["posterior", "history"],
    request: Request,
    session: SessionDep,
    live: LiveDep,
    cache: PlotCacheDep,
    fmt: FormatDep,
    _: ReaderDep,
) -> Response:
    """`posterior`: density of P(yes) now, its 90% interval, the prior beside it.
    `history`: the probability served over time, evidence that moved it marked."""
    if kind == "posterior":
        image = plots.question_posterior_plot(session, live, cache, question_id, fmt)
    else:
        image = plots.question_history_plot(session, cache, question_id, fmt)
    return image_response(request, image)


@router.get("/v1/plots/calibration", response_class=Response)
def get_calibration_plot(
    request: Request,
    session: SessionDep,
    cache: PlotCacheDep,
    fmt: FormatDep,
    _: ReaderDep,
    horizon_days: HorizonQuery = 0.0,
    group: GroupQuery = None,
) -> Response:
    """Reliability of the service's track record: each resolved question's last forecast
    served at least `horizon_days` before it resolved (GET /v1/track-record has the scores)."""
    return image_response(request, plots.calibration_plot(session, cache, fmt, horizon_days, group))


@router.get("/v1/plots/{kind}", response_class=Response)
def get_plot(
    kind: Literal["forest", "forecasters"],
    request: Request,
    session: SessionDep,
    live: LiveDep,
    cache: PlotCacheDep,
    fmt: FormatDep,
    _: ReaderDep,
) -> Response:
    """`forest`: open questions' probabilities and intervals, grouped. `forecasters`: their
    learned bias, extremity and noise."""
    if kind == "forest":
        image = plots.forest_plot(session, live, cache, fmt)
    else:
        image = plots.forecasters_plot(live, cache, fmt)
    return image_response(request, image)


@router.get("/v1/fits/{fit_id}/plots/diagnostics", response_class=Response)
def get_fit_diagnostics_plot(
    fit_id: str,
    request: Request,
    session: SessionDep,
    settings: SettingsDep,
    cache: PlotCacheDep,
    fmt: FormatDep,
    _: ReaderDep,
) -> Response:
    """Rank plots, energy, and R-hat / ESS / divergences of one fit (rejected ones too)."""
    image = plots.fit_diagnostics_plot(session, settings, cache, fit_id, fmt)
    return image_response(request, image)
