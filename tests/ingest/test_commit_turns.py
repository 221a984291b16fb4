"""A rebuild's scan and the stream's batches writing the same items of the building generation at
once: each commit is a compare-and-set (ingest/lua/commit_batch.lua), and a writer refused again
and again takes the campaign's turn, so every scan page and every batch lands (none ends "stale")."""

from __future__ import annotations

import random
import threading
from collections import Counter
from decimal import Decimal

import pytest

from ingest.metrics import item_contribution
from ingest.rebuild import specs_json
from ingest.records import item_key_digest, sequence_key
from ingest.store import ItemChange, building_is, generations_are
from tests.ingest.test_store import CAMPAIGN, SPECS, live_campaign

ITEMS = 6_000


def item(rng):
    return {
        "platform": rng.choice(["Web", "Facebook", "Text"]),
        "email": f"{rng.randint(1, 5000)}@x",
        "amount": Decimal(rng.randint(1, 50000)) / 100,
    }


@pytest.mark.parametrize(("batch_size", "streams"), [(1000, 2), (50, 2)])
def test_scan_pages_and_stream_batches_writing_the_same_items_all_land(store, batch_size, streams):
    live_campaign(store)
    gen = store.start_generation(CAMPAIGN, specs=specs_json(SPECS), plan='{"segments": 1}', reason="t")
    live = store.campaign_meta(CAMPAIGN).live
    keys = [item_key_digest({"id": f"d-{n}"}) for n in range(ITEMS)]
    stop = threading.Event()
    stream_statuses: Counter = Counter()

    def stream(n):  # a consumer catching up (one per shard): full batches of updates to existing items
        rng = random.Random(n)
        seq = 10**20 + n * 10**12
        while not stop.is_set():
            batch = []
            for _ in range(batch_size):
                seq += 1
                entries = item_contribution(SPECS, item(rng))
                batch.append(
                    ItemChange(
                        rng.choice(keys[n::streams]), sequence_key(str(seq)), {"live": entries, gen: entries}
                    )
                )
            result = store.apply_batch(
                CAMPAIGN, changes=batch, gens=("live", gen), expect=generations_are(live, gen)
            )
            stream_statuses[result.status] += 1

    threads = [threading.Thread(target=stream, args=(n,), daemon=True) for n in range(streams)]
    for thread in threads:
        thread.start()
    rng = random.Random(2)
    scan_statuses: Counter = Counter()
    try:
        for first in range(0, ITEMS, 500):  # the scan's pages, in the table's order
            page = [
                ItemChange(k, "", {gen: item_contribution(SPECS, item(rng))})
                for k in keys[first : first + 500]
            ]
            result = store.apply_batch(CAMPAIGN, changes=page, gens=(gen,), expect=building_is(gen))
            scan_statuses[result.status] += 1
    finally:
        stop.set()
        for thread in threads:
            thread.join()
    assert set(scan_statuses) == {"ok"} and set(stream_statuses) == {"ok"}, (scan_statuses, stream_statuses)
