"""Every server-sent event the server sends is one screen.js listens for, and the engine's updates
map to those events (dashboard/events.py `event_for`)."""

from __future__ import annotations

import re
from pathlib import Path

from dashboard.events import event_for
from devtools.campaign import DemoCampaign
from ingest import ports
from ingest.store import MetricValues

SCREEN_JS = Path(__file__).resolve().parents[2] / "dashboard" / "static" / "dashboard" / "screen.js"
# Sent by the pages app itself (not engine updates): configuration and moderation changes, the
# relay's state, and the paddle console.
PAGE_EVENTS = {"config", "paddle", "resync", "relay-down"}


def listened() -> set[str]:
    return set(re.findall(r'(?:source\.addEventListener|\bon)\("([a-z-]+)"', SCREEN_JS.read_text()))


def test_screen_js_listens_for_every_event_an_engine_update_becomes():
    config = DemoCampaign(slug="schema").engine_config(1)
    updates = [
        ports.MetricsChanged(config, 3, "e1", {"raised": MetricValues(100, {"Web": 100})}),
        ports.Recalculating(config, "e2"),
        ports.RebuildProgress(config, "e2", items=5, estimate=10, done=False),
        ports.TickerChanged(config, {"id": "t", "rev": 1, "entries": [], "removed": []}),
    ]
    types = {event_for(update)[0] for update in updates}
    assert types == {"update", "progress", "ticker"}
    assert types <= listened()


def test_screen_js_listens_for_the_events_the_pages_app_sends():
    assert PAGE_EVENTS <= listened()
