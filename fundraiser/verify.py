""" "Verify totals": an independent recount of a campaign's table against the live numbers.

Independent of the engine's counting path on purpose: items are read by a parallel Scan with
consistent reads and decoded by boto3's TypeDeserializer (not ingest/records.py), and counted here
by a separate implementation of the same metric definitions (not ingest/metrics.py), adjustments
read from the database. Only the metric definitions and the DynamoDB client seam are shared.

Writes made during the scan: the campaign's version (bumped by every change to the live numbers)
is read before the scan, and again with the live numbers once the scan is done and the consumer had
a moment (SETTLE_SECONDS) to apply what the scan saw. The pass is *settled* if the version (and the
live generation) did not move AND every readable shard of the stream was read to its tip after the
scan ended (meta `tip:<shard>`, as a rebuild waits before its swap): then the live numbers hold every
write the scan saw, and any difference is real. A consumer that is merely behind moves no version,
but has not read to its tip. Otherwise the pass is repeated (up to PASSES times); when no pass
settles, differing cells are reported as "changing: verify again" rather than as differences. So a
settled table always verifies clean, and a live or lagging one never raises a false alarm.

The recount uses the live generation's own metric definitions (meta `specs:<gen>`): right after a
metric is edited, the live numbers are still those of the old definitions while a rebuild for the
new ones runs; the report then offers no rebuild (one is already under way).
"""

from __future__ import annotations

import dataclasses
import logging
import re
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from boto3.dynamodb.types import TypeDeserializer
from django.utils import timezone

from ingest import streams
from ingest.config import CampaignConfig
from ingest.generations import stream_read_since
from ingest.metrics import MAX_MINOR_UNITS, MetricSpec
from ingest.rebuild import specs_from_json
from ingest.store import CampaignMeta, Store

from .models import Adjustment, Campaign, Verification
from .selectors import campaign_config

log = logging.getLogger(__name__)

PASSES = 3
SETTLE_SECONDS = 2.0
SEGMENTS = 4
PAGE = 1000
MAX_MINOR = MAX_MINOR_UNITS  # the engine's bound on one value: past it, counted nowhere
NUMBER = re.compile(r"[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d{1,3})?", re.ASCII)
_deserialize = TypeDeserializer().deserialize


class Unusable(Exception):
    """An item no metric may count (a recount skips it whole, as the engine sets it aside)."""


@dataclass
class Tally:
    """Exact integers per metric: sums and counts by group, distinct values by group."""

    sums: dict[str, Counter] = field(default_factory=dict)
    distinct: dict[str, dict[str, set]] = field(default_factory=dict)
    items: int = 0
    unusable: int = 0

    def add(self, slug: str, group: str, value: int) -> None:
        self.sums.setdefault(slug, Counter())[group] += value

    def see(self, slug: str, group: str, value: str) -> None:
        self.distinct.setdefault(slug, {}).setdefault(group, set()).add(value)

    def merge(self, other: Tally) -> None:
        for slug, counter in other.sums.items():
            self.sums.setdefault(slug, Counter()).update(counter)
        for slug, groups in other.distinct.items():
            for group, values in groups.items():
                self.see_all(slug, group, values)
        self.items += other.items
        self.unusable += other.unusable

    def see_all(self, slug: str, group: str, values: set) -> None:
        self.distinct.setdefault(slug, {}).setdefault(group, set()).update(values)

    def values(self, spec: MetricSpec) -> tuple[int, dict[str, int]]:
        if spec.aggregation == "count_distinct":
            groups = self.distinct.get(spec.slug, {})
            everyone = set().union(*groups.values()) if groups else set()
            return len(everyone), {g: len(v) for g, v in groups.items() if v}
        counter = self.sums.get(spec.slug, Counter())
        return sum(counter.values()), {g: v for g, v in counter.items() if v}


def text_of(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, Decimal):
        text = format(value, "f")
        text = text.rstrip("0").rstrip(".") if "." in text else text
        return "0" if text in ("-0", "") else text
    return str(value).strip()


def at(item: dict[str, Any], path: tuple[str, ...]) -> Any:
    for step in path:
        if not isinstance(item, dict) or step not in item:
            return None
        item = item[step]
    return item


def single(item: dict[str, Any], path: tuple[str, ...]) -> Any:
    value = at(item, path)
    if isinstance(value, (dict, list, set, frozenset)):
        raise Unusable
    return value


def minor(value: Any, places: int) -> int:
    """Exact minor units of a number (a string of digits counts too); never rounded."""
    if isinstance(value, bool) or not isinstance(value, (Decimal, str, int)):
        raise Unusable
    if isinstance(value, str):
        if not NUMBER.fullmatch(value.strip()):
            raise Unusable
        value = Decimal(value.strip())
    numerator, denominator = Decimal(value).as_integer_ratio()
    whole, rest = divmod(numerator * 10**places, denominator)
    if rest or abs(whole) > MAX_MINOR:
        raise Unusable
    return whole


