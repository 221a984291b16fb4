"""What a goal screen shows where: the big number, the bars, the tiles.

The choice is made once on the server from the campaign's configuration and handed to the page's
script in data attributes, so first paint and live updates put each metric in the same place.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from ingest.config import CampaignConfig

MAX_BARS = 8  # more rows than this do not stay legible from the back of a room
MAX_TICKER = 12  # gifts a screen lists; the oldest are cut by the layout when space runs out


@dataclass(frozen=True)
class GoalLayout:
    headline: str | None  # metric shown as the big number (the goal's metric when there is a goal)
    breakdown: str | None  # metric shown as bars per group
    breakdown_by: str  # name of the group-by attribute, e.g. "platform"
    stats: tuple[str, ...]  # metrics shown as tiles


def goal_layout(config: CampaignConfig) -> GoalLayout:
    displays = config.displays
    group_paths = {spec.slug: spec.group_path for spec in config.specs if spec.group_path}
    money = [slug for slug, display in displays.items() if display.is_money]
    if config.goal is not None and config.goal.metric in displays:
        headline = config.goal.metric
    else:
        headline = next(iter(money or displays), None)
    grouped_money = [slug for slug in money if slug in group_paths]
    breakdown = headline if headline in group_paths else next(iter(grouped_money), None)
    return GoalLayout(
        headline=headline,
        breakdown=breakdown,
        breakdown_by=group_paths[breakdown][-1] if breakdown else "",
        stats=tuple(slug for slug in displays if slug != headline),
    )


def bar_rows(groups: list[dict[str, str]], limit: int = MAX_BARS) -> tuple[list[dict[str, str]], int]:
    """The largest groups with each bar's width (percent of the largest), and how many were left out."""
    shown = groups[:limit]
    largest = max((Decimal(g["value"]) for g in shown), default=Decimal(0))
    rows = [{**g, "width": bar_width(Decimal(g["value"]), largest)} for g in shown]
    return rows, len(groups) - len(shown)


def bar_width(value: Decimal, largest: Decimal) -> str:
    if largest <= 0 or value <= 0:
        return "0"
    return f"{min(Decimal(100), 100 * value / largest):.2f}"


def progress_width(percent: float) -> str:
    return f"{min(100.0, max(0.0, percent)):.2f}"


