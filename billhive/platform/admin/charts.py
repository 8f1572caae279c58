"""Small bar charts as inline SVG geometry (no JavaScript, no chart library).

The views compute the bars here; the template ``admin/_chart.html`` draws them.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

#: Colour of each series (CSS colours; the legend shows the same).
SERIES_COLOURS = {
    "calls": "#b8860b",
    "throttled": "#f79009",
    "succeeded": "#067647",
    "failed": "#b42318",
}


@dataclass(frozen=True)
class Bar:
    """One rectangle of a (possibly stacked) bar."""

    x: float
    y: float
    width: float
    height: float
    colour: str
    title: str


@dataclass(frozen=True)
class Chart:
    """Everything the template needs to draw a chart."""

    width: int
    height: int
    bars: Sequence[Bar]
    maximum: int
    series: Sequence[tuple[str, str]]  # (name, colour) for the legend
    first_label: str
    last_label: str


def stacked_bars(
    points: Sequence[tuple[str, Mapping[str, int]]],
    series: Sequence[str],
    *,
    width: int = 600,
    height: int = 120,
) -> Chart:
    """Stacked bars, one per point (label, value per series), scaled to the largest."""
    totals = [sum(values.get(name, 0) for name in series) for _label, values in points]
    maximum = max(totals, default=0)
    slot = width / max(1, len(points))
    bars: list[Bar] = []
    for index, (label, values) in enumerate(points):
        bottom = float(height)
        for name in series:
            value = values.get(name, 0)
            if value <= 0 or maximum == 0:
                continue
            bar_height = value / maximum * height
            bottom -= bar_height
            bars.append(
                Bar(
                    x=round(index * slot + slot * 0.1, 2),
                    y=round(bottom, 2),
                    width=round(slot * 0.8, 2),
                    height=round(bar_height, 2),
                    colour=SERIES_COLOURS.get(name, "#667085"),
                    title=f"{label}: {value} {name}",
                )
            )
    return Chart(
        width=width,
        height=height,
        bars=bars,
        maximum=maximum,
        series=[(name, SERIES_COLOURS.get(name, "#667085")) for name in series],
        first_label=points[0][0] if points else "",
        last_label=points[-1][0] if points else "",
    )
