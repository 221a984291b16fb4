"""The recent gifts ticker: who gave what, newest first, for the display screens.

`ticker_changes` is pure: it turns a batch's decoded records into ticker changes. A gift shows its
donor's chosen display name (or "Anonymous") and its amount as the ticker metric counts it; no
other attribute of the item ever leaves this module, so emails and phone numbers cannot reach a
screen. `record_batch` keeps a short list per campaign in Redis, under the campaign's hash tag
(see ingest/store.py), and publishes it whole as a `ticker` event, with each gift's stream
position (screens reveal only gifts past the newest they have seen, at a readable pace) and the
keys of recent refunds (screens drop those gifts even once they have left the list).

The list lives apart from the aggregates: a worker remembers the last list it published, and if
Redis loses its data (a restart, a flush) the next batch starts from those gifts rather than from
nothing, so screens have recent gifts as soon as the totals are rebuilt (and meanwhile).

Redis layout for campaign C:
  {fr:C}:ticker             hash  item digest -> entry JSON (pos: sequence of the gift, seq: latest)
  {fr:C}:ticker:order       zset  "<pos>:<digest>", all scores 0 (lexical order = stream order)
  {fr:C}:ticker:gone        hash  item digest -> sequence of its removal (refunds)
  {fr:C}:ticker:gone:order  zset  item digest by removal count, to keep the tombstones bounded
  {fr:C}:ticker:state       hash  id (names this list), rev (bumped on each change), n
"""

from __future__ import annotations

import json
import logging
import re
import unicodedata
import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from . import ports
from .config import CampaignConfig, format_minor
from .metrics import item_contribution, optional
from .records import INSERT, MODIFY, REMOVE, Change, RecordError, decode_record
from .store import Store

log = logging.getLogger(__name__)

ANONYMOUS = "Anonymous"
NAME_MAX_CHARS = 32
KEPT = 30  # gifts kept per campaign; screens show fewer
GONE_KEPT = 500  # refunds remembered, so a late duplicate of a refunded gift stays out
REMOVED_SHOWN = 30  # recent refunds named in each list, for screens still showing those gifts
EMAIL = re.compile(r"\S+@\S+\.\S+")
PHONE = re.compile(r"^[\s\d()+./-]*$")
# Bidirectional overrides and isolates can flip the rest of a line: never from a donor.
BIDI_CONTROLS = dict.fromkeys(map(ord, "\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069"))


@dataclass(frozen=True)
class TickerEntry:
    key: str  # the item's key digest (ingest.records.item_key_digest): no donor data
    name: str
    amount: str  # exact decimal text in the ticker metric's places
    at: float | None  # when the gift was written (ApproximateCreationDateTime)

    def public(self) -> dict[str, Any]:
        return {"key": self.key, "name": self.name, "amount": self.amount, "at": self.at}


@dataclass(frozen=True)
class TickerChange:
    kind: str  # "add" a gift, "update" one if listed (a correction), "remove" one (a refund)
    key: str
    sequence: str  # zero-padded, as Change.sequence
    entry: TickerEntry | None = None


def ticker_changes(changes: Iterable[Change], config: CampaignConfig) -> list[TickerChange]:
    """What a batch of decoded records does to the ticker, in stream order.

    An INSERT of a usable gift adds it; a MODIFY corrects it in place, or adds it when the item only
    now became a usable gift (say a pending pledge marked paid); a REMOVE, or a MODIFY that leaves
    the item unusable, takes it off.
    """
    source = config.ticker
    if source is None:
        return []
    out: list[TickerChange] = []
    for change in changes:
        if change.event_name == REMOVE:
            out.append(TickerChange("remove", change.item_key, change.sequence))
            continue
        entry = gift_entry(change.item_key, change.new_image, config, change.created_at)
        if change.event_name == INSERT:
            if entry is not None:
                out.append(TickerChange("add", change.item_key, change.sequence, entry))
        elif change.event_name == MODIFY:
            if entry is None:
                out.append(TickerChange("remove", change.item_key, change.sequence))
            elif (
                change.old_image is not None
                and gift_entry(change.item_key, change.old_image, config, change.created_at) is None
            ):
                out.append(TickerChange("add", change.item_key, change.sequence, entry))
            else:
                out.append(TickerChange("update", change.item_key, change.sequence, entry))
    return out


def gift_entry(
    key: str, item: dict[str, Any] | None, config: CampaignConfig, at: float | None
) -> TickerEntry | None:
    """The ticker line of an item, or None if it is not a usable gift of the ticker metric."""
    source = config.ticker
    if item is None or source is None:
        return None
    try:
        entries = item_contribution(config.specs, item)
    except RecordError:
        return None  # an unusable item counts nowhere, so it is no gift either
    value = next((v for kind, slug, _, v in entries if kind == "n" and slug == source.metric), None)
    if value is None or value <= 0:
        return None
    places = config.displays[source.metric].places
    return TickerEntry(
        key, display_name(item, source.name_path, source.anonymous_path), format_minor(value, places), at
    )


