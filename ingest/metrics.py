"""What one item contributes to a campaign's metrics, and how a change moves the aggregates.

Pure Python. An item's *contribution* is the list of increments it adds to the aggregates while it
exists in its current form. A change of the item replaces its old contribution with the new one;
`contribution_delta` is that replacement written as increments. The Redis store applies the same
rule atomically (see ingest/store.py), keeping each item's current contribution so a replayed or
duplicated record changes nothing.
"""

from __future__ import annotations

import hashlib
import itertools
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from decimal import Decimal
from functools import lru_cache
from typing import Any

from .records import RecordError, lookup, number_text, parse_number

SUM, COUNT, COUNT_DISTINCT = "sum", "count", "count_distinct"
NO_GROUP = ""  # group of items whose group-by attribute is missing
# Largest single value accepted, in minor units: keeps every total inside Redis' 64-bit integers.
MAX_MINOR_UNITS = 10**15


@dataclass(frozen=True)
class MetricSpec:
    slug: str
    aggregation: str
    value_path: tuple[str, ...] = ()
    group_path: tuple[str, ...] = ()
    filter_path: tuple[str, ...] = ()
    filter_value: str = ""
    decimal_places: int = 0

    @classmethod
    def build(
        cls,
        *,
        slug: str,
        aggregation: str,
        value_path: str = "",
        group_path: str = "",
        filter_path: str = "",
        filter_value: str = "",
        decimal_places: int = 0,
    ) -> MetricSpec:
        def split(path: str) -> tuple[str, ...]:
            return tuple(path.split(".")) if path else ()

        if aggregation not in (SUM, COUNT, COUNT_DISTINCT):
            raise ValueError(f"unknown aggregation {aggregation!r}")
        return cls(
            slug,
            aggregation,
            split(value_path),
            split(group_path),
            split(filter_path),
            filter_value,
            kept_places(aggregation, decimal_places),
        )


def kept_places(aggregation: str, decimal_places: int) -> int:
    """The decimal places a metric counts in: a sum keeps its own, a count is a whole number."""
    return decimal_places if aggregation == SUM else 0


# One increment: (kind, metric slug, group, value). kind "n" adds `value` (an int) to the metric's
# group and total; kind "d" adds one reference to the distinct value digest `value` in the group.
Entry = tuple[str, str, str, Any]


def item_contribution(specs: Iterable[MetricSpec], item: dict[str, Any] | None) -> list[Entry]:
    """The increments an item adds to every metric; raises RecordError if the item is unusable.

    An unusable item contributes nothing at all (the caller sets it aside with the reason), so the
    aggregates always equal a recount of the table's usable items.
    """
    if item is None:
        return []
    entries: list[Entry] = []
    for evaluate in _evaluators(specs):
        entry = evaluate(item)
        if entry is not None:
            entries.append(entry)
    return entries


Evaluator = Callable[[dict[str, Any]], Entry | None]
_compiled: dict[int, tuple[Any, tuple[Evaluator, ...]]] = {}


def _evaluators(specs: Iterable[MetricSpec]) -> tuple[Evaluator, ...]:
    """The evaluators of a campaign's specs, made once per specs object (configs and generations
    keep theirs for their lifetime; comparing the specs themselves on every record would cost more
    than evaluating them)."""
    known = _compiled.get(id(specs))
    if known is not None and known[0] is specs:
        return known[1]
    evaluators = tuple(_evaluator(spec) for spec in specs)
    if isinstance(specs, tuple):
        if len(_compiled) >= 1024:
            _compiled.clear()
        _compiled[id(specs)] = (specs, evaluators)  # holding specs keeps its id from being reused
    return evaluators


