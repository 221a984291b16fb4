"""The recent gifts ticker: which records become ticker lines (pure), and its list in Redis."""

from __future__ import annotations

import json
from decimal import Decimal

import pytest

from fundraiser.selectors import campaign_config
from ingest.config import MetricDisplay, TickerSource
from ingest.records import decode_record
from ingest.ticker import KEPT, TickerStore, display_name, record_batch, ticker_changes
from tests.factories import make_campaign

SEQ = iter(range(10**20, 10**21))


def av(value):
    """Plain Python to a DynamoDB AttributeValue."""
    if isinstance(value, bool):
        return {"BOOL": value}
    if isinstance(value, (int, Decimal)):
        return {"N": str(value)}
    if isinstance(value, dict):
        return {"M": {k: av(v) for k, v in value.items()}}
    return {"S": value}


def record(event: str, item_id: str, new: dict | None = None, old: dict | None = None) -> dict:
    body = {
        "Keys": {"id": {"S": item_id}},
        "SequenceNumber": str(next(SEQ)),
        "ApproximateCreationDateTime": 1_700_000_000,
        "StreamViewType": "NEW_AND_OLD_IMAGES",
    }
    if new is not None:
        body["NewImage"] = {k: av(v) for k, v in {"id": item_id, **new}.items()}
    if old is not None:
        body["OldImage"] = {k: av(v) for k, v in {"id": item_id, **old}.items()}
    return {"eventName": event, "dynamodb": body}


@pytest.fixture
def config(db):
    return campaign_config(make_campaign())


def lines(config, *records):
    return ticker_changes([decode_record(r) for r in records], config)


GIFT = {
    "name": "Ada L.",
    "email": "ada@example.org",
    "phone": "+1 555 0100",
    "platform": "Web",
    "amount": Decimal("25.5"),
}


def test_a_new_gift_shows_its_display_name_and_amount_in_the_metric_places(config):
    (change,) = lines(config, record("INSERT", "1", GIFT))
    assert change.kind == "add" and change.entry.name == "Ada L." and change.entry.amount == "25.50"
    assert set(change.entry.public()) == {"key", "name", "amount", "at"}
    assert "example.org" not in json.dumps(change.entry.public()) and "555 0100" not in json.dumps(
        change.entry.public()
    )


@pytest.mark.parametrize(
    ("item", "shown"),
    [
        ({}, "Anonymous"),
        ({"name": ""}, "Anonymous"),
        ({"name": "   "}, "Anonymous"),
        ({"name": 42}, "Anonymous"),
        ({"name": "Grace", "anonymous": True}, "Anonymous"),
        ({"name": "Grace", "anonymous": "yes"}, "Anonymous"),
        ({"name": "Grace", "anonymous": False}, "Grace"),
        ({"name": "grace@example.org"}, "Anonymous"),
        ({"name": "Call me: grace@example.org"}, "Anonymous"),
        ({"name": "+1 (555) 010-0100"}, "Anonymous"),
        ({"name": "Team 2024"}, "Team 2024"),
        ({"name": "  Grace \n\t Hopper  "}, "Grace Hopper"),
        ({"name": "Evil\u202eegnaro"}, "Evilegnaro"),
        ({"name": "Bell\x07 ringer"}, "Bell ringer"),
        ({"name": "A" * 40}, "A" * 31 + "…"),
        ({"name": "<img src=x onerror=alert(1)>"}, "<img src=x onerror=alert(1)>"),  # text; escaped at output
    ],
)
def test_the_display_name_is_what_the_donor_chose_or_anonymous_never_contact_details(item, shown):
    assert display_name(item, ("name",), ("anonymous",)) == shown


def test_unusable_items_and_keys_only_inserts_are_no_gifts(config):
    assert lines(config, record("INSERT", "1", {"name": "Ada"})) == []  # moto's keys-only INSERT
    assert lines(config, record("INSERT", "1", {**GIFT, "amount": "ten"})) == []
    assert lines(config, record("INSERT", "1", {**GIFT, "amount": 0})) == []


def test_refunds_corrections_and_late_payments_change_the_ticker(config):
    refund, correction, paid, voided = lines(
        config,
        record("REMOVE", "1", old=GIFT),
        record("MODIFY", "2", {**GIFT, "amount": 30}, old=GIFT),
        record("MODIFY", "3", GIFT, old={**GIFT, "amount": "pending"}),
        record("MODIFY", "4", {**GIFT, "amount": "void"}, old=GIFT),
    )
    assert (refund.kind, refund.entry) == ("remove", None)
    assert correction.kind == "update" and correction.entry.amount == "30.00"
    assert paid.kind == "add"
    assert voided.kind == "remove"


def test_a_campaign_without_a_sum_metric_has_no_ticker(config):
    bare = type(config)(**{**config.__dict__, "ticker": None})
    assert lines(bare, record("INSERT", "1", GIFT)) == []


