"""Screen heartbeats: what each screen last said it shows, kept in Redis (frequent and disposable).

Key for screen S of campaign C: {fr:C}:screen:S, a JSON string that expires after a day
(Store.keep_heartbeat, ingest/store.py).
"""

from __future__ import annotations

import json
import math
import time
from dataclasses import dataclass
from typing import Any

from ingest.store import Store

HEARTBEAT_SECONDS = 15  # how often screens report (screen.js reads it from the page)
ONLINE_SECONDS = 40  # two missed heartbeats and a bit: offline
KEPT_SECONDS = 24 * 3600
CONNECTIONS = ("live", "reconnecting", "connecting")
STATUSES = ("live", "recalculating")


def clean_report(raw: Any) -> dict[str, Any]:
    """Only the fields a screen reports, bounded: the body comes from any browser with the URL."""
    raw = raw if isinstance(raw, dict) else {}
    return {
        "layout": _text(raw.get("layout"), 20),
        "version": _number(raw.get("version"), int, 0, 2**53),
        "epoch": _text(raw.get("epoch"), 32),
        "connection": raw.get("connection") if raw.get("connection") in CONNECTIONS else "",
        "status": raw.get("status") if raw.get("status") in STATUSES else "",
        "stale": _number(raw.get("stale"), float, 0, 10**7),  # seconds since the screen knew it was current
        "lag": _number(raw.get("lag"), float, 0, 10**7),  # seconds from publish to shown, last update
        "viewport": _text(raw.get("viewport"), 20),
        "asset": _text(raw.get("asset"), 20),
    }


def _text(value: Any, limit: int) -> str:
    return value[:limit] if isinstance(value, str) else ""


def _number(value: Any, kind: type, low: float, high: float) -> float | int | None:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        return None
    return kind(min(high, max(low, value)))


def record_heartbeat(
    *, campaign_id: int, screen_id: int, report: dict[str, Any], store: Store | None = None
) -> None:
    store = store or Store()
    data = {**clean_report(report), "at": round(time.time(), 3)}
    store.keep_heartbeat(campaign_id, screen_id, json.dumps(data), seconds=KEPT_SECONDS)


def heartbeats(screens: list[tuple[int, int]], store: Store | None = None) -> dict[int, dict[str, Any]]:
    """Last heartbeat of each (campaign id, screen id), by screen id."""
    if not screens:
        return {}
    store = store or Store()
    found = {}
    for (_, screen_id), raw in zip(screens, store.heartbeats(screens), strict=True):
        if raw:
            found[screen_id] = json.loads(raw)
    return found


def forget(campaign_id: int, screen_id: int, store: Store | None = None) -> None:
    store = store or Store()
    store.forget_heartbeat(campaign_id, screen_id)


@dataclass(frozen=True)
class ScreenState:
    online: bool
    seen_seconds: float | None  # since the last heartbeat
    summary: str  # for organizers: "live · lag 0.4 s", "reconnecting · last update 45 s ago"…
    lag_seconds: float | None  # how far behind the screen is, as best known


def screen_state(heartbeat: dict[str, Any] | None, now: float | None = None) -> ScreenState:
    if not heartbeat:
        return ScreenState(False, None, "never seen", None)
    now = time.time() if now is None else now
    seen = max(0.0, now - float(heartbeat.get("at", 0)))
    if seen > ONLINE_SECONDS:
        return ScreenState(False, seen, f"offline · last seen {ago(seen)} ago", None)
    stale = heartbeat.get("stale") or 0.0
    if heartbeat.get("connection") != "live":
        return ScreenState(True, seen, f"reconnecting · last update {ago(stale + seen)} ago", stale + seen)
    if heartbeat.get("status") == "recalculating":
        return ScreenState(True, seen, "recalculating totals", None)
    lag = heartbeat.get("lag")
    if lag is None:
        return ScreenState(True, seen, "live", 0.0)
    return ScreenState(True, seen, f"live · lag {lag:.1f} s", lag)


def ago(seconds: float) -> str:
    seconds = int(seconds)
    if seconds < 90:
        return f"{seconds} s"
    if seconds < 90 * 60:
        return f"{round(seconds / 60)} min"
    return f"{seconds / 3600:.1f} h"
