"""What an item contributes to the metrics, and how a change moves them (pure: no Redis, no Django)."""

from __future__ import annotations

from collections import Counter
from decimal import Decimal

import pytest

from ingest.metrics import (
    MetricSpec,
    contribution_delta,
    distinct_digest,
    item_contribution,
    recount,
)
from ingest.records import RecordError, decode_record
from tests.metric_specs import DONORS, GIFTS, PHONE_RAISED, RAISED
from tests.stream_fixtures import donations

SPECS = (RAISED, GIFTS, DONORS, PHONE_RAISED)
SEED = {
    "email": "a@test.com",
    "donatedAt": "2019-08-07T07:26:56",
    "platform": "Facebook",
    "amount": Decimal("10"),
}


def donor(email: str) -> str:
    return distinct_digest(email)


def gift(amount="10", platform="Facebook", email="a@test.com", **extra) -> dict:
    return {"amount": Decimal(amount), "platform": platform, "email": email, **extra}


class Tally:
    """Aggregates kept only by applying contribution_delta, the way the Redis store applies changes:
    each item's current contribution is replaced by its new one."""

    def __init__(self, specs=SPECS):
        self.specs = specs
        self.current: dict[str, list] = {}
        self.refs: Counter = Counter()

    def put(self, key: str, item: dict | None) -> None:
        new = item_contribution(self.specs, item)
        self.refs.update(contribution_delta(self.current.get(key, []), new))
        self.current[key] = new

    def totals(self) -> dict[str, int]:
        totals = dict.fromkeys((s.slug for s in self.specs), 0)
        distinct: dict[str, set] = {}
        for key, refs in self.refs.items():
            assert refs >= 0, key
            if key[0] == "n":
                totals[key[1]] += refs
            elif refs:
                distinct.setdefault(key[1], set()).add(key[3])
        totals.update({slug: len(values) for slug, values in distinct.items()})
        return totals


# --- the seed example -------------------------------------------------------------------------


def test_the_seed_donation_adds_ten_dollars_to_facebook_and_one_donor():
    assert item_contribution(SPECS, SEED) == [
        ("n", "raised", "Facebook", 1000),
        ("n", "gifts", "Facebook", 1),
        ("d", "donors", "", donor("a@test.com")),
    ]
    assert recount(SPECS, [SEED]).totals == {"raised": 1000, "gifts": 1, "donors": 1, "phone-raised": 0}
    assert recount(SPECS, [SEED]).groups["raised"] == {"Facebook": 1000}


# --- amounts ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("amount", "minor"),
    [
        (Decimal("10"), 1000),
        (Decimal("10.5"), 1050),
        (Decimal("10.000"), 1000),
        (Decimal("0.01"), 1),
        (Decimal("-25.50"), -2550),
        (Decimal("1E+2"), 10000),
        (Decimal("9999999999999.99"), 999999999999999),
        (Decimal("10000000000000.00"), 10**15),
        ("10", 1000),
        (" 10.50 ", 1050),
        ("1e1", 1000),
    ],
)
def test_it_reads_amounts_exactly_in_minor_units(amount, minor):
    assert item_contribution([RAISED], {"amount": amount, "platform": "Web"}) == [
        ("n", "raised", "Web", minor)
    ]


@pytest.mark.parametrize(
    ("amount", "reason"),
    [
        ("ten", "amount 'ten' is not a number"),
        ("", "amount '' is not a number"),
        ("10 dollars", "amount '10 dollars' is not a number"),
        ("$10", "amount '$10' is not a number"),
        ("1,000", "amount '1,000' is not a number"),
        ("1_000", "amount '1_000' is not a number"),
        ("NaN", "amount 'NaN' is not a number"),
        ("Infinity", "amount 'Infinity' is not a number"),
        (True, "amount is a boolean, not a number"),
        (False, "amount is a boolean, not a number"),
        ({"value": Decimal("10")}, "amount is a map, not a number"),
        ([Decimal("10")], "amount is a list, not a number"),
        (frozenset({Decimal("10")}), "amount is a set, not a number"),
        (b"10", "amount is binary, not a number"),
        (None, "amount is null, not a number"),
        (Decimal("10.005"), "amount 10.005 has more than 2 decimal places"),
        ("10.005", "amount 10.005 has more than 2 decimal places"),
        (Decimal("0.001"), "amount 0.001 has more than 2 decimal places"),
        # 38 significant digits: rounding to Python's default 28 would make this a clean 10.00.
        (
            Decimal("10.000000000000000000000000000000000001"),
            "amount 10.000000000000000000000000000000000001 has more than 2 decimal places",
        ),
        (Decimal("10000000000000.01"), "amount 10000000000000.01 is too large"),
        (Decimal("-10000000000000.01"), "amount -10000000000000.01 is too large"),
        (Decimal("12345678901234567890123456789012345678"), "is too large"),
        (Decimal("9.9999999999999999999999999999999999999E+125"), "is too large"),
    ],
)
def test_it_rejects_an_amount_it_cannot_count_with_a_reason(amount, reason):
    with pytest.raises(RecordError) as caught:
        item_contribution(SPECS, gift(platform="Web") | {"amount": amount})
    assert reason in str(caught.value)


