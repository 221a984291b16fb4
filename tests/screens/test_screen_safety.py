"""Acceptance 3: what donors type is shown as text, and their contact details never leave the server.

Asserted on the raw bytes: every screen's HTML, its snapshot JSON, its SSE stream, and the public
goal page's, while a gift with hostile text and contact details goes through the real pipeline.
"""

from __future__ import annotations

import pytest
import requests
from playwright.sync_api import expect

from tests.factories import make_table

from .conftest import Donations, RawStream

pytestmark = pytest.mark.browser

IMG = "<img src=x onerror=alert(1)>"
SCRIPT = "<script>alert(1)</script>"
EMAIL = "ada.lovelace@analytical.example"
PHONE = "+44 20 7946 0958"
SECRETS = (EMAIL, "analytical.example", PHONE, "7946 0958", "St James", "Ada Byron King")


def hostile_gift(number: int) -> dict:
    return {
        "name": IMG,
        "platform": SCRIPT,
        "amount": 30 + number,
        "email": EMAIL,
        "phone": PHONE,
        "address": {"street": "12 St James's Square", "owner": "Ada Byron King"},
    }


def test_donor_text_is_shown_literally_and_contact_details_never_reach_a_browser(
    kiosk, open_page, moto, store, consumer
):
    gifts = Donations(make_table(moto.url), consumer, store, kiosk.config)
    streams = [RawStream(kiosk.screen_url(name, "events/")) for name in ("thermometer", "leaderboard")]
    streams.append(RawStream(kiosk.url(f"/c/{kiosk.config.slug}/events/")))
    try:
        for stream in streams:
            assert stream.opened.wait(10), "SSE stream did not open"
        gifts.give(hostile_gift(1))  # painted by the server on first load

        pages = {name: open_page(kiosk.screen_url(name)) for name in ("split", "leaderboard")}
        for page in pages.values():
            expect(page.locator("#screen")).to_have_attribute("data-connection", "live")
            expect(page.locator(".gift-name")).to_have_text([IMG])
        expect(pages["split"].locator(".bar-name")).to_have_text([SCRIPT])
        expect(pages["leaderboard"].locator(".leader-name")).to_have_text([SCRIPT])

        gifts.give({**hostile_gift(2), "name": SCRIPT, "platform": IMG})  # this one arrives over SSE
        for page in pages.values():
            expect(page.locator(".gift-name")).to_have_text([SCRIPT, IMG], timeout=3000)
        expect(pages["split"].locator(".bar-name")).to_have_text([IMG, SCRIPT], timeout=3000)
        expect(pages["leaderboard"].locator(".leader-name")).to_have_text([IMG, SCRIPT], timeout=3000)
        pages["split"].wait_for_timeout(500)
        for page in pages.values():
            assert page.dialogs == []
            assert page.locator("#screen img:not(.logo), #screen script").count() == 0
            html = page.content()
            assert not [s for s in SECRETS if s in html]
    finally:
        for stream in streams:
            stream.close()

    raw = {}
    for name in kiosk.tokens:
        raw[f"{name} page"] = requests.get(kiosk.screen_url(name), timeout=10).text
        raw[f"{name} snapshot"] = requests.get(kiosk.screen_url(name, "snapshot.json"), timeout=10).text
    raw["goal page"] = requests.get(kiosk.url(f"/c/{kiosk.config.slug}/"), timeout=10).text
    raw["goal snapshot"] = requests.get(kiosk.url(f"/c/{kiosk.config.slug}/snapshot.json"), timeout=10).text
    for number, stream in enumerate(streams):
        raw[f"stream {number}"] = stream.text()
    assert "event: ticker" in raw["stream 0"] and "event: update" in raw["stream 0"]  # it saw the gifts
    for what, body in raw.items():
        leaked = [s for s in SECRETS if s in body]
        assert not leaked, f"{what} contains {leaked}"
        if what.endswith("page"):  # in HTML, hostile names are escaped text (JSON strings elsewhere)
            assert "<img src=x" not in body and "<script>alert" not in body, what
    assert "&lt;img src=x onerror=alert(1)&gt;" in raw["split page"]
