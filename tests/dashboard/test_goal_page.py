"""The snapshot endpoint and the server-rendered goal page (first paint), without a browser."""

from __future__ import annotations

import json
import re
from decimal import Decimal

import pytest

from dashboard.screens import bar_rows, goal_layout, whole_percent
from dashboard.templatetags.dashboard_format import format_amount
from fundraiser.models import Metric
from fundraiser.selectors import campaign_config
from ingest.metrics import item_contribution
from ingest.rebuild import SegmentProgress
from ingest.records import item_key_digest, sequence_key
from ingest.store import LIVE, ItemChange
from tests.factories import make_campaign, make_live

DONATIONS = [
    {"id": "1", "email": "a@test.com", "platform": "Facebook", "amount": 10},
    {"id": "2", "email": "b@test.com", "platform": "Phone", "amount": Decimal("25.50")},
    {"id": "3", "email": "a@test.com", "platform": "Website", "amount": 1000},
]


def shown(html: str, marker: str) -> tuple[str, str]:
    """(data-value, text) of the first number after `marker` in the page."""
    rest = html[html.index(marker) :]
    match = re.search(r'data-value="([^"]*)"[^>]*>([^<]*)<', rest)
    return match.group(1), match.group(2)


def seed(store, campaign, items) -> None:
    config = campaign_config(campaign)
    make_live(store, campaign.pk, config.specs)
    changes = [
        ItemChange(
            item_key_digest({"id": item["id"]}),
            sequence_key(str(number)),
            {LIVE: item_contribution(config.specs, item)},
        )
        for number, item in enumerate(items, start=1)
    ]
    assert store.apply_batch(campaign.pk, changes=changes).status == "ok"


def building(store, campaign, *, estimate: int, scanned: list[int], gen: str = "", done: bool = False) -> str:
    """A rebuild under way, as ingest/rebuild.py records it: its plan and each segment's items."""
    if not gen:
        store.ensure_meta(campaign.pk)
        plan = json.dumps({"segments": len(scanned), "estimate": estimate, "started": 0})
        gen = store.start_generation(campaign.pk, specs="[]", plan=plan, reason="test", replace=True)
    store.set_meta(
        campaign.pk,
        **{
            f"scan:{gen}:{segment}": SegmentProgress(segment, items=items, done=done).to_json()
            for segment, items in enumerate(scanned)
        },
    )
    return gen


@pytest.mark.django_db
class TestSnapshotAndFirstPaint:
    def test_the_snapshot_returns_the_stored_numbers(self, client, store):
        campaign = make_campaign()
        seed(store, campaign, DONATIONS)
        body = client.get("/c/gala/snapshot.json").json()
        assert body["campaign"] == "gala" and body["currency"] == "USD" and body["version"] >= 1
        assert body["metrics"]["raised"] == {
            "label": "Raised",
            "money": True,
            "total": "1035.50",
            "groups": [
                {"name": "Website", "value": "1000.00"},
                {"name": "Phone", "value": "25.50"},
                {"name": "Facebook", "value": "10.00"},
            ],
        }
        assert body["metrics"]["donors"]["total"] == "2"
        assert body["metrics"]["gifts"]["total"] == "3"
        assert body["goal"] == {
            "label": "Goal",
            "metric": "raised",
            "group": "",
            "current": "1035.50",
            "target": "1000.00",
            "percent": 103.55,
        }

    def test_the_page_renders_the_numbers_on_first_paint(self, client, store):
        campaign = make_campaign()
        seed(store, campaign, DONATIONS)
        html = client.get("/c/gala/").content.decode()
        assert shown(html, 'id="raised"') == ("1035.50", "$1,035.50")
        assert shown(html, 'id="percent"') == ("103", "103")  # rounded down
        assert shown(html, 'id="target"') == ("1000.00", "$1,000")
        assert shown(html, 'data-metric="donors"') == ("2", "2")
        assert shown(html, 'data-metric="gifts"') == ("3", "3")
        names = [html.index(f'data-group="{name}"') for name in ("Website", "Phone", "Facebook")]
        assert names == sorted(names)  # largest first
        assert shown(html, 'data-group="Phone"') == ("25.50", "$25.50")
        assert "a@test.com" not in html
        snapshot = html.split('<script id="snapshot" type="application/json">')[1].split("</script>")[0]
        assert json.loads(snapshot)["metrics"]["raised"]["total"] == "1035.50"

    def test_a_campaign_not_counted_yet_says_recalculating_and_shows_no_number(self, client, store):
        make_campaign()  # no backfill has run: there are no aggregates at all
        html = client.get("/c/gala/").content.decode()
        assert 'id="recalculating"' in html
        assert 'id="raised"' not in html and "$0.00" not in html
        assert client.get("/c/gala/snapshot.json").json()["status"] == "recalculating"

    def test_while_recalculating_the_snapshot_and_first_paint_say_how_far_the_rebuild_is(self, client, store):
        campaign = make_campaign()
        gen = building(store, campaign, estimate=200, scanned=[45, 45])
        body = client.get("/c/gala/snapshot.json").json()
        assert body["status"] == "recalculating" and body["metrics"] == {}
        assert body["progress"] == {"percent": 45.0}
        html = client.get("/c/gala/").content.decode()
        assert re.search(r'id="recalc-percent">45%<', html)

        # More items than the (hours old) estimate, then a finished scan waiting for the stream:
        # never 100 % before the numbers are live.
        building(store, campaign, estimate=200, scanned=[150, 120], gen=gen)
        assert client.get("/c/gala/snapshot.json").json()["progress"]["percent"] == 99.9
        building(store, campaign, estimate=200, scanned=[60, 70], gen=gen, done=True)
        assert client.get("/c/gala/snapshot.json").json()["progress"] == {"percent": 99.9}

    def test_a_live_campaign_has_no_progress_even_while_a_new_generation_is_built(self, client, store):
        campaign = make_campaign()
        seed(store, campaign, DONATIONS)
        building(store, campaign, estimate=200, scanned=[10, 10])  # new metric definitions, say
        body = client.get("/c/gala/snapshot.json").json()
        assert body["status"] == "live" and "progress" not in body

    def test_a_campaign_without_data_shows_zero_and_waits_for_the_first_gift(self, client, store):
        seed(store, make_campaign(), [])
        html = client.get("/c/gala/").content.decode()
        assert shown(html, 'id="raised"') == ("0.00", "$0.00")
        assert 'id="bars-empty">' in html  # shown, not hidden

    def test_donor_typed_names_are_escaped(self, client, store):
        campaign = make_campaign()
        seed(
            store,
            campaign,
            [
                {"id": "1", "email": "a@test.com", "platform": "<script>alert(1)</script>", "amount": 5},
                {"id": "2", "email": "b@test.com", "platform": "<img src=x onerror=alert(1)>", "amount": 4},
            ],
        )
        html = client.get("/c/gala/").content.decode()
        assert "<script>alert" not in html and "<img" not in html
        assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html
        assert "&lt;img src=x onerror=alert(1)&gt;" in html

    def test_an_unknown_campaign_is_not_found(self, client, store):
        assert client.get("/c/nope/").status_code == 404
        assert client.get("/c/nope/snapshot.json").status_code == 404

    def test_without_a_goal_the_first_money_metric_is_the_headline(self, client, store):
        campaign = make_campaign()
        campaign.headline_goal = None
        campaign.goal_amount = Decimal("0")
        campaign.save()
        seed(store, campaign, DONATIONS[:1])
        html = client.get("/c/gala/").content.decode()
        assert shown(html, 'id="raised"') == ("10.00", "$10.00") and 'id="percent"' not in html


