"""Found by review of the busy-night ticker: every gift enters a running screen once, whatever the
order shards publish in, and a correction is not announced as a new gift."""

from __future__ import annotations

import time

import pytest
from playwright.sync_api import expect

from tests.screens.test_busy_night import RECORD_ARRIVALS

pytestmark = pytest.mark.browser


def _gift(item_id: str, name: str, seq: int, at: int, event: str = "INSERT", amount: int = 20) -> dict:
    from tests.screens.test_ticker import record

    rec = record(
        event,
        item_id,
        {"name": name, "platform": "Web", "amount": amount},
        old={"name": name, "platform": "Web", "amount": 20} if event == "MODIFY" else None,
    )
    rec["dynamodb"]["SequenceNumber"] = str(seq)
    rec["dynamodb"]["ApproximateCreationDateTime"] = at
    return rec


def _fresh_ticker(store, kiosk):
    from ingest.ticker import TickerStore, forget_seen

    forget_seen()
    for key in TickerStore(store).keys(kiosk.config.id):
        store.redis.delete(key)


def test_a_gift_published_after_a_later_one_from_another_shard_still_enters(kiosk, open_page, store):
    from ingest.ticker import record_batch

    _fresh_ticker(store, kiosk)
    now = int(time.time())
    config = kiosk.config
    record_batch(config, [_gift("a", "Anna", 10**21 + 10, now - 30)], store=store)
    page = open_page(kiosk.screen_url("thermometer"), init=RECORD_ARRIVALS)
    expect(page.locator(".gift-name")).to_have_text(["Anna"])
    page.evaluate("window.__recording = true")
    # Two gifts 0.2 s apart, on two shards; one consumer step reads shard 1, then shard 2 (each a
    # batch, each published): the later gift comes first.
    record_batch(config, [_gift("y", "Yusuf (shard 1)", 10**21 + 105, now)], store=store)
    record_batch(config, [_gift("x", "Xia (shard 2)", 10**21 + 100, now)], store=store)
    page.wait_for_timeout(2500)
    expect(page.locator(".gift-name")).to_have_count(3)  # both entered (in the order they came)
    assert sorted(page.locator(".gift-name").all_text_contents()) == [
        "Anna",
        "Xia (shard 2)",
        "Yusuf (shard 1)",
    ]


def test_a_corrected_old_gift_is_not_announced_again_as_new(kiosk, open_page, store):
    from ingest.ticker import record_batch

    _fresh_ticker(store, kiosk)
    now = int(time.time())
    config = kiosk.config
    for n, name in enumerate(["Old Olga", "Mid Max", "New Nina"]):
        record_batch(
            config,
            [_gift(name.split()[1].lower(), name, 10**21 + 10 * (n + 1), now - 600 + 200 * n)],
            store=store,
        )
    page = open_page(kiosk.screen_url("thermometer"), init=RECORD_ARRIVALS)
    expect(page.locator(".gift-name")).to_have_text(["New Nina", "Mid Max", "Old Olga"])
    page.evaluate("window.__recording = true")
    # The organizers correct Olga's ten-minute-old gift from 20 to 25 (an UpdateItem: MODIFY).
    record_batch(
        config, [_gift("olga", "Old Olga", 10**21 + 50, now, event="MODIFY", amount=25)], store=store
    )
    page.wait_for_timeout(2500)
    assert page.evaluate("window.__arrivals.length") == 0
    expect(page.locator(".gift-name")).to_have_text(["New Nina", "Mid Max", "Old Olga"])
