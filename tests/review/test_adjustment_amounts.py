"""Review of issue 11 (adjustments): amounts the forms accept that the engine then counts nowhere
in the sums, silently, while the audit list, the paddle total and "Verify totals" count them.

1. A paddle level's amount is never checked against the sums' decimal places (only the Adjustment
   form is): on a campaign kept in whole units (JPY, decimal_places=0) a 1,000.50 level records
   paddles that count as a gift and a donor but add nothing to "raised"; the paddle screen's
   running total says 1,000.50.
2. The Adjustment form checks decimal places but not the engine's bound on one value
   (MAX_MINOR_UNITS = 10^15 minor units): at 6 decimal places, a 2,000,000,000 adjustment is
   accepted and counts nothing; verify counts it (no bound there), so it reports a difference that
   no rebuild can fix.
"""

from __future__ import annotations

from decimal import Decimal

import pytest
from django.contrib.auth.models import User

from fundraiser.adjustments import paddle_summary
from fundraiser.models import Adjustment, Membership, Metric, PaddleLevel
from fundraiser.selectors import campaign_config
from fundraiser.verify import Tally, count_adjustments
from tests.factories import make_campaign, make_live

pytestmark = pytest.mark.django_db(transaction=True)  # on_commit: the web process counts it


def manager(client, campaign):
    user = User.objects.create_user("mia", "m@example.org", "a-long-password-1", is_staff=True)
    Membership.objects.create(campaign=campaign, user=user, role=Membership.MANAGER)
    client.force_login(user)
    return client


def totals(store, config):
    return {slug: v.total for slug, v in store.snapshot(config.id, config.displays).metrics.items()}


def test_a_paddle_level_with_cents_on_a_whole_unit_campaign_adds_nothing_to_the_sums(client, store):
    campaign = make_campaign()
    Metric.objects.filter(campaign=campaign, aggregation=Metric.SUM).update(decimal_places=0)  # JPY
    config = campaign_config(campaign)
    make_live(store, config.id, config.specs)
    organizer = manager(client, campaign)
    response = organizer.post("/admin/fundraiser/paddlelevel/add/",
                              {"campaign": campaign.pk, "amount": "1000.50", "label": "x"})  # fmt: skip
    print("add paddle level 1000.50:", response.status_code)
    level = PaddleLevel.objects.get(campaign=campaign)
    organizer.post(f"/admin/fundraiser/adjustment/paddle/{campaign.pk}/", {"paddle": "7", "level": level.pk})
    assert Adjustment.objects.filter(kind=Adjustment.PADDLE).count() == 1
    shown = totals(store, config)
    print("live totals:", shown, "| paddle screen total:", paddle_summary(campaign)["total"])
    assert shown["raised"] != 0 or shown["gifts"] == 0, "a paddle counted as a gift with no amount"


def test_an_accepted_huge_adjustment_counts_nothing_and_verify_flags_it_forever(client, store):
    campaign = make_campaign()
    Metric.objects.filter(campaign=campaign, aggregation=Metric.SUM).update(decimal_places=6)
    config = campaign_config(campaign)
    make_live(store, config.id, config.specs)
    response = manager(client, campaign).post(
        "/admin/fundraiser/adjustment/add/",
        {"campaign": campaign.pk, "amount": "2000000000", "group": "Pledge", "note": "board pledge"},
    )
    print("add adjustment 2,000,000,000 at 6 places:", response.status_code)
    accepted = Adjustment.objects.filter(campaign=campaign).exists()
    recount = Tally()
    count_adjustments(config.specs, config.id, recount)
    live = totals(store, config)["raised"]
    print("accepted:", accepted, "| live raised:", live, "| verify's recount of it:", recount.sums.get("raised"))
    assert not accepted or live == sum(recount.sums["raised"].values())
