"""The goal page in headless Chromium, served by uvicorn, fed by a real consumer reading moto."""

from __future__ import annotations

import time
from decimal import Decimal

import pytest
from playwright.sync_api import expect

from tests.factories import make_table

from .conftest import ARTIFACTS, consume_until

pytestmark = pytest.mark.browser

# Every text the big number ever shows, from the first parse on (a flash of zero would be caught).
RECORD_HEADLINE = """
window.__headline = [];
new MutationObserver(function () {
  var el = document.getElementById("raised");
  var list = window.__headline;
  if (el && el.textContent && list[list.length - 1] !== el.textContent) list.push(el.textContent);
}).observe(document, {subtree: true, childList: true, characterData: true});
"""

DONATIONS = [
    {
        "id": "1",
        "email": "a@test.com",
        "donatedAt": "2019-08-07T07:26:56",
        "platform": "Facebook",
        "amount": 10,
    },
    {"id": "2", "email": "b@test.com", "platform": "Phone", "amount": Decimal("25.50")},
    {"id": "3", "email": "a@test.com", "platform": "Website", "amount": 1000},
]


def raised_minor(store, config) -> int:
    metrics = store.snapshot(config.id, ["raised"]).metrics
    return metrics["raised"].total if "raised" in metrics else 0  # 0 until the first backfill


def donate(table, consumer, store, config, *items) -> None:
    before = raised_minor(store, config)
    for item in items:
        table.put_item(Item=item)
    expected = before + sum(int(Decimal(item["amount"]) * 100) for item in items)
    consume_until(consumer, lambda: raised_minor(store, config) == expected)


def open_live(page, site):
    page.goto(site.page_url)
    expect(page.locator("#screen")).to_have_attribute("data-connection", "live")


def test_it_paints_the_seeded_numbers_and_follows_live_updates(site, page, moto, store, consumer):
    table = make_table(moto.url)
    donate(table, consumer, store, site.config, *DONATIONS)

    page.add_init_script(RECORD_HEADLINE)
    open_live(page, site)
    expect(page.get_by_test_id("raised")).to_have_text("$1,035.50")
    expect(page.locator("#percent")).to_have_text("103")
    expect(page.locator("#target")).to_have_text("$1,000")
    expect(page.locator('[data-metric="donors"] .stat-value')).to_have_text("2")
    expect(page.locator('[data-metric="gifts"] .stat-value')).to_have_text("3")
    assert page.locator(".bar-name").all_text_contents() == ["Website", "Phone", "Facebook"]
    assert page.locator(".bar-value").all_text_contents() == ["$1,000.00", "$25.50", "$10.00"]
    expect(page.locator("#badge")).to_be_hidden()
    assert page.evaluate("window.__headline") == ["$1,035.50"]  # no zero first, no jump on resync

    page.evaluate("window.__sameDocument = true")
    donate(
        table,
        consumer,
        store,
        site.config,
        {"id": "4", "email": "c@test.com", "platform": "Phone", "amount": 2000},
    )
    published = time.monotonic()
    expect(page.get_by_test_id("raised")).to_have_text("$3,035.50", timeout=2000)
    assert time.monotonic() - published < 2.0
    assert page.evaluate("window.__sameDocument") is True  # moved live, without a reload
    shown = page.evaluate("window.__headline")
    assert len(shown) > 2, f"expected a count-up through intermediate values, got {shown}"
    expect(page.locator("#percent")).to_have_text("303")
    expect(page.locator('[data-metric="donors"] .stat-value')).to_have_text("3")
    expect(page.locator('[data-metric="gifts"] .stat-value')).to_have_text("4")
    expect(page.locator(".bar-name")).to_have_text(["Phone", "Website", "Facebook"])
    expect(page.locator(".bar-value")).to_have_text(["$2,025.50", "$1,000.00", "$10.00"])
    expect(page.locator("#badge")).to_be_hidden()

    ARTIFACTS.mkdir(exist_ok=True)
    for width, height in ((1920, 1080), (1280, 720), (3840, 2160)):
        page.set_viewport_size({"width": width, "height": height})
        page.screenshot(path=ARTIFACTS / f"goal-{width}x{height}.png")


def test_it_jumps_straight_to_new_values_for_viewers_who_prefer_reduced_motion(
    site, page, moto, store, consumer
):
    table = make_table(moto.url)
    donate(table, consumer, store, site.config, DONATIONS[0])
    page.emulate_media(reduced_motion="reduce")
    page.add_init_script(RECORD_HEADLINE)
    open_live(page, site)
    donate(table, consumer, store, site.config, DONATIONS[1])
    expect(page.get_by_test_id("raised")).to_have_text("$35.50", timeout=2000)
    assert page.evaluate("window.__headline") == ["$10.00", "$35.50"]


def test_it_shows_donor_typed_platform_names_as_text(site, page, moto, store, consumer):
    dialogs: list[str] = []
    page.on("dialog", lambda dialog: (dialogs.append(dialog.message), dialog.dismiss()))
    table = make_table(moto.url)
    script, img = "<script>alert(1)</script>", "<img src=x onerror=alert(1)>"
    donate(
        table,
        consumer,
        store,
        site.config,
        {"id": "1", "email": "a@test.com", "platform": script, "amount": 30},
    )
    open_live(page, site)  # the first name arrives in the server-rendered HTML
    expect(page.locator(".bar-name")).to_have_text([script])

    donate(
        table,
        consumer,
        store,
        site.config,  # the second one through an SSE event
        {"id": "2", "email": "b@test.com", "platform": img, "amount": 20},
    )
    expect(page.locator(".bar-name")).to_have_text([script, img], timeout=2000)
    page.reload()
    expect(page.locator(".bar-name")).to_have_text([script, img])
    page.wait_for_timeout(500)
    assert dialogs == []
    assert page.locator("#screen img, #screen script").count() == 0


def test_it_reconnects_after_a_server_restart_and_catches_up(site, page, moto, store, consumer):
    table = make_table(moto.url)
    donate(table, consumer, store, site.config, DONATIONS[0])
    open_live(page, site)
    expect(page.locator("#badge")).to_be_hidden()

    site.server.stop()
    expect(page.locator("#badge")).to_be_visible(timeout=5000)
    expect(page.locator("#badge")).to_contain_text("Reconnecting — last update")
    # Published while no server listens: only the snapshot fetched on reconnect can show it.
    donate(table, consumer, store, site.config, DONATIONS[1])
    site.server.start()

    expect(page.get_by_test_id("raised")).to_have_text("$35.50", timeout=20000)
    expect(page.locator("#screen")).to_have_attribute("data-connection", "live")
    expect(page.locator("#badge")).to_be_hidden()
    donate(table, consumer, store, site.config, DONATIONS[2])
    expect(page.get_by_test_id("raised")).to_have_text("$1,035.50", timeout=2000)
