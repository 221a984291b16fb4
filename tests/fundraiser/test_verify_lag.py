"""Review of issue 11 (verify totals): "settled" is decided by the live version alone (unchanged
from before the scan to SETTLE_SECONDS after it). A consumer that is merely behind (a task handing
over, a worker killed and its lease not yet expired, a slow poll) changes no version, so a write
made just before "Verify totals" is in the recount, not yet in Redis, and the pass counts as
settled: the report shows a DIFFERENCE with the rebuild button, for a table that then settles and
verified clean with no rebuild at all. Now a pass is settled only if every readable shard was also
read to its tip after the scan ended (meta `tip:<shard>`, as a rebuild's swap waits for)."""

from __future__ import annotations

import pytest

from fundraiser import verify as verify_module
from fundraiser.models import Verification
from fundraiser.selectors import campaign_config
from fundraiser.verify import verification_run
from ingest.consumer import Consumer
from tests.factories import aggregates_settled, make_campaign, step_until
from tests.streamsim import StreamSim, stream_caught_up

pytestmark = pytest.mark.django_db(transaction=True)


def test_a_consumer_a_few_seconds_behind_is_changing_not_a_difference(store, monkeypatch):
    sim = StreamSim(shards=1, seed=2)
    sim.install(monkeypatch)
    for i in range(20):
        sim.put({"id": f"d{i}", "amount": 10, "platform": "Website", "name": f"D{i}", "email": f"{i}@x.org"})
    campaign = make_campaign(endpoint_url=sim.endpoint_url)
    config = campaign_config(campaign)
    consumer = Consumer(store=store, consumer_id="c", load_configs=lambda: [config])
    step_until(
        consumer, lambda: aggregates_settled(store, config.id) and stream_caught_up(store, config.id, sim)
    )

    # One gift, written a moment before the organizer clicks "Verify totals"; the consumer is a
    # few seconds behind (here: not stepped during the verification, which takes ~2 s).
    sim.put({"id": "late", "amount": 25, "platform": "Website", "name": "Late", "email": "l@x.org"})
    monkeypatch.setattr(verify_module, "SETTLE_SECONDS", 2.0)
    first = verification_run(verification_id=Verification.objects.create(campaign=campaign).pk, store=store)
    print("verify while the consumer is behind:", verify_module.outcome_text(first),
          "| settled:", first.report["settled"])  # fmt: skip

    step_until(consumer, lambda: stream_caught_up(store, config.id, sim))  # it catches up by itself
    second = verification_run(verification_id=Verification.objects.create(campaign=campaign).pk, store=store)
    print("verify again, no rebuild:", verify_module.outcome_text(second))
    assert second.report["differences"] == 0
    assert first.report["differences"] == 0, "a lagging consumer was reported as a DIFFERENCE"