def display_name(item: dict[str, Any], name_path: tuple[str, ...], anonymous_path: tuple[str, ...]) -> str:
    """The name a donor chose to show, tidied, or "Anonymous": never contact details."""
    if anonymous_path and _truthy(optional(item, anonymous_path)):
        return ANONYMOUS
    raw = optional(item, name_path) if name_path else None
    if not isinstance(raw, str):
        return ANONYMOUS
    text = "".join(ch for ch in raw.translate(BIDI_CONTROLS) if unicodedata.category(ch) != "Cc")
    text = " ".join(text.split())
    if not text or EMAIL.search(text) or (PHONE.match(text) and sum(c.isdigit() for c in text) >= 5):
        return ANONYMOUS
    if len(text) > NAME_MAX_CHARS:
        text = text[: NAME_MAX_CHARS - 1].rstrip() + "…"
    return text


def _truthy(value: Any) -> bool:
    if isinstance(value, str):
        return value.strip().lower() in ("1", "true", "yes", "y", "on")
    if isinstance(value, Decimal):
        return value != 0
    return value is True


class TickerStore:
    """The campaign's ticker list in Redis, through the store (its script is ingest/lua/ticker.lua)."""

    def __init__(self, store: Store | None = None):
        self.store = store or Store()

    def keys(self, campaign_id: int) -> list[str]:
        return self.store.ticker_keys(campaign_id)

    def apply(self, campaign_id: int, changes: list[TickerChange], *, seed: str = "") -> bool:
        """Apply ticker changes atomically; True if the list changed.

        seed: the stored entries (JSON) of a list seen earlier, to start from if Redis lost it.
        """
        ops = [[c.kind, c.key, c.sequence, c.entry.public() if c.entry else {}] for c in changes]
        return self.store.apply_ticker(
            campaign_id,
            json.dumps(ops),
            kept=KEPT,
            gone_kept=GONE_KEPT,
            list_id=uuid.uuid4().hex[:12],
            seed=seed,
        )

    def snapshot(self, campaign_id: int, limit: int = KEPT) -> dict[str, Any]:
        """{"id", "rev", "entries", "removed"}: the list newest first, as screens show it."""
        return self.read(campaign_id, limit)[0]

    def read(self, campaign_id: int, limit: int = KEPT) -> tuple[dict[str, Any], list[dict[str, Any]]]:
        """The snapshot, and the entries as stored (what `apply` can be seeded with)."""
        members, stored, (list_id, rev), removed = self.store.read_ticker(campaign_id, limit, REMOVED_SHOWN)
        kept = [json.loads(raw) for raw in (stored.get(m.split(":", 1)[1]) for m in members) if raw]
        entries = [{name: data[name] for name in ("key", "name", "amount", "at", "pos")} for data in kept]
        return {"id": list_id or "", "rev": int(rev or 0), "entries": entries, "removed": removed}, kept


# campaign id -> the stored entries of the last list this process published (JSON): the seed.
_last_seen: dict[int, str] = {}


def forget_seen() -> None:
    """Forget the lists this process saw (tests start each from an empty Redis and table)."""
    _last_seen.clear()


def record_batch(config: CampaignConfig, records: list[dict[str, Any]], *, store: Any = None) -> None:
    """After a batch was applied: update the campaign's ticker and publish it if it changed.

    Best effort by design: the aggregates are already committed, and a ticker that missed a gift
    must never stop ingestion. Records that do not decode were already set aside by the consumer.
    """
    if config.ticker is None:
        return
    decoded = []
    for record in records:
        try:
            decoded.append(decode_record(record))
        except RecordError:
            continue
    record_changes(config, decoded, store=store)


def record_changes(config: CampaignConfig, decoded: list[Change], *, store: Any = None) -> None:
    """record_batch for records the consumer already decoded (its hot path decodes them once)."""
    if config.ticker is None:
        return
    try:
        changes = ticker_changes(decoded, config)
        if not changes:
            return
        ticker = TickerStore(store)
        if ticker.apply(config.id, changes, seed=_last_seen.get(config.id, "")):
            listing, stored = ticker.read(config.id)
            _last_seen[config.id] = json.dumps(stored)
            ports.publish(ports.TickerChanged(config, listing))
    except Exception:  # noqa: BLE001 - see above: the ticker is never worth a stuck shard
        log.warning("ticker update for %s failed", config.slug, exc_info=True)
