"""The Redis store applies changes exactly once, whatever the order of duplicates and replays."""

from __future__ import annotations

import random
from decimal import Decimal

import pytest

from ingest.metrics import item_contribution, recount
from ingest.rebuild import specs_json
from ingest.records import RecordError, item_key_digest, sequence_key
from ingest.store import ItemChange, Position
from tests.metric_specs import DONORS_BY_PLATFORM, GIFTS, PHONE_RAISED, RAISED

SPECS = (RAISED, GIFTS, DONORS_BY_PLATFORM, PHONE_RAISED)
CAMPAIGN = 1


def live_campaign(store) -> None:
    """A campaign whose generation 1 (of SPECS) is live, as after its first rebuild."""
    store.ensure_meta(CAMPAIGN)
    gen = store.start_generation(CAMPAIGN, specs=specs_json(SPECS), plan='{"segments": 1}', reason="test")
    store.set_meta(CAMPAIGN, **{f"scan_done:{gen}": 1})  # as if its scan had run
    assert store.swap_generation(CAMPAIGN, gen) == 1


def change_for(keys, seq, item) -> ItemChange:
    try:
        entries = item_contribution(SPECS, item)
    except RecordError:
        entries = []
    return ItemChange(item_key_digest(keys), sequence_key(str(seq)), {"live": entries})


def aggregates(store):
    snap = store.snapshot(CAMPAIGN, [s.slug for s in SPECS])
    totals = {slug: v.total for slug, v in snap.metrics.items()}
    groups = {slug: v.groups for slug, v in snap.metrics.items()}
    return totals, groups


def random_item(rng: random.Random) -> dict:
    item = {
        "platform": rng.choice(["Facebook", "Phone", "Website", "Text"]),
        "email": rng.choice(["a@test.com", "b@test.com", "C@test.com", "c@test.com", "d@x.org"]),
        "amount": Decimal(rng.randint(1, 50000)) / 100,
    }
    if item["platform"] == "Phone":
        item["payment"] = {"amount": Decimal(rng.randint(1, 900))}
    if rng.random() < 0.05:
        item["amount"] = "ten"
    if rng.random() < 0.05:
        del item["email"]
    return item


def test_it_matches_a_recount_after_random_changes_replayed_and_duplicated(store):
    rng = random.Random(7)
    live_campaign(store)
    table: dict[str, dict] = {}
    log: list[ItemChange] = []
    for seq in range(1, 3000):
        key = f"donation-{rng.randint(1, 300)}"
        if key in table and rng.random() < 0.25:
            del table[key]
            log.append(change_for({"id": key}, 10**20 + seq, None))
        else:
            table[key] = random_item(rng)
            log.append(change_for({"id": key}, 10**20 + seq, table[key]))
    # Deliver in batches, with every batch delivered again later (at-least-once consumers).
    batches = [log[i : i + 97] for i in range(0, len(log), 97)]
    for i, batch in enumerate(batches):
        store.apply_batch(CAMPAIGN, changes=batch)
        if i >= 2:
            store.apply_batch(CAMPAIGN, changes=batches[i - 2])
    expected = recount(SPECS, table.values())
    totals, groups = aggregates(store)
    assert totals == expected.totals
    assert groups == expected.groups


def test_it_ignores_a_record_older_than_the_stored_one(store):
    live_campaign(store)
    keys = {"id": "x"}
    store.apply_batch(
        CAMPAIGN, changes=[change_for(keys, 200, {"amount": Decimal(5), "platform": "Facebook"})]
    )
    store.apply_batch(CAMPAIGN, changes=[change_for(keys, 100, {"amount": Decimal(7), "platform": "Web"})])
    totals, groups = aggregates(store)
    assert totals["raised"] == 500
    assert groups["raised"] == {"Facebook": 500}


def test_it_orders_sequence_numbers_of_different_lengths_numerically(store):
    live_campaign(store)
    keys = {"id": "x"}
    newer, older = "1" + "0" * 21, "9" * 21  # "100…" (22 digits) is newer than "99…" (21 digits)
    store.apply_batch(CAMPAIGN, changes=[change_for(keys, newer, {"amount": Decimal(5)})])
    store.apply_batch(CAMPAIGN, changes=[change_for(keys, older, {"amount": Decimal(9)})])
    assert aggregates(store)[0]["raised"] == 500