def item_counts(specs: tuple[MetricSpec, ...], item: dict[str, Any]) -> list[tuple[str, str, str, Any]]:
    """("n", slug, group, int) or ("d", slug, group, text) per metric the item counts in."""
    out = []
    for spec in specs:
        if spec.filter_path and text_of(at(item, spec.filter_path)) != spec.filter_value:
            continue
        group = text_of(single(item, spec.group_path)) if spec.group_path else ""
        if spec.aggregation == "count":
            if not spec.value_path or at(item, spec.value_path) is not None:
                out.append(("n", spec.slug, group, 1))
        elif spec.aggregation == "count_distinct":
            value = single(item, spec.value_path)
            if value is not None and text_of(value) != "":
                out.append(("d", spec.slug, group, text_of(value).casefold()))
        else:
            if at(item, spec.value_path) is None:
                raise Unusable
            out.append(("n", spec.slug, group, minor(at(item, spec.value_path), spec.decimal_places)))
    return out


def count_items(specs: tuple[MetricSpec, ...], raw_items: list[dict[str, Any]], tally: Tally) -> None:
    for raw in raw_items:
        tally.items += 1
        try:
            item = {name: _deserialize(value) for name, value in raw.items()}
            counts = item_counts(specs, item)
        except (Unusable, TypeError, ValueError, ArithmeticError):
            tally.unusable += 1
            continue
        for kind, slug, group, value in counts:
            tally.add(slug, group, value) if kind == "n" else tally.see(slug, group, value)


def count_adjustments(specs: tuple[MetricSpec, ...], campaign_id: int, tally: Tally) -> None:
    for row in Adjustment.objects.filter(campaign_id=campaign_id, reversed_at__isnull=True):
        donor = f"paddle:{row.paddle}" if row.kind == Adjustment.PADDLE and row.paddle else f"adj:{row.pk}"
        for spec in specs:
            if spec.filter_path:
                continue
            group = row.group.strip() if spec.group_path else ""
            if spec.aggregation == "sum":
                numerator, denominator = row.amount.as_integer_ratio()
                whole, rest = divmod(numerator * 10**spec.decimal_places, denominator)
                if not rest and abs(whole) <= MAX_MINOR:
                    tally.add(spec.slug, group, whole)
            elif spec.aggregation == "count" and row.counts_as_gift:
                tally.add(spec.slug, group, 1)
            elif spec.aggregation == "count_distinct" and row.counts_as_donor:
                tally.see(spec.slug, group, "\x00" + donor)  # never equal to an item's value


