"""Rebuilds: a campaign's aggregates built again, from a table scan (ingest/scans.py), into a new
generation.

A generation is a complete set of aggregate keys ({fr:C}:g<N>:*) with the metric definitions it
was built with (meta "specs:<N>"). Screens read the live generation only. A rebuild fills a new
generation from a Scan while the stream consumer applies every record to both generations; when
the scan is done and the stream is caught up, the new generation is swapped in atomically and the
old one deleted. See docs/correctness.md for why the merge of scanned items and stream records is
exact.
"""

from __future__ import annotations

import json
import logging
import time
from dataclasses import asdict, dataclass
from typing import Any

from django.conf import settings

from .config import CampaignConfig
from .metrics import MetricSpec
from .store import CampaignMeta, Store

log = logging.getLogger(__name__)


def specs_json(specs: tuple[MetricSpec, ...]) -> str:
    return json.dumps([asdict(spec) for spec in specs], sort_keys=True, separators=(",", ":"))


def specs_from_json(raw: str) -> tuple[MetricSpec, ...]:
    return tuple(
        MetricSpec(**{k: tuple(v) if isinstance(v, list) else v for k, v in d.items()})
        for d in json.loads(raw)
    )


@dataclass
class SegmentProgress:
    segment: int
    items: int = 0
    rejected: int = 0
    last_key: dict[str, Any] | None = None
    done: bool = False

    def to_json(self) -> str:
        return json.dumps(
            {"items": self.items, "rejected": self.rejected, "key": self.last_key, "done": self.done},
            separators=(",", ":"),
        )

    @classmethod
    def from_json(cls, segment: int, raw: str | None) -> SegmentProgress:
        if not raw:
            return cls(segment)
        data = json.loads(raw)
        return cls(segment, data["items"], data.get("rejected", 0), data["key"], data["done"])


@dataclass
class BuildProgress:
    gen: str
    segments: list[SegmentProgress]
    estimate: int
    started_at: float

    @property
    def items(self) -> int:
        return sum(s.items for s in self.segments)

    @property
    def done(self) -> bool:
        return all(s.done for s in self.segments)


def build_progress(store: Store, campaign_id: int) -> BuildProgress | None:
    """Where the campaign's rebuild stands, read from Redis (None when nothing is being built)."""
    return progress_from_meta(store.campaign_meta(campaign_id))


def progress_from_meta(meta: CampaignMeta) -> BuildProgress | None:
    gen = meta.building
    if not gen:
        return None
    plan = meta.scan_plan(gen)
    total = int(plan.get("segments", 1))
    segments = [SegmentProgress.from_json(i, meta.scan_position(gen, i)) for i in range(total)]
    return BuildProgress(
        gen=gen,
        segments=segments,
        estimate=int(plan.get("estimate", 0)),
        started_at=float(plan.get("started", time.time())),
    )


class RebuildAbandoned(RuntimeError):
    """The generation being built was replaced or dropped (Redis lost it, or a newer rebuild)."""


@dataclass(frozen=True)
class Generations:
    """Which generations a batch must be applied to, with each one's metric definitions."""

    live: str  # "0" when nothing is live (new campaign, or Redis lost its data)
    building: str  # "" when nothing is being built
    specs: dict[str, tuple[MetricSpec, ...]]
    specs_raw: dict[str, str]

    @classmethod
    def from_meta(cls, meta: CampaignMeta) -> Generations:
        live, building = meta.live, meta.building
        raw = {gen: meta.specs(gen) for gen in (live, building) if gen not in ("", "0") and meta.specs(gen)}
        return cls(live, building, {gen: specs_from_json(r) for gen, r in raw.items()}, raw)

    @property
    def active(self) -> tuple[str, ...]:
        return tuple(gen for gen in (self.live, self.building) if gen in self.specs)

    @property
    def expect(self) -> tuple[str, str]:
        return (self.live, self.building)

    def needs_rebuild_for(self, wanted: str) -> bool:
        """True when neither the live nor the building generation has these definitions."""
        return wanted not in (self.specs_raw.get(self.live), self.specs_raw.get(self.building))


def rebuild_start(
    *, store: Store, config: CampaignConfig, reason: str, estimate: int = 0, replace: bool = False
) -> str:
    """Begin (or keep) building a generation with the campaign's current metric definitions.

    replace: start afresh even if a generation of these definitions is being built (it missed
    records, e.g. the stream trimmed them).
    """
    plan = json.dumps(
        {"segments": settings.INGEST_SCAN_SEGMENTS, "estimate": estimate, "started": time.time()}
    )
    for _ in range(2):
        gen = store.start_generation(
            config.id, specs=specs_json(config.specs), plan=plan, reason=reason, replace=replace
        )
        if gen is not None:
            break
        store.ensure_meta(config.id)  # no state (new campaign, or Redis lost it): create it, once
    else:
        raise RebuildAbandoned(f"campaign {config.slug} has no state in Redis")
    log.warning("campaign %s: building generation %s (%s)", config.slug, gen, reason)
    return gen


def building_started(meta: CampaignMeta) -> float:
    return float(meta.scan_plan(meta.building).get("started", 0)) if meta.building else 0.0
