"""Adjustments and paddle raises: recorded, reversed, listed, and counted by the engine.

The database is the source of truth. After each change commits, the web process counts it at once
(ingest/adjustments.py, the same idempotent path as stream records), and every consumer counts all
of a campaign's adjustments again every few seconds and before any rebuilt generation goes live. So
an adjustment reaches the screens within a second and survives rebuilds and Redis loss.
"""

from __future__ import annotations

import logging
from decimal import Decimal
from typing import Any

from django.db import transaction
from django.db.models import F, Q, Sum
from django.utils import timezone

from ingest import adjustments as engine
from ingest.store import Store

from .models import Adjustment, Campaign, PaddleLevel
from .selectors import campaign_config
from .signals import levers_changed

log = logging.getLogger(__name__)

PADDLE_GROUP = "Paddle raise"


def engine_adjustment(row: Adjustment) -> engine.Adjustment:
    return engine.Adjustment(
        id=row.pk,
        version=row.version,
        amount=row.amount,
        group=row.group,
        counts_as_gift=row.counts_as_gift,
        counts_as_donor=row.counts_as_donor,
        reversed=row.is_reversed,
        donor=f"paddle:{row.paddle}" if row.kind == Adjustment.PADDLE and row.paddle else "",
    )


def campaign_adjustments(campaign_id: int) -> list[engine.Adjustment]:
    """Every adjustment of the campaign, reversed ones included (the engine's port)."""
    return [
        engine_adjustment(row) for row in Adjustment.objects.filter(campaign_id=campaign_id).order_by("pk")
    ]


def adjustment_record(
    *,
    campaign: Campaign,
    by: Any,
    amount: Decimal,
    group: str,
    note: str = "",
    counts_as_gift: bool = False,
    counts_as_donor: bool = False,
    kind: str = Adjustment.ADJUSTMENT,
    paddle: str = "",
) -> Adjustment:
    row = Adjustment.objects.create(
        campaign=campaign,
        kind=kind,
        amount=amount,
        group=group.strip(),
        note=note,
        counts_as_gift=counts_as_gift,
        counts_as_donor=counts_as_donor,
        paddle=paddle,
        created_by=by,
    )
    transaction.on_commit(lambda: adjustments_push(campaign_id=campaign.pk, ids=[row.pk]))
    return row


def adjustment_reverse(*, adjustment: Adjustment, by: Any, note: str = "") -> bool:
    """Reverse an adjustment (kept, marked with who, when and why). False if it already was."""
    done = Adjustment.objects.filter(pk=adjustment.pk, reversed_at__isnull=True).update(
        reversed_at=timezone.now(), reversed_by=by, reversal_note=note, version=F("version") + 1
    )  # one conditional write: of two organizers reversing at once, the second changes nothing
    if done:
        campaign_id = adjustment.campaign_id
        transaction.on_commit(lambda: adjustments_push(campaign_id=campaign_id, ids=[adjustment.pk]))
    return bool(done)


def adjustments_push(*, campaign_id: int, ids: list[int]) -> None:
    """Count these adjustments now (as they stand in the database) and tell open screens. Best
    effort: if Redis is away, the consumers count them within a few seconds of its return."""
    campaign = (
        Campaign.objects.prefetch_related("metrics")
        .select_related("headline_goal__metric")
        .get(pk=campaign_id)
    )
    rows = [engine_adjustment(row) for row in Adjustment.objects.filter(pk__in=ids)]
    try:
        engine.apply_adjustments(store=Store(), config=campaign_config(campaign), adjustments=rows)
    except Exception:  # noqa: BLE001 - recorded in the database; the consumers count it later
        log.warning(
            "adjustments %s of %s not counted yet; the worker will", ids, campaign.slug, exc_info=True
        )
    announce(campaign.slug)


def announce(slug: str) -> None:
    try:
        levers_changed.send(sender=Adjustment, slug=slug, what="adjustments")
    except Exception:  # noqa: BLE001 - screens also re-read their snapshot on reconnect
        log.warning("could not tell screens of %s", slug, exc_info=True)


def last_paddle(*, campaign: Campaign, by: Any) -> Adjustment | None:
    """The newest paddle this person recorded and did not reverse (what "undo" takes back)."""
    return (
        Adjustment.objects.filter(
            campaign=campaign, kind=Adjustment.PADDLE, created_by=by, reversed_at__isnull=True
        )
        .order_by("-created_at", "-pk")
        .first()
    )


def paddle_summary(campaign: Campaign) -> dict[str, Any]:
    """Levels (highest first) with their paddles, and the running total, from the database."""
    live = Adjustment.objects.filter(campaign=campaign, kind=Adjustment.PADDLE, reversed_at__isnull=True)
    levels = []
    for level in PaddleLevel.objects.filter(campaign=campaign):
        paddles = list(
            live.filter(amount=level.amount).order_by("created_at", "pk").values_list("paddle", flat=True)
        )
        levels.append(
            {"amount": f"{level.amount:.2f}", "label": level.label, "count": len(paddles), "paddles": paddles}
        )
    total = live.aggregate(total=Sum("amount"))["total"] or Decimal("0")
    return {"levels": levels, "total": f"{total:.2f}", "count": live.count()}


def adjustments_summary(campaign: Campaign) -> dict[str, str]:
    """Active adjustments summed per group (the audit list's footer)."""
    rows = (
        Adjustment.objects.filter(campaign=campaign)
        .filter(Q(reversed_at__isnull=True))
        .values("group")
        .annotate(total=Sum("amount"))
    )
    return {row["group"]: f"{row['total']:.2f}" for row in rows}
