"""Acceptance 3 (issue 11): "Verify totals" on a table under live writes reports no difference once
settled, and reports the difference after a deliberate corruption of one Redis aggregate.

`make test` verifies a 3,000-item table; `make verify-soak` (VERIFY_ITEMS=50000) the 50,000 of the
acceptance. The table and its stream are tests/streamsim.py (moto takes about 350 writes a second:
50,000 items would take minutes to write alone); the recount reads it through the same client seam.
"""

from __future__ import annotations

import os
import time
from decimal import Decimal

import pytest

from fundraiser.adjustments import adjustment_record
from fundraiser.models import Verification
from fundraiser.selectors import campaign_config
from fundraiser.verify import verification_run
from ingest.consumer import Consumer
from tests.background import GiftStream, Worker
from tests.factories import aggregates_settled, make_campaign
from tests.streamsim import StreamSim, stream_caught_up

pytestmark = pytest.mark.django_db(transaction=True)  # the consumer thread reads the adjustments

ITEMS = int(os.environ.get("VERIFY_ITEMS", "3000"))


def verify(campaign, store) -> Verification:
    run = Verification.objects.create(campaign=campaign)
    return verification_run(verification_id=run.pk, store=store)


def wait(done, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while not done():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.1)


def test_verify_totals_is_clean_once_settled_and_loud_after_a_corruption(store, monkeypatch):
    sim = StreamSim(shards=2, seed=5)
    sim.install(monkeypatch)
    gifts = GiftStream(sim.put, rate=20)
    started = time.monotonic()
    gifts.give(ITEMS)
    sim.put({"id": "broken", "amount": "ten", "platform": "Website"})  # unusable: counted by neither
    campaign = make_campaign(endpoint_url=sim.endpoint_url)
    config = campaign_config(campaign)
    adjustment_record(campaign=campaign, by=None, amount=Decimal("250.00"), group="Cash in the room")
    worker = Worker(Consumer(store=store, consumer_id="verify", load_configs=lambda: [config])).start()
    try:
        wait(
            lambda: aggregates_settled(store, config.id) and stream_caught_up(store, config.id, sim),
            max(120, ITEMS // 40),
        )
        print(f"{ITEMS} items written and counted in {time.monotonic() - started:.1f} s")
        gifts.start()  # live writes during the next verification
        live = verify(campaign, store)
        gifts.stop()
        print("under live writes:", live.report["passes"], f"{live.report['seconds']} s")
        assert live.state == Verification.DONE and live.report["differences"] == 0, live.report
        wait(lambda: stream_caught_up(store, config.id, sim), 30)

        settled = verify(campaign, store)
        print("settled:", settled.report["passes"], f"{settled.report['seconds']} s")
        report = settled.report
        assert report["settled"] and report["differences"] == 0 and report["changing"] == 0
        assert report["items"] == len(sim.items()) and report["unusable"] == 1
        cash = next(row for row in report["rows"] if row["group"] == "Cash in the room")
        assert cash["live"] == cash["recount"] == "250.00"

        gen = store.meta(config.id)["gen"]
        store.redis.hincrby(store.metric_key(config.id, gen, "raised"), "g:Website", 1)  # one cent, one cell
        corrupted = verify(campaign, store)
        different = [row for row in corrupted.report["rows"] if row["status"] == "different"]
        assert [(r["metric"], r["group"], r["difference"]) for r in different] == [
            ("raised", "Website", "0.01")
        ]
        print("after corruption:", corrupted.report["passes"], f"{corrupted.report['seconds']} s")
    finally:
        gifts.stop()
        worker.stop()
