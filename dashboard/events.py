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

from ingest.ports import MetricsChanged, RebuildProgress, Recalculating, TickerChanged, Update

from .payloads import progress_payload, update_payload

TICKER_EVENTS = frozenset({"ticker"})


def campaign_channel(slug: str) -> str:
    return f"campaign-{slug}"


def ticker_channel(slug: str) -> str:
    return f"campaign-{slug}.gifts"


def publish(slug: str, event_type: str, data: dict[str, Any]) -> None:
    channel = ticker_channel(slug) if event_type in TICKER_EVENTS else campaign_channel(slug)
    send_event(channel, event_type, data)


def tell_screens_config_changed(sender: Any = None, *, slug: str, **kwargs: Any) -> None:
    """Open screens re-read their configuration (and reload if it changed)."""
    publish(slug, "config", {})


def tell_screens_levers_changed(sender: Any = None, *, slug: str, what: str, **kwargs: Any) -> None:
    """An organizer recorded or reversed an adjustment: paddle screens get the new paddle raise.
    (Numbers move through the engine's own update; moderation republishes the ticker.)"""
    if what != "adjustments":
        return
    from fundraiser.adjustments import paddle_summary
    from fundraiser.models import Campaign

    campaign = Campaign.objects.filter(slug=slug).first()
    if campaign is not None:
        publish(slug, "paddle", paddle_summary(campaign))


def event_for(update: Update) -> tuple[str, dict[str, Any]]:
    """The server-sent event (type, JSON data) of an engine update; screen.js listens for these
    types (tests/dashboard/test_event_schema.py keeps the two in step)."""
    config = update.config
    if isinstance(update, MetricsChanged):
        return "update", update_payload(config, update.version, update.metrics, epoch=update.epoch)
    if isinstance(update, Recalculating):
        return "update", update_payload(config, 0, {}, epoch=update.epoch, status="recalculating")
    if isinstance(update, RebuildProgress):
        progress = progress_payload(items=update.items, estimate=update.estimate, done=update.done)
        return "progress", {
            "campaign": config.slug,
            "epoch": update.epoch,
            "status": "recalculating",
            "progress": progress,
        }
    if isinstance(update, TickerChanged):
        return "ticker", update.listing
    raise TypeError(f"unknown update {update!r}")


class ServerSentEvents:
    """The engine's update publisher (ingest.ports): each update becomes an event on its channel."""

    def publish(self, update: Update) -> None:
        event_type, data = event_for(update)
        publish(update.config.slug, event_type, data)
