"""Finding 7: every page carries a Content-Security-Policy without 'unsafe-inline', and the pages
have nothing inline for it to block (the browser test in tests/screens/test_csp_browser.py runs
them under it)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from tests.dashboard.test_goal_page import seed
from tests.factories import make_campaign
from tests.screens.test_kiosk import GIFTS, add_screen

SIZES_CSS = Path(__file__).resolve().parents[2] / "dashboard" / "static" / "dashboard" / "sizes.css"
INLINE_SCRIPT = re.compile(r"<script(?![^>]*\bsrc=)(?![^>]*application/json)[^>]*>", re.I)


@pytest.mark.django_db
def test_pages_send_a_strict_policy_and_hold_nothing_inline(client, store):
    campaign = make_campaign()
    campaign.logo_url = "https://cdn.example.org/logo.svg"
    campaign.save()
    seed(store, campaign, GIFTS)
    _, token = add_screen(campaign)
    pages = {
        "goal": client.get("/c/gala/"),
        "screen": client.get(f"/s/{token}/"),
        "message": client.get("/s/not-a-real-screen-token-123/"),
        "login": client.get("/admin/login/"),
    }
    for what, response in pages.items():
        policy = response["Content-Security-Policy"]
        assert (
            "default-src 'self'" in policy and "unsafe-inline" not in policy and "unsafe-eval" not in policy
        )
        html = response.content.decode()
        assert not re.search(r"\sstyle=", html), what
        assert not INLINE_SCRIPT.search(html), what
    screen_policy = pages["screen"]["Content-Security-Policy"]
    assert "img-src 'self' data: https://cdn.example.org" in screen_policy  # its logo, and no other host
    assert "frame-ancestors" not in screen_policy  # signage players may frame a screen
    assert "frame-ancestors 'none'" in pages["goal"]["Content-Security-Policy"]
    nonce = re.search(r"'nonce-([^']+)'", screen_policy).group(1)
    assert f'<style nonce="{nonce}">.kiosk-body {{ --bg: #060a16' in pages["screen"].content.decode()


def test_the_size_classes_file_is_generated_and_covers_every_size():
    from dashboard.templatetags.dashboard_format import size, sizes_css

    assert SIZES_CSS.read_text() == sizes_css()
    assert [size("42.49", "w"), size("100.00", "h"), size("-3", "at"), size(120, "ch"), size(None, "w")] == [
        "w-42",
        "h-100",
        "at-0",
        "ch-40",
        "w-0",
    ]
