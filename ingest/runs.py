"""What a consumer knows while it runs: per campaign (CampaignRun) and per shard it holds
(ShardState), the context its parts share (Worker), and the campaign's status reports.

The consumer is split by job, each part a class over this state: ingest/shards.py (discovery,
lineage, leases), ingest/batches.py (reading and applying batches), ingest/generations.py (lost
state, rebuilds, swaps), ingest/consumer.py (the loop).
"""

from __future__ import annotations

import json
import logging
import math
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from . import ports
from .config import CampaignConfig
from .rebuild import Generations
from .store import END, Store
from .streams import Shard, StreamReader

log = logging.getLogger(__name__)

RATE_WINDOW_SECONDS = 10.0  # records/s is averaged over this


@dataclass
class ShardState:
    shard: Shard
    fence: int
    iterator: str | None = None
    checkpoint: str | None = None  # the stored checkpoint: last applied sequence, None at the start
    due: float = 0.0
    failures: int = 0
    renewed: float = 0.0
    last_created: float | None = None  # ApproximateCreationDateTime of the last applied record
    reported: float = 0.0  # when its health was last written
    reads: deque = field(default_factory=lambda: deque(maxlen=64))  # (time, records) per batch
    ahead: Any = None  # the next batch, being read (ingest/readahead.py)

    def health(self, *, behind: bool, records: int) -> str:
        """What /healthz and the admin show for this shard, as JSON: position, lag and rate."""
        now = time.time()
        self.reads.append((now, records))
        window = [(t, n) for t, n in self.reads if now - t <= RATE_WINDOW_SECONDS]
        self.reported = now
        return json.dumps(
            {
                "seq": self.checkpoint,
                "created": self.last_created,
                "read_at": now,
                "behind": behind,
                "rps": round(sum(n for _, n in window) / RATE_WINDOW_SECONDS, 1),
            }
        )


@dataclass
class CampaignRun:
    config: CampaignConfig
    reader: StreamReader
    stream_arn: str | None = None
    stream: str = ""
    shards: dict[str, Shard] = field(default_factory=dict)
    held: dict[str, ShardState] = field(default_factory=dict)
    discovered: float = 0.0
    gens: Generations | None = None
    maintained: float = -math.inf
    swept: float = -math.inf
    progress_sent: float = 0.0
    adjustments_synced: float = -math.inf

    def heal_soon(self) -> None:
        """Look at the campaign's state on the next step (it may be gone: Redis lost it)."""
        self.maintained = -math.inf

    def discover_soon(self) -> None:
        self.discovered = -math.inf


@dataclass
class Worker:
    """What the consumer's parts share: the store, who they are, their clock and scans."""

    store: Store
    id: str
    clock: Callable[[], float]
    scans: Any  # ingest.scans.ThreadedScans, or a stepped stand-in (tests)
    lease_seconds: float
    reads: Any = None  # ingest.readahead: who reads a shard's next batch ahead (None: nobody)
    organizer: ports.OrganizerInput = ports.OrganizerInput()  # adjustments, ticker moderation

    def report(self, run: CampaignRun, *, status: str | None = None, last_error: str | None = None) -> None:
        """The campaign's status and last error (a needs_rebuild status stays until a rebuild's
        swap clears it: meta.lua keeps it). Never creates the campaign's state."""
        if not self.store.report(run.config.id, status=status, last_error=last_error):
            run.heal_soon()  # the campaign's state is gone: heal it first

    def needs_rebuild(self, run: CampaignRun, reason: str) -> None:
        log.error("campaign %s needs a rebuild: %s", run.config.slug, reason)
        if not self.store.flag_rebuild(run.config.id, reason):
            run.heal_soon()  # (a rebuild follows anyway: the state is gone)


def ready(shard: Shard, shards: dict[str, Shard], checkpoints: dict[str, str]) -> bool:
    """A shard is read only after its parent is drained (or gone: trimmed parents count as done)."""
    if checkpoints.get(shard.shard_id) == END:
        return False
    parent = shard.parent_id
    return parent is None or parent not in shards or checkpoints.get(parent) == END
