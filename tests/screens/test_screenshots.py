"""Acceptance 4: every layout, filled with a realistic evening, at 1920x1080 and 3840x2160."""

from __future__ import annotations

from decimal import Decimal

import pytest
from playwright.sync_api import expect

from tests.factories import make_table

from .conftest import SCREENSHOTS, Donations

pytestmark = pytest.mark.browser

EVENING = [
    {"name": "Ada L.", "platform": "Website", "amount": Decimal("150.00")},
    {"name": "Grace H.", "platform": "Gala auction", "amount": Decimal("120.00")},
    {"name": "The Okafor Family", "platform": "Text-to-give", "amount": Decimal("25.00")},
    {"name": "Someone private", "anonymous": True, "platform": "Phone", "amount": Decimal("60.00")},
    {"name": "Dr. Jean-Baptiste Emmanuel Zorg the Third", "platform": "Facebook", "amount": Decimal("45.50")},
    {"platform": "Website", "amount": Decimal("80.00")},
    {"name": "Li Wei", "platform": "Instagram", "amount": Decimal("35.00")},
    {"name": "María José", "platform": "Gala auction", "amount": Decimal("90.00")},
    {"name": "Sam", "platform": "Cheque", "amount": Decimal("20.00")},
    {"name": "Priya N.", "platform": "Website", "amount": Decimal("101.00")},
]
SIZES = [(1920, 1080), (3840, 2160)]


def test_each_layout_is_captured_at_full_hd_and_4k(kiosk, open_page, moto, store, consumer):
    table = make_table(moto.url)
    Donations(table, consumer, store, kiosk.config).give(*EVENING)
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    for layout in ("thermometer", "breakdown", "leaderboard", "split"):
        for width, height in SIZES:
            page = open_page(kiosk.screen_url(layout), width=width, height=height)
            expect(page.locator("#screen")).to_have_attribute("data-connection", "live")
            expect(page.get_by_test_id("raised")).to_have_text("$726.50")
            page.wait_for_timeout(300)
            page.screenshot(path=SCREENSHOTS / f"{layout}-{width}x{height}.png")
    for layout, (width, height) in [
        ("thermometer", (1080, 1920)),
        ("split", (1080, 1920)),
        ("split", (1280, 720)),
        ("leaderboard", (1080, 1920)),
    ]:
        page = open_page(kiosk.screen_url(layout), width=width, height=height)
        expect(page.locator("#screen")).to_have_attribute("data-connection", "live")
        page.wait_for_timeout(300)
        page.screenshot(path=SCREENSHOTS / f"{layout}-{width}x{height}.png")