def test_a_removal_stays_removed_when_an_older_insert_is_replayed(store):
    live_campaign(store)
    keys = {"id": "x"}
    insert = change_for(keys, 10, {"amount": Decimal(5), "email": "a@test.com"})
    store.apply_batch(CAMPAIGN, changes=[insert, change_for(keys, 11, None)])
    store.apply_batch(CAMPAIGN, changes=[insert])
    totals, _ = aggregates(store)
    assert totals == {"raised": 0, "gifts": 0, "donors": 0, "phone-raised": 0}


def test_it_writes_nothing_without_the_lease(store):
    live_campaign(store)
    fence = store.lease(CAMPAIGN, "shard-1", "take", "worker-a")
    stolen = store.lease(CAMPAIGN, "shard-1", "take", "worker-b", ttl_seconds=10)
    assert stolen is None  # still held by worker-a
    store.lease(CAMPAIGN, "shard-1", "release", "worker-a", fence)
    new_fence = store.lease(CAMPAIGN, "shard-1", "take", "worker-b")
    assert new_fence == fence + 1
    result = store.apply_batch(
        CAMPAIGN,
        changes=[change_for({"id": "x"}, 1, {"amount": Decimal(5)})],
        position=Position("s", "shard-1", None, "1"),
        lease=("shard-1", "worker-a", fence),
    )
    assert result.status == "lease_lost"
    assert aggregates(store)[0]["raised"] == 0
    assert store.checkpoints(CAMPAIGN, "s") == {}


@pytest.mark.parametrize("amount", [Decimal("9999999999999.99"), Decimal("0.01")])
def test_it_keeps_large_and_small_amounts_exact(store, amount):
    live_campaign(store)
    changes = [change_for({"id": i}, i + 1, {"amount": amount}) for i in range(3)]
    store.apply_batch(CAMPAIGN, changes=changes)
    assert aggregates(store)[0]["raised"] == int(amount * 100) * 3


def test_a_removed_item_is_remembered_while_an_older_record_could_arrive_then_forgotten(store, redis_client):
    live_campaign(store)
    gift = {"amount": Decimal(5), "platform": "Web", "email": "a@test.com"}
    insert = change_for({"id": "gone"}, 10, gift)
    store.apply_batch(CAMPAIGN, changes=[insert, change_for({"id": "gone"}, 11, None)])
    store.apply_batch(CAMPAIGN, changes=[change_for({"id": "kept"}, 12, gift)])

    assert store.sweep_tombstones(CAMPAIGN) == 0  # younger than the stream's retention (and an hour)
    store.apply_batch(CAMPAIGN, changes=[insert])  # an older record replayed: still ignored
    assert aggregates(store)[0]["raised"] == 500

    assert store.sweep_tombstones(CAMPAIGN, age=0) == 1  # as once 25 hours have passed
    gen = store.meta(CAMPAIGN)["gen"]
    items = redis_client.hgetall(f"{store.base(CAMPAIGN)}:g{gen}:items")
    assert list(items) == [item_key_digest({"id": "kept"})]
    assert not redis_client.exists(f"{store.base(CAMPAIGN)}:g{gen}:tomb")
    assert aggregates(store)[0] == {"raised": 500, "gifts": 1, "donors": 1, "phone-raised": 0}


def test_an_item_brought_back_is_no_tombstone_any_more(store, redis_client):
    live_campaign(store)
    gift = {"amount": Decimal(5), "platform": "Web", "email": "a@test.com"}
    store.apply_batch(
        CAMPAIGN,
        changes=[change_for({"id": "x"}, 10, gift), change_for({"id": "x"}, 11, None)],
    )
    store.apply_batch(CAMPAIGN, changes=[change_for({"id": "x"}, 12, gift)])
    assert store.sweep_tombstones(CAMPAIGN, age=0) == 0
    assert aggregates(store)[0]["raised"] == 500


def test_a_sweep_drops_every_old_tombstone_not_just_a_first_batch(store, redis_client):
    live_campaign(store)
    gift = {"amount": Decimal(5), "platform": "Web", "email": "a@test.com"}
    changes = []
    for i in range(3000):
        changes += [
            change_for({"id": f"x{i}"}, 2 * i + 10, gift),
            change_for({"id": f"x{i}"}, 2 * i + 11, None),
        ]
    store.apply_batch(CAMPAIGN, changes=changes)
    dropped = sum(store.sweep_tombstones(CAMPAIGN, age=0, most=1000) for _ in range(3))
    assert dropped == 3000
    assert not redis_client.exists(f"{store.base(CAMPAIGN)}:g{store.meta(CAMPAIGN)['gen']}:tomb")
