"""The JSON shape shared by the snapshot endpoint, the first paint and SSE events.

Only aggregates leave the server: no donor attribute other than the configured group names.
"""

from __future__ import annotations

import time
from typing import Any

from ingest.config import CampaignConfig, format_minor
from ingest.store import MetricValues

NO_GROUP_LABEL = "Other"
RECALCULATING_MAX_PERCENT = 99.9  # 100 % is shown only by the live numbers themselves


def metric_payload(config: CampaignConfig, slug: str, values: MetricValues) -> dict[str, Any]:
    display = config.displays[slug]
    groups = sorted(values.groups.items(), key=lambda kv: (-kv[1], kv[0]))
    return {
        "label": display.label,
        "money": display.is_money,
        "total": format_minor(values.total, display.places),
        "groups": [
            {"name": name or NO_GROUP_LABEL, "value": format_minor(value, display.places)}
            for name, value in groups
        ],
    }


def goal_payload(config: CampaignConfig, values: dict[str, MetricValues]) -> dict[str, Any] | None:
    goal = config.goal
    if goal is None or goal.metric not in values:
        return None
    places = config.displays[goal.metric].places
    metric = values[goal.metric]
    current = metric.groups.get(goal.group, 0) if goal.group else metric.total
    percent = 0.0 if goal.target_minor <= 0 else round(100 * current / goal.target_minor, 2)
    return {
        "label": goal.label,
        "metric": goal.metric,
        "group": goal.group,
        "current": format_minor(current, places),
        "target": format_minor(goal.target_minor, places),
        "percent": percent,
    }


def update_payload(
    config: CampaignConfig, version: int, values: dict[str, MetricValues], *, epoch: str, status: str = "live"
) -> dict[str, Any]:
    """Absolute values of the given metrics (all of them for a snapshot, the changed ones for an event)."""
    payload: dict[str, Any] = {
        "campaign": config.slug,
        "version": version,
        "epoch": epoch,
        "status": status,
        "currency": config.currency,
        "sent_at": round(time.time(), 3),  # screens report how long updates take to reach them
        "metrics": {
            slug: metric_payload(config, slug, v) for slug, v in values.items() if slug in config.displays
        },
    }
    goal = goal_payload(config, values)
    if goal is not None:
        payload["goal"] = goal
    return payload


def progress_payload(*, items: int, estimate: int, done: bool) -> dict[str, Any]:
    """How far a recalculation is, for screens: items scanned against the table's estimated size.

    The estimate (DescribeTable's ItemCount) is refreshed only every few hours, so the scan can
    pass it; the percent never reaches 100 before the numbers are live (the stream must catch up
    after the scan), and a finished scan shows the cap.
    """
    percent = 100 * items / max(estimate, items) if items else 0.0
    if done:
        percent = RECALCULATING_MAX_PERCENT
    # Only the percentage leaves the server: the table's item count is not something pages show.
    return {"percent": round(min(percent, RECALCULATING_MAX_PERCENT), 1)}
