"""Ingestion health per campaign and shard, for /healthz and the admin (read from Redis)."""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from typing import Any

from django.conf import settings

from . import samples
from .store import END, PAUSED, CampaignMeta, Store

PROBLEM_STATUSES = ("needs_rebuild", "no_stream", "bad_stream", "source_error")


def shard_health(meta: CampaignMeta, now: float) -> dict[str, dict[str, Any]]:
    shards = {}
    for shard_id, raw in meta.shard_reports().items():
        try:
            info = json.loads(raw)
        except ValueError:
            continue
        if not isinstance(info, dict):
            continue
        finished = info.get("seq") == END
        if finished:
            lag = 0.0
        elif info.get("behind") and info.get("created"):
            lag = now - float(info["created"])  # records are waiting: how old the newest read is
        else:
            lag = now - float(info.get("read_at") or now)  # at the tip: how long since we looked
        shards[shard_id] = {
            "last_sequence_number": info.get("seq"),
            "finished": finished,
            "lag_seconds": round(max(lag, 0.0), 1),
            "records_per_second": info.get("rps", 0),
            "last_record_at": info.get("created"),
        }
    return shards


def campaign_health(store: Store, campaign_id: int, now: float | None = None) -> dict[str, Any]:
    now = time.time() if now is None else now
    meta = store.campaign_meta(campaign_id)
    shards = shard_health(meta, now)
    lag = max((s["lag_seconds"] for s in shards.values()), default=None)
    status = meta.status or "starting"
    problems = []
    if status in PROBLEM_STATUSES:
        problems.append(f"{status}: {meta.rebuild_reason or meta.last_error}".strip())
    if meta.source_problem and meta.source_problem != status:
        problems.append(f"{meta.source_problem}: {meta.last_error}".strip())
    if lag is not None and lag > settings.INGEST_MAX_LAG_SECONDS:
        problems.append(f"lag {lag:.0f}s is over {settings.INGEST_MAX_LAG_SECONDS:.0f}s")
    last_record = meta.last_record_at
    return {
        "status": status,
        "ok": not problems,
        "problems": problems,
        "records": meta.records,
        "rejected": meta.rejected,
        "records_per_second": round(sum(s["records_per_second"] for s in shards.values()), 1),
        "lag_seconds": lag,
        "last_record_age_seconds": None if not last_record else round(now - last_record, 1),
        "last_error": meta.last_error,
        "rebuilding": bool(meta.building),
        "rebuild_reason": meta.rebuild_reason,
        "last_rebuild_reason": meta.last_rebuild_reason,
        "rebuilt_at": meta.rebuilt_at,
        "shards": shards,
    }


def overall_health(store: Store, campaigns: dict[str, int]) -> dict[str, Any]:
    """campaigns: slug -> id of the active campaigns."""
    now = time.time()
    report = {slug: campaign_health(store, campaign_id, now) for slug, campaign_id in campaigns.items()}
    consumers = len(store.live_consumers())
    problems = [] if consumers else ["no stream consumer is running"]
    return {
        "ok": not problems and all(c["ok"] for c in report.values()),
        "problems": problems,
        "consumers": consumers,
        "max_lag_seconds": settings.INGEST_MAX_LAG_SECONDS,
        "campaigns": report,
    }


# --- the same in organizer words -----------------------------------------------------------------
LIVE, CATCHING_UP, REBUILDING, NEEDS_ATTENTION, BROKEN, STARTING = (
    "live",
    "catching up",
    "rebuilding",
    "needs attention",
    "broken",
    "starting",
)


@dataclass(frozen=True)
class OrganizerState:
    """What the admin tells organizers: one word, why, and what to do (empty when nothing)."""

    word: str
    reason: str = ""
    fix: str = ""

    @property
    def css(self) -> str:
        return {LIVE: "fr-good", BROKEN: "fr-bad", NEEDS_ATTENTION: "fr-bad"}.get(self.word, "fr-muted")


def organizer_state(
    meta: CampaignMeta, *, lag: float | None, minutes: list[samples.Minute], max_lag: float
) -> OrganizerState:
    if meta.source_broken:
        return OrganizerState(
            BROKEN,
            plain_error(meta.last_error) or "the donation table cannot be read",
            "Open the campaign and save it: the check on save says what to change in AWS.",
        )
    if meta.status == "needs_rebuild":
        return OrganizerState(
            NEEDS_ATTENTION,
            f"some donations may be missing from the totals ({meta.rebuild_reason})",
            "A recount starts by itself; or choose “Rebuild aggregates” in the campaign list.",
        )
    rejected = samples.mostly_rejected(minutes, meta)
    if rejected is not None:
        bad, read = rejected
        return OrganizerState(
            NEEDS_ATTENTION,
            f"{bad} of the last {read} donations could not be counted",
            "See “Recent rejected records” for why, then check the metrics' attributes with "
            "“Preview” (a misspelled attribute such as Amount for amount rejects every donation).",
        )
    if meta.building:
        reason = "recounting the donations already in the table"
        if meta.live != "0":
            reason += "; screens keep the current totals meanwhile"
        return OrganizerState(REBUILDING, reason)
    if not meta.exists:
        return OrganizerState(STARTING, "waiting for the worker to pick up the campaign (a few seconds)")
    if lag is not None and lag > max_lag:
        return OrganizerState(CATCHING_UP, f"the newest donations shown are {lag:.0f} s behind the table")
    return OrganizerState(LIVE)


def plain_error(error: str) -> str:
    """The worker's last error without its step prefix ("discover: ...")."""
    return error.removeprefix("discover: ").strip()


def campaign_state(store: Store, campaign_id: int, now: float | None = None) -> OrganizerState:
    now = time.time() if now is None else now
    meta = store.campaign_meta(campaign_id)
    lags = [s["lag_seconds"] for s in shard_health(meta, now).values()]
    return organizer_state(
        meta,
        lag=max(lags, default=None),
        minutes=samples.last_hour(store, campaign_id, now),
        max_lag=settings.INGEST_MAX_LAG_SECONDS,
    )


def public_status(store: Store, campaign_id: int, meta: CampaignMeta) -> str:
    """The snapshot's `status`: "paused" also when most recent donations are rejected (the totals
    would be wrong), else what the state says (live, recalculating, paused)."""
    shown = meta.shown_status
    if shown == "live":
        minutes = samples.last_hour(store, campaign_id)
        if samples.mostly_rejected(minutes, meta):
            return PAUSED
    return shown
