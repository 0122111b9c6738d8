"""Analyst plots: pure functions from posteriors, histories and scores to matplotlib Figures.

Every plotting function builds a new :class:`matplotlib.figure.Figure` (never through
pyplot, never shown, nothing global left behind) and returns it; :func:`render` turns one
into PNG or SVG bytes and closes it. Nothing here samples or touches the service.

Decisions worth knowing:

* **ArviZ where it fits, matplotlib elsewhere.** Densities (``plot_dist``), the forecaster
  forest (``plot_forest``), rank plots (``plot_rank``) and the energy plot (``plot_energy``)
  come from arviz_plots; history, question forest, reliability and the text panels are
  plain matplotlib.
* **One Figure per plot, composed by us.** arviz_plots' batteries-included functions make
  their own pyplot figure unless given a ``plot_collection``. We hand each one a
  :class:`arviz_plots.PlotCollection` built on axes of *our* figure (or subfigure), with a
  ``viz`` tree in the documented layout (``figure``, ``plot``, ``row_index``,
  ``col_index``), so several arviz plots and matplotlib panels share one Figure.
* **Weighted draws are resampled for the density, not for the numbers.** Draws of an
  instant update carry importance weights. The density curve is a KDE of a systematic
  resample by weight (fixed seed :data:`RESAMPLE_SEED`, as many draws as given), because
  arviz_plots' KDE takes no weights. The mean and the central interval printed on the plot
  are computed from the weighted draws themselves, exactly as ``Posterior.predict`` does,
  so the plot shows the numbers the API serves. The forecaster forest does the same: its
  intervals are weighted quantiles when the posterior has weights.
* **The prior is the model's, for a question with nothing on it.** ``mu_global`` from the
  base-rate prior, a group offset with a HalfNormal(``group_sd``) spread, the question's
  deviation with a HalfNormal(``question_sd``) spread (a new group and question, as in
  ``build_model`` with several groups); no forecasts, no evidence.
* **Text stays text.** :func:`render` writes SVG with ``svg.fonttype = 'none'`` (labels are
  searchable ``<text>``) and a fixed hash salt and no date, so the same figure gives the
  same bytes (the service caches per fit).
"""

from __future__ import annotations

import io
import math
import textwrap
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any, Literal

import matplotlib as mpl
import numpy as np
import xarray as xr
from matplotlib.figure import Figure, SubFigure
from numpy.typing import ArrayLike
from scipy.special import expit

from models.config import ModelConfig
from models.constants import FORECASTER_DIM, INTERVAL_PROB
from models.exceptions import DataError
from models.forecast_model import (
    POPULATION_PARAMETERS,
    Diagnostics,
    Posterior,
    _weighted_quantiles,
)
from models.scoring import brier, expected_calibration_error, reliability_table
from models.topics import describe as describe_topic_terms

if TYPE_CHECKING:
    from arviz_plots import PlotCollection
    from matplotlib.axes import Axes

#: Resolution of PNG output.
PNG_DPI = 110

#: Seed of the resampling of weighted draws before a density is drawn.
RESAMPLE_SEED = 0

#: Population-level parameters shown in the rank plots of a fit, when present.
POPULATION_VARS = (*POPULATION_PARAMETERS, "w")

POSTERIOR_COLOR = "#1f77b4"
PRIOR_COLOR = "#8c8c8c"
EVENT_COLOR = "#b5532a"
GOOD_COLOR = "#2a7f3b"
BAD_COLOR = "#b22222"
#: Matplotlib's default cycle, for groups and series.
SERIES_COLORS = ("#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2")

#: Applied while a figure is built: quieter frames, a readable base size.
_STYLE: dict[Any, Any] = {
    "axes.spines.top": False,
    "axes.spines.right": False,
    "font.size": 9,
    "axes.titlesize": 10,
    "figure.titlesize": 11,
    "legend.fontsize": 8,
    # Titles and labels are people's text: "$5bn by 2027 or $3bn" is not mathtext.
    "text.parse_math": False,
}


# --------------------------------------------------------------------------------------
# Output
# --------------------------------------------------------------------------------------


def render(fig: Figure, fmt: Literal["png", "svg"]) -> bytes:
    """Save ``fig`` as PNG or SVG bytes, then close it.

    Parameters
    ----------
    fig : Figure
        A figure from one of this module's functions (or any matplotlib figure).
    fmt : {"png", "svg"}
        PNG at :data:`PNG_DPI` dots per inch, or SVG with text kept as text.

    Returns
    -------
    bytes
        The encoded image. The same figure renders to the same bytes.
    """
    import matplotlib.pyplot as plt

    try:
        if fmt not in ("png", "svg"):
            raise ValueError(f"format must be 'png' or 'svg', got {fmt!r}")
        buffer = io.BytesIO()
        with mpl.rc_context({"svg.fonttype": "none", "svg.hashsalt": "helsinki"}):
            if fmt == "png":
                fig.savefig(buffer, format="png", dpi=PNG_DPI, bbox_inches="tight", pad_inches=0.15)
            else:
                fig.savefig(
                    buffer,
                    format="svg",
                    bbox_inches="tight",
                    pad_inches=0.15,
                    metadata={"Date": None},
                )
        return buffer.getvalue()
    finally:
        # A no-op for figures made with Figure(); releases pyplot's hold on any other.
        plt.close(fig)


# --------------------------------------------------------------------------------------
# Helpers
# --------------------------------------------------------------------------------------


