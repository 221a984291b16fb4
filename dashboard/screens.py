"""What a goal screen shows where: the big number, the bars, the tiles.

The choice is made once on the server from the campaign's configuration and handed to the page's
script in data attributes, so first paint and live updates put each metric in the same place.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from fundraiser.selectors import CampaignConfig

MAX_BARS = 8  # more rows than this do not stay legible from the back of a room


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


def goal_context(config: CampaignConfig, snapshot: dict[str, Any]) -> dict[str, Any]:
    """Template context of the goal page: the snapshot arranged as the layout says."""
    layout = goal_layout(config)
    metrics = snapshot["metrics"]
    currency = snapshot["currency"]

    def unit(slug: str) -> str:
        return currency if metrics[slug]["money"] else ""

    goal = snapshot.get("goal")
    headline = None
    # While aggregates are being rebuilt the snapshot carries no metrics: show none (never zeros).
    if layout.headline in metrics:
        metric = metrics[layout.headline]
        headline = {
            "slug": layout.headline,
            "label": metric["label"] + (f" · {goal['group']}" if goal and goal["group"] else ""),
            "value": goal["current"] if goal else metric["total"],
            "currency": unit(layout.headline),
        }
    breakdown = None
    if layout.breakdown in metrics:
        metric = metrics[layout.breakdown]
        rows, more = bar_rows(metric["groups"])
        breakdown = {
            "slug": layout.breakdown,
            "title": f"{metric['label']} by {layout.breakdown_by}",
            "currency": unit(layout.breakdown),
            "rows": rows,
            "more": more,
        }
    return {
        "snapshot": snapshot,
        "layout": layout,
        "headline": headline,
        "goal": goal
        and {
            **goal,
            "width": progress_width(goal["percent"]),
            "whole_percent": whole_percent(goal["current"], goal["target"]),
        },
        "stats": [
            {
                "slug": slug,
                "label": metrics[slug]["label"],
                "value": metrics[slug]["total"],
                "currency": unit(slug),
            }
            for slug in layout.stats
            if slug in metrics
        ],
        "breakdown": breakdown,
        "max_bars": MAX_BARS,
        "recalculating": snapshot.get("status") == "recalculating",
    }