def test_it_rejects_a_missing_amount():
    with pytest.raises(RecordError, match="^missing amount$"):
        item_contribution(SPECS, {"platform": "Facebook", "email": "a@test.com"})


def test_an_unusable_item_contributes_nothing_at_all_to_a_recount():
    items = [SEED, gift(amount="5", email="b@test.com") | {"amount": "ten"}, {"platform": "Phone"}]
    assert recount(SPECS, items) == recount(SPECS, [SEED])


def test_integer_places_reject_fractions():
    whole = MetricSpec.build(slug="points", aggregation="sum", value_path="points", decimal_places=0)
    assert item_contribution([whole], {"points": Decimal("7")}) == [("n", "points", "", 7)]
    with pytest.raises(RecordError, match="points 7.5 has more than 0 decimal places"):
        item_contribution([whole], {"points": Decimal("7.5")})


# --- nested paths, missing attributes, filters ------------------------------------------------


def test_it_sums_a_nested_path_for_the_items_its_filter_selects():
    phone = gift(platform="Phone", payment={"amount": Decimal("7.25"), "method": "phone"})
    assert ("n", "phone-raised", "", 725) in item_contribution(SPECS, phone)
    web = gift(platform="Website", payment={"amount": Decimal("7.25")})
    assert [e for e in item_contribution(SPECS, web) if e[1] == "phone-raised"] == []


def test_a_missing_nested_amount_is_rejected_only_where_the_filter_selects_the_item():
    assert item_contribution(SPECS, gift(platform="Website"))  # no payment: not a phone gift, fine
    for payment in ({}, {"method": "phone"}, "by phone"):
        with pytest.raises(RecordError, match="^missing payment.amount$"):
            item_contribution(SPECS, gift(platform="Phone", payment=payment))


@pytest.mark.parametrize(
    ("value", "matches"),
    [
        ("Phone", True),
        (" Phone ", True),
        ("phone", False),
        (None, False),
        ("Website", False),
    ],
)
def test_a_filter_compares_the_attribute_text(value, matches):
    item = {"amount": Decimal("1"), "payment": {"amount": Decimal("1")}}
    if value is not None:
        item["platform"] = value
    assert bool(item_contribution([PHONE_RAISED], item)) == matches


def test_a_filter_on_a_number_or_boolean_matches_its_text():
    by_year = MetricSpec.build(slug="y", aggregation="count", filter_path="year", filter_value="2019")
    assert item_contribution([by_year], {"year": Decimal("2019")}) == [("n", "y", "", 1)]
    assert item_contribution([by_year], {"year": Decimal("2.019E+3")}) == [("n", "y", "", 1)]
    assert item_contribution([by_year], {"year": Decimal("2020")}) == []
    matched = MetricSpec.build(slug="m", aggregation="count", filter_path="giftAid", filter_value="true")
    assert item_contribution([matched], {"giftAid": True}) == [("n", "m", "", 1)]
    assert item_contribution([matched], {"giftAid": False}) == []


def test_missing_group_and_donor_attributes_still_count_the_money():
    entries = item_contribution(SPECS, {"amount": Decimal("3")})
    assert entries == [("n", "raised", "", 300), ("n", "gifts", "", 1)]  # no email: no donor


def test_a_count_with_a_value_path_counts_items_that_have_it():
    with_email = MetricSpec.build(slug="named", aggregation="count", value_path="email")
    assert item_contribution([with_email], {"email": "a@test.com"}) == [("n", "named", "", 1)]
    assert item_contribution([with_email], {"email": None}) == []
    assert item_contribution([with_email], {}) == []


@pytest.mark.parametrize(
    "platform", [{"name": "Facebook", "email": "a@test.com"}, ["Facebook"], frozenset({"Facebook"})]
)
def test_a_group_that_is_not_a_single_value_is_rejected_naming_its_type(platform):
    # Its text would be unstable, and would put donor details on the public page as a group name.
    with pytest.raises(RecordError, match="^platform is a (map|list|set), not a single value$"):
        item_contribution(SPECS, gift(platform=platform))


def test_a_donor_that_is_not_a_single_value_is_rejected_naming_its_type():
    with pytest.raises(RecordError, match="^email is a set, not a single value$"):
        item_contribution(SPECS, gift(email=frozenset({"a@test.com", "b@test.com"})))


# --- count distinct -----------------------------------------------------------------------------