def _probabilities(values: ArrayLike, what: str) -> np.ndarray:
    arr = np.asarray(values, dtype=np.float64).ravel()
    if arr.size == 0:
        raise DataError(f"{what}: no values")
    if not np.all((arr >= 0.0) & (arr <= 1.0)):  # also rejects NaN
        raise DataError(f"{what}: values must be probabilities in [0, 1]")
    return arr


def _normalised_weights(weights: ArrayLike | None, n: int) -> np.ndarray:
    if weights is None:
        return np.full(n, 1.0 / n)
    w = np.asarray(weights, dtype=np.float64).ravel()
    if w.shape != (n,):
        raise DataError(f"{n} draws but {w.size} weights")
    if not np.all(np.isfinite(w)) or np.any(w < 0) or w.sum() <= 0:
        raise DataError("weights must be finite, non-negative and not all zero")
    return w / w.sum()


def _resample(values: np.ndarray, weights: np.ndarray, seed: int = RESAMPLE_SEED) -> np.ndarray:
    """Systematic resampling: ``len(values)`` draws, each kept about ``n * weight`` times."""
    n = values.size
    positions = (np.random.default_rng(seed).random() + np.arange(n)) / n
    cumulative = np.cumsum(weights)
    cumulative[-1] = 1.0
    return values[np.searchsorted(cumulative, positions, side="right").clip(0, n - 1)]


def _weighted_bandwidth(values: np.ndarray, weights: np.ndarray) -> float:
    """Silverman's rule with the effective sample size of the weights.

    A resample of weighted draws repeats the heavy ones; arviz's bandwidth rules would read
    the repeats as data and draw spurious modes. With ``n_eff = 1 / sum(w^2)`` the smoothing
    matches the information the weights actually carry.
    """
    mean = float(weights @ values)
    sd = math.sqrt(float(weights @ (values - mean) ** 2))
    q25, q75 = _weighted_quantiles(values, weights, [0.25, 0.75])
    spread = min(sd, float(q75 - q25) / 1.349) or sd
    n_eff = 1.0 / float(np.sum(weights**2))
    return max(0.9 * spread * n_eff**-0.2, 1e-4)


def _fmt_p(p: float) -> str:
    """A probability for people: two decimals, three near 0 and 1."""
    return f"{p:.2f}" if 0.01 <= p <= 0.99 else f"{p:.3f}"


def _shorten(text: str, width: int) -> str:
    """At most ``width`` characters; a trailing parenthesis (``"(LR 2.0)"``) is kept whole."""
    if len(text) <= width:
        return text
    head, sep, tail = text.rpartition(" (")
    if sep and text.endswith(")") and len(tail) + 2 <= width // 2:
        tail = sep + tail
        return head[: width - len(tail) - 1].rstrip() + "…" + tail
    return text[: width - 1].rstrip() + "…"


def _interval_bounds(interval_prob: float) -> tuple[float, float]:
    if not 0.0 < interval_prob < 1.0:
        raise DataError(f"interval_prob must be in (0, 1), got {interval_prob}")
    tail = (1.0 - interval_prob) / 2.0
    return tail, 1.0 - tail


def _note(ax: Axes, text: str) -> None:
    """An empty panel that says why it is empty."""
    ax.set_axis_off()
    ax.text(0.5, 0.5, text, ha="center", va="center", transform=ax.transAxes, color="0.35")


def _object_array(items: Sequence[Any]) -> np.ndarray:
    out = np.empty(len(items), dtype=object)
    out[:] = list(items)
    return out


def _collection_by_variable(
    data: xr.Dataset,
    figure: Figure | SubFigure,
    targets: Mapping[str, Axes],
    positions: Mapping[str, tuple[int, int]],
    **aes_kwargs: Any,
) -> PlotCollection:
    """A PlotCollection drawing each variable of ``data`` on its own axes of our figure."""
    from arviz_plots import PlotCollection

    def scalar(value: Any) -> tuple[tuple[()], np.ndarray]:
        cell = np.empty((), dtype=object)
        cell[()] = value
        return ((), cell)

    viz = xr.DataTree.from_dict(
        {
            "/": xr.Dataset({"figure": scalar(figure)}),
            "plot": xr.Dataset({v: scalar(targets[str(v)]) for v in data.data_vars}),
            "row_index": xr.Dataset({v: ((), positions[str(v)][0]) for v in data.data_vars}),
            "col_index": xr.Dataset({v: ((), positions[str(v)][1]) for v in data.data_vars}),
        }
    )
    return PlotCollection(data, viz, backend="matplotlib", **aes_kwargs)


def _collection_by_column(
    data: xr.Dataset,
    figure: Figure | SubFigure,
    targets: Mapping[str, Axes],
    **aes_kwargs: Any,
) -> PlotCollection:
    """A PlotCollection whose ``column`` coordinate picks the axes (arviz's own layout for
    ``plot_forest`` and ``plot_energy``); ``data`` must have that dimension."""
    from arviz_plots import PlotCollection

    columns = list(targets)
    cell = np.empty((), dtype=object)
    cell[()] = figure
    viz = xr.DataTree.from_dict(
        {
            "/": xr.Dataset(
                {
                    "figure": ((), cell),
                    "plot": (("column",), _object_array([targets[c] for c in columns])),
                    "row_index": (("column",), np.zeros(len(columns), dtype=np.int64)),
                    "col_index": (("column",), np.arange(len(columns))),
                },
                coords={"column": columns},
            )
        }
    )
    return PlotCollection(data, viz, backend="matplotlib", **aes_kwargs)


