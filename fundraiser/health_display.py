"""The campaign's health as the admin shows it: a word, why, the fix, and an hour of lag and pace
drawn as inline SVG (attributes only: the CSP allows no inline style or script)."""

from __future__ import annotations

from django.utils.html import format_html, format_html_join

from ingest.health import OrganizerState
from ingest.samples import Minute

CHART_WIDTH, CHART_HEIGHT = 360, 60


def state_html(state: OrganizerState, *, with_fix: bool = True) -> str:
    reason = format_html(": {}", state.reason) if state.reason else ""
    fix = (
        format_html("<br><span class='fr-fix'>What to do: {}</span>", state.fix)
        if with_fix and state.fix
        else ""
    )
    return format_html("<strong class='{}'>{}</strong>{}{}", state.css, state.word, reason, fix)


def points(values: list[float], top: float) -> str:
    step = CHART_WIDTH / max(len(values) - 1, 1)
    return " ".join(
        f"{i * step:.1f},{CHART_HEIGHT - (value / top) * (CHART_HEIGHT - 4) - 2:.1f}"
        for i, value in enumerate(values)
    )


def sparkline(title: str, values: list[float], unit: str) -> str:
    top = max(values, default=0) or 1.0
    latest = values[-1] if values else 0
    return format_html(
        "<figure class='fr-chart'><figcaption>{}: now {} {}, highest {} {}</figcaption>"
        "<svg viewBox='0 0 {} {}' width='{}' height='{}' role='img' aria-label='{}'>"
        "<line x1='0' y1='{}' x2='{}' y2='{}' class='fr-axis' />"
        "<polyline points='{}' class='fr-line' fill='none' /></svg></figure>",
        title,
        f"{latest:,.1f}",
        unit,
        f"{top if values and max(values) else 0:,.1f}",
        unit,
        CHART_WIDTH,
        CHART_HEIGHT,
        CHART_WIDTH,
        CHART_HEIGHT,
        f"{title} over the last hour",
        CHART_HEIGHT - 1,
        CHART_WIDTH,
        CHART_HEIGHT - 1,
        points(values, top),
    )


def hour_charts(minutes: list[Minute]) -> str:
    if not any(m.records for m in minutes):
        return "No donations read in the last hour."
    rates = [m.records / 60 for m in minutes]
    lags = [m.lag_seconds for m in minutes]
    rejected = sum(m.rejected for m in minutes)
    read = sum(m.records for m in minutes)
    return format_html(
        "{}{}<p>{} donations read in the last hour, {} not counted.</p>",
        sparkline("Donations per second", rates, "/s"),
        sparkline("Delay behind the table", lags, "s"),
        f"{read:,}",
        f"{rejected:,}",
    )


def rows_html(template: str, rows) -> str:
    return format_html_join("", template, rows)
