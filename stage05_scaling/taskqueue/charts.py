"""Line charts for the dashboard, drawn as SVG on the server.

Why not a JavaScript charting library: the page would need a vendored bundle to keep up to date
and JavaScript to draw, for two lines a minute apart. The server knows the numbers; it computes
the points and the axis ticks here, and the template (taskqueue/chart.html) writes them out,
escaped as everything else. The chart is the same after a reload, since it comes from the
database (rollup.py), not from the page's memory.
"""

import math
from dataclasses import dataclass, field
from datetime import datetime, timedelta

WIDTH, HEIGHT = 640, 200
LEFT, RIGHT, TOP, BOTTOM = 56, 12, 12, 28  # room for the axis labels
COLOURS = ["#0b6bcb", "#c2410c", "#15803d"]


@dataclass
class Line:
    label: str
    points: str  # "x,y x,y ...", in the SVG's coordinates
    colour: str


@dataclass
class Tick:
    at: float  # x or y, in the SVG's coordinates
    label: str


@dataclass
class Chart:
    title: str
    unit: str
    lines: list[Line] = field(default_factory=list)
    x_ticks: list[Tick] = field(default_factory=list)
    y_ticks: list[Tick] = field(default_factory=list)
    width: int = WIDTH
    height: int = HEIGHT
    left: int = LEFT
    right: int = WIDTH - RIGHT
    top: int = TOP
    bottom: int = HEIGHT - BOTTOM


def nice_top(largest: float) -> float:
    """The y axis' top: 1, 2 or 5 times a power of ten, at or above `largest`."""
    if largest <= 0:
        return 1.0
    power = 10 ** math.floor(math.log10(largest))
    return next(step * power for step in (1, 2, 5, 10) if step * power >= largest)


def number(value: float) -> str:
    return f"{value:,.0f}" if value >= 10 or value == int(value) else f"{value:.1f}"


def line_chart(
    title: str,
    unit: str,
    start: datetime,
    end: datetime,
    series: dict[str, list[tuple[datetime, float]]],
) -> Chart:
    """One chart: a line per series over [start, end], time across, `unit` up."""
    chart = Chart(title, unit)
    span = (end - start).total_seconds() or 1.0
    top = nice_top(max((value for points in series.values() for _, value in points), default=0))

    def x(at: datetime) -> float:
        return chart.left + (chart.right - chart.left) * (at - start).total_seconds() / span

    def y(value: float) -> float:
        return chart.bottom - (chart.bottom - chart.top) * value / top

    for index, (label, points) in enumerate(series.items()):
        drawn = " ".join(f"{x(at):.1f},{y(value):.1f}" for at, value in points)
        chart.lines.append(Line(label, drawn, COLOURS[index % len(COLOURS)]))
    chart.y_ticks = [Tick(y(top * share), number(top * share)) for share in (0, 0.5, 1)]
    # A tick every ten minutes of the hour, labelled with the time (UTC, as the database's).
    minutes = 10
    tick = start.replace(second=0, microsecond=0)
    tick = tick.replace(minute=tick.minute - tick.minute % minutes)
    while tick <= end:
        if tick >= start:
            chart.x_ticks.append(Tick(x(tick), tick.strftime("%H:%M")))
        tick += timedelta(minutes=minutes)
    return chart