# --------------------------------------------------------------------------------------
# Prior and posterior of one question
# --------------------------------------------------------------------------------------


def prior_probability_draws(config: ModelConfig, n: int = 4000, seed: int = 0) -> np.ndarray:
    """Draws of P(yes) for a new question with no forecasts and no evidence, under the prior.

    Mirrors the question hierarchy of :func:`models.forecast_model.build_model`:
    ``mu_global ~ Normal(base_logit)``, a group offset ``group_sd * z_g`` with
    ``group_sd ~ HalfNormal(question.group_sd)``, the question's deviation ``tau * z_q`` with
    ``tau ~ HalfNormal(question.question_sd)``; ``theta = mu_global + offset + deviation``.

    Parameters
    ----------
    config : ModelConfig
        Its ``question`` priors are used.
    n : int, default 4000
        Number of draws.
    seed : int, default 0
        Seed of the generator; the same seed gives the same draws.

    Returns
    -------
    ndarray of float64, shape (n,)
        ``expit(theta)``, in (0, 1).
    """
    if n < 1:
        raise DataError(f"n must be at least 1, got {n}")
    qp = config.question
    rng = np.random.default_rng(seed)
    mu_global = rng.normal(qp.base_logit.mu, qp.base_logit.sigma, n)
    group_sd = np.abs(rng.normal(0.0, qp.group_sd.sigma, n))
    question_sd = np.abs(rng.normal(0.0, qp.question_sd.sigma, n))
    theta = mu_global + group_sd * rng.standard_normal(n) + question_sd * rng.standard_normal(n)
    return expit(theta)


def _density_curve(
    ax: Axes, figure: Figure, values: np.ndarray, bw: float | None = None, **line: Any
) -> Any:
    """Draw the KDE of ``values`` on ``ax`` with ``arviz_plots.plot_dist``; return its line.

    The density lives on [0, 1] (reflected at both ends); ``bw`` overrides arviz's bandwidth
    rule. ``None`` when the values do not vary (no density to estimate).
    """
    import arviz_plots as azp

    if np.ptp(values) <= 1e-12:
        return None
    kde: dict[str, Any] = {"custom_lims": (0.0, 1.0), "grid_len": 1024}
    if bw is not None:
        kde["bw"] = bw
    data = xr.Dataset({"p": (("chain", "draw"), values[None, :])})
    pc = _collection_by_variable(data, figure, {"p": ax}, {"p": (0, 0)})
    azp.plot_dist(
        xr.DataTree.from_dict({"posterior": data}),
        kind="kde",
        plot_collection=pc,
        stats={"dist": kde},
        visuals={
            "dist": line,
            "credible_interval": False,
            "point_estimate": False,
            "point_estimate_text": False,
            "title": False,
            "remove_axis": False,
        },
    )
    return pc.get_viz("dist", "p")


def posterior_figure(
    draws: np.ndarray,
    weights: np.ndarray | None,
    prior_draws: np.ndarray,
    *,
    title: str,
    interval_prob: float = INTERVAL_PROB,
) -> Figure:
    """Density of a question's P(yes), its central interval and mean, beside the prior.

    Parameters
    ----------
    draws : ndarray, shape (n,)
        Posterior draws of P(yes), e.g. ``Posterior.probability_draws([q])[:, 0]``.
    weights : ndarray, shape (n,), optional
        Importance weights of the draws (an instant update); ``None``: equal. The density is
        a KDE of a systematic resample by weight; mean and interval use the weights exactly.
    prior_draws : ndarray
        Draws of P(yes) under the prior (:func:`prior_probability_draws`).
    title : str
        Figure title (e.g. the question's title).
    interval_prob : float, default 0.9
        Mass of the central interval shaded and printed.

    Returns
    -------
    Figure
    """
    p = _probabilities(draws, "draws")
    w = _normalised_weights(weights, p.size)
    prior = _probabilities(prior_draws, "prior_draws")
    lo_q, hi_q = _interval_bounds(interval_prob)
    lo, hi = (float(x) for x in _weighted_quantiles(p, w, [lo_q, hi_q]))
    mean = float(np.dot(w, p))
    if weights is None:
        shown, bw = p, None
    else:
        shown, bw = _resample(p, w), _weighted_bandwidth(p, w)
    pct = f"{interval_prob:.0%}"
    dark = "#0b3d66"

    with mpl.rc_context(_STYLE):
        fig = Figure(figsize=(7.0, 4.0), layout="constrained")
        ax = fig.subplots()
        top = 0.0
        prior_line = _density_curve(ax, fig, prior, color=PRIOR_COLOR, linestyle="--", width=1.2)
        if prior_line is not None:
            px, py = (np.asarray(a, dtype=float) for a in prior_line.get_data())
            prior_line.set_label("prior (no forecasts, no evidence)")
            ax.fill_between(px, py, color=PRIOR_COLOR, alpha=0.12, linewidth=0)
            top = float(np.max(py))
        post_line = _density_curve(ax, fig, shown, bw, color=POSTERIOR_COLOR, width=2.0)
        if post_line is not None:
            x, y = (np.asarray(a, dtype=float) for a in post_line.get_data())
            post_line.set_label("posterior" + ("" if weights is None else " (importance-weighted)"))
            inside = (x > lo) & (x < hi)
            xi = np.concatenate([[lo], x[inside], [hi]])
            yi = np.interp(xi, x, y)
            ax.fill_between(
                xi,
                yi,
                color=POSTERIOR_COLOR,
                alpha=0.3,
                linewidth=0,
                label=f"{pct} interval {_fmt_p(lo)} – {_fmt_p(hi)}",
            )
            y_lo, y_hi, y_mean = (float(v) for v in np.interp([lo, hi, mean], x, y))
            top = max(top, float(np.max(y)))
        else:
            # Every draw the same value: no density, a spike at it.
            top = top or 1.0
            ax.axvspan(
                lo,
                hi,
                color=POSTERIOR_COLOR,
                alpha=0.3,
                label=f"{pct} interval {_fmt_p(lo)} – {_fmt_p(hi)}",
            )
            y_lo = y_hi = y_mean = top
        ax.vlines(mean, 0.0, y_mean, color=dark, linewidth=1.5, label=f"mean {_fmt_p(mean)}")
        for value, height, side in ((lo, y_lo, -1), (hi, y_hi, 1)):
            ax.annotate(
                _fmt_p(value),
                (value, height),
                xytext=(3 * side, 2),
                textcoords="offset points",
                ha="left" if side > 0 else "right",
                va="bottom",
                fontsize=8,
                color=dark,
            )
        ax.set_xlim(0.0, 1.0)
        ax.set_ylim(0.0, top * 1.15)
        ax.set_yticks([])
        ax.set_xlabel("P(yes)")
        ax.set_ylabel("density")
        ax.set_title(title, loc="left")
        ax.legend(loc="best", framealpha=0.9)
    return fig