def test_donors_are_the_same_whatever_the_case_or_spacing_of_their_email():
    assert donor("A@Test.com ") == donor("a@test.com")
    assert recount(SPECS, [gift(email="A@Test.com"), gift(email=" a@test.com")]).totals["donors"] == 1


def test_numeric_donor_ids_of_38_digits_stay_distinct():
    by_ref = MetricSpec.build(slug="donors", aggregation="count_distinct", value_path="donorRef")
    items = [
        {"donorRef": Decimal("12345678901234567890123456789012345678")},
        {"donorRef": Decimal("12345678901234567890123456789012345679")},
    ]
    assert recount([by_ref], items).totals["donors"] == 2
    assert recount([by_ref], [{"donorRef": Decimal("100")}, {"donorRef": Decimal("1E+2")}]).totals == {
        "donors": 1
    }


def test_a_donor_with_two_gifts_counts_once_until_both_are_deleted():
    table = {
        "g1": gift("10", "Facebook"),
        "g2": gift("5", "Website"),
        "g3": gift("1", "Website", "b@test.com"),
    }
    tally = Tally()
    for key, item in table.items():
        tally.put(key, item)
    assert recount(SPECS, table.values()).totals["donors"] == tally.totals()["donors"] == 2

    del table["g1"]
    tally.put("g1", None)
    assert recount(SPECS, table.values()).totals["donors"] == tally.totals()["donors"] == 2

    del table["g2"]
    tally.put("g2", None)
    assert recount(SPECS, table.values()).totals["donors"] == tally.totals()["donors"] == 1

    del table["g3"]
    tally.put("g3", None)
    assert (
        recount(SPECS, table.values()).totals
        == tally.totals()
        == dict.fromkeys(("raised", "gifts", "donors", "phone-raised"), 0)
    )


def test_per_group_donor_counts_stay_exact_under_deletes():
    donors_by_platform = MetricSpec.build(
        slug="donors", aggregation="count_distinct", value_path="email", group_path="platform"
    )
    items = [gift("10", "Facebook"), gift("5", "Facebook"), gift("5", "Phone")]
    assert recount([donors_by_platform], items).groups["donors"] == {"Facebook": 1, "Phone": 1}
    assert recount([donors_by_platform], items).totals["donors"] == 1
    assert recount([donors_by_platform], items[1:]).groups["donors"] == {"Facebook": 1, "Phone": 1}
    assert recount([donors_by_platform], items[2:]).groups["donors"] == {"Phone": 1}


# --- contribution_delta ---------------------------------------------------------------------------


def delta(old: dict | None, new: dict | None) -> dict:
    return dict(contribution_delta(item_contribution(SPECS, old), item_contribution(SPECS, new)))


def test_an_insert_adds_the_whole_contribution():
    assert delta(None, SEED) == {
        ("n", "raised", "Facebook"): 1000,
        ("n", "gifts", "Facebook"): 1,
        ("d", "donors", "", donor("a@test.com")): 1,
    }


def test_a_remove_takes_the_whole_contribution_away():
    assert delta(SEED, None) == {
        ("n", "raised", "Facebook"): -1000,
        ("n", "gifts", "Facebook"): -1,
        ("d", "donors", "", donor("a@test.com")): -1,
    }


def test_an_amount_change_moves_only_the_sum():
    assert delta(gift("10"), gift("25.50")) == {("n", "raised", "Facebook"): 1550}
    assert delta(gift("25.50"), gift("10")) == {("n", "raised", "Facebook"): -1550}


def test_a_platform_change_moves_the_money_and_the_gift_between_groups():
    assert delta(gift("10", "Facebook"), gift("10", "Website")) == {
        ("n", "raised", "Facebook"): -1000,
        ("n", "raised", "Website"): 1000,
        ("n", "gifts", "Facebook"): -1,
        ("n", "gifts", "Website"): 1,
    }


def test_an_amount_and_platform_change_together():
    assert delta(gift("10", "Facebook"), gift("25.50", "Website")) == {
        ("n", "raised", "Facebook"): -1000,
        ("n", "raised", "Website"): 2550,
        ("n", "gifts", "Facebook"): -1,
        ("n", "gifts", "Website"): 1,
    }


def test_an_email_change_moves_the_gift_to_another_donor():
    assert delta(gift(email="a@test.com"), gift(email="b@test.com")) == {
        ("d", "donors", "", donor("a@test.com")): -1,
        ("d", "donors", "", donor("b@test.com")): 1,
    }


def test_a_change_into_the_filter_adds_to_the_filtered_sum():
    web = gift("10", "Website", payment={"amount": Decimal("10")})
    phone = gift("10", "Phone", payment={"amount": Decimal("10")})
    assert delta(web, phone)[("n", "phone-raised", "")] == 1000
    assert delta(phone, web)[("n", "phone-raised", "")] == -1000


