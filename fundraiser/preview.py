"""A preview of what a campaign will count, before it is saved: the first page of the table's items
run through the engine's own metric evaluation (ingest.metrics), so the preview is what the worker
will do, and every metric attribute that matches nothing in the sample flagged with its near miss.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from ingest import streams
from ingest.config import format_minor
from ingest.metrics import item_contribution, metric_entry
from ingest.money import format_amount
from ingest.records import RecordError, decode_image, lookup

from .models import Metric
from .selectors import metric_spec
from .sources import SourceCheck, call_problem, check_source

SAMPLE_SIZE = 25
PATH_FIELDS = (
    ("value_path", "value attribute"),
    ("group_by_path", "group-by attribute"),
    ("filter_path", "filter"),
)


@dataclass(frozen=True)
class Cell:
    shown: str  # the value counted ("$12.50", "1", "counted once") or "—"
    group: str
    problem: str = ""  # why this metric cannot count the item


@dataclass(frozen=True)
class Row:
    keys: str
    cells: tuple[Cell, ...]
    rejected: str = ""  # the engine sets the whole item aside: why


@dataclass(frozen=True)
class Flag:
    metric: str
    what: str  # "value attribute", ...
    path: str
    suggestion: str | None

    def __str__(self) -> str:
        text = f"{self.metric}: no donation in the sample has the {self.what} “{self.path}”."
        return text + (f" Did you mean “{self.suggestion}”?" if self.suggestion else "")


@dataclass(frozen=True)
class Preview:
    check: SourceCheck
    metrics: tuple[Metric, ...] = ()
    rows: tuple[Row, ...] = ()
    flags: tuple[Flag, ...] = ()

    @property
    def rejected(self) -> int:
        return sum(1 for row in self.rows if row.rejected)


def preview_campaign(
    *,
    table_name: str,
    region: str,
    endpoint_url: str,
    currency: str,
    metrics: Iterable[Metric],
    extra_paths: dict[str, str] | None = None,
) -> Preview:
    """extra_paths: other attributes the campaign reads (e.g. the donor's display name), by label."""
    check = check_source(table_name=table_name, region=region, endpoint_url=endpoint_url)
    metrics = tuple(metrics)
    if not check.ok:
        return Preview(check, metrics)
    try:
        items = sample_items(table_name=table_name, region=region, endpoint_url=endpoint_url)
    except Exception as exc:  # noqa: BLE001 - e.g. Scan not allowed: said like the check's failures
        problem = call_problem(exc, table_name=table_name, region=region, action="Scan")
        return Preview(SourceCheck((problem,), check.view_type, check.item_count), metrics)
    rows = tuple(preview_row(item, metrics, currency) for item in items)
    return Preview(check, metrics, rows, tuple(path_flags(items, metrics, extra_paths or {})))


def sample_items(*, table_name: str, region: str, endpoint_url: str) -> list[dict[str, Any]]:
    dynamodb, _ = streams.make_clients(region=region.strip(), endpoint_url=endpoint_url or None)
    page = dynamodb.scan(TableName=table_name, Limit=SAMPLE_SIZE)
    items = []
    for raw in page.get("Items", [])[:SAMPLE_SIZE]:
        try:
            items.append(decode_image(raw) or {})
        except RecordError:
            continue  # the worker sets such an item aside too
    return items


def preview_row(item: dict[str, Any], metrics: tuple[Metric, ...], currency: str) -> Row:
    rejected = ""
    try:
        item_contribution([metric_spec(m) for m in metrics], item)  # exactly what the worker does
    except RecordError as exc:
        rejected = str(exc)
    return Row(item_keys(item), tuple(metric_cell(m, item, currency) for m in metrics), rejected)


def metric_cell(metric: Metric, item: dict[str, Any], currency: str) -> Cell:
    try:
        entry = metric_entry(metric_spec(metric), item)
    except RecordError as exc:
        return Cell("—", "", str(exc))
    if entry is None:
        return Cell("—", "", "not counted (filter, or attribute missing)")
    kind, _, group, value = entry
    if kind == "d":
        return Cell("counted once per distinct value", group)
    text = format_minor(value, metric_spec(metric).decimal_places)
    return Cell(format_amount(text, currency if metric.is_money else ""), group)


def item_keys(item: dict[str, Any]) -> str:
    """A short, recognisable label of the item (its id-like attributes), never contact details."""
    for name in ("id", "donationId", "donation_id", "pk", "PK"):
        if name in item:
            return f"{name}={item[name]}"
    return f"item with {len(item)} attributes"


def all_paths(item: dict[str, Any], prefix: str = "", depth: int = 3) -> set[str]:
    paths = set()
    for name, value in item.items():
        path = f"{prefix}{name}"
        paths.add(path)
        if isinstance(value, dict) and depth > 1:
            paths |= all_paths(value, path + ".", depth - 1)
    return paths


def path_flags(
    items: list[dict[str, Any]], metrics: tuple[Metric, ...], extra_paths: dict[str, str]
) -> list[Flag]:
    """Each attribute a metric (or the campaign) names that no sampled item has, with its near miss."""
    if not items:
        return []
    seen = set().union(*(all_paths(item) for item in items))
    wanted = [
        (metric.display_label, what, getattr(metric, name))
        for metric in metrics
        for name, what in PATH_FIELDS
    ] + [("Campaign", what, path) for what, path in extra_paths.items()]
    return [
        Flag(owner, what, path, near_miss(path, seen))
        for owner, what, path in wanted
        if path and not any(has_path(item, path) for item in items)
    ]


def has_path(item: dict[str, Any], path: str) -> bool:
    try:
        lookup(item, tuple(path.split(".")))
    except KeyError:
        return False
    return True


def near_miss(path: str, seen: set[str]) -> str | None:
    """`Amount` for `amount` (same letters, other case) first, else the closest spelling."""
    same_case = [p for p in seen if p.casefold() == path.casefold()]
    if same_case:
        return sorted(same_case)[0]
    close = difflib.get_close_matches(path, sorted(seen), n=1, cutoff=0.75)
    return close[0] if close else None