# --------------------------------------------------------------------------------------
# History of one question
# --------------------------------------------------------------------------------------


def _event_levels(xs: Sequence[float], min_gap: float, n_levels: int = 3) -> list[int]:
    """Stack markers of events close in time on different levels (greedy, in time order)."""
    last = [-math.inf] * n_levels
    levels = []
    for x in xs:
        free = [i for i in range(n_levels) if x - last[i] >= min_gap]
        level = free[0] if free else int(np.argmin(last))
        last[level] = x
        levels.append(level)
    return levels


def history_figure(
    times: Sequence[datetime],
    probabilities: ArrayLike,
    lows: ArrayLike,
    highs: ArrayLike,
    events: Sequence[tuple[datetime, str]],
    *,
    title: str,
    interval_prob: float = INTERVAL_PROB,
) -> Figure:
    """A question's probability over time as a step line with its interval band, and the
    evidence that moved it as numbered vertical lines, listed under the plot.

    Parameters
    ----------
    times : sequence of datetime
        When each probability was served (at least one).
    probabilities, lows, highs : array_like of float
        The probability and its interval at each time, in [0, 1].
    events : sequence of (datetime, str)
        Evidence items: when, and a label (e.g. ``"EU summit (LR 2.0)"``).
    title : str
    interval_prob : float, default 0.9
        Mass of the band (for its legend label).

    Returns
    -------
    Figure
    """
    import matplotlib.dates as mdates
    import matplotlib.transforms as mtransforms

    n = len(times)
    p = np.asarray(probabilities, dtype=np.float64).ravel()
    lo = np.asarray(lows, dtype=np.float64).ravel()
    hi = np.asarray(highs, dtype=np.float64).ravel()
    if n == 0:
        raise DataError("history: no points")
    if not (p.size == lo.size == hi.size == n):
        raise DataError(f"history: {n} times but {p.size}, {lo.size}, {hi.size} values")
    for arr, what in ((p, "probabilities"), (lo, "lows"), (hi, "highs")):
        _probabilities(arr, what)
    x = np.asarray(mdates.date2num(list(times)), dtype=np.float64)
    order = np.argsort(x, kind="stable")
    x, p, lo, hi = x[order], p[order], lo[order], hi[order]
    ev = sorted(
        ((float(mdates.date2num(when)), label) for when, label in events), key=lambda e: e[0]
    )
    ex = [e[0] for e in ev]

    left = min([x[0], *ex])
    right = max([x[-1], *ex])
    span = right - left
    pad = 1.0 if span == 0 else 0.03 * span
    # Hold the last value to the right edge: it is the current forecast.
    xs = np.append(x, right + pad)
    ext = lambda a: np.append(a, a[-1])  # noqa: E731

    # The events listed under the plot: one column up to 12, then two (labels shortened).
    columns = 1 if len(ev) <= 12 else 2
    per_column = math.ceil(len(ev) / columns)
    list_height = 0.0 if not ev else 0.3 + 0.19 * per_column
    with mpl.rc_context(_STYLE):
        fig = Figure(figsize=(9.0, 4.2 + list_height), layout="constrained")
        if ev:
            ax, ax_list = fig.subplots(2, 1, height_ratios=[4.2, list_height])
        else:
            ax = fig.subplots()
        ax.fill_between(
            xs,
            ext(lo),
            ext(hi),
            step="post",
            color=POSTERIOR_COLOR,
            alpha=0.2,
            linewidth=0,
            label=f"{interval_prob:.0%} interval",
        )
        ax.step(xs, ext(p), where="post", color=POSTERIOR_COLOR, linewidth=1.8, label="P(yes)")
        ax.plot(x, p, "o", color=POSTERIOR_COLOR, markersize=3.5)
        if n == 1:
            ax.errorbar(
                x,
                p,
                yerr=[p - lo, hi - p],
                fmt="none",
                ecolor=POSTERIOR_COLOR,
                capsize=4,
                linewidth=1.2,
            )
        n_levels = 3
        if ev:
            blended = mtransforms.blended_transform_factory(ax.transData, ax.transAxes)
            levels = _event_levels(ex, min_gap=0.025 * (span + 2 * pad), n_levels=n_levels)
            for i, ((xe, _), level) in enumerate(zip(ev, levels, strict=True)):
                ax.axvline(
                    xe,
                    color=EVENT_COLOR,
                    linestyle=":",
                    linewidth=1.1,
                    label="evidence (numbered below)" if i == 0 else None,
                )
                ax.text(
                    xe,
                    1.015 + 0.075 * level,
                    str(i + 1),
                    transform=blended,
                    ha="center",
                    va="bottom",
                    fontsize=7.5,
                    color=EVENT_COLOR,
                    bbox={"boxstyle": "round,pad=0.2", "fc": "white", "ec": EVENT_COLOR, "lw": 0.8},
                    clip_on=False,
                )
            used_levels = max(levels) + 1
        else:
            used_levels = 0
        ax.set_xlim(left - pad, right + pad)
        ax.set_ylim(0.0, 1.0)
        ax.set_ylabel("P(yes)")
        locator = mdates.AutoDateLocator(minticks=3, maxticks=9)
        ax.xaxis.set_major_locator(locator)
        ax.xaxis.set_major_formatter(mdates.ConciseDateFormatter(locator))
        ax.grid(axis="y", color="0.9", linewidth=0.8)
        ax.set_title(title, loc="left", pad=6 + 16 * used_levels)
        ax.legend(loc="best", framealpha=0.9)

        if ev:
            ax_list.set_axis_off()
            width, size = (100, 8.0) if columns == 1 else (46, 7.5)
            for i, (xe, label) in enumerate(ev):
                col, row = divmod(i, per_column)
                when = mdates.num2date(xe).strftime("%Y-%m-%d")
                ax_list.text(
                    0.5 * col,
                    1.0 - (row + 0.5) / per_column,
                    f"{i + 1:>2}  {when}  {_shorten(label, width)}",
                    transform=ax_list.transAxes,
                    ha="left",
                    va="center",
                    fontsize=size,
                    family="monospace",
                    color="0.15",
                )
    return fig


