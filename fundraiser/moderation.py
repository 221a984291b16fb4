"""Moderation of the recent gifts ticker: one gift's name hidden or the gift removed, and a word list
per campaign that hides matching names, on every open screen within a second.

Applied where the engine hands out the list (ingest.ports.moderated_ticker, in the snapshot and in
each published list), so what is on the ticker already and what arrives later are both covered. The
rules live in the database: they survive Redis loss.
"""

from __future__ import annotations

import functools
import logging
import re
import unicodedata
from typing import Any

from django.utils import timezone

from ingest import ticker
from ingest.store import Store

from .models import Campaign, GiftModeration, NameFilter
from .selectors import campaign_config
from .signals import levers_changed

log = logging.getLogger(__name__)


UNSEEN = ("Mn", "Cf", "Cc")  # combining marks, invisible format characters, controls


def folded(text: str) -> str:
    """What the word list compares, names and words alike: compatibility forms as plain letters
    (fullwidth Ｂａｄ, mathematical 𝐁𝐚𝐝: NFKC), any case (casefold), accents and invisible
    characters dropped, spaces collapsed. Only for matching: screens show the name as it was."""
    text = unicodedata.normalize("NFD", unicodedata.normalize("NFKC", text).casefold())
    return " ".join("".join(ch for ch in text if unicodedata.category(ch) not in UNSEEN).split())


@functools.lru_cache(maxsize=128)
def word_pattern(words: tuple[str, ...]) -> re.Pattern | None:
    """Whole words or phrases, folded: "ass" hides "Ass Kicker" and "Ａｓｓ" but not "Cassandra".
    Compiled once per word list (names are folded only when a campaign has one)."""
    kept = {folded(word) for word in words} - {""}
    if not kept:
        return None
    alternatives = "|".join(re.escape(word) for word in sorted(kept, key=len, reverse=True))
    return re.compile(rf"(?<!\w)(?:{alternatives})(?!\w)")


def moderate_listing(
    listing: dict[str, Any], actions: dict[str, set[str]], pattern: re.Pattern | None
) -> dict:
    """The list with removed gifts left out (and named as removed, so screens drop them) and hidden
    or matching names shown as Anonymous. Pure: tests and both call sites share it."""
    entries, removed = [], list(listing.get("removed") or [])
    for entry in listing.get("entries") or []:
        done = actions.get(entry["key"], set())
        if GiftModeration.REMOVE in done:
            removed.append(entry["key"])
            continue
        if GiftModeration.HIDE_NAME in done or (
            pattern is not None and pattern.search(folded(entry["name"]))
        ):
            entry = {**entry, "name": ticker.ANONYMOUS}
        entries.append(entry)
    return {**listing, "entries": entries, "removed": removed}


def moderated_ticker(campaign_id: int, listing: dict[str, Any]) -> dict[str, Any]:
    """The engine's port: this campaign's rules applied to a list of recent gifts."""
    keys = [entry["key"] for entry in listing.get("entries") or []]
    if not keys:
        return listing
    actions: dict[str, set[str]] = {}
    rows = GiftModeration.objects.filter(campaign_id=campaign_id, item_key__in=keys, undone_at__isnull=True)
    for key, action in rows.values_list("item_key", "action"):
        actions.setdefault(key, set()).add(action)
    words = NameFilter.objects.filter(campaign_id=campaign_id).values_list("words", flat=True).first() or ""
    return moderate_listing(listing, actions, word_pattern(tuple(NameFilter(words=words).word_list())))


def gift_moderate(
    *, campaign: Campaign, by: Any, item_key: str, action: str, name_seen: str = ""
) -> GiftModeration:
    row = GiftModeration.objects.create(
        campaign=campaign, item_key=item_key, action=action, name_seen=name_seen[:64], created_by=by
    )
    ticker_republish(campaign)
    return row


def gift_moderation_undo(*, moderation: GiftModeration, by: Any) -> None:
    GiftModeration.objects.filter(pk=moderation.pk, undone_at__isnull=True).update(
        undone_at=timezone.now(), undone_by=by
    )
    ticker_republish(moderation.campaign)


def name_filter_save(*, campaign: Campaign, words: str) -> NameFilter:
    row, _ = NameFilter.objects.update_or_create(campaign=campaign, defaults={"words": words})
    ticker_republish(campaign)
    return row


def current_gifts(campaign: Campaign) -> list[dict[str, Any]]:
    """The list as it is in Redis, before moderation (the moderation page shows the real names)."""
    return ticker.TickerStore(Store()).snapshot(campaign.pk, moderate=lambda _id, listing: listing)["entries"]


def ticker_republish(campaign: Campaign) -> None:
    """Send every open screen the list as it now shows (names already on screen included)."""
    try:
        ticker.republish(campaign_config(campaign))
        levers_changed.send(sender=GiftModeration, slug=campaign.slug, what="moderation")
    except Exception:  # noqa: BLE001 - saved; the next list or snapshot applies it
        log.warning("could not republish the ticker of %s", campaign.slug, exc_info=True)
