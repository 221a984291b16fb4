"""Campaign configurations kept in memory, so a page or snapshot reads no database.

An entry is dropped when its campaign's configuration changes:
- in this process, on any save or delete of a campaign, metric, goal or milestone (model signals,
  connected in dashboard/apps.py);
- in every web process, on the campaign's `config` event (what the admin publishes on each change:
  fundraiser/signals.py `config_changed`), or `resync`, as the relay hands them to the hub;
- after MAX_AGE_SECONDS in any case, and after LOST_AGE_SECONDS while this process's relay is not
  subscribed (it could have missed a `config` event).
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass

from fundraiser.models import Campaign
from fundraiser.selectors import campaign_config
from ingest.config import CampaignConfig

MAX_AGE_SECONDS = 30.0
LOST_AGE_SECONDS = 1.0


@dataclass(frozen=True)
class CampaignEntry:
    campaign: Campaign
    config: CampaignConfig
    loaded_at: float

    @property
    def pair(self) -> tuple[Campaign, CampaignConfig]:
        return self.campaign, self.config


_entries: dict[str, CampaignEntry] = {}
_lock = threading.Lock()


def load_entry(slug: str) -> CampaignEntry | None:
    """The campaign of this slug, from the database (None if there is none), kept for next time."""
    campaign = (
        Campaign.objects.select_related("headline_goal__metric")
        .prefetch_related("metrics")
        .filter(slug=slug)
        .first()
    )
    if campaign is None:
        return None
    entry = CampaignEntry(campaign, campaign_config(campaign), time.monotonic())
    with _lock:
        _entries[slug] = entry
    return entry


def cached_entry(slug: str) -> CampaignEntry | None:
    """The kept entry if it may still be trusted; never reads the database."""
    entry = _entries.get(slug)
    if entry is None:
        return None
    age = time.monotonic() - entry.loaded_at
    if age > MAX_AGE_SECONDS or (age > LOST_AGE_SECONDS and not relay_subscribed()):
        return None
    return entry


def campaign_entry(slug: str) -> CampaignEntry | None:
    """Kept while it says the campaign is live; a closed campaign is read again (it may reopen)."""
    entry = cached_entry(slug)
    if entry is None or entry.campaign.hides_numbers():
        return load_entry(slug)
    return entry


def forget(slug: str | None = None) -> None:
    with _lock:
        if slug is None:
            _entries.clear()
        else:
            _entries.pop(slug, None)


def forget_on_save(sender, instance, **kwargs) -> None:
    """post_save / post_delete of Campaign and of the models hanging off one (rare: forget all,
    which also covers a campaign whose slug changed)."""
    forget()


def forget_channel(channel: str, event_type: str) -> None:
    """A `config` or `resync` event on a campaign's channel (from the hub)."""
    if (
        event_type in ("config", "resync")
        and channel.startswith("campaign-")
        and not channel.endswith(".gifts")
    ):
        forget(channel.removeprefix("campaign-"))


def relay_subscribed() -> bool:
    from .fanout import HUB

    return bool(HUB.listener is not None and HUB.listener.connected)
