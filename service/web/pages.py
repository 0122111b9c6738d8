"""The dashboard's pages: the question list (/), a question (/questions/{id}), the track record
(/track-record), the forecasters (/forecasters), the fits (/fits).

Server-rendered HTML (Jinja2, autoescaped) that reads through ``views.py``; the forms on the
question page post JSON to the API with ``fetch`` (``static/dashboard.js``). The pages are
for anonymous browsers, so they follow ``HELSINKI_PUBLIC_READS``: when it is false every
page is a 401 saying so (a browser cannot send the API's bearer key on a link).
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse
from fastapi.staticfiles import StaticFiles
from fastapi.templating import Jinja2Templates

from models.constants import RELIABILITY_CLASSES
from models.evidence import VERBAL_LIKELIHOOD_RATIOS
from service.api.deps import LiveDep, SessionDep, SettingsDep
from service.domain import forecasters, influence, track_record
from service.errors import InvalidInput, NoPublishedFit, NotFound
from service.web import views

HERE = Path(__file__).resolve().parent
STATIC_DIR = HERE / "static"

router = APIRouter(include_in_schema=False)
templates = Jinja2Templates(directory=HERE / "templates")


# --- how numbers and times are shown (the tests and dashboard.js format the same way) ---


def percent(p: float | None) -> str:
    """0.2345 -> '23.5%'; None -> an em dash."""
    return "—" if p is None else f"{100 * p:.1f}%"


def percent_interval(interval: tuple[float, float] | list[float] | None) -> str:
    """(0.05, 0.52) -> '5.0–52.0%'."""
    if interval is None:
        return "—"
    low, high = interval
    return f"{100 * low:.1f}–{100 * high:.1f}%"


def points_change(delta: float | None) -> str:
    """A change of probability in percentage points: +3.2 pp, −1.0 pp (a real minus sign)."""
    if delta is None:
        return "—"
    value = 100 * delta
    if round(value, 1) == 0:
        return "0.0 pp"
    return f"+{value:.1f} pp" if value > 0 else f"−{-value:.1f} pp"


def utc_time(when: datetime | None) -> str:
    if when is None:
        return "—"
    return when.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC")


def utc_date(when: datetime | None) -> str:
    return "—" if when is None else when.astimezone(UTC).strftime("%Y-%m-%d")


def number(x: float | None, digits: int = 3) -> str:
    """Significant digits, for diagnostics and likelihood ratios."""
    return "—" if x is None else f"{x:.{digits}g}"


templates.env.filters.update(
    percent=percent,
    percent_interval=percent_interval,
    points_change=points_change,
    utc_time=utc_time,
    utc_date=utc_date,
    number=number,
)


def static_files() -> StaticFiles:
    """The stylesheet and script, to mount at /static."""
    return StaticFiles(directory=STATIC_DIR)


def _page(request: Request, name: str, status_code: int = 200, **context: Any) -> HTMLResponse:
    return templates.TemplateResponse(request, name, context, status_code=status_code)


def _needs_public_reads(request: Request) -> HTMLResponse:
    response = _page(request, "needs_public_reads.html", status_code=401)
    response.headers["WWW-Authenticate"] = "Bearer"
    return response


#: The question list's filter: a status, or every question.
QUESTION_STATUSES = ("open", "resolved", "annulled", "all")


@router.get("/", response_class=HTMLResponse)
def question_list_page(
    request: Request,
    session: SessionDep,
    settings: SettingsDep,
    sort: Annotated[str | None, Query()] = None,
    status: Annotated[str | None, Query()] = None,
    q: Annotated[str | None, Query(max_length=200)] = None,
) -> HTMLResponse:
    """The questions (open ones unless ``status`` says otherwise; those whose title or id
    contains ``q``, if given) with their forecasts, sparklines and last changes."""
    if not settings.public_reads:
        return _needs_public_reads(request)
    sort = sort if sort in views.SORT_KEYS else None
    status = status if status in QUESTION_STATUSES else "open"
    text = (q or "").strip()
    rows = views.question_list(session, sort, None if status == "all" else status, text or None)
    return _page(
        request,
        "questions.html",
        rows=rows,
        sort=sort,
        status=status,
        search=text,
        statuses=QUESTION_STATUSES,
        nav="questions",
    )


@router.get("/questions/{question_id}", response_class=HTMLResponse)
def question_page(
    question_id: str, request: Request, session: SessionDep, settings: SettingsDep, live: LiveDep
) -> HTMLResponse:
    """One question: forecast, plots, what moves it, evidence, elicitations, and the forms to
    add to them."""
    if not settings.public_reads:
        return _needs_public_reads(request)
    try:
        page = views.question_page(session, question_id)
    except NotFound as exc:
        return _page(request, "not_found.html", status_code=404, detail=str(exc))
    moves = None
    if page.question.status == "open":
        try:
            moves, _ = influence.question_influence(
                session, live, request.app.state.influence, question_id
            )
        except NoPublishedFit:
            moves = None  # not in a published fit yet: nothing to leave out
    return _page(
        request,
        "question.html",
        page=page,
        influence=moves,
        q=page.question,
        forecast=page.question.forecast,
        reliability_classes=RELIABILITY_CLASSES,
        strengths=list(VERBAL_LIKELIHOOD_RATIOS.items()),
        now=datetime.now(UTC).strftime("%Y-%m-%dT%H:%M"),
        nav="questions",
    )


@router.get("/fits", response_class=HTMLResponse)
def fits_page(request: Request, session: SessionDep, settings: SettingsDep) -> HTMLResponse:
    """The latest fits, published or not, with their diagnostics and reasons."""
    if not settings.public_reads:
        return _needs_public_reads(request)
    fits = views.latest_fits(session)
    return _page(request, "fits.html", fits=fits, limit=views.FITS_SHOWN, nav="fits")


#: The horizons the track record page offers (any other comes from a link and is shown too).
TRACK_RECORD_HORIZONS = (0, 7, 30, 90)


@router.get("/track-record", response_class=HTMLResponse)
def track_record_page(
    request: Request,
    session: SessionDep,
    settings: SettingsDep,
    horizon_days: Annotated[float, Query(ge=0, le=track_record.MAX_HORIZON_DAYS)] = 0.0,
    group: Annotated[str | None, Query()] = None,
) -> HTMLResponse:
    """The service's scores on resolved questions, against the crowd of its elicitations."""
    if not settings.public_reads:
        return _needs_public_reads(request)
    group = group or None
    try:
        record = track_record.track_record(session, horizon_days, group)
    except InvalidInput as exc:
        return _page(request, "not_found.html", status_code=404, detail=str(exc))
    query = urlencode({"horizon_days": f"{horizon_days:g}", **({"group": group} if group else {})})
    horizons = sorted({*TRACK_RECORD_HORIZONS, horizon_days})
    return _page(
        request,
        "track_record.html",
        record=record,
        by_horizon=track_record.by_horizon(session, TRACK_RECORD_HORIZONS, group),
        groups=views.groups(session),
        horizons=[int(h) if float(h).is_integer() else h for h in horizons],
        json_url=f"/v1/track-record?{query}",
        plot_url=f"/v1/plots/calibration?format=svg&{query}",
        nav="track-record",
    )


@router.get("/forecasters", response_class=HTMLResponse)
def forecasters_page(
    request: Request, session: SessionDep, settings: SettingsDep, live: LiveDep
) -> HTMLResponse:
    """Every forecaster as the published fit reads them, with their record."""
    if not settings.public_reads:
        return _needs_public_reads(request)
    try:
        page = forecasters.all_forecasters(session, live)
    except NoPublishedFit as exc:
        return _page(
            request, "not_found.html", status_code=503, detail=str(exc), heading="No fit yet"
        )
    return _page(request, "forecasters.html", page=page, nav="forecasters")