# --------------------------------------------------------------------------------------
# All open questions
# --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ForestRow:
    """One question in :func:`forest_figure`: its label, group, probability and interval."""

    label: str
    group: str
    probability: float
    low: float
    high: float


def forest_figure(
    rows: Sequence[ForestRow],
    *,
    title: str = "Open questions",
    interval_prob: float = INTERVAL_PROB,
) -> Figure:
    """Every question's probability and interval, one row each, grouped by group.

    Groups appear in the order of their first row, each under a bold heading and a rule;
    rows keep their order within a group. The height grows with the number of rows.

    Parameters
    ----------
    rows : sequence of ForestRow
    title : str, default "Open questions"
    interval_prob : float, default 0.9
        Mass of the intervals (for the axis label).

    Returns
    -------
    Figure
    """
    for r in rows:
        for value in (r.probability, r.low, r.high):
            if not 0.0 <= value <= 1.0:
                raise DataError(f"{r.label!r}: probabilities must be in [0, 1]")
    groups: dict[str, list[ForestRow]] = {}
    for r in rows:
        groups.setdefault(r.group, []).append(r)

    n_lines = len(rows) + len(groups)
    with mpl.rc_context(_STYLE):
        fig = Figure(figsize=(9.0, 1.4 + 0.26 * max(n_lines, 2)), layout="constrained")
        ax = fig.subplots()
        if not rows:
            _note(ax, "no open questions")
            ax.set_title(title, loc="left")
            return fig
        ticks: list[float] = []
        labels: list[str] = []
        headings: list[int] = []
        y = 0.0
        for g, (group, members) in enumerate(groups.items()):
            color = SERIES_COLORS[g % len(SERIES_COLORS)]
            if g > 0:
                ax.axhline(y - 0.5, color="0.75", linewidth=0.8)
            headings.append(len(ticks))
            ticks.append(y)
            labels.append(_shorten(group, 50))
            y += 1
            for r in members:
                ax.hlines(y, r.low, r.high, color=color, linewidth=2.2)
                ax.plot(r.probability, y, "o", color=color, markersize=5, mec="white", mew=0.6)
                ax.text(
                    1.02,
                    y,
                    f"{_fmt_p(r.probability)}  [{_fmt_p(r.low)}, {_fmt_p(r.high)}]",
                    transform=ax.get_yaxis_transform(),
                    ha="left",
                    va="center",
                    fontsize=8,
                    color="0.2",
                )
                ticks.append(y)
                labels.append(_shorten(r.label, 60))
                y += 1
        ax.set_yticks(ticks, labels)
        tick_labels = ax.get_yticklabels()
        for g, i in enumerate(headings):
            tick_labels[i].set_fontweight("bold")
            tick_labels[i].set_color(SERIES_COLORS[g % len(SERIES_COLORS)])
        ax.tick_params(axis="y", length=0)
        ax.set_ylim(y - 0.5, -0.7)
        ax.set_xlim(0.0, 1.0)
        ax.set_xticks([0.0, 0.25, 0.5, 0.75, 1.0])
        ax.grid(axis="x", color="0.9", linewidth=0.8)
        ax.spines["left"].set_visible(False)
        tall = n_lines > 25  # scale on top too, and the title above it
        if tall:
            ax.tick_params(axis="x", labeltop=True)
        ax.set_xlabel(f"P(yes): mean and {interval_prob:.0%} interval")
        ax.set_title(title, loc="left", pad=22 if tall else 6)
    return fig