def whole_percent(current: str, target: str) -> int:
    """Percent of the goal rounded down, exactly: "100" shows only once the goal is really reached."""
    target_value = Decimal(target)
    if target_value <= 0:
        return 0
    return max(0, int(100 * Decimal(current) // target_value))


def stat_tiles(metrics: dict[str, Any], slugs, unit) -> list[dict[str, Any]]:
    """The small number tiles (donors, gifts...): the metrics a snapshot has, in layout order."""
    return [
        {
            "slug": slug,
            "label": metrics[slug]["label"],
            "value": metrics[slug]["total"],
            "currency": unit(slug),
        }
        for slug in slugs
        if slug in metrics
    ]


def goal_bar(goal: dict[str, Any] | None) -> dict[str, Any] | None:
    """The goal with what its progress bar needs: bar width and the exact whole percent."""
    if not goal:
        return goal
    return {
        **goal,
        "width": progress_width(goal["percent"]),
        "whole_percent": whole_percent(goal["current"], goal["target"]),
    }


def units(snapshot: dict[str, Any]) -> Callable[[str], str]:
    """The currency to show a metric's amounts in: the campaign's for money, none for counts."""
    metrics, currency = snapshot.get("metrics", {}), snapshot["currency"]

    def unit(slug: str) -> str:
        return currency if metrics.get(slug, {}).get("money") else ""

    return unit


def headline_numbers(layout: GoalLayout, snapshot: dict[str, Any]) -> dict[str, Any] | None:
    """The big number: the goal's progress when there is a goal, else the headline metric's total."""
    metrics, goal = snapshot.get("metrics", {}), snapshot.get("goal")
    # While aggregates are being rebuilt the snapshot carries no metrics: show none (never zeros).
    if not layout.headline or layout.headline not in metrics:
        return None
    metric = metrics[layout.headline]
    return {
        "slug": layout.headline,
        "label": metric["label"] + (f" · {goal['group']}" if goal and goal["group"] else ""),
        "value": goal["current"] if goal else metric["total"],
        "currency": units(snapshot)(layout.headline),
    }


def breakdown_bars(layout: GoalLayout, snapshot: dict[str, Any], limit: int) -> dict[str, Any] | None:
    """The breakdown metric's largest groups as bars (templates/dashboard/screen/bars.html)."""
    metrics = snapshot.get("metrics", {})
    if not layout.breakdown or layout.breakdown not in metrics:
        return None
    metric = metrics[layout.breakdown]
    rows, more = bar_rows(metric["groups"], limit)
    return {
        "slug": layout.breakdown,
        "title": f"{metric['label']} by {layout.breakdown_by}",
        "currency": units(snapshot)(layout.breakdown),
        "rows": rows,
        "more": more,
    }


def numbers_context(
    layout: GoalLayout, snapshot: dict[str, Any], *, bar_limit: int = MAX_BARS
) -> dict[str, Any]:
    """What the goal page and every screen layout show of a snapshot: headline, goal, tiles, bars."""
    return {
        "snapshot": snapshot,
        "layout": layout,
        "headline": headline_numbers(layout, snapshot),
        "goal": goal_bar(snapshot.get("goal")),
        "stats": stat_tiles(snapshot.get("metrics", {}), layout.stats, units(snapshot)),
        "breakdown": breakdown_bars(layout, snapshot, bar_limit),
        "bar_limit": bar_limit,
        "recalculating": snapshot.get("status") == "recalculating",
    }


def ticker_context(snapshot: dict[str, Any], currency: str) -> dict[str, Any]:
    """The recent gifts (templates/dashboard/screen/gifts.html); None when they are not shown."""
    ticker = snapshot.get("ticker")
    return {
        "ticker": ticker["entries"] if ticker is not None else None,
        "ticker_currency": currency,
        "max_ticker": MAX_TICKER,
    }


def goal_context(config: CampaignConfig, snapshot: dict[str, Any]) -> dict[str, Any]:
    """Template context of the goal page: the snapshot arranged as the layout says."""
    ticker = config.ticker
    ticker_currency = config.currency if ticker and config.displays[ticker.metric].is_money else ""
    return {**numbers_context(goal_layout(config), snapshot), **ticker_context(snapshot, ticker_currency)}


# --- display screens (kiosks): the progress scale, milestones and leaderboard -------------------
MAX_LEADERS = 10


def progress_scale(
    current: str, goal: dict[str, Any] | None, milestones: list[dict[str, str]]
) -> dict[str, Any]:
    """Where the thermometer stands, with exact decimals (screen.js computes the same).

    The scale runs to the goal until it is reached, then to the next stretch milestone, so the
    thermometer always has somewhere to go. Milestones below the top of the scale are ticks.
    """
    value = Decimal(current)
    targets = scale_targets(goal, milestones)
    ordered = sorted((amount, t) for amount, t in targets.items() if amount > 0)
    upcoming = next(((amount, t) for amount, t in ordered if amount > value), None)
    goal_amount = Decimal(goal["target"]) if goal else Decimal(0)
    top = max(goal_amount, upcoming[0] if upcoming else (ordered[-1][0] if ordered else Decimal(0)))
    if top <= 0:
        return {"top": None, "fill": "0", "ticks": [], "next": None}
    top_target = targets.get(top)
    return {
        "top": top_target and {"amount": top_target["amount"], "label": top_target["label"]},
        "fill": progress_width(float(100 * value / top)),
        "ticks": [scale_tick(amount, t, value, top) for amount, t in ordered if amount < top],
        "next": upcoming and next_target(*upcoming, value),
    }


def scale_targets(
    goal: dict[str, Any] | None, milestones: list[dict[str, str]]
) -> dict[Decimal, dict[str, str]]:
    """Milestones and the goal by amount; the goal names its own amount."""
    targets: dict[Decimal, dict[str, str]] = {}
    for milestone in milestones:
        targets.setdefault(Decimal(milestone["amount"]), milestone)
    if goal and Decimal(goal["target"]) > 0:
        targets[Decimal(goal["target"])] = {"amount": goal["target"], "label": goal["label"] or "Goal"}
    return targets


def scale_tick(amount: Decimal, target: dict[str, str], value: Decimal, top: Decimal) -> dict[str, Any]:
    return {
        "amount": target["amount"],
        "label": target["label"],
        "position": f"{100 * amount / top:.2f}",
        "reached": value >= amount,
    }


def next_target(amount: Decimal, target: dict[str, str], value: Decimal) -> dict[str, str]:
    return {"amount": target["amount"], "label": target["label"], "remaining": f"{amount - value:f}"}


def leader_rows(groups: list[dict[str, str]], limit: int = MAX_LEADERS) -> list[dict[str, Any]]:
    """Top groups with their rank (ties share one) and bar width against the leader."""
    rows, _ = bar_rows(groups, limit)
    ranked, previous, rank = [], None, 0
    for index, row in enumerate(rows, start=1):
        if row["value"] != previous:
            rank, previous = index, row["value"]
        ranked.append({**row, "rank": rank})
    return ranked


def contrast_text(background: str) -> str:
    """Near-white text on dark backgrounds, near-black on light ones (WCAG relative luminance)."""
    channels = [int(background[i : i + 2], 16) / 255 for i in (1, 3, 5)]
    linear = [c / 12.92 if c <= 0.03928 else ((c + 0.055) / 1.055) ** 2.4 for c in channels]
    luminance = 0.2126 * linear[0] + 0.7152 * linear[1] + 0.0722 * linear[2]
    return "#f6f8ff" if luminance < 0.35 else "#0b1020"


def countdown(now: float, starts_at: float | None, ends_at: float | None) -> dict[str, str] | None:
    """The countdown line on first paint (screen.js ticks it on): label and remaining time."""
    if starts_at is not None and now < starts_at:
        return {"label": "Opens in", "time": clock_text(starts_at - now)}
    if ends_at is None:
        return None
    if now >= ends_at:
        return {"label": "Giving has closed", "time": ""}
    return {"label": "Ends in", "time": clock_text(ends_at - now)}


def clock_text(seconds: float) -> str:
    total = max(0, int(seconds))
    days, rest = divmod(total, 86400)
    hours, rest = divmod(rest, 3600)
    minutes, secs = divmod(rest, 60)
    if days:
        return f"{days} d {hours:02d}:{minutes:02d}:{secs:02d}"
    if hours:
        return f"{hours}:{minutes:02d}:{secs:02d}"
    return f"{minutes}:{secs:02d}"
