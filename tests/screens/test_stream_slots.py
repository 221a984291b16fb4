"""At most two goal-page streams per browser: kiosk screens always stream; plain HTTP (no Web Locks)."""

from __future__ import annotations

import os
import time

import pytest
from playwright.sync_api import expect

from tests.dashboard.conftest import CHROMIUM, CHROMIUM_ARGS
from tests.screens.conftest import browser, kiosk  # noqa: F401 - fixtures

LAN_HOST = "gala.lan"  # a LAN name, as an event venue's Wi-Fi would serve it: not a secure context


@pytest.fixture(scope="module", autouse=True)
def lan_host_allowed():
    before = os.environ.get("DJANGO_ALLOWED_HOSTS")
    os.environ["DJANGO_ALLOWED_HOSTS"] = f"localhost,127.0.0.1,{LAN_HOST}"
    yield
    if before is None:
        os.environ.pop("DJANGO_ALLOWED_HOSTS", None)
    else:
        os.environ["DJANGO_ALLOWED_HOSTS"] = before


def transport(page) -> str | None:
    return page.locator("#screen").get_attribute("data-transport")


def test_a_kiosk_screen_opened_after_two_goal_pages_streams_and_a_goal_page_steps_down(kiosk, browser):  # noqa: F811
    """An organizer's laptop: the goal page open in two tabs, then the kiosk screen for the projector."""
    context = browser.new_context(viewport={"width": 1280, "height": 720})
    try:
        goals = []
        for _ in range(2):
            page = context.new_page()
            page.goto(kiosk.url("/c/gala/"))
            expect(page.locator("#screen")).to_have_attribute("data-connection", "live", timeout=15000)
            goals.append(page)
        screen = context.new_page()
        screen.goto(kiosk.screen_url("thermometer"))
        expect(screen.locator("#screen")).to_have_attribute("data-connection", "live", timeout=15000)
        time.sleep(1)
        assert transport(screen) == "stream", "the event-floor screen polls a snapshot every 4 s"
        assert sorted(transport(p) for p in goals) == ["polling", "stream"]
    finally:
        context.close()


def test_over_plain_http_on_a_lan_name_goal_pages_poll_a_kiosk_streams_and_the_admin_loads(kiosk, browser):  # noqa: F811
    """No Web Locks outside a secure context: goal pages poll snapshots, the kiosk still streams."""
    lan = browser.browser_type.launch(
        executable_path=CHROMIUM,
        headless=True,
        args=[*CHROMIUM_ARGS, f"--host-resolver-rules=MAP {LAN_HOST} 127.0.0.1"],
    )
    on_lan = kiosk.url("/").replace("127.0.0.1", LAN_HOST).rstrip("/")
    try:
        context = lan.new_context(viewport={"width": 1280, "height": 720})
        pages = []
        for _ in range(6):
            page = context.new_page()
            page.goto(f"{on_lan}/c/gala/", wait_until="domcontentloaded")
            pages.append(page)
        screen = context.new_page()
        screen.goto(kiosk.screen_url("thermometer").replace("127.0.0.1", LAN_HOST))
        expect(screen.locator("#screen")).to_have_attribute("data-connection", "live", timeout=15000)
        for page in pages:
            expect(page.locator("#screen")).to_have_attribute("data-connection", "live", timeout=15000)
        assert pages[0].evaluate("() => Boolean(navigator.locks)") is False
        assert [transport(p) for p in pages] == ["polling"] * 6
        assert transport(screen) == "stream"
        admin = context.new_page()
        started = time.monotonic()
        admin.goto(f"{on_lan}/admin/login/", timeout=10000)
        assert time.monotonic() - started < 5
    finally:
        lan.close()
