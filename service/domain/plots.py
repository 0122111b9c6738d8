"""Plots for analysts: what each one shows is chosen here, drawn by ``models.plots``.

Rendering is slow (0.2-2 s) next to everything else the API does, so:

- routes are plain ``def`` functions, which FastAPI runs in its thread pool: a render never
  blocks the event loop;
- every image is cached in memory under a key naming the state it shows (the fit and the
  number of instant updates since it, the last history row, ...), so a plot is drawn once
  per fit and state and then served from memory, with an ETag;
- matplotlib is not thread-safe, so renders take one lock (a second request for the same
  plot waits and then finds it in the cache).
"""

from __future__ import annotations

import hashlib
import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

import numpy as np
from sqlalchemy.orm import Session

from models.forecast_model import Diagnostics
from service.domain.fits import fit_artifact_path, get_fit_or_404
from service.domain.forecasts import get_question_or_404
from service.domain.lru import Lru
from service.domain.track_record import scored_questions, served_before
from service.errors import Conflict, InvalidInput, NoPublishedFit
from service.live import LiveForecasts, state_key
from service.settings import Settings
from service.store.repositories import (
    EvidenceRepository,
    ForecastHistoryRepository,
    QuestionRepository,
)
from service.store.tables import FitRow

Format = Literal["png", "svg"]
MEDIA_TYPES: dict[str, str] = {"png": "image/png", "svg": "image/svg+xml"}


@dataclass(frozen=True)
class Image:
    content: bytes
    media_type: str
    etag: str


class PlotCache(Lru[tuple[str, ...], Image]):
    """A small LRU of rendered images, and the one lock renders take."""

    def __init__(self, max_entries: int = 256) -> None:
        super().__init__(max_entries)
        self.render_lock = threading.Lock()
        self.renders = 0

    def image(self, key: tuple[str, ...], fmt: Format, draw: Callable[[], Any]) -> Image:
        """The cached image under ``key`` in ``fmt``, drawn by ``draw()`` (a Figure) if new."""
        full = (*key, fmt)
        cached = self.get(full)
        if cached is not None:
            return cached
        from models.plots import render

        with self.render_lock:
            cached = self.get(full)
            if cached is not None:
                return cached
            content = render(draw(), fmt)
            self.renders += 1
        digest = hashlib.sha256("|".join(full).encode()).hexdigest()[:24]
        image = Image(content, MEDIA_TYPES[fmt], f'"plot-{digest}"')
        self.put(full, image)
        return image


class NotAcceptable(InvalidInput):
    status = 406
    type = "not-acceptable"
    title = "No representation matches the Accept header"


def negotiate_format(format_param: str | None, accept: str | None) -> Format:
    """``?format=`` wins; else the Accept header (SVG if asked for by name, else PNG)."""
    if format_param is not None:
        value = format_param.lower()
        if value not in MEDIA_TYPES:
            raise InvalidInput.at(
                ["query", "format"], f"format must be 'png' or 'svg', not {format_param!r}"
            )
        return value  # type: ignore[return-value]
    if not accept:
        return "png"
    wanted = [part.split(";")[0].strip().lower() for part in accept.split(",")]
    for media in wanted:
        if media == "image/svg+xml":
            return "svg"
        if media in ("image/png", "image/*", "*/*"):
            return "png"
    raise NotAcceptable(
        f"plots are image/png or image/svg+xml; the Accept header asked for {accept!r} "
        "(or use ?format=png|svg)"
    )


def _live_posterior(live: LiveForecasts) -> Any:
    with live.lock:
        current, base = live.current, live.base
    if current is None or base is None:
        raise NoPublishedFit(
            "no fit has been published yet, so there is nothing to plot; the worker runs one "
            "at first start (see GET /v1/fits/latest)"
        )
    return current, base


# -- one question -----------------------------------------------------------------------------
def question_posterior_plot(
    session: Session, live: LiveForecasts, cache: PlotCache, question_id: str, fmt: Format
) -> Image:
    """Density of P(yes) now with its 90% interval, the model's prior beside it."""
    question = get_question_or_404(session, question_id)
    current, _ = _live_posterior(live)
    if question_id not in current.question_ids:
        raise NoPublishedFit(
            f"question {question_id!r} is not in the published fit yet; it is in the next one"
        )

    def draw() -> Any:
        from models.plots import posterior_figure, prior_probability_draws

        draws = current.probability_draws([question_id])[:, 0]
        weights = None if current.log_weights is None else current.weights
        prior = prior_probability_draws(current.config)
        return posterior_figure(draws, weights, prior, title=question.title)

    return cache.image(("posterior", question_id, state_key(current)), fmt, draw)