@pytest.mark.django_db
def test_the_layout_puts_the_goal_metric_big_and_breaks_it_down_by_its_group():
    layout = goal_layout(campaign_config(make_campaign()))
    assert (layout.headline, layout.breakdown, layout.breakdown_by) == ("raised", "raised", "platform")
    assert layout.stats == ("donors", "gifts")


@pytest.mark.django_db
def test_the_layout_breaks_down_a_grouped_money_metric_when_the_headline_has_no_groups():
    campaign = make_campaign()
    campaign.metrics.filter(slug="raised").update(group_by_path="")
    Metric.objects.create(
        campaign=campaign,
        slug="by-team",
        aggregation="sum",
        value_path="amount",
        group_by_path="team.name",
        decimal_places=2,
    )
    layout = goal_layout(campaign_config(campaign))
    assert (layout.headline, layout.breakdown, layout.breakdown_by) == ("raised", "by-team", "name")


@pytest.mark.parametrize(
    ("value", "currency", "shown"),
    [
        ("1234.50", "USD", "$1,234.50"),
        ("0.00", "USD", "$0.00"),
        ("-12.00", "USD", "-$12.00"),
        ("1234567.89", "EUR", "€1,234,567.89"),
        ("1500", "JPY", "¥1,500"),
        ("10.00", "CHF", "CHF\u00a010.00"),
        ("12345", "", "12,345"),
        ("-0.50", "GBP", "-£0.50"),
        (
            "99999999999999999999999999999999999.99",
            "USD",
            "$99,999,999,999,999,999,999,999,999,999,999,999.99",
        ),
    ],
)
def test_amounts_are_formatted_exactly_like_intl_number_format_in_english(value, currency, shown):
    assert format_amount(value, currency) == shown


def test_a_goal_drops_a_fraction_of_zeros_only():
    assert format_amount("50000.00", "USD", trim_zero_fraction=True) == "$50,000"
    assert format_amount("50000.50", "USD", trim_zero_fraction=True) == "$50,000.50"


def test_the_percent_is_rounded_down_exactly():
    assert whole_percent("999.99", "1000.00") == 99
    assert whole_percent("1000.00", "1000.00") == 100
    assert whole_percent("-5.00", "1000.00") == 0
    assert whole_percent("5.00", "0.00") == 0


def test_bars_are_sized_against_the_largest_and_capped():
    groups = [{"name": str(n), "value": f"{100 - n}.00"} for n in range(10)]
    rows, more = bar_rows(groups, limit=8)
    assert [r["width"] for r in rows[:2]] == ["100.00", "99.00"] and len(rows) == 8 and more == 2
    assert bar_rows([{"name": "x", "value": "0.00"}])[0][0]["width"] == "0"
