"""The report pages' charts, drawn by pbxhub: calls per day, answered against missed, as the
geometry of an SVG bar chart (the template `_day_chart.html` writes it). Each bar carries its
numbers as text and the missed part a hatch pattern, so the chart reads without colour; the
same numbers go in a table beside it."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from typing import Final

# The drawing's box (SVG units; the page scales it to its width).
PLOT_HEIGHT: Final = 160
TOP_MARGIN: Final = 22  # room for the totals above the highest bar
BOTTOM_MARGIN: Final = 34  # room for the day labels
LEFT_MARGIN: Final = 34  # room for the axis numbers
# A segment shows its number inside when it is at least this tall.
MIN_LABELLED_HEIGHT: Final = 14
# Beyond this many days only every few days are named under the bars.
MAX_NAMED_DAYS: Final = 16


@dataclass(frozen=True)
class DayCount:
    """One day of a chart: its calls, answered (either way) and missed (inbound lost, outbound
    not reached); `calls` may hold a few the PBX gave no direction."""

    day: date
    answered: int
    missed: int
    calls: int


@dataclass(frozen=True)
class Segment:
    y: float
    height: float
    value: int
    # where its number is written, None when the segment is too short for it
    label_y: float | None


@dataclass(frozen=True)
class Bar:
    count: DayCount
    x: float
    width: float
    answered: Segment
    missed: Segment
    total_y: float
    # the day under the bar, "" where days are too many to name each
    label: str
    summary: str


@dataclass(frozen=True)
class Tick:
    value: int
    y: float


@dataclass(frozen=True)
class DayChart:
    """A chart's drawing and its words: `id` prefixes the SVG's ids (one page holds several)."""

    id: str
    title: str
    description: str
    width: float
    height: float
    plot_left: float
    plot_right: float
    baseline: float
    bars: tuple[Bar, ...]
    ticks: tuple[Tick, ...]
    days: tuple[DayCount, ...]
    answered: int
    missed: int
    calls: int


def day_label(day: date) -> str:
    return f"{day:%a} {day.day}"


def long_day(day: date) -> str:
    return f"{day:%a} {day.day} {day:%b}"


def _step(highest: int) -> int:
    """A round step (1, 2, 5 × 10ⁿ) giving at most five ticks up to `highest`."""
    rough = max(1, math.ceil(highest / 4))
    power = 10 ** (len(str(rough)) - 1)
    for factor in (1, 2, 5, 10):
        if factor * power >= rough:
            return factor * power
    return 10 * power  # unreachable: 10 × power ≥ rough


def day_chart(chart_id: str, title: str, counts: Sequence[DayCount]) -> DayChart:
    """The bars of `counts` (one a day, in order) on one scale, answered below missed."""
    highest = max((c.answered + c.missed for c in counts), default=0)
    step = _step(highest)
    top = max(step, step * math.ceil(highest / step))
    slot = max(12.0, min(56.0, 600 / max(len(counts), 1)))
    baseline = TOP_MARGIN + PLOT_HEIGHT
    every = math.ceil(len(counts) / MAX_NAMED_DAYS)

    def segment(value: int, bottom: float) -> Segment:
        height = PLOT_HEIGHT * value / top
        labelled = height >= MIN_LABELLED_HEIGHT
        return Segment(bottom - height, height, value, bottom - height / 2 if labelled else None)

    bars = []
    for n, count in enumerate(counts):
        answered = segment(count.answered, baseline)
        missed = segment(count.missed, answered.y)
        bars.append(
            Bar(
                count=count,
                x=LEFT_MARGIN + n * slot + slot * 0.15,
                width=slot * 0.7,
                answered=answered,
                missed=missed,
                total_y=missed.y - 5,
                label=day_label(count.day) if n % every == 0 else "",
                summary=f"{long_day(count.day)}: {count.answered} answered, {count.missed} missed",
            )
        )
    answered_calls = sum(c.answered for c in counts)
    missed_calls = sum(c.missed for c in counts)
    first, last = (counts[0].day, counts[-1].day) if counts else (None, None)
    span = f" from {long_day(first)} to {long_day(last)}" if first and last else ""
    return DayChart(
        id=chart_id,
        title=title,
        description=(
            f"Calls per day{span}: {answered_calls} answered, {missed_calls} missed. "
            + "; ".join(bar.summary for bar in bars)
            + "."
        ),
        width=LEFT_MARGIN + slot * len(counts) + 8,
        height=baseline + BOTTOM_MARGIN,
        plot_left=LEFT_MARGIN,
        plot_right=LEFT_MARGIN + slot * len(counts),
        baseline=baseline,
        bars=tuple(bars),
        ticks=tuple(
            Tick(value, baseline - PLOT_HEIGHT * value / top) for value in range(0, top + 1, step)
        ),
        days=tuple(counts),
        answered=answered_calls,
        missed=missed_calls,
        calls=sum(c.calls for c in counts),
    )