def _evaluator(spec: MetricSpec) -> Callable[[dict[str, Any]], Entry | None]:
    """metric_entry for one spec, with its paths and branches resolved once (the hot path: every
    record, every metric). tests/ingest/test_metrics.py holds the two to the same answers."""
    slug, filter_value = spec.slug, spec.filter_value
    value_of, group_value = _getter(spec.value_path), _getter(spec.group_path)
    filter_of = _getter(spec.filter_path)
    has_filter, has_group, has_value = bool(spec.filter_path), bool(spec.group_path), bool(spec.value_path)
    aggregation = spec.aggregation

    def group(item: dict[str, Any]) -> str:
        if not has_group:
            return NO_GROUP
        value = group_value(item)
        if isinstance(value, (dict, list, frozenset)):
            raise RecordError(f"{'.'.join(spec.group_path)} is {type_name(value)}, not a single value")
        text = _scalar_text(value)
        if not text.isascii():
            _require_text(text)
        return text

    def evaluate(item: dict[str, Any]) -> Entry | None:
        if has_filter and _scalar_text(filter_of(item)) != filter_value:
            return None
        if aggregation == SUM:
            return ("n", slug, group(item), minor_units(spec, item))
        if aggregation == COUNT:
            in_group = group(item)
            if has_value and value_of(item) is None:
                return None
            return ("n", slug, in_group, 1)
        in_group = group(item)
        value = value_of(item)
        if isinstance(value, (dict, list, frozenset)):
            raise RecordError(f"{'.'.join(spec.value_path)} is {type_name(value)}, not a single value")
        if value is None or value == "":
            return None
        return ("d", slug, in_group, _digest(value))

    return evaluate


def _require_text(text: str) -> None:
    """A group name is stored and shown: a lone surrogate (not text DynamoDB stores) cannot be."""
    try:
        text.encode()
    except UnicodeEncodeError:
        raise RecordError(f"{text[:40]!r} is not valid text") from None


def _getter(path: tuple[str, ...]) -> Callable[[dict[str, Any]], Any]:
    """optional(item, path), specialised: a one-step path is a dict lookup."""
    if len(path) == 1:
        (name,) = path
        return lambda item: item.get(name)
    return lambda item: optional(item, path)


CACHED_TEXT = 256  # longer values are not kept by the caches below (a donor may type a novel)


def _scalar_text(value: Any) -> str:
    if type(value) is str:
        return value.strip()
    if isinstance(value, (dict, list, frozenset, bytes)):  # unhashable, or possibly long
        return scalar_text(value)
    return _cached_text(value)


@lru_cache(maxsize=65536, typed=True)
def _cached_text(value: Any) -> str:
    return scalar_text(value)


def _digest(value: Any) -> str:
    if type(value) is str and len(value) > CACHED_TEXT or isinstance(value, bytes):
        return distinct_digest(value)
    return _cached_digest(value)


@lru_cache(maxsize=65536, typed=True)
def _cached_digest(value: Any) -> str:
    return distinct_digest(value)


def metric_entry(spec: MetricSpec, item: dict[str, Any]) -> Entry | None:
    if spec.filter_path and scalar_text(optional(item, spec.filter_path)) != spec.filter_value:
        return None
    group = group_of(spec, item)
    if spec.aggregation == COUNT:
        if spec.value_path and optional(item, spec.value_path) is None:
            return None
        return ("n", spec.slug, group, 1)
    if spec.aggregation == COUNT_DISTINCT:
        value = single_value(item, spec.value_path)
        if value is None or value == "":
            return None
        return ("d", spec.slug, group, distinct_digest(value))
    return ("n", spec.slug, group, minor_units(spec, item))


def minor_units(spec: MetricSpec, item: dict[str, Any]) -> int:
    name = ".".join(spec.value_path)
    try:
        raw = lookup(item, spec.value_path)
    except KeyError:
        raise RecordError(f"missing {name}") from None
    if type(raw) is Decimal and raw.is_finite():  # decoded from a record: already a checked number
        number = raw
    else:
        number = _number(raw, name)
    minor = exact_minor_units(number, spec.decimal_places)
    if minor is None:
        raise RecordError(f"{name} {raw} has more than {spec.decimal_places} decimal places")
    if abs(minor) > MAX_MINOR_UNITS:
        raise RecordError(f"{name} {raw} is too large")
    return minor


def _number(raw: Any, name: str) -> Decimal:
    if isinstance(raw, bool) or not isinstance(raw, (Decimal, str, int)):
        raise RecordError(f"{name} is {type_name(raw)}, not a number")
    try:
        number = parse_number(raw)
    except RecordError:
        raise RecordError(f"{name} {raw!r:.40} is not a number") from None
    return number


