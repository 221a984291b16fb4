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
# Never from a donor: controls (Cc) and invisible format characters (Cf: bidirectional overrides and
# isolates, which can flip the rest of a line; zero-width space and joiners, soft hyphen, word
# joiner, which hide a word from the word list while it reads the same on screen).
HIDDEN_CATEGORIES = ("Cc", "Cf")


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


def ticker_changes(
    changes: Iterable[Change], config: CampaignConfig, entries: list[list | None] | None = None
) -> list[TickerChange]:
    """What a batch of decoded records does to the ticker, in stream order.

    An INSERT of a usable gift adds it; a MODIFY corrects it in place, or adds it when the item only
    now became a usable gift (say a pending pledge marked paid); a REMOVE, or a MODIFY that leaves
    the item unusable, takes it off. `entries`: each record's contribution by config.specs, if the
    caller has them (else they are evaluated here). Before `_first_showable`, only what takes a gift
    off is sent.
    """
    source = config.ticker
    if source is None:
        return []
    changes = list(changes)
    known = entries if entries is not None else [None] * len(changes)
    shown_from = _first_showable(changes, config, known)
    out: list[TickerChange] = []
    for n, change in enumerate(changes):
        if change.event_name == REMOVE:
            out.append(TickerChange("remove", change.item_key, change.sequence))
            continue
        if n < shown_from:
            if change.event_name == MODIFY and _gift_value(change.new_image, config, known[n]) is None:
                out.append(TickerChange("remove", change.item_key, change.sequence))
            continue
        entry = gift_entry(change.item_key, change.new_image, config, change.created_at, known[n])
        if change.event_name == INSERT:
            if entry is not None:
                out.append(TickerChange("add", change.item_key, change.sequence, entry))
        elif change.event_name == MODIFY:
            if entry is None:
                out.append(TickerChange("remove", change.item_key, change.sequence))
            elif change.old_image is not None and _gift_value(change.old_image, config, None) is None:
                out.append(TickerChange("add", change.item_key, change.sequence, entry))
            else:
                out.append(TickerChange("update", change.item_key, change.sequence, entry))
    return out


def _first_showable(changes: list[Change], config: CampaignConfig, known: list[list | None]) -> int:
    """The index before which no record's gift can end up listed: KEPT newer gifts of this batch
    stay (each its item's last record here, an INSERT), and a gift listed before this batch is
    older still (an item's records stay in one shard's lineage, in sequence order).

    Only the newest KEPT gifts stay listed, so in a long batch (a backlog) the lines before those
    would only be written to be trimmed. tests/screens/test_ticker.py holds the list to what every
    line would give."""
    later: set[str] = set()
    staying = 0
    for n in range(len(changes) - 1, -1, -1):
        change = changes[n]
        if (
            change.event_name == INSERT
            and change.item_key not in later
            and _gift_value(change.new_image, config, known[n]) is not None
        ):
            staying += 1
            if staying >= KEPT:
                return n
        later.add(change.item_key)
    return 0


def _gift_value(item: dict[str, Any] | None, config: CampaignConfig, entries: list | None) -> int | None:
    """The ticker metric's value of a usable gift, or None if the item is no gift."""
    source = config.ticker
    if item is None or source is None:
        return None
    if entries is None:
        try:
            entries = item_contribution(config.specs, item)
        except RecordError:
            return None  # an unusable item counts nowhere, so it is no gift either
    value = next((v for kind, slug, _, v in entries if kind == "n" and slug == source.metric), None)
    return value if value is not None and value > 0 else None


def gift_entry(
    key: str,
    item: dict[str, Any] | None,
    config: CampaignConfig,
    at: float | None,
    entries: list | None = None,
) -> TickerEntry | None:
    """The ticker line of an item, or None if it is not a usable gift of the ticker metric.
    `entries`: the item's contribution by config.specs, if the caller has it ([] if unusable)."""
    value = _gift_value(item, config, entries)
    if value is None:
        return None
    source = config.ticker
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
    text = "".join(ch for ch in raw if unicodedata.category(ch) not in HIDDEN_CATEGORIES)
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

    def snapshot(
        self,
        campaign_id: int,
        limit: int = KEPT,
        *,
        moderate: ports.TickerModeration = ports.moderated_ticker,
    ) -> dict[str, Any]:
        """{"id", "rev", "entries", "removed"}: the list newest first, as screens show it (after
        the organizers' moderation: hidden names show as Anonymous, removed gifts are listed as
        removed)."""
        return moderate(campaign_id, self.read(campaign_id, limit)[0])

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


def record_changes(
    config: CampaignConfig,
    decoded: list[Change],
    *,
    store: Any = None,
    entries: list[list | None] | None = None,
    moderate: ports.TickerModeration = ports.moderated_ticker,
) -> None:
    """record_batch for records the consumer already decoded and evaluated (its hot path does
    each once): `entries`, if given, holds each record's contribution by config.specs."""
    if config.ticker is None:
        return
    try:
        changes = ticker_changes(decoded, config, entries)
        if not changes:
            return
        ticker = TickerStore(store)
        if ticker.apply(config.id, changes, seed=_last_seen.get(config.id, "")):
            listing, stored = ticker.read(config.id)
            _last_seen[config.id] = json.dumps(stored)
            ports.publish(ports.TickerChanged(config, moderate(config.id, listing)))
    except Exception:  # noqa: BLE001 - see above: the ticker is never worth a stuck shard
        log.warning("ticker update for %s failed", config.slug, exc_info=True)


def republish(config: CampaignConfig, *, store: Any = None) -> None:
    """Publish the campaign's list again as it stands (its moderation changed): every open screen
    shows the change within a second, names already on screen included."""
    if config.ticker is None:
        return
    ports.publish(ports.TickerChanged(config, TickerStore(store).snapshot(config.id)))
