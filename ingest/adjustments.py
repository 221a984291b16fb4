"""Adjustments: amounts organizers record by hand (cash in the room, a paddle raise), counted by the
engine as synthetic items of the campaign.

The configuration app's database is their source of truth; the engine gets them through a port
(ingest/ports.py `campaign_adjustments`). Each one is an item under its own key namespace,
`adj:<id>` (items of the table are keyed by a 24-hex-digit digest, so the two never meet), whose
sequence number is the adjustment's version (1 when recorded, 2 once reversed). Sequence numbers are
compared per item key only (ingest/items.py `newer`), so these never race real stream records. It
goes through the same apply path as stream records (Store.apply_batch): applying it twice changes
nothing, and a reversal (a higher version that contributes nothing) wins whatever order the two
arrive in. See docs/correctness.md ("Adjustments").
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass
from decimal import Decimal

from . import ports
from .config import CampaignConfig
from .metrics import (
    COUNT,
    COUNT_DISTINCT,
    MAX_MINOR_UNITS,
    NO_GROUP,
    SUM,
    Entry,
    MetricSpec,
    distinct_digest,
    exact_minor_units,
)
from .rebuild import Generations
from .records import SEQUENCE_WIDTH
from .store import ApplyResult, ItemChange, Store, apply_what_fits, building_is, generations_are

log = logging.getLogger(__name__)

KEY_PREFIX = "adj:"
RETRIES = 3  # a rebuild starting or swapping between the read of the generations and the write


@dataclass(frozen=True)
class Adjustment:
    """One adjustment as the engine counts it (fundraiser/adjustments.py builds these)."""

    id: int
    version: int  # 1 when recorded; each reversal (or restoration) is a higher version
    amount: Decimal
    group: str
    counts_as_gift: bool = False
    counts_as_donor: bool = False
    reversed: bool = False
    donor: str = ""  # who counts as the donor (e.g. "paddle:123"); "" for this adjustment alone

    @property
    def item_key(self) -> str:
        return f"{KEY_PREFIX}{self.id}"

    @property
    def sequence(self) -> str:
        return str(self.version).rjust(SEQUENCE_WIDTH, "0")


def adjustment_contribution(specs: Iterable[MetricSpec], adjustment: Adjustment) -> list[Entry]:
    """What an adjustment adds to each metric: its amount to every sum, in its group (for a metric
    with a group-by); one gift to counts and one donor to distinct counts only if the organizer
    said so. Filtered metrics skip it (a filter names an attribute of the table's items). An
    amount a sum cannot hold exactly (more decimal places than it keeps) counts nothing there."""
    if adjustment.reversed:
        return []
    entries: list[Entry] = []
    for spec in specs:
        if spec.filter_path:
            continue
        group = adjustment.group.strip() if spec.group_path else NO_GROUP
        if spec.aggregation == SUM:
            minor = exact_minor_units(adjustment.amount, spec.decimal_places)
            if minor is not None and abs(minor) <= MAX_MINOR_UNITS:
                entries.append(("n", spec.slug, group, minor))
        elif spec.aggregation == COUNT and adjustment.counts_as_gift:
            entries.append(("n", spec.slug, group, 1))
        elif spec.aggregation == COUNT_DISTINCT and adjustment.counts_as_donor:
            donor = adjustment.donor or f"{KEY_PREFIX}{adjustment.id}"
            entries.append(("d", spec.slug, group, distinct_digest(donor)))
    return entries


def adjustment_changes(
    adjustments: Iterable[Adjustment], gens: Generations, only: str = ""
) -> list[ItemChange]:
    """Item changes for every active generation (or only one), each with its own definitions."""
    names = (only,) if only else gens.active
    return [
        ItemChange(
            a.item_key, a.sequence, {gen: adjustment_contribution(gens.specs[gen], a) for gen in names}
        )
        for a in adjustments
    ]


def apply_adjustments(
    *, store: Store, config: CampaignConfig, adjustments: list[Adjustment]
) -> ApplyResult | None:
    """Count these adjustments (at their versions) in the live and building generations, and tell
    the screens. None when the campaign has no generation yet: its rebuild includes them."""
    result = None
    for _ in range(RETRIES):
        gens = Generations.from_meta(store.campaign_meta(config.id))
        if not gens.active or not adjustments:
            return None
        result = _apply(store, config.id, adjustment_changes(adjustments, gens), gens.active,
                        generations_are(gens.live, gens.building))  # fmt: skip
        if result.status != "gens_changed":
            break
    if result is not None and result.status == "ok" and result.metrics:
        ports.publish(ports.MetricsChanged(config, result.version, result.epoch, result.metrics))
    return result


def include_in_building(
    *, store: Store, config: CampaignConfig, gen: str, adjustments: list[Adjustment]
) -> bool:
    """Count every adjustment of the campaign in the generation being built, before it goes live.
    True when written (or there are none); False if that generation is no longer the one built."""
    if not adjustments:
        return True
    gens = Generations.from_meta(store.campaign_meta(config.id))
    if gens.building != gen or gen not in gens.specs:
        return False
    changes = adjustment_changes(adjustments, gens, only=gen)
    return _apply(store, config.id, changes, (gen,), building_is(gen)).status == "ok"


def _apply(store: Store, campaign_id: int, changes: list[ItemChange], gens: tuple[str, ...],
           expect: dict[str, str]) -> ApplyResult:  # fmt: skip
    def apply(batch: list[ItemChange], _aside: list[int]) -> ApplyResult:
        return store.apply_batch(campaign_id, changes=batch, gens=gens, expect=expect)

    result, aside = apply_what_fits(apply, changes)
    if aside:
        log.error("campaign %s: %d adjustments would take a total past its limit", campaign_id, len(aside))
    return result
