"""The event publisher: the single module that pushes changes to browsers (django-eventstream)."""

from __future__ import annotations

from typing import Any

from django_eventstream import send_event


def campaign_channel(slug: str) -> str:
    return f"campaign-{slug}"


def publish(slug: str, event_type: str, data: dict[str, Any]) -> None:
    send_event(campaign_channel(slug), event_type, data)
