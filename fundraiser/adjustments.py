"""Adjustments and paddle raises: recorded, reversed, listed, and counted by the engine.

The database is the source of truth. After each change commits, the web process counts it at once
(ingest/adjustments.py, the same idempotent path as stream records), and every consumer counts all
of a campaign's adjustments again every few seconds and before any rebuilt generation goes live. So
an adjustment reaches the screens within a second and survives rebuilds and Redis loss.
"""

from __future__ import annotations

import logging
import secrets
from decimal import Decimal
from typing import Any

from django.db import IntegrityError, transaction
from django.db.models import F, Q, Sum
from django.utils import timezone

from ingest import adjustments as engine
from ingest.metrics import exact_minor_units
from ingest.store import Store

from .models import Adjustment, Campaign, Metric, PaddleLevel, amount_fits
from .selectors import campaign_config, copied
from .signals import levers_changed

log = logging.getLogger(__name__)

PADDLE_GROUP = "Paddle raise"


class AlreadyRecorded(Exception):
    """This entry form was sent before (a double click, a resent POST): nothing was recorded again."""

    def __init__(self, row: Adjustment):
        super().__init__(f"entry {row.entry_token} is adjustment {row.pk}")
        self.row = row


def new_entry_token() -> str:
    """One per entry form shown: the form sent twice records once (Adjustment.entry_token)."""
    return secrets.token_urlsafe(24)


def amount_refusal(campaign: Campaign, amount: Decimal) -> str:
    """Why a sum of the campaign could not count this amount exactly ("" when every one can): more
    decimal places than it keeps, or past the engine's bound on one value (MAX_MINOR_UNITS). The
    same check for adjustments and paddle levels; changing a sum's places re-checks the levels."""
    if amount == 0:
        return "An amount of zero changes nothing."
    for metric in campaign.metrics.filter(aggregation=Metric.SUM, filter_path=""):
        places = metric.decimal_places
        if exact_minor_units(amount, places) is None:
            return f"{metric.display_label} keeps {places} decimal places: round the amount."
        if not amount_fits(amount, places):
            return f"{metric.display_label} cannot count an amount this large exactly."
    return ""


def engine_adjustment(row: Adjustment) -> engine.Adjustment:
    shared = ("version", "amount", "group", "counts_as_gift", "counts_as_donor")
    return engine.Adjustment(
        **copied(row, *shared, id="pk", reversed="is_reversed"),
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
    entry_token: str | None = None,
) -> Adjustment:
    """Record one adjustment. entry_token: the entry form's; raises AlreadyRecorded if it was used."""
    fields = {"kind": kind, "amount": amount, "group": group.strip(), "note": note, "paddle": paddle,
              "counts_as_gift": counts_as_gift, "counts_as_donor": counts_as_donor}  # fmt: skip
    try:
        with transaction.atomic():
            row = Adjustment.objects.create(
                campaign=campaign, created_by=by, entry_token=entry_token, **fields
            )
    except IntegrityError:
        earlier = Adjustment.objects.filter(entry_token=entry_token).first() if entry_token else None
        if earlier is None:
            raise
        raise AlreadyRecorded(earlier) from None
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


def paddle_undo(*, campaign: Campaign, entry_id: str, by: Any) -> tuple[Adjustment | None, bool]:
    """Reverse the paddle entry the undo button named (never "whatever is newest now"): the
    entry, and whether this call reversed it (False: it already was, e.g. a double click)."""
    entry = Adjustment.objects.filter(
        campaign=campaign, kind=Adjustment.PADDLE, pk=int(entry_id) if entry_id.isdigit() else None
    ).first()
    if entry is None:
        return None, False
    return entry, adjustment_reverse(adjustment=entry, by=by, note="undo on the paddle console")


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
