"""Acceptance 5: organizers see which screens are online and how far behind; a revoked or replaced
link shows a clear message on the display, never a login page."""

from __future__ import annotations

import re

import pytest
import requests
from playwright.sync_api import expect

from dashboard.events import publish
from tests.factories import make_table

from .conftest import ADMIN_PASSWORD, ADMIN_USER, SCREENSHOTS, Donations

pytestmark = pytest.mark.browser


def sign_in(page, kiosk) -> None:
    page.goto(kiosk.url("/admin/login/?next=/admin/fundraiser/screen/"))
    page.fill("#id_username", ADMIN_USER)
    page.fill("#id_password", ADMIN_PASSWORD)
    page.click("input[type=submit]")
    expect(page.locator("#result_list")).to_be_visible()


def row(admin, name: str):
    return admin.locator("#result_list tbody tr").filter(
        has=admin.locator("th a", has_text=re.compile(f"^{name}$"))
    )


def run_action(admin, name: str, action: str) -> None:
    row(admin, name).locator("input.action-select").check()
    admin.select_option("select[name=action]", action)
    admin.click("button[name=index]")


def test_organizers_see_screens_online_with_their_lag_and_can_revoke_and_rotate_links(
    kiosk, open_page, moto, store, consumer
):
    gifts = Donations(make_table(moto.url), consumer, store, kiosk.config)
    gifts.give({"name": "Ada L.", "amount": 100})
    display = open_page(kiosk.screen_url("thermometer"))
    expect(display.locator("#screen")).to_have_attribute("data-connection", "live")
    gifts.give({"name": "Grace H.", "amount": 20})  # an update over SSE: the screen measures its lag
    expect(display.get_by_test_id("raised")).to_have_text("$120.00", timeout=2000)
    publish(kiosk.config.slug, "resync", {})  # screens send a heartbeat after each resync

    admin = open_page()
    sign_in(admin, kiosk)
    expect(row(admin, "thermometer")).to_contain_text("● online")
    expect(row(admin, "thermometer")).to_contain_text("Thermometer")
    expect(row(admin, "thermometer")).to_contain_text(re.compile(r"live · lag \d+\.\d s"))
    expect(row(admin, "thermometer")).to_contain_text("1920x1080")
    expect(row(admin, "breakdown")).to_contain_text("○ offline")
    expect(row(admin, "breakdown")).to_contain_text("never")
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    admin.screenshot(path=SCREENSHOTS / "admin-screens.png", full_page=True)

    # An organizer previews a screen from the admin: the same page, live, marked as a preview.
    with admin.expect_popup() as popup:
        row(admin, "split").locator("a", has_text="preview").click()
    preview = popup.value
    expect(preview.locator("#screen")).to_have_attribute("data-connection", "live")
    expect(preview.get_by_test_id("raised")).to_have_text("$120.00")
    expect(preview.locator(".preview-tag")).to_contain_text("Preview")
    anonymous = requests.get(
        kiosk.url(f"/admin/fundraiser/screen/{kiosk.ids['split']}/preview/"),
        allow_redirects=False,
        timeout=10,
    )
    assert anonymous.status_code == 302 and "/admin/login/" in anonymous.headers["Location"]
    preview.close()

    # Revoke: the display turns into a clear message by itself.
    run_action(admin, "thermometer", "revoke")
    expect(admin.locator(".messagelist")).to_contain_text("Revoked 1 screen.")
    expect(display.locator(".message-title")).to_have_text("This screen was switched off", timeout=5000)
    expect(display.locator("#id_password, input[type=password]")).to_have_count(0)
    display.screenshot(path=SCREENSHOTS / "revoked-1920x1080.png")
    expect(row(admin, "thermometer")).to_contain_text("revoked")
    for suffix in ("", "snapshot.json", "events/"):
        answer = requests.get(kiosk.screen_url("thermometer", suffix), allow_redirects=False, timeout=10)
        assert answer.status_code == 403, suffix
        assert "login" not in answer.text.lower() and "password" not in answer.text.lower()
    assert "This screen was switched off" in requests.get(kiosk.screen_url("thermometer"), timeout=10).text
    heartbeat = requests.post(kiosk.screen_url("thermometer", "heartbeat"), json={}, timeout=10)
    assert heartbeat.status_code == 403 and heartbeat.json()["screen"] == "revoked"

    # Restore: the same link works again, and the display comes back within a minute by itself.
    run_action(admin, "thermometer", "restore")
    expect(admin.locator(".messagelist")).to_contain_text("Restored 1 screen.")
    assert requests.get(kiosk.screen_url("thermometer"), timeout=10).status_code == 200

    # Rotate: the new link is shown once; the old one says it was replaced.
    run_action(admin, "breakdown", "rotate_links")
    message = admin.locator(".messagelist").inner_text()
    new_link = re.search(r"http://\S+/s/[A-Za-z0-9_-]+/", message).group(0)
    old = requests.get(kiosk.screen_url("breakdown"), timeout=10)
    assert old.status_code == 403 and "link was replaced" in old.text
    assert requests.get(new_link, timeout=10).status_code == 200

    unknown = requests.get(kiosk.url("/s/not-a-real-screen-token-at-all/"), allow_redirects=False, timeout=10)
    assert unknown.status_code == 404 and "This screen link is not valid" in unknown.text