def test_the_ticker_uses_the_goal_metric_amount_with_its_places():
    from ingest.config import CampaignConfig, GoalConfig
    from ingest.metrics import MetricSpec

    config = CampaignConfig(
        id=1,
        slug="x",
        name="x",
        currency="JPY",
        table_name="t",
        region="r",
        endpoint_url="",
        specs=(MetricSpec.build(slug="yen", aggregation="sum", value_path="gift.value", decimal_places=0),),
        displays={"yen": MetricDisplay("yen", "Yen", 0, True)},
        goal=GoalConfig("yen", "", 100, "Goal"),
        ticker=TickerSource("yen", ("donor", "display")),
    )
    (change,) = ticker_changes(
        [decode_record(record("INSERT", "1", {"gift": {"value": 1500}, "donor": {"display": "Kenji"}}))],
        config,
    )
    assert (change.entry.name, change.entry.amount) == ("Kenji", "1500")


# --- in Redis -------------------------------------------------------------------------------------
@pytest.fixture
def ticker(store):
    return TickerStore(store)


def names(ticker, config):
    return [(e["name"], e["amount"]) for e in ticker.snapshot(config.id)["entries"]]


def test_the_list_is_newest_first_and_ignores_duplicate_deliveries(config, ticker):
    first = record("INSERT", "1", {**GIFT, "name": "First"})
    second = record("INSERT", "2", {**GIFT, "name": "Second"})
    assert ticker.apply(config.id, lines(config, first, second))
    rev = ticker.snapshot(config.id)["rev"]
    assert not ticker.apply(config.id, lines(config, first, second))  # delivered again: no change
    assert names(ticker, config) == [("Second", "25.50"), ("First", "25.50")]
    assert ticker.snapshot(config.id)["rev"] == rev


def test_a_refunded_gift_disappears_and_a_late_duplicate_does_not_bring_it_back(config, ticker):
    gift = record("INSERT", "1", GIFT)
    ticker.apply(config.id, lines(config, gift, record("INSERT", "2", {**GIFT, "name": "Grace"})))
    ticker.apply(config.id, lines(config, record("REMOVE", "1", old=GIFT)))
    assert names(ticker, config) == [("Grace", "25.50")]
    assert not ticker.apply(config.id, lines(config, gift))
    assert names(ticker, config) == [("Grace", "25.50")]


def test_a_correction_keeps_the_gift_in_its_place(config, ticker):
    ticker.apply(
        config.id,
        lines(config, record("INSERT", "1", GIFT), record("INSERT", "2", {**GIFT, "name": "Grace"})),
    )
    ticker.apply(config.id, lines(config, record("MODIFY", "1", {**GIFT, "amount": 40}, old=GIFT)))
    assert names(ticker, config) == [("Grace", "25.50"), ("Ada L.", "40.00")]
    ticker.apply(config.id, lines(config, record("MODIFY", "9", GIFT, old=GIFT)))  # never listed
    assert len(names(ticker, config)) == 2


def test_the_list_keeps_only_the_newest_gifts(config, ticker):
    records = [record("INSERT", str(n), {**GIFT, "name": f"Donor {n}"}) for n in range(KEPT + 15)]
    ticker.apply(config.id, lines(config, *records))
    shown = names(ticker, config)
    assert len(shown) == KEPT and shown[0][0] == f"Donor {KEPT + 14}" and shown[-1][0] == "Donor 15"
    keys = ticker.store.redis.hlen(ticker.keys(config.id)[0])
    assert keys == KEPT  # the hash is trimmed with the order


def test_each_gift_carries_its_stream_position_and_the_list_names_recent_refunds(config, ticker):
    first, second = record("INSERT", "1", GIFT), record("INSERT", "2", {**GIFT, "name": "Grace"})
    ticker.apply(config.id, lines(config, first, second))
    listing = ticker.snapshot(config.id)
    positions = [e["pos"] for e in listing["entries"]]
    assert positions == [
        second["dynamodb"]["SequenceNumber"].zfill(40),
        first["dynamodb"]["SequenceNumber"].zfill(40),
    ]
    assert listing["removed"] == []
    ticker.apply(config.id, lines(config, record("REMOVE", "1", old=GIFT)))
    listing = ticker.snapshot(config.id)
    assert [e["name"] for e in listing["entries"]] == ["Grace"]
    assert listing["removed"] == [lines(config, first)[0].key]  # a screen may still show it


