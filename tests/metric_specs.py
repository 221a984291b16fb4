"""Metrics the engine's tests count: the demo campaign's (devtools/campaign.py) and variants of it."""

from __future__ import annotations

from dataclasses import replace

from devtools import campaign
from devtools.campaign import MetricDefinition

RAISED, GIFTS, DONORS = campaign.specs()
DONORS_BY_PLATFORM = replace(campaign.DONORS, group_by_path="platform").spec


def money_sum(slug: str, value_path: str, group_by_path: str = "", **only: str) -> MetricDefinition:
    """A sum in cents like the demo's `raised`; `only` takes filter_path and filter_value."""
    return replace(
        campaign.RAISED, slug=slug, label=slug, value_path=value_path, group_by_path=group_by_path, **only
    )


# A sum at a nested path, of phone gifts only.
PHONE_RAISED = money_sum("phone-raised", "payment.amount", filter_path="platform", filter_value="Phone").spec
# A sum by team, of items whose status (which updates change) is "paid".
PAID = money_sum("paid", "amount", "team", filter_path="status", filter_value="paid")
