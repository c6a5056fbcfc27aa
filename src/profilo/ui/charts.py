"""Charts drawn on the server as inline SVG: no script, no library, nothing from the internet.

Each chart carries a ``<title>`` and an ``aria-label`` summary so a screen reader has words, and
the page shows the same figures in a table beside it.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from html import escape

from markupsafe import Markup

__all__ = ["bar_chart", "line_chart"]

_W, _H, _PAD_L, _PAD_B, _PAD_T = 640, 180, 44, 22, 10
_COLOURS = ("#2f6fde", "#d9822b", "#2e9e6a", "#b54fa8", "#c9463d", "#6b7a8f")


def _scale(top: float) -> float:
    """A round top for the axis: 1, 2 or 5 times a power of ten."""
    if top <= 0:
        return 1.0
    magnitude = 10 ** (len(str(int(top))) - 1)
    for step in (1, 2, 5, 10):
        if top <= step * magnitude:
            return float(step * magnitude)
    return float(top)


def bar_chart(
    points: Sequence[tuple[str, float]],
    *,
    title: str,
    label: Callable[[float], str] = lambda v: f"{v:g}",
) -> Markup:
    """Vertical bars, one per point (label, value); the first and last labels under the axis."""
    if not points:
        return Markup("")
    top = _scale(max(v for _, v in points))
    inner_w, inner_h = _W - _PAD_L - 4, _H - _PAD_B - _PAD_T
    step = inner_w / len(points)
    bars = []
    for i, (name, value) in enumerate(points):
        h = inner_h * value / top
        x = _PAD_L + i * step
        bars.append(
            f'<rect x="{x + 0.5:.1f}" y="{_PAD_T + inner_h - h:.1f}" width="{max(step - 1, 1):.1f}"'
            f' height="{h:.1f}" fill="{_COLOURS[0]}"><title>{escape(name)}: {escape(label(value))}'
            "</title></rect>"
        )
    first, last = escape(points[0][0]), escape(points[-1][0])
    return Markup(
        f'<svg class="chart" viewBox="0 0 {_W} {_H}" role="img" aria-label="{escape(title)}">'
        f"<title>{escape(title)}</title>"
        f'<line x1="{_PAD_L}" y1="{_PAD_T + inner_h}" x2="{_W - 4}" y2="{_PAD_T + inner_h}"'
        ' class="axis"/>'
        f'<text x="{_PAD_L - 6}" y="{_PAD_T + 8}" text-anchor="end">{escape(label(top))}</text>'
        f'<text x="{_PAD_L - 6}" y="{_PAD_T + inner_h}" text-anchor="end">0</text>'
        + "".join(bars)
        + f'<text x="{_PAD_L}" y="{_H - 4}">{first}</text>'
        f'<text x="{_W - 4}" y="{_H - 4}" text-anchor="end">{last}</text></svg>'
    )


def line_chart(
    series: Mapping[str, Sequence[tuple[str, float]]],
    *,
    title: str,
    label: Callable[[float], str] = lambda v: f"{v:g}",
) -> Markup:
    """One line per series over a shared sequence of x labels (in the order first seen)."""
    xs: list[str] = []
    for points in series.values():
        for x, _ in points:
            if x not in xs:
                xs.append(x)
    xs.sort()
    if not xs:
        return Markup("")
    top = _scale(max((v for points in series.values() for _, v in points), default=1))
    inner_w, inner_h = _W - _PAD_L - 4, _H - _PAD_B - _PAD_T
    at = {x: _PAD_L + (inner_w * i / max(len(xs) - 1, 1)) for i, x in enumerate(xs)}
    lines = []
    legend = []
    for n, (name, points) in enumerate(series.items()):
        colour = _COLOURS[n % len(_COLOURS)]
        coords = " ".join(
            f"{at[x]:.1f},{_PAD_T + inner_h - inner_h * v / top:.1f}" for x, v in points
        )
        dots = "".join(
            f'<circle cx="{at[x]:.1f}" cy="{_PAD_T + inner_h - inner_h * v / top:.1f}" r="3"'
            f' fill="{colour}"><title>{escape(name)} · {escape(x)}: {escape(label(v))}</title>'
            "</circle>"
            for x, v in points
        )
        lines.append(
            f'<polyline points="{coords}" fill="none" stroke="{colour}" stroke-width="2"/>{dots}'
        )
        legend.append(
            f'<li><svg class="swatch" viewBox="0 0 10 10" aria-hidden="true">'
            f'<rect width="10" height="10" fill="{colour}"/></svg>{escape(name)}</li>'
        )
    svg = (
        f'<svg class="chart" viewBox="0 0 {_W} {_H}" role="img" aria-label="{escape(title)}">'
        f"<title>{escape(title)}</title>"
        f'<line x1="{_PAD_L}" y1="{_PAD_T + inner_h}" x2="{_W - 4}" y2="{_PAD_T + inner_h}"'
        ' class="axis"/>'
        f'<text x="{_PAD_L - 6}" y="{_PAD_T + 8}" text-anchor="end">{escape(label(top))}</text>'
        f'<text x="{_PAD_L - 6}" y="{_PAD_T + inner_h}" text-anchor="end">0</text>'
        + "".join(lines)
        + f'<text x="{_PAD_L}" y="{_H - 4}">{escape(xs[0])}</text>'
        f'<text x="{_W - 4}" y="{_H - 4}" text-anchor="end">{escape(xs[-1])}</text></svg>'
    )
    return Markup(svg + '<ul class="legend">' + "".join(legend) + "</ul>")