def scan_table(config: CampaignConfig, progress: dict[str, int]) -> Tally:
    """Parallel Scan (consistent reads), one thread per segment, counted as it goes."""
    client, _ = streams.make_clients(region=config.region, endpoint_url=config.endpoint_url or None)
    tallies = [Tally() for _ in range(SEGMENTS)]
    failures: list[BaseException] = []

    def segment(index: int) -> None:
        kwargs: dict[str, Any] = {"TableName": config.table_name, "ConsistentRead": True, "Limit": PAGE,
                                  "Segment": index, "TotalSegments": SEGMENTS}  # fmt: skip
        try:
            while True:
                page = client.scan(**kwargs)
                count_items(config.specs, page.get("Items", []), tallies[index])
                progress["items"] = sum(t.items for t in tallies)
                if "LastEvaluatedKey" not in page:
                    return
                kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]
        except BaseException as exc:  # noqa: BLE001 - raised in the caller
            failures.append(exc)

    threads = [threading.Thread(target=segment, args=(i,), daemon=True) for i in range(SEGMENTS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    if failures:
        raise failures[0]
    total = Tally()
    for tally in tallies:
        total.merge(tally)
    return total


def compare(config: CampaignConfig, recount: Tally, live: dict[str, Any], settled: bool) -> list[dict]:
    rows = []
    for spec in config.specs:
        places = config.displays[spec.slug].places if spec.slug in config.displays else 0
        total, groups = recount.values(spec)
        shown = live.get(spec.slug)
        live_total = shown.total if shown else None
        live_groups = shown.groups if shown else {}
        cells = [("(total)", live_total, total)]
        names = sorted(set(groups) | set(live_groups)) if spec.group_path else []
        cells += [(name or "(none)", live_groups.get(name, 0), groups.get(name, 0)) for name in names]
        for group, live_value, counted in cells:
            difference = None if live_value is None else live_value - counted
            status = "ok" if difference == 0 else ("different" if settled else "changing")
            rows.append({
                "metric": spec.slug, "group": group, "live": _shown(live_value, places),
                "recount": _shown(counted, places), "difference": _shown(difference, places), "status": status,
            })  # fmt: skip
    return rows


def _shown(value: int | None, places: int) -> str:
    return "—" if value is None else f"{Decimal(value).scaleb(-places):.{places}f}"


def verification_run(*, verification_id: int, store: Store | None = None) -> Verification:
    run = Verification.objects.select_related("campaign").get(pk=verification_id)
    campaign = (
        Campaign.objects.prefetch_related("metrics")
        .select_related("headline_goal__metric")
        .get(pk=run.campaign_id)
    )
    config = campaign_config(campaign)
    store = store or Store()
    started = time.monotonic()
    run.state, run.progress = Verification.RUNNING, {"pass": 0, "items": 0}
    run.save(update_fields=["state", "progress"])
    try:
        report = _passes(run, config, store)
    except Exception as exc:  # noqa: BLE001 - shown on the report page
        log.exception("verify totals of %s failed", campaign.slug)
        run.state, run.error = Verification.FAILED, str(exc)[:2000]
    else:
        run.state, run.report = Verification.DONE, report
    run.report["seconds"] = round(time.monotonic() - started, 2)
    run.finished_at = timezone.now()
    run.save(update_fields=["state", "report", "error", "finished_at", "progress"])
    return run


def live_config(config: CampaignConfig, meta: CampaignMeta) -> CampaignConfig:
    """The campaign as its live numbers were built: the live generation's own metric definitions
    (meta `specs:<gen>`), which differ from the database's while a rebuild for new ones runs."""
    raw = meta.specs(meta.live)
    return dataclasses.replace(config, specs=specs_from_json(raw)) if raw else config


def _passes(run: Verification, config: CampaignConfig, store: Store) -> dict[str, Any]:
    passes = []
    for number in range(1, PASSES + 1):
        run.progress = {"pass": number, "items": 0}
        run.save(update_fields=["progress"])
        rows, recount, summary = _one_pass(run, config, store)
        passes.append({"pass": number, **summary})
        if summary["settled"] or number == PASSES:
            differences = sum(row["status"] == "different" for row in rows)
            changing = sum(row["status"] == "changing" for row in rows)
            return {"rows": rows, "passes": passes, "settled": summary["settled"], "differences": differences,
                    "changing": changing, "items": recount.items, "unusable": recount.unusable,
                    "rebuilding": summary["rebuilding"]}  # fmt: skip
    raise AssertionError("unreachable")


def _one_pass(run: Verification, config: CampaignConfig, store: Store) -> tuple[list[dict], Tally, dict]:
    """Recount once. Settled: the live numbers did not move (version, epoch, generation) and every
    readable shard was read to its tip after the scan ended, so the live numbers hold every write
    the scan saw; a consumer merely behind changes no version, but has not read to its tip."""
    before = store.campaign_meta(config.id)
    config = live_config(config, before)
    pass_started = time.monotonic()
    recount = scan_table(config, run.progress)
    count_adjustments(config.specs, config.id, recount)
    scanned, scan_ended = time.monotonic() - pass_started, time.time()
    time.sleep(SETTLE_SECONDS)  # the consumer applies what the scan saw
    snapshot = store.snapshot(config.id, [spec.slug for spec in config.specs])
    after = store.campaign_meta(config.id)
    settled = (
        before.live != "0"
        and (snapshot.version, snapshot.epoch, after.live) == (before.version, before.epoch, before.live)
        and stream_read_since(store, config, scan_ended)
    )
    run.progress = {**run.progress, "items": recount.items}
    summary = {"items": recount.items, "unusable": recount.unusable, "scan_seconds": round(scanned, 2),
               "version_before": before.version, "version_after": snapshot.version, "settled": settled,
               "rebuilding": bool(after.building)}  # fmt: skip
    return compare(config, recount, snapshot.metrics, settled), recount, summary


def report_rows(run: Verification) -> list[dict]:
    return list(run.report.get("rows", []))


def outcome_text(run: Verification) -> str:
    if run.state == Verification.FAILED:
        return f"failed: {run.error}"
    if run.state != Verification.DONE:
        return f"{run.state}: pass {run.progress.get('pass', 0)}, {run.progress.get('items', 0):,} items read"
    report = run.report
    if report.get("differences"):
        return f"DIFFERENCE in {report['differences']} cells"
    if report.get("changing"):
        return f"the table kept changing: {report['changing']} cells moving; verify again"
    return f"all {len(report.get('rows', []))} cells agree ({report.get('items', 0):,} items)"
