"""Feeding Pushpin: this process's hub, coalesced as for local streams, published over GRIP.

`manage.py pushpin_relay` runs one (or two, for redundancy: a duplicate update carries the same
versions, which pages ignore). It relays every event from Redis to Pushpin's publish endpoint at
most FLUSH_HZ times a second per channel, with the merged state (dashboard/fanout.py), so a page
behind Pushpin never holds an older value than the last published one for long either.

What Django's watch does for direct streams (dashboard/streams.py) is done here by closing: after a
`config` event, every stream of the campaign is closed (pages reconnect with backoff and re-read
their snapshot; Django then refuses a revoked screen or a closed campaign), and a campaign's streams
are closed at its end time.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
import urllib.request
from concurrent.futures import ThreadPoolExecutor

from .fanout import HUB

log = logging.getLogger(__name__)
CLOSES_AFTER = frozenset({"config"})
ENDS_CHECK_SECONDS = 2.0


def items(channel: str, frames: list[tuple[str, bytes]]) -> list[dict]:
    out = [{"channel": channel, "formats": {"http-stream": {"content": data.decode()}}} for _, data in frames]
    if any(event_type in CLOSES_AFTER for event_type, _ in frames):
        out.append({"channel": channel, "formats": {"http-stream": {"action": "close"}}})
    return out


class PushpinPublisher:
    def __init__(self, url: str):
        self.url = url
        self.executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="pushpin-publish")  # keeps order
        self.published = 0
        self.failed = 0

    def on_flush(self, channel: str, frames: list[tuple[str, bytes]]) -> None:
        body = json.dumps({"items": items(channel, frames)}).encode()
        self.executor.submit(self._post, body)

    def _post(self, body: bytes) -> None:
        request = urllib.request.Request(self.url, data=body, headers={"Content-Type": "application/json"})
        try:
            with urllib.request.urlopen(request, timeout=5) as answer:  # noqa: S310 - our own setting
                answer.read()
            self.published += 1
        except OSError as exc:
            self.failed += 1
            log.warning("pushpin relay: publish failed (%s)", exc)


async def close_ended_campaigns() -> None:
    """Close the streams of campaigns that reach their end time (unless they keep the final total)."""
    from asgiref.sync import sync_to_async

    from fundraiser.models import Campaign

    def ending() -> list[tuple[str, float]]:
        rows = Campaign.objects.filter(is_active=True, keep_final_total=False, ends_at__isnull=False)
        return [(slug, ends.timestamp()) for slug, ends in rows.values_list("slug", "ends_at")]

    closed: set[tuple[str, float]] = set()
    while True:
        now = time.time()
        for slug, ends in await sync_to_async(ending, thread_sensitive=False)():
            if ends <= now and (slug, ends) not in closed:
                closed.add((slug, ends))
                HUB.publish(f"campaign-{slug}", "config", "{}")
        await asyncio.sleep(ENDS_CHECK_SECONDS)


async def run(url: str) -> None:
    from .relay import ensure_started

    publisher = PushpinPublisher(url)
    HUB.on_flush.append(publisher.on_flush)
    ensure_started()
    await close_ended_campaigns()