def test_a_change_that_touches_no_metric_moves_nothing():
    assert delta(gift(note="hi"), gift(note="thanks", donatedAt="2019-08-07T07:26:56")) == {}
    assert delta(gift("10"), gift("10.00")) == {}


def test_a_change_to_an_unusable_amount_takes_the_old_contribution_away():
    # What the consumer does with a rejected MODIFY: the item now contributes nothing.
    assert contribution_delta(item_contribution(SPECS, SEED), []) == Counter(delta(SEED, None))


def test_replaying_the_fixture_stream_through_deltas_matches_a_recount_at_every_step():
    table: dict[str, dict] = {}
    tally = Tally()
    for record in donations("lambda", "NEW_AND_OLD_IMAGES"):
        change = decode_record(record)
        tally.put(change.item_key, change.new_image)
        if change.new_image is None:
            table.pop(change.item_key, None)
        else:
            table[change.item_key] = change.new_image
        assert tally.totals() == recount(SPECS, table.values()).totals
    assert table == {}


def test_the_fixture_stream_moves_the_aggregates_as_the_records_say():
    insert_1, modify_1, insert_2, *_ = [decode_record(r) for r in donations("boto3", "NEW_AND_OLD_IMAGES")]
    assert delta(None, insert_1.new_image) == {
        ("n", "raised", "Facebook"): 1000,
        ("n", "gifts", "Facebook"): 1,
        ("d", "donors", "", donor("a@test.com")): 1,
    }
    assert delta(modify_1.old_image, modify_1.new_image) == {
        ("n", "raised", "Facebook"): -1000,
        ("n", "raised", "Website"): 2550,
        ("n", "gifts", "Facebook"): -1,
        ("n", "gifts", "Website"): 1,
    }
    assert delta(None, insert_2.new_image)[("n", "phone-raised", "")] == 123456789012345


# --- recount ----------------------------------------------------------------------------------


def test_a_recount_sums_groups_and_totals():
    items = [
        gift("10", "Facebook"),
        gift("2.50", "Phone", "b@test.com", payment={"amount": Decimal("2.5")}),
        gift("1", "Facebook", "c@test.com"),
        {"amount": Decimal("4")},
    ]
    result = recount(SPECS, items)
    assert result.totals == {"raised": 1750, "gifts": 4, "donors": 3, "phone-raised": 250}
    assert result.groups == {
        "raised": {"Facebook": 1100, "Phone": 250, "": 400},
        "gifts": {"Facebook": 2, "Phone": 1, "": 1},
        "donors": {"": 3},
        "phone-raised": {"": 250},
    }


def _reference_contribution(specs, item):
    """item_contribution as the plain reading of metric_entry gives it."""
    from ingest.metrics import metric_entry

    return [e for e in (metric_entry(spec, item) for spec in specs) if e is not None]


def _answer(evaluate, specs, item):
    try:
        return evaluate(specs, item)
    except RecordError as exc:
        return ("rejected", str(exc))


@pytest.mark.parametrize("seed", range(5))
def test_the_compiled_evaluators_answer_as_metric_entry_does_for_any_item(seed):
    import random

    rng = random.Random(seed)
    values = [
        None, "", " Web ", "web", "Phone", Decimal("10"), Decimal("10.00"), Decimal("12.345"),
        Decimal("-0"), Decimal("1E+20"), True, False, b"\x00", {"value": Decimal(5)}, [Decimal(1)],
        frozenset({"a"}), "ten", "Ada@Example.org", "ada@example.org ", Decimal("1"), 1,
    ]  # fmt: skip
    specs = tuple(
        MetricSpec.build(slug=f"m{n}", **kw)
        for n, kw in enumerate(
            [
                {"aggregation": "sum", "value_path": "amount", "group_path": "platform", "decimal_places": 2},
                {
                    "aggregation": "sum",
                    "value_path": "gift.amount",
                    "filter_path": "platform",
                    "filter_value": "Web",
                },
                {"aggregation": "count", "group_path": "platform"},
                {
                    "aggregation": "count",
                    "value_path": "email",
                    "filter_path": "paid",
                    "filter_value": "true",
                },
                {"aggregation": "count_distinct", "value_path": "email", "group_path": "gift.kind"},
            ]
        )
    )
    for _ in range(3000):
        item = {
            name: rng.choice(values) for name in ("amount", "platform", "email", "paid") if rng.random() < 0.8
        }
        if rng.random() < 0.5:
            item["gift"] = rng.choice(
                [{"amount": rng.choice(values), "kind": rng.choice(values)}, "flat", None]
            )
        for chosen in (specs, specs[:1], specs[2:], specs[::-1]):
            assert _answer(item_contribution, chosen, item) == _answer(
                _reference_contribution, chosen, item
            ), item