# --------------------------------------------------------------------------------------
# Forecasters
# --------------------------------------------------------------------------------------

_FORECASTER_PANELS = (
    ("alpha", "discrimination α", 1.0, "1: tracks the truth's log-odds"),
    ("beta", "bias β (log-odds)", 0.0, "0: unbiased"),
    ("sigma", "noise σ (log-odds)", None, ""),
)


_ForestStat = Literal["trunk", "twig", "point_estimate"]


def _weighted_forest_stats(
    posterior: Posterior,
    name: str,
    index: np.ndarray,
    labels: list[str],
    probs: tuple[float, float],
) -> dict[_ForestStat, xr.Dataset]:
    """Mean and central intervals of a forecaster variable under the importance weights."""
    wts = posterior.weights
    draws = posterior.draws[name][:, index]
    mean = wts @ draws
    out: dict[_ForestStat, xr.Dataset] = {
        "point_estimate": xr.Dataset(
            {name: ((FORECASTER_DIM,), mean)}, coords={FORECASTER_DIM: labels}
        )
    }
    intervals: tuple[tuple[_ForestStat, float], ...] = (("trunk", probs[0]), ("twig", probs[1]))
    for key, prob in intervals:
        lo_q, hi_q = _interval_bounds(prob)
        bounds = np.array(
            [_weighted_quantiles(draws[:, j], wts, [lo_q, hi_q]) for j in range(len(index))]
        )
        out[key] = xr.Dataset(
            {name: ((FORECASTER_DIM, "ci_bound"), bounds)},
            coords={FORECASTER_DIM: labels, "ci_bound": ["lower", "upper"]},
        )
    return out


def forecasters_figure(
    posterior: Posterior, *, max_forecasters: int = 40, interval_prob: float = INTERVAL_PROB
) -> Figure:
    """Each forecaster's learned discrimination alpha, bias beta and noise sigma.

    Three panels side by side (``arviz_plots.plot_forest``), one row per forecaster labelled
    with its number of forecasts: mean, 50% and ``interval_prob`` intervals. If there are
    more than ``max_forecasters``, those with the most forecasts are shown and the title
    says so. Importance weights of an instant update are honoured.

    Parameters
    ----------
    posterior : Posterior
        Its DataTree must have ``alpha``, ``beta`` and ``sigma`` over the forecaster dim.
    max_forecasters : int, default 40
    interval_prob : float, default 0.9

    Returns
    -------
    Figure
    """
    import arviz_plots as azp

    if max_forecasters < 1:
        raise DataError(f"max_forecasters must be at least 1, got {max_forecasters}")
    post = posterior.posterior["posterior"].to_dataset()
    names = [panel[0] for panel in _FORECASTER_PANELS]
    missing = [v for v in names if v not in post or FORECASTER_DIM not in post[v].dims]
    if missing:
        raise DataError(f"posterior has no {', '.join(missing)} over {FORECASTER_DIM!r}")
    ids = [str(f) for f in post[FORECASTER_DIM].to_numpy()]
    counts = dict.fromkeys(ids, 0)
    for f in posterior.data.forecasts:
        if f.forecaster_id in counts:
            counts[f.forecaster_id] += 1
    # Most forecasts first; ties keep the fit's order.
    ranked = sorted(range(len(ids)), key=lambda j: -counts[ids[j]])
    shown = ranked[:max_forecasters]
    heading = "Forecasters: learned discrimination, bias and noise"
    if len(ids) > len(shown):
        heading += f" (the {len(shown)} with most forecasts, of {len(ids)})"

    with mpl.rc_context(_STYLE):
        n = len(shown)
        fig = Figure(figsize=(11.0, 1.6 + 0.3 * max(n, 3)), layout="constrained")
        fig.suptitle(heading, x=0.01, ha="left")
        if n == 0:
            _note(fig.subplots(), "no forecasters in this fit")
            return fig
        labels = [f"{_shorten(ids[j], 28)} ({counts[ids[j]]})" for j in shown]
        label_width = 0.35 + 0.075 * max(len(label) for label in labels)  # inches, at 9 pt
        axes = fig.subplots(1, 4, sharey=True, width_ratios=[label_width, 3.0, 3.0, 3.0])
        index = np.asarray(shown, dtype=np.int64)
        subset = post[names].isel({FORECASTER_DIM: index}).assign_coords({FORECASTER_DIM: labels})
        probs = (0.5, interval_prob) if interval_prob > 0.5 else (interval_prob / 2, interval_prob)
        weighted = posterior.log_weights is not None
        for k, (name, panel_title, reference, reference_label) in enumerate(_FORECASTER_PANELS):
            ax = axes[k + 1]
            ds = subset[[name]]
            pc = _collection_by_column(
                ds.expand_dims(column=2).assign_coords(column=["labels", "forest"]),
                fig,
                {"labels": axes[0], "forest": ax},
                aes={"y": [FORECASTER_DIM], "overlay": [FORECASTER_DIM]},
                y=list(range(n))[::-1],
            )
            stats: dict[_ForestStat, xr.Dataset] = (
                _weighted_forest_stats(posterior, name, index, labels, probs) if weighted else {}
            )
            azp.plot_forest(
                xr.DataTree.from_dict({"posterior": ds}),
                plot_collection=pc,
                combined=True,
                labels=[FORECASTER_DIM] if k == 0 else [],
                point_estimate="mean",
                ci_kind="eti",
                ci_probs=probs,
                stats=stats,
                visuals={} if k == 0 else {"ticklabels": False},
            )
            if reference is not None:
                ax.axvline(reference, color="0.55", linestyle=":", linewidth=1, zorder=0)
                ax.set_xlabel(reference_label, color="0.35", fontsize=8)
            ax.set_title(panel_title)
            ax.grid(axis="x", color="0.92", linewidth=0.8)
        axes[0].set_ylim(-0.7, n - 0.3)
        axes[0].set_xlim(0.0, 1.0)
        axes[0].set_xticks([])
        axes[0].spines["bottom"].set_visible(False)
        axes[0].set_title("forecaster (forecasts)", loc="left")
        axes[2].set_xlabel(
            axes[2].get_xlabel()
            + f"\npoint: mean; thick: 50%; thin: {interval_prob:.0%} interval"
            + ("; importance-weighted" if weighted else ""),
            color="0.35",
            fontsize=8,
        )
    return fig


