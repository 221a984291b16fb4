"""Findings 5, 6 and 8 on a real server: what each event stream carries, when it is closed, and how
many one client may hold open."""

from __future__ import annotations

import pytest
import requests

from dashboard.events import publish

from .conftest import STREAMS_PER_CLIENT, ends_within, opened, wait_for

pytestmark = pytest.mark.e2e

DONOR = "Ada Ticker-Lovelace"


def gift_list(name: str) -> dict:
    return {"id": "t1", "rev": 1, "entries": [{"key": "k1", "name": name, "amount": "25.00", "at": 1}]}


def test_donor_names_reach_only_the_streams_whose_page_shows_the_ticker(live_site, redis_client):
    streams = {
        "public": opened(live_site.url("/c/gala/events/")),
        "screen with ticker": opened(live_site.url(f"/s/{live_site.tokens['with-ticker']}/events/")),
        "screen without ticker": opened(live_site.url(f"/s/{live_site.tokens['no-ticker']}/events/")),
        "public, gifts chosen": opened(live_site.url("/c/open-gala/events/")),
    }
    try:
        publish("gala", "ticker", gift_list(DONOR))  # as ingest/ticker.py publishes
        publish("open-gala", "ticker", gift_list(DONOR))
        for slug in ("gala", "open-gala"):
            publish(slug, "update", {"marker": "after-the-gift"})  # every stream gets this one
        wait_for(lambda: all("after-the-gift" in s.text() for s in streams.values()))
        seen = {what: DONOR in stream.text() for what, stream in streams.items()}
        assert seen == {
            "public": False,
            "screen with ticker": True,
            "screen without ticker": False,
            "public, gifts chosen": True,
        }
    finally:
        for stream in streams.values():
            stream.close()


def test_a_revoked_screens_stream_closes(live_site, redis_client):
    token = live_site.tokens["no-ticker"]
    stream = opened(live_site.url(f"/s/{token}/events/"))
    try:
        publish("gala", "config", {})  # a change that leaves this screen on: the stream stays
        assert not ends_within(stream, 1.0)
        live_site.run_django(
            "from django.utils import timezone\nfrom fundraiser.models import Screen\n"
            "Screen.objects.filter(name='no-ticker').update(revoked_at=timezone.now())\n"
        )
        publish("gala", "config", {})  # what the admin's Revoke action sends
        assert ends_within(stream, 10), "the revoked screen's stream stayed open"
        assert requests.get(live_site.url(f"/s/{token}/events/"), timeout=5).status_code == 403
    finally:
        stream.close()
        live_site.run_django(
            "from fundraiser.models import Screen\nScreen.objects.filter(name='no-ticker').update(revoked_at=None)\n"
        )


def test_a_campaign_switched_off_or_ending_closes_its_streams(live_site, redis_client):
    public = opened(live_site.url("/c/open-gala/events/"))
    try:
        live_site.run_django(
            "from fundraiser.models import Campaign\nCampaign.objects.filter(slug='open-gala').update(is_active=False)\n"
        )
        publish("open-gala", "config", {})
        assert ends_within(public, 10), "the switched-off campaign's stream stayed open"
        assert requests.get(live_site.url("/c/open-gala/events/"), timeout=5).status_code == 410
    finally:
        public.close()

    live_site.run_django(  # the end is set from the moment it is saved (starting Django may be slow)
        "import datetime as dt\nfrom fundraiser.models import Campaign\n"
        "ends_at = dt.datetime.now(dt.UTC) + dt.timedelta(seconds=6)\n"
        "Campaign.objects.filter(slug='open-gala').update(is_active=True, ends_at=ends_at)\n"
    )
    ending = opened(live_site.url("/c/open-gala/events/"))
    try:
        assert ends_within(ending, 15), "the stream outlived the campaign's end"
        assert ending.text().rstrip().endswith("event: config\ndata: {}")  # pages re-read and learn why
        assert requests.get(live_site.url("/c/open-gala/snapshot.json"), timeout=5).status_code == 410
    finally:
        ending.close()


def test_one_client_may_hold_only_so_many_streams(live_site, redis_client):
    streams = [opened(live_site.url("/c/gala/events/")) for _ in range(STREAMS_PER_CLIENT - 1)]
    streams.append(opened(live_site.url(f"/s/{live_site.tokens['with-ticker']}/events/")))  # counts too
    try:
        refused = requests.get(live_site.url("/c/gala/events/"), timeout=5)
        assert refused.status_code == 429
        assert (
            int(refused.headers["Retry-After"]) > 0
            and "too many open event streams" in refused.json()["error"]
        )
        streams.pop().close()  # a screen going away gives its place back
        wait_for(lambda: requests.get(live_site.url("/c/gala/snapshot.json"), timeout=5).ok)
        wait_for(lambda: _opens(live_site.url("/c/gala/events/"), streams))
    finally:
        for stream in streams:
            stream.close()


def _opens(url: str, streams: list) -> bool:
    from tests.screens.conftest import RawStream

    stream = RawStream(url)
    if stream.opened.wait(2):
        streams.append(stream)
        return True
    stream.close()
    return False
