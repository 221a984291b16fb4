"""Public pages and snapshots served from kept configuration (dashboard/edge.py, configs.py) on a
real server: what a CDN may keep, what it may not, and that a kept answer never outlives an event."""

from __future__ import annotations

import time

import jwt
import pytest
import requests

from dashboard.events import publish
from dashboard.grip import valid_signature

pytestmark = pytest.mark.e2e

SEED = """
from decimal import Decimal
from fundraiser.models import Campaign
from ingest.store import Store
from tests.dashboard.test_goal_page import seed
seed(Store(), Campaign.objects.get(slug="gala"), [
    {{"id": str(n), "email": f"d{{n}}@test.com", "platform": "Web", "amount": Decimal("{amount}")}} for n in range({count})
])
"""
KEY = "a-pushpin-sig-key-long-enough-for-hs256"
SECURITY_HEADERS = ("X-Frame-Options", "X-Content-Type-Options", "Referrer-Policy", "Content-Security-Policy")


def raised(url: str) -> str:
    return requests.get(url, timeout=5).json()["metrics"]["raised"]["total"]


def test_public_answers_may_be_kept_a_second_by_a_cdn_and_kiosk_answers_never(live_site, redis_client):
    live_site.run_django(SEED.format(amount="10", count=1))
    through_django, kept = (requests.get(live_site.url("/c/gala/snapshot.json"), timeout=5) for _ in range(2))
    for answer in (through_django, kept, requests.get(live_site.url("/c/gala/"), timeout=5)):
        assert answer.status_code == 200
        assert answer.headers["Cache-Control"] == "public, max-age=1, stale-while-revalidate=1"
        assert all(answer.headers.get(name) for name in SECURITY_HEADERS)  # as Django's middleware set them
    assert kept.json()["metrics"] == through_django.json()["metrics"]
    token = live_site.tokens["no-ticker"]
    for path in (f"/s/{token}/", f"/s/{token}/snapshot.json", "/s/not-a-token-at-all-000/snapshot.json"):
        control = requests.get(live_site.url(path), timeout=5).headers["Cache-Control"]
        assert "no-store" in control and "private" in control and "public" not in control


def test_a_kept_snapshot_gives_way_to_the_new_numbers_when_their_event_arrives(live_site, redis_client):
    url = live_site.url("/c/gala/snapshot.json")
    stream = requests.get(live_site.url("/c/gala/events/"), stream=True, timeout=5)  # the relay runs
    try:
        live_site.run_django(SEED.format(amount="10", count=1))
        publish("gala", "update", {})
        time.sleep(0.5)
        assert raised(url) == raised(url) == "10.00"
        live_site.run_django(SEED.format(amount="30", count=2))  # the worker committed a batch...
        publish("gala", "update", {})  # ...and published it
        deadline = time.monotonic() + 5
        while raised(url) != "60.00" and time.monotonic() < deadline:
            time.sleep(0.05)
        assert raised(url) == "60.00"
    finally:
        stream.close()


def test_a_client_cannot_ask_for_grip_instructions(live_site, redis_client):
    forged = jwt.encode({"iss": "pushpin", "exp": int(time.time()) + 60}, "changeme", algorithm="HS256")
    answer = requests.get(
        live_site.url("/c/gala/events/"), headers={"Grip-Sig": forged}, stream=True, timeout=5
    )
    try:
        assert answer.status_code == 200 and "Grip-Hold" not in answer.headers  # served as a plain stream
        assert b"stream-open" in next(answer.iter_content(64))
    finally:
        answer.close()


def test_only_a_signature_under_the_configured_key_counts(settings):
    token = jwt.encode({"iss": "pushpin", "exp": int(time.time()) + 60}, KEY, algorithm="HS256")
    settings.PUSHPIN_SIG_KEY = ""
    assert not valid_signature(token)
    settings.PUSHPIN_SIG_KEY = KEY
    assert valid_signature(token)
    assert not valid_signature(jwt.encode({"exp": int(time.time()) + 60}, KEY + "x", algorithm="HS256"))
    assert not valid_signature(jwt.encode({"exp": int(time.time()) - 5}, KEY, algorithm="HS256"))
    assert not valid_signature(jwt.encode({"iss": "pushpin"}, KEY, algorithm="HS256"))  # no expiry
    assert not valid_signature("garbage")