# --------------------------------------------------------------------------------------
# Fit diagnostics
# --------------------------------------------------------------------------------------


def _population_dataset(post: xr.Dataset) -> xr.Dataset:
    """The population parameters as scalar-per-draw variables (``w`` split by class)."""
    out: dict[str, xr.DataArray] = {}
    for name in POPULATION_VARS:
        if name not in post:
            continue
        da = post[name]
        extra = [d for d in da.dims if d not in ("chain", "draw")]
        if not extra:
            out[name] = da
            continue
        stacked = da.stack(_element=extra)
        for i in range(stacked.sizes["_element"]):
            element = stacked.isel(_element=i)
            key = ", ".join(str(element[d].item()) for d in extra)
            out[f"{name}[{key}]"] = element.drop_vars([*extra, "_element"])
    return xr.Dataset(out)


def _diagnostics_text(tree: xr.DataTree, diagnostics: Diagnostics) -> str:
    def number(value: float, spec: str) -> str:
        return "n/a" if value is None or not math.isfinite(value) else format(value, spec)

    sizes = tree["posterior"].sizes if "posterior" in tree.children else {}
    lines = [
        f"publishable          {'yes' if diagnostics.publishable else 'NO'}",
        f"max R-hat (P(yes))   {number(diagnostics.max_rhat, '.3f')}",
        f"max R-hat (all)      {number(diagnostics.max_rhat_all, '.3f')}",
        f"min bulk ESS         {number(diagnostics.min_ess_bulk, '.0f')}",
        f"divergences          {diagnostics.divergences}",
        f"chains x draws       {sizes.get('chain', '?')} x {sizes.get('draw', '?')}",
        f"attempts             {diagnostics.attempts}",
        f"sampling             {number(diagnostics.sampling_seconds, '.1f')} s",
    ]
    lines.append("")
    lines.append("topic terms (per group):")
    status = describe_topic_terms(diagnostics.topic_effects, diagnostics.topic_evidence)
    lines.extend(f"  {part}" for part in textwrap.wrap(status, 38))
    if diagnostics.reasons:
        lines.append("")
        lines.append("not publishable because:")
        for reason in diagnostics.reasons:
            wrapped = textwrap.wrap(reason, 38) or [""]
            lines.append(f"- {wrapped[0]}")
            lines.extend(f"  {more}" for more in wrapped[1:])
    return "\n".join(lines)


def diagnostics_figure(tree: xr.DataTree, diagnostics: Diagnostics) -> Figure:
    """Convergence of one fit: rank plots, the energy plot, and the fit's verdict.

    Top: ``arviz_plots.plot_rank`` (fractional-rank ECDF differences per chain, with the
    multi-chain uniformity test's p-value) for each population parameter present
    (:data:`POPULATION_VARS`; ``w`` per reliability class). Bottom left:
    ``arviz_plots.plot_energy`` (marginal and transition energy, BFMI per chain). Bottom
    right: R-hat, ESS, divergences, whether it is publishable and why not. Panels whose
    data are missing (one chain, no energy) say so instead.

    Parameters
    ----------
    tree : xarray.DataTree
        The fit's tree, with ``posterior`` and ``sample_stats`` groups.
    diagnostics : Diagnostics
        The fit's verdict (``Posterior.diagnostics``).

    Returns
    -------
    Figure
    """
    import arviz_plots as azp

    children = set(tree.children)
    post = tree["posterior"].to_dataset() if "posterior" in children else xr.Dataset()
    population = _population_dataset(post)
    n_chains = int(post.sizes.get("chain", 0))
    names = [str(v) for v in population.data_vars]
    n_cols = 4
    ranked = bool(names) and n_chains >= 2
    n_rows = math.ceil(len(names) / n_cols) if ranked else 1
    top_height = 2.3 * n_rows if ranked else 0.6
    fit_id = tree.attrs.get("fit_id") or (
        tree["posterior"].attrs.get("fit_id") if "posterior" in children else None
    )

    with mpl.rc_context(_STYLE):
        fig = Figure(figsize=(13.0, top_height + 3.8), layout="constrained")
        verdict = "publishable" if diagnostics.publishable else "NOT publishable"
        fig.suptitle(
            f"Fit diagnostics{f' of {fit_id}' if fit_id else ''}: {verdict}",
            x=0.01,
            ha="left",
            color=GOOD_COLOR if diagnostics.publishable else BAD_COLOR,
            fontweight="bold",
        )
        top, bottom = fig.subfigures(2, 1, squeeze=False, height_ratios=[top_height, 3.8])[:, 0]
        if ranked:
            axes = top.subplots(n_rows, n_cols, sharex=True, squeeze=False)
            targets = {v: axes.flat[i] for i, v in enumerate(names)}
            positions = {v: divmod(i, n_cols) for i, v in enumerate(names)}
            pc = _collection_by_variable(
                population,
                top,
                targets,
                positions,
                aes={"color": ["chain"], "overlay": ["chain"]},
            )
            azp.plot_rank(xr.DataTree.from_dict({"posterior": population}), plot_collection=pc)
            pc.add_legend("chain", title="chain")
            top.suptitle(
                "Rank plots of the population parameters: ECDF of each chain's fractional ranks"
                " minus uniform (flat near 0 is good; p: uniformity test)",
                x=0.01,
                ha="left",
                fontsize=9,
            )
            for ax in axes.flat[len(names) :]:
                ax.set_axis_off()
        else:
            _note(
                top.subplots(),
                f"no rank plots: they need at least two chains (this fit has {n_chains})"
                if names
                else "no rank plots: no population parameters in the posterior",
            )

        left, right = bottom.subfigures(1, 2, squeeze=False, width_ratios=[2.2, 1.0])[0]
        stats = tree["sample_stats"].to_dataset() if "sample_stats" in children else None
        if stats is not None and "energy" in stats and stats["energy"].sizes.get("draw", 0) > 2:
            energy_axes = left.subplots(1, 2, width_ratios=[1, 3])
            shape = xr.Dataset(
                {"Energy": (("column", "energy"), np.zeros((2, 2)))},
                coords={"column": ["bfmi", "energy"], "energy": ["marginal", "transition"]},
            )
            pc = _collection_by_column(
                shape,
                left,
                {"bfmi": energy_axes[0], "energy": energy_axes[1]},
                aes={"color": ["energy"]},
            )
            azp.plot_energy(tree, plot_collection=pc)
            energy_axes[1].set_title("energy: marginal vs transition (similar widths are good)")
            energy_axes[0].set_xlabel("BFMI (< 0.3: poor)")
        else:
            _note(left.subplots(), "no energy in sample_stats")

        text_ax = right.subplots()
        text_ax.set_axis_off()
        text_ax.text(
            0.0,
            1.0,
            _diagnostics_text(tree, diagnostics),
            transform=text_ax.transAxes,
            ha="left",
            va="top",
            family="monospace",
            fontsize=8.5,
            color="0.1",
        )
    return fig