def question_history_plot(
    session: Session, cache: PlotCache, question_id: str, fmt: Format
) -> Image:
    """The probability served over time, evidence that moved it marked and labelled."""
    question = get_question_or_404(session, question_id)
    rows = ForecastHistoryRepository(session).list_of_question_between(
        question_id, None, None, 100_000
    )
    if not rows:
        raise NoPublishedFit(
            f"question {question_id!r} has no forecast history yet: it starts with the first "
            "published fit"
        )
    evidence = EvidenceRepository(session)
    events: list[tuple[datetime, str]] = []
    for row in rows:
        if row.cause_type != "evidence":
            continue
        ev = evidence.get_by_id(row.cause_id)
        if ev is None:
            continue
        ratios = {
            e.question_id: e.likelihood_ratio for e in evidence.list_effects_of_evidence(ev.id)
        }
        ratio = ratios.get(question_id)
        label = ev.title if ratio is None else f"{ev.title} (LR {ratio:g})"
        events.append((row.computed_at, label))

    def draw() -> Any:
        from models.plots import history_figure

        return history_figure(
            [r.computed_at for r in rows],
            np.array([r.probability for r in rows]),
            np.array([r.interval_low for r in rows]),
            np.array([r.interval_high for r in rows]),
            events,
            title=question.title,
        )

    return cache.image(("history", question_id, str(rows[-1].id)), fmt, draw)


# -- all questions ----------------------------------------------------------------------------
def forest_plot(session: Session, live: LiveForecasts, cache: PlotCache, fmt: Format) -> Image:
    """Every open question's probability and 90% interval, grouped."""
    _live_posterior(live)
    questions = [q for q in QuestionRepository(session).list_not_annulled() if q.status == "open"]
    latest = ForecastHistoryRepository(session).get_latest_of_questions([q.id for q in questions])
    shown = [q for q in questions if q.id in latest]
    if not shown:
        raise NoPublishedFit("no open question has a forecast yet")
    shown.sort(key=lambda q: (q.group, q.id))
    key = ",".join(str(latest[q.id].id) for q in shown)

    def draw() -> Any:
        from models.plots import ForestRow, forest_figure

        return forest_figure(
            [
                ForestRow(
                    label=q.title if len(q.title) <= 60 else q.title[:57] + "...",
                    group=q.group,
                    probability=latest[q.id].probability,
                    low=latest[q.id].interval_low,
                    high=latest[q.id].interval_high,
                )
                for q in shown
            ]
        )

    digest = hashlib.sha256(key.encode()).hexdigest()[:16]
    return cache.image(("forest", digest), fmt, draw)


def forecasters_plot(live: LiveForecasts, cache: PlotCache, fmt: Format) -> Image:
    """The forecasters' learned discrimination, bias and noise, as the published fit has them."""
    _, base = _live_posterior(live)

    def draw() -> Any:
        from models.plots import forecasters_figure

        return forecasters_figure(base)

    return cache.image(("forecasters", base.fit_id), fmt, draw)


def calibration_plot(
    session: Session,
    cache: PlotCache,
    fmt: Format,
    horizon_days: float = 0.0,
    group: str | None = None,
) -> Image:
    """Reliability diagram of the service's track record (``track_record``): each resolved
    question's last forecast served at least ``horizon_days`` before it resolved."""
    record = scored_questions(session, horizon_days, group)
    if not record.items:
        raise Conflict(
            f"no resolved question has a forecast served {served_before(horizon_days)}"
            + (f" in group {group!r}" if group else "")
            + " yet, so there is no record to calibrate; resolve questions with "
            "POST /v1/questions/{id}/resolution"
        )
    key = hashlib.sha256(
        "|".join(
            f"{i.question_id}:{i.forecast.probability!r}:{i.outcome}" for i in record.items
        ).encode()
    ).hexdigest()[:16]
    label = (
        "last forecast before resolution"
        if horizon_days == 0
        else (f"last forecast {horizon_days:g}+ days before resolution")
    )
    scope = f" in {group}" if group else ""

    def draw() -> Any:
        from models.plots import reliability_figure

        probs = np.array([i.forecast.probability for i in record.items])
        outcomes = np.array([i.outcome for i in record.items], dtype=float)
        return reliability_figure(
            [(f"Helsinki ({label})", probs, outcomes)],
            title=f"Calibration on {len(record.items)} resolved questions{scope}",
        )

    return cache.image(("calibration", key, label, scope), fmt, draw)


# -- one fit ----------------------------------------------------------------------------------
def _diagnostics_of(row: FitRow) -> Diagnostics:
    raw = dict(row.diagnostics or {})
    fields = Diagnostics.__dataclass_fields__
    values: dict[str, Any] = {k: v for k, v in raw.items() if k in fields}
    values["reasons"] = tuple(values.get("reasons") or ())
    for name in ("max_rhat", "min_ess_bulk", "max_rhat_all", "sampling_seconds"):
        if values.get(name) is None:
            values[name] = float("nan")
    values.setdefault("divergences", 0)
    values.setdefault("publishable", row.status == "published")
    return Diagnostics(**values)


def fit_diagnostics_plot(
    session: Session, settings: Settings, cache: PlotCache, fit_id: str, fmt: Format
) -> Image:
    """Rank plots, energy, and the R-hat / ESS / divergence summary of one fit."""
    row = get_fit_or_404(session, fit_id)
    path = fit_artifact_path(settings, row)
    diagnostics = _diagnostics_of(row)

    def draw() -> Any:
        import xarray as xr

        from models.plots import diagnostics_figure

        tree = xr.open_datatree(path, engine="h5netcdf").load()
        return diagnostics_figure(tree, diagnostics)

    return cache.image(("diagnostics", row.id, row.artifact_sha256 or ""), fmt, draw)
