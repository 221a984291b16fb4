"""Review of issue 10: at most two streams per browser (Web Locks) vs kiosk screens and plain HTTP."""

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


def test_a_kiosk_screen_opened_after_two_goal_pages_is_demoted_to_polling(kiosk, browser):  # noqa: F811
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
        print(f"\ngoal pages: {[transport(p) for p in goals]}; kiosk screen: {transport(screen)}")
        assert transport(screen) == "stream", "the event-floor screen polls a snapshot every 4 s"
    finally:
        context.close()


def test_over_plain_http_on_a_lan_name_every_page_streams_and_the_admin_hangs(kiosk, browser):  # noqa: F811
    port = kiosk.server.port
    if True:
        lan = browser.browser_type.launch(
            executable_path=CHROMIUM,
            headless=True,
            args=[*CHROMIUM_ARGS, f"--host-resolver-rules=MAP {LAN_HOST} 127.0.0.1"],
        )
        try:
            context = lan.new_context(viewport={"width": 1280, "height": 720})
            pages = []
            for _ in range(6):
                page = context.new_page()
                page.goto(f"http://{LAN_HOST}:{port}/c/gala/", wait_until="domcontentloaded")
                pages.append(page)
            time.sleep(4)
            locks = pages[0].evaluate("() => Boolean(navigator.locks)")
            transports = [transport(p) for p in pages]
            admin = context.new_page()
            started = time.monotonic()
            try:
                admin.goto(f"http://{LAN_HOST}:{port}/admin/login/", timeout=10000)
                loaded = f"{time.monotonic() - started:.1f} s"
            except Exception as exc:  # noqa: BLE001
                loaded = f"not loaded after {time.monotonic() - started:.1f} s ({type(exc).__name__})"
            print(f"\nnavigator.locks available: {locks}; transports: {transports}; admin login page: {loaded}")
            assert transports.count("stream") <= 2, transports
        finally:
            lan.close()
