"""Review of issue 11 (verify totals): the recount uses the campaign's metric definitions as they are
in the database now, and compares them with the *live* generation, which was built with the old
ones while a rebuild to the new ones is still running (a changed definition always starts one).
Verifying right after editing a metric therefore reports settled DIFFERENCES on every regrouped
cell, with the red "Rebuild" button; pressing it restarts the rebuild that was already under way
(replace=True). Now the recount uses the live generation's own definitions (meta `specs:<gen>`), and
while a rebuild runs the report offers none (a POST of its button restarts nothing)."""

from __future__ import annotations

import pytest

from fundraiser import verify as verify_module
from fundraiser.models import Metric, Verification
from fundraiser.selectors import campaign_config
from fundraiser.verify import verification_run
from ingest.consumer import Consumer
from tests.factories import aggregates_settled, make_campaign, step_until
from tests.streamsim import StreamSim, stream_caught_up

pytestmark = pytest.mark.django_db(transaction=True)


def test_verify_right_after_a_metric_edit_reports_no_differences_and_offers_no_rebuild(
    store, monkeypatch, admin_client
):
    sim = StreamSim(shards=1, seed=4)
    sim.install(monkeypatch)
    for i in range(30):
        platform = ("Website", "App", "Phone")[i % 3]
        sim.put(
            {"id": f"d{i}", "amount": 10 + i, "platform": platform, "name": f"D{i}", "email": f"{i}@x.org"}
        )
    campaign = make_campaign(endpoint_url=sim.endpoint_url)
    configs = [campaign_config(campaign)]
    consumer = Consumer(store=store, consumer_id="c", load_configs=lambda: configs)
    step_until(
        consumer, lambda: aggregates_settled(store, campaign.pk) and stream_caught_up(store, campaign.pk, sim)
    )
    assert verification_run(verification_id=Verification.objects.create(campaign=campaign).pk,
                            store=store).report["differences"] == 0  # fmt: skip

    # The organizer breaks "donors" down by platform; the consumer starts the rebuild it needs.
    Metric.objects.filter(campaign=campaign, slug="donors").update(group_by_path="platform")
    configs[0] = campaign_config(campaign)
    consumer.configs_loaded = -float("inf")
    step_until(consumer, lambda: bool(store.meta(campaign.pk).get("building")))
    print("rebuild under way:", store.meta(campaign.pk).get("rebuild_reason"))

    run = verification_run(verification_id=Verification.objects.create(campaign=campaign).pk, store=store)
    different = [
        (r["metric"], r["group"], r["difference"]) for r in run.report["rows"] if r["status"] == "different"
    ]
    print("verify:", verify_module.outcome_text(run), "| settled:", run.report["settled"], "|", different)
    assert run.report["differences"] == 0, "a rebuild in progress was reported as a difference"

    report = f"/admin/fundraiser/verification/{run.pk}/report/"
    page = admin_client.get(report).content.decode()
    assert 'data-testid="rebuild"' not in page and "A rebuild is under way" in page
    building = store.meta(campaign.pk)["building"]
    admin_client.post(report, {"rebuild": "1"})  # an old page's button, or a crafted POST
    assert store.meta(campaign.pk)["building"] == building, "the running rebuild was restarted"
