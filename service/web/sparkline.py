"""A forecast history as a small inline SVG line, drawn on the server (no JavaScript)."""

from __future__ import annotations

from collections.abc import Sequence

from markupsafe import Markup, escape

#: The vertical scale never spans less than this (5 percentage points), so that a tiny
#: change does not look like a jump from the bottom to the top of the line.
MIN_SPAN = 0.05
#: Room left around the line for the stroke and the end dot, in viewBox units.
PAD = 2.0


def sparkline_points(
    probabilities: Sequence[float], width: float, height: float, pad: float = PAD
) -> list[tuple[float, float]]:
    """The probabilities as (x, y) points inside a ``width`` x ``height`` viewBox.

    Points are evenly spaced along x (one per forecast served, in order; a single one sits
    at the right end, where the latest is drawn); y runs from the lowest value at the bottom
    to the highest at the top, over a range at least ``MIN_SPAN`` wide and kept within
    [0, 1]. ``pad`` leaves room for the stroke and the end dot.
    """
    if not probabilities:
        return []
    low, high = min(probabilities), max(probabilities)
    if high - low < MIN_SPAN:
        middle = (low + high) / 2
        low, high = middle - MIN_SPAN / 2, middle + MIN_SPAN / 2
        if low < 0.0:
            low, high = 0.0, MIN_SPAN
        elif high > 1.0:
            low, high = 1.0 - MIN_SPAN, 1.0
    inner_w, inner_h = width - 2 * pad, height - 2 * pad
    n = len(probabilities)
    points = []
    for i, p in enumerate(probabilities):
        x = pad + (inner_w * i / (n - 1) if n > 1 else inner_w)
        y = pad + inner_h * (high - p) / (high - low)
        points.append((round(x, 2), round(y, 2)))
    return points


def sparkline_svg(
    probabilities: Sequence[float], *, label: str, width: int = 120, height: int = 28
) -> Markup:
    """An inline ``<svg>`` of the line (the latest value marked with a dot; a single forecast
    is a dashed level line), or an empty string when there is no history. ``label`` is its
    accessible name (escaped)."""
    points = sparkline_points(probabilities, width, height)
    if not points:
        return Markup("")
    last_x, last_y = points[-1]
    if len(points) > 1:
        line = Markup('<polyline points="{}" />').format(
            " ".join(f"{x:g},{y:g}" for x, y in points)
        )
    else:
        # One forecast so far: a dashed level line leading to it, not a lonely dot.
        line = Markup('<line class="level" x1="{x1:g}" y1="{y:g}" x2="{x:g}" y2="{y:g}" />')
        line = line.format(x1=PAD, x=last_x, y=last_y)
    return Markup(
        '<svg class="sparkline" xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {w} {h}" '
        'width="{w}" height="{h}" role="img" aria-label="{label}"><title>{label}</title>'
        '{line}<circle cx="{x:g}" cy="{y:g}" r="2" /></svg>'
    ).format(w=width, h=height, label=escape(label), line=line, x=last_x, y=last_y)