# --------------------------------------------------------------------------------------
# Calibration
# --------------------------------------------------------------------------------------


def reliability_figure(
    series: Sequence[tuple[str, np.ndarray, np.ndarray]],
    *,
    bins: int = 10,
    title: str = "Reliability (numbers: forecasts per bin)",
) -> Figure:
    """Reliability diagram: observed frequency of yes against mean forecast, per bin.

    Parameters
    ----------
    series : sequence of (name, probabilities, outcomes)
        One line each; outcomes are 0 or 1 (drop unresolved questions first). Empty series
        are listed in the legend as such.
    bins : int, default 10
        Equal-width bins on [0, 1] (:func:`models.scoring.reliability_table`).
    title : str

    Returns
    -------
    Figure
        The diagonal, one line per series with each bin's count annotated, and the name,
        Brier score and expected calibration error of each series in the legend.
    """
    markers = ("o", "s", "^", "D", "v", "P", "X")
    offsets = ((4, -10), (-4, 5), (4, 5), (-4, -10))
    with mpl.rc_context(_STYLE):
        fig = Figure(figsize=(5.8, 5.8), layout="constrained")
        ax = fig.subplots()
        ax.plot(
            [0, 1], [0, 1], color="grey", linestyle=":", linewidth=1, label="perfect calibration"
        )
        for i, (name, probabilities, outcomes) in enumerate(series):
            p = np.asarray(probabilities, dtype=np.float64).ravel()
            y = np.asarray(outcomes, dtype=np.float64).ravel()
            color = SERIES_COLORS[i % len(SERIES_COLORS)]
            if p.size == 0:
                ax.plot([], [], color=color, label=f"{name} (no resolved forecasts)")
                continue
            table = reliability_table(p, y, bins)
            used = table.count > 0
            b = brier(p, y)
            e = expected_calibration_error(p, y, bins)
            ax.plot(
                table.mean_forecast[used],
                table.observed_frequency[used],
                marker=markers[i % len(markers)],
                color=color,
                label=f"{name} (Brier {b:.4f}, ECE {e:.3f}, n={p.size})",
            )
            dx, dy = offsets[i % len(offsets)]
            for xv, yv, count in zip(
                table.mean_forecast[used],
                table.observed_frequency[used],
                table.count[used],
                strict=True,
            ):
                ax.annotate(
                    str(int(count)),
                    (xv, yv),
                    textcoords="offset points",
                    xytext=(dx, dy),
                    ha="left" if dx > 0 else "right",
                    fontsize=7,
                    color=color,
                )
        ax.set_xlim(-0.02, 1.02)
        ax.set_ylim(-0.02, 1.02)
        ax.set_aspect("equal")
        ax.set_xlabel("forecast probability (bin mean)")
        ax.set_ylabel("observed frequency of yes")
        ax.set_title(title, loc="left")
        ax.grid(color="0.93", linewidth=0.8)
        ax.legend(loc="upper left", fontsize=8, framealpha=0.9)
    return fig


__all__ = [
    "ForestRow",
    "diagnostics_figure",
    "forecasters_figure",
    "forest_figure",
    "history_figure",
    "posterior_figure",
    "prior_probability_draws",
    "reliability_figure",
    "render",
]
