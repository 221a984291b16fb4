"""What a page or screen shows first: the campaign's numbers in the same JSON shape as the events
that follow (dashboard/payloads.py), read from Redis in one snapshot."""

from __future__ import annotations

from ingest.config import CampaignConfig
from ingest.health import public_status
from ingest.rebuild import build_progress
from ingest.store import Store

from .payloads import progress_payload, update_payload


def config_snapshot(config: CampaignConfig) -> dict:
    store = Store()
    snapshot = store.snapshot(config.id, config.displays)
    status = public_status(store, config.id, snapshot.state)
    payload = update_payload(config, snapshot.version, snapshot.metrics, epoch=snapshot.epoch, status=status)
    if status == "recalculating":
        progress = recalculation_progress(store, config.id)
        if progress is not None:
            payload["progress"] = progress
    return payload


def recalculation_progress(store: Store, campaign_id: int) -> dict | None:
    """The rebuild's own progress (the same shape as the worker's `progress` events), if one runs."""
    build = build_progress(store, campaign_id)
    if build is None:
        return None
    return progress_payload(items=build.items, estimate=build.estimate, done=build.done)
