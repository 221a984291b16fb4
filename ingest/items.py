"""A batch's effect on one campaign's aggregates, worked out in Python from the items' stored states.

Pure Python (no Redis here): ingest/store.py reads the states of the batch's items, `plan_batch`
works out what the batch changes, and ingest/lua/commit_batch.lua writes it in one script, only if
no state changed in between (compare-and-set). So Redis does little per record, and the arithmetic
is exact (Python integers), where Lua only has doubles.

An item's state is its current contribution with the sequence number of the record that produced
it (see docs/correctness.md): a change applies only if it is newer, so a replayed or duplicated
record changes nothing. Stored compactly as JSON `[sequence, [[kind, slug, group, value], ...]]`,
the sequence without its leading zeros ("" for a scanned item).
"""

from __future__ import annotations

import json
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

from .metrics import Entry

# Largest magnitude an aggregate field may reach: far below HINCRBY's 2^63, so that no write can
# overflow; a change that would take a field past it is set aside (see ApplyResult "overflow").
LIMIT = 2**62

try:  # orjson is much faster; the text is the same either way
    import orjson

    def dumps(value: Any) -> str:
        return orjson.dumps(value, default=str).decode()

    _loads = orjson.loads
except ImportError:  # pragma: no cover - orjson is in requirements.txt
    dumps = json.JSONEncoder(separators=(",", ":"), default=str).encode
    _loads = json.loads


@dataclass(frozen=True)
class ItemState:
    sequence: str  # zero-padded to 40 digits ("" for a scanned image), as ItemChange.sequence
    entries: tuple[Entry, ...]

    @property
    def counts(self) -> bool:
        return bool(self.entries)


def encode_state(state: ItemState) -> str:
    return dumps([state.sequence.lstrip("0"), [list(entry) for entry in state.entries]])


def decode_state(raw: str) -> ItemState:
    """A stored state (this format, or the JSON object an earlier version wrote). Raises
    ValueError for anything else: a damaged state."""
    data = _loads(raw)
    if isinstance(data, dict):  # {"s": sequence, "c": [[kind, slug, group, "value"], ...]}
        sequence, entries = data["s"], data["c"] or []
    else:
        sequence, entries = data
    if not isinstance(sequence, str) or not isinstance(entries, list):
        raise ValueError("not an item state")
    return ItemState(sequence.rjust(40, "0") if sequence else "", tuple(_entry(e) for e in entries))


def _entry(raw: Any) -> Entry:
    kind, slug, group, value = raw
    if kind == "n":
        return ("n", str(slug), str(group), int(value))
    if kind == "d" and isinstance(value, str):
        return ("d", str(slug), str(group), value)
    raise ValueError(f"not a contribution entry: {raw!r:.60}")


def newer(sequence: str, stored: ItemState | None) -> bool:
    """Does a change at `sequence` replace the stored state? A scanned image ("") only fills an
    item no stream record has touched (or refreshes another scanned image)."""
    if stored is None:
        return True
    if sequence == "":
        return stored.sequence == ""
    return sequence > stored.sequence  # equal widths: string order is numeric order


@dataclass
class GenerationPlan:
    """What a batch does to one generation's keys."""

    writes: dict[str, tuple[str | None, str]] = field(default_factory=dict)  # item -> (old raw, new raw)
    sums: dict[tuple[str, str], int] = field(default_factory=lambda: defaultdict(int))  # (slug, field)
    refs: dict[tuple[str, str, str], int] = field(
        default_factory=lambda: defaultdict(int)
    )  # slug, value, group
    value_refs: dict[tuple[str, str], int] = field(default_factory=lambda: defaultdict(int))  # slug, value
    tombs: dict[str, str] = field(default_factory=dict)  # item -> "add" | "drop"
    slugs: set[str] = field(default_factory=set)
    applied: int = 0


def plan_generation(
    gen_name: str,
    changes: list[Any],
    stored: dict[str, str | None],
    current: dict[tuple[str, str], int] | None = None,
) -> tuple[GenerationPlan, dict[int, str]]:
    """What the changes (ingest.store.ItemChange) do to one generation whose items have these
    stored states (raw). With `current` field values (exact), also which changes would take a field
    past LIMIT: {index: "n" (count nothing) or "k" (leave out)}; those are not planned."""
    plan = GenerationPlan()
    states: dict[str, ItemState | None] = {}
    before: dict[str, ItemState | None] = {}
    overflow: dict[int, str] = {}
    running = dict(current) if current is not None else None
    for index, change in enumerate(changes):
        key = change.item_key
        if key not in states:
            raw = stored.get(key)
            states[key] = before[key] = None if raw is None else decode_state(raw)
            plan.writes[key] = (raw, raw)  # (old, new): new follows the changes
        old = states[key]
        if not newer(change.sequence, old):
            continue
        entries = tuple(change.contributions.get(gen_name, ()))
        if running is not None:
            verdict = _headroom(running, old.entries if old else (), entries)
            if verdict:
                overflow[index] = verdict
                continue
        _move(plan, old.entries if old else (), -1)
        _move(plan, entries, 1)
        new = ItemState(change.sequence, entries)
        states[key] = new
        plan.writes[key] = (plan.writes[key][0], encode_state(new))
        plan.applied += 1
    _finish(plan, states, before)
    return plan, overflow


def _move(plan: GenerationPlan, entries: tuple[Entry, ...], sign: int) -> None:
    for kind, slug, group, value in entries:
        plan.slugs.add(slug)
        if kind == "n":
            plan.sums[(slug, "t")] += sign * value
            plan.sums[(slug, "g:" + group)] += sign * value
        else:
            plan.refs[(slug, value, group)] += sign
            plan.value_refs[(slug, value)] += sign


def _headroom(running: dict[tuple[str, str], int], old: tuple, new: tuple) -> str:
    """ "" if the change keeps every sum it touches within LIMIT (it is then counted in `running`);
    else "n" if taking the old contribution away alone would (the change is sent again counting
    nothing), else "k" (the change is left out: the item keeps its old contribution)."""
    after = _sums_after(running, ((old, -1), (new, 1)))
    if all(abs(value) <= LIMIT for value in after.values()):
        running.update(after)
        return ""
    removed = _sums_after(running, ((old, -1),))
    return "n" if all(abs(value) <= LIMIT for value in removed.values()) else "k"


def _sums_after(running: dict[tuple[str, str], int], parts: tuple) -> dict[tuple[str, str], int]:
    after: dict[tuple[str, str], int] = {}
    for entries, sign in parts:
        for kind, slug, group, value in entries:
            if kind != "n":
                continue
            for key in ((slug, "t"), (slug, "g:" + group)):
                after[key] = after.get(key, running.get(key, 0)) + sign * value
    return after


def _finish(
    plan: GenerationPlan, states: dict[str, ItemState | None], before: dict[str, ItemState | None]
) -> None:
    """Drop writes that change nothing; tombstones for items that now count for nothing."""
    for key, (old_raw, new_raw) in list(plan.writes.items()):
        if new_raw == old_raw:
            del plan.writes[key]
            continue
        old = before[key]
        if not states[key].counts:
            plan.tombs[key] = "add"
        elif old is not None and not old.counts:
            plan.tombs[key] = "drop"
    plan.sums = {k: v for k, v in plan.sums.items() if v}
    plan.refs = {k: v for k, v in plan.refs.items() if v}
    plan.value_refs = {k: v for k, v in plan.value_refs.items() if v}