def test_after_redis_lost_the_list_a_worker_starts_again_from_the_gifts_it_last_published(config, store):
    gifts = [record("INSERT", str(n), {**GIFT, "name": f"Donor {n}"}) for n in range(KEPT + 5)]
    for gift in gifts:
        record_batch(config, [gift], store=store)
    before = TickerStore(store).snapshot(config.id)
    store.redis.flushdb()  # Redis restarted empty
    assert TickerStore(store).snapshot(config.id)["entries"] == []

    record_batch(config, [record("INSERT", "new", {**GIFT, "name": "After the loss"})], store=store)
    after = TickerStore(store).snapshot(config.id)
    assert [e["name"] for e in after["entries"]] == ["After the loss"] + [
        e["name"] for e in before["entries"][:-1]
    ]
    assert after["entries"][1:] == before["entries"][:-1]  # the same gifts, positions included

    # The stream replayed from its start (the state and checkpoints went too): old gifts stay below.
    record_batch(config, gifts[:3], store=store)
    assert TickerStore(store).snapshot(config.id)["entries"] == after["entries"]


def test_a_list_that_exists_is_never_overwritten_by_a_remembered_one(config, store):
    record_batch(config, [record("INSERT", "1", {**GIFT, "name": "Remembered"})], store=store)
    for key in TickerStore(store).keys(config.id):
        store.redis.delete(key)
    record_batch(config, [record("INSERT", "2", {**GIFT, "name": "Seeded on top"})], store=store)
    assert names(TickerStore(store), config) == [("Seeded on top", "25.50"), ("Remembered", "25.50")]
    record_batch(config, [record("INSERT", "3", {**GIFT, "name": "Later"})], store=store)
    # The state exists now: the remembered list is not applied again (a refund stays refunded).
    record_batch(config, [record("REMOVE", "1", old=GIFT)], store=store)
    record_batch(config, [record("INSERT", "4", {**GIFT, "name": "Last"})], store=store)
    assert [n for n, _ in names(TickerStore(store), config)] == ["Last", "Later", "Seeded on top"]


def test_record_batch_stores_the_gifts_and_publishes_the_list(config, store):
    pubsub = store.redis.pubsub()
    pubsub.subscribe("events_channel")
    pubsub.get_message(timeout=1)
    record_batch(config, [record("INSERT", "1", GIFT), {"eventName": "bogus"}], store=store)
    message = None
    for _ in range(20):
        message = pubsub.get_message(timeout=0.5)
        if message and message["type"] == "message":
            break
    pubsub.close()
    event = json.loads(message["data"])
    # Donors' names go to the campaign's gifts channel: only streams that show the ticker listen to it.
    assert event["channel"] == f"campaign-{config.slug}.gifts" and event["event_type"] == "ticker"
    body = json.loads(event["data"])
    assert [e["name"] for e in body["entries"]] == ["Ada L."]
    assert "ada@example.org" not in message["data"] and "555 0100" not in message["data"]


def test_record_batch_never_raises(config, store, monkeypatch):
    monkeypatch.setattr(TickerStore, "apply", lambda *a: 1 / 0)
    record_batch(config, [record("INSERT", "1", GIFT)], store=store)  # logged, not raised


def random_batches(seed: int) -> list[list[dict]]:
    """Batches of gifts, corrections, pledges paid later, refunds and re-gifts over few donors."""
    import random

    rng = random.Random(seed)
    live: dict[str, dict] = {}
    batches = []
    for _ in range(rng.randint(1, 4)):
        batch = []
        for _ in range(rng.randint(1, 120)):
            key = str(rng.randint(1, rng.choice([8, 40, 200])))
            item = {**GIFT, "name": f"Donor {key}.{rng.randint(1, 9)}", "amount": Decimal(rng.randint(0, 9))}
            if rng.random() < 0.1:
                item["amount"] = "pledged"  # not a usable gift (yet)
            old = live.get(key)
            if old is None:
                batch.append(record("INSERT", key, item))
                live[key] = item
            elif rng.random() < 0.3:
                batch.append(record("REMOVE", key, old=old))
                del live[key]
            else:
                batch.append(record("MODIFY", key, item, old))
                live[key] = item
        batches.append(batch)
    return batches


@pytest.mark.parametrize("seed", range(12))
def test_a_long_batch_lists_exactly_what_applying_every_line_would(config, ticker, monkeypatch, seed):
    import ingest.ticker

    def listing(campaign_id: int) -> dict:
        snapshot = ticker.snapshot(campaign_id)
        return {"entries": snapshot["entries"], "removed": snapshot["removed"]}

    every_line = config.id + 1000
    for batch in random_batches(seed):
        decoded = [decode_record(r) for r in batch]
        ticker.apply(config.id, ticker_changes(decoded, config))
        with monkeypatch.context() as patched:
            patched.setattr(ingest.ticker, "_first_showable", lambda *_: 0)
            ticker.apply(every_line, ticker_changes(decoded, config))
        assert listing(config.id) == listing(every_line)
    assert listing(config.id)["entries"]  # (the batches did list gifts)
