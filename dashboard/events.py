"""The event publisher: the single module that pushes changes to browsers (django-eventstream).

Each campaign has two channels. `campaign-<slug>` carries what the public page may show (numbers,
config changes) and every stream of the campaign listens to it. `campaign-<slug>.gifts` carries
the recent gifts ticker (donors' display names): only streams whose page shows the ticker listen
to it (a screen with the ticker on, the public page when the organizers chose so), see
dashboard/streams.py. Publishers need not know: the event type picks the channel.
"""

from __future__ import annotations

from typing import Any

from django_eventstream import send_event

TICKER_EVENTS = frozenset({"ticker"})


def campaign_channel(slug: str) -> str:
    return f"campaign-{slug}"


def ticker_channel(slug: str) -> str:
    return f"campaign-{slug}.gifts"


def publish(slug: str, event_type: str, data: dict[str, Any]) -> None:
    channel = ticker_channel(slug) if event_type in TICKER_EVENTS else campaign_channel(slug)
    send_event(channel, event_type, data)