def exact_minor_units(number: Decimal, places: int) -> int | None:
    """number * 10**places as an int, or None if that is not a whole number. Never rounds.

    Integer arithmetic on the exact fraction, not Decimal.scaleb(): that rounds to the context's 28
    digits, which would turn 10.000000000000000000000000000000000001 (38 digits) into a clean 10.00.
    """
    numerator, denominator = number.as_integer_ratio()  # exact, in lowest terms
    # exponents are bounded (parse_number), so these ints stay small
    whole, rest = divmod(numerator * 10**places, denominator)
    return None if rest else whole


def group_of(spec: MetricSpec, item: dict[str, Any]) -> str:
    if not spec.group_path:
        return NO_GROUP
    text = scalar_text(single_value(item, spec.group_path))
    _require_text(text)
    return text


def single_value(item: dict[str, Any], path: tuple[str, ...]) -> Any:
    """A group or distinct value: one S, N, B or BOOL (or absent). A map, list or set has no stable
    text (and a map of donor details must never become a group name on a public page)."""
    value = optional(item, path)
    if isinstance(value, (dict, list, frozenset)):
        raise RecordError(f"{'.'.join(path)} is {type_name(value)}, not a single value")
    return value


def optional(item: dict[str, Any], path: tuple[str, ...]) -> Any:
    try:
        return lookup(item, path)
    except KeyError:
        return None


def scalar_text(value: Any) -> str:
    if value is None:
        return NO_GROUP
    if isinstance(value, Decimal):
        return number_text(value)
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value).strip()


def distinct_digest(value: Any) -> str:
    """Distinct values (often emails) are kept as digests: no donor PII is stored in Redis."""
    text = scalar_text(value).casefold()
    try:
        raw = text.encode()
    except UnicodeEncodeError:  # a lone surrogate: not text DynamoDB stores
        raise RecordError(f"{text[:40]!r} is not valid text") from None
    return hashlib.blake2b(raw, digest_size=10).hexdigest()


def type_name(value: Any) -> str:
    return {bool: "a boolean", dict: "a map", list: "a list", bytes: "binary"}.get(
        type(value),
        "null" if value is None else "a set" if isinstance(value, frozenset) else type(value).__name__,
    )


@dataclass(frozen=True)
class Aggregates:
    """Aggregates computed in Python: the reference the Redis store is checked against."""

    totals: dict[str, int]
    groups: dict[str, dict[str, int]]


def _usable_contributions(
    specs: tuple[MetricSpec, ...], items: Iterable[dict[str, Any]]
) -> Iterator[list[Entry]]:
    for item in items:
        try:
            yield item_contribution(specs, item)
        except RecordError:
            continue


def contribution_delta(old: list[Entry], new: list[Entry]) -> Counter:
    """Net increments that replace contribution `old` by `new` (zero entries dropped)."""
    delta: Counter = Counter()
    for entry in old:
        delta[entry_key(entry)] -= entry_weight(entry)
    for entry in new:
        delta[entry_key(entry)] += entry_weight(entry)
    return Counter({key: value for key, value in delta.items() if value})


def entry_key(entry: Entry) -> tuple:
    kind, slug, group, value = entry
    return (kind, slug, group) if kind == "n" else (kind, slug, group, value)


def entry_weight(entry: Entry) -> int:
    return entry[3] if entry[0] == "n" else 1


def recount(
    specs: Iterable[MetricSpec], items: Iterable[dict[str, Any]], extra: Iterable[list[Entry]] = ()
) -> Aggregates:
    """Aggregate a whole table from scratch, skipping unusable items: what the store must equal.
    `extra`: contributions counted besides the table's items (the organizers' adjustments)."""
    specs = tuple(specs)
    totals: Counter = Counter()
    groups: dict[str, Counter] = {spec.slug: Counter() for spec in specs}
    distinct_refs: Counter = Counter()
    for entries in itertools.chain(_usable_contributions(specs, items), extra):
        for kind, slug, group, value in entries:
            if kind == "n":
                totals[slug] += value
                groups[slug][group] += value
            else:
                distinct_refs[(slug, group, value)] += 1
    distinct_total: dict[str, set] = {}
    for slug, group, value in distinct_refs:
        groups[slug][group] += 1
        distinct_total.setdefault(slug, set()).add(value)
    for slug, values in distinct_total.items():
        totals[slug] = len(values)
    return Aggregates(
        totals={spec.slug: totals.get(spec.slug, 0) for spec in specs},
        groups={slug: {g: v for g, v in counter.items() if v} for slug, counter in groups.items()},
    )
