"""Randomized fault schedules: deterministic simulation testing of the ingestion engine.

One seed drives one schedule. A seeded random generator interleaves, at arbitrary points, what a
busy night and a hostile platform can do: donations (puts, updates of amount, group and filter
attribute, deletes, identical re-puts, UpdateItem creating an item, unusable items), steps of one to
three consumers and of their table scans, Redis losing everything (FLUSHALL), Redis failing over to
a replica that missed recent writes (an older DUMP/RESTORE snapshot), a consumer abandoned halfway
through a batch (before or after its write landed), leases expiring under their holder (Redis'
clock jumping), iterators expiring, throttling, shard splits and rollovers, 25 hours of downtime
with trimming, rebuild requests and a metric's group-by changing.

Everything real runs: the consumer, the scanner, the Lua scripts on a real Redis and the stream
simulator through botocore. Only time is simulated (a clock the schedule moves), and scans are
stepped a page at a time instead of running on threads, so that a seed replays the same way.

After the faults stop, the schedule lets the consumers settle and checks the invariant: the
campaign is live with every figure equal to a recount of the table, reached within a bounded number
of steps. Never live and wrong, never stuck.
"""

from __future__ import annotations

import contextlib
import dataclasses
import random
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

import redis
from botocore.config import Config

from devtools import campaign
from devtools.campaign import MetricDefinition
from ingest import ports, streams
from ingest.adjustments import Adjustment, adjustment_contribution, apply_adjustments
from ingest.config import CampaignConfig
from ingest.consumer import Consumer
from ingest.metrics import recount
from ingest.readahead import ImmediateReads
from ingest.rebuild import RebuildAbandoned, rebuild_start
from ingest.records import decode_image
from ingest.scans import Scanner
from ingest.store import SCAN_LEASE, Store, stream_key
from tests.ingest.faultkit import redis_restore, redis_snapshot
from tests.metric_specs import PAID
from tests.streamsim import StreamSim, stream_caught_up

CAMPAIGN = 1
PLATFORMS = ("Facebook", "Phone", "Website", "Text")
TEAMS = ("North", "South", "Online")
FAULT_STEPS = (40, 120)  # how many actions a schedule takes before it settles
SETTLE_ROUNDS = 400  # rounds the consumers get to heal once the faults stop
SETTLED_ROUNDS = 6  # consecutive settled rounds (several discoveries) before the numbers are judged
# Rounds (of 0.5 s) before judging at all: after a fault (a day of downtime), what was lost is found
# on the first read of each shard, which throttling and backoff (up to 5 s) may delay.
MIN_SETTLE_ROUNDS = 30


# (weight, kind): what a schedule step does. Writes and steps always happen; each seed enables a
# random half of the faults ("swarm testing": a schedule without flushes and rebuilds is the one
# where a lost batch is not silently repaired by a rebuild, and shows).
ACTIONS = (
    (30, "write"),
    (28, "consumer-step"),
    (10, "scan-step"),
    (8, "clock"),
    (2, "redis-flush"),
    (3, "replica-snapshot"),
    (2, "failover"),
    (2, "abandon-mid-batch"),
    (2, "kill-worker"),
    (3, "start-worker"),
    (2, "lease-expiry"),
    (1.5, "iterator-expiry"),
    (1.5, "throttle"),
    (2, "split-or-rollover"),
    (0.7, "downtime-25h"),
    (1, "rebuild-request"),
    (0.6, "stream-enabled-late"),
    (0.6, "group-by-change"),
    (1.5, "adjustment"),
)
ALWAYS = ("write", "consumer-step", "scan-step", "clock", "replica-snapshot", "start-worker")


class Abandoned(Exception):
    """The worker process running a consumer died here."""


def metrics(group_raised_by: str = "platform") -> tuple[MetricDefinition, ...]:
    """The demo campaign's metrics (devtools/campaign.py), raised grouped as asked, and PAID."""
    raised = dataclasses.replace(campaign.RAISED, group_by_path=group_raised_by)
    return (raised, campaign.GIFTS, campaign.DONORS, PAID)


def campaign_config(sim: StreamSim, definitions: tuple[MetricDefinition, ...]) -> CampaignConfig:
    return CampaignConfig(
        id=CAMPAIGN,
        slug="schedule",
        name="Schedule",
        currency="USD",
        table_name=sim.table_name,
        region=sim.region,
        endpoint_url=sim.endpoint_url,
        specs=campaign.specs(definitions),
        displays=campaign.displays(definitions),
        goal=None,
    )


class FaultyStore(Store):
    """The store of one worker process: it can die just before or just after a batch lands."""

    crash: str | None = None

    def apply_batch(self, campaign_id: int, **kwargs: Any):
        if self.crash == "before":
            raise Abandoned("died before writing")
        result = super().apply_batch(campaign_id, **kwargs)
        if self.crash == "after":
            raise Abandoned("died after writing")
        return result


class SteppedScans:
    """A consumer's table scans, advanced one page per schedule step (instead of threads)."""

    def __init__(self, store: Store, owner: str):
        self.store, self.owner = store, owner
        self.scanners: dict[int, Scanner] = {}

    def ensure(self, config: CampaignConfig, on_page: Callable | None = None) -> None:
        if config.id in self.scanners:
            return
        if self.store.lease_holder(config.id, SCAN_LEASE) not in (None, self.owner):
            return
        scanner = Scanner(store=self.store, config=config, owner=self.owner, on_page=on_page, retries=0)
        try:
            started = scanner.start()
        except Abandoned:
            raise
        except Exception:  # noqa: BLE001 - a throttled DescribeTable: the next maintain() tries again
            return
        if started:
            self.scanners[config.id] = scanner

    def step(self) -> None:
        for campaign_id, scanner in list(self.scanners.items()):
            try:
                if scanner.stop.is_set() or not scanner.step():
                    scanner.finish()
                    scanner.release()
                    del self.scanners[campaign_id]
            except RebuildAbandoned:
                scanner.release()
                del self.scanners[campaign_id]
            except Abandoned:
                raise
            except Exception as exc:  # noqa: BLE001 - throttled: the same page is read again later
                if streams.error_code(exc) not in streams.TRANSIENT_CODES:
                    raise

    def stop_all(self) -> None:
        self.scanners.clear()


@dataclass
class Worker:
    consumer: Consumer
    store: FaultyStore
    scans: SteppedScans


@dataclass
class Outcome:
    seed: int
    ok: bool
    message: str = ""
    faults: Counter = field(default_factory=Counter)
    log: list[str] = field(default_factory=list)


class Schedule:
    def __init__(self, seed: int, client: Any, prefix: str):
        self.seed = seed
        self.rng = random.Random(seed)
        self.client, self.prefix = client, prefix
        self.sim = StreamSim(
            shards=self.rng.randint(1, 3),
            seed=seed,
            empty_reads=(0, self.rng.choice((0, 1, 2))),
            stream_enabled=self.rng.random() < 0.7,  # else: an existing table, its past in no stream
        )
        self.store = Store(client, prefix=prefix)
        self.config = campaign_config(self.sim, metrics())
        self.now = 1000.0
        self.workers: list[Worker] = []
        self.started = 0
        self.snapshots: list[dict] = []
        self.faults: Counter = Counter()
        self.log: list[str] = []
        self.keys = [f"gift-{n}" for n in range(self.rng.randint(8, 40))]
        self.enabled = {kind for _, kind in ACTIONS if kind in ALWAYS or self.rng.random() < 0.5}
        self.next_item = 0
        self.adjustments: dict[int, Adjustment] = {}  # the organizers' database

    # --- the world ----------------------------------------------------------------------------
    def clock(self) -> float:
        return self.now

    def start_worker(self) -> None:
        self.started += 1
        owner = f"w{self.started}"
        store = FaultyStore(self.client, prefix=self.prefix)
        scans = SteppedScans(store, owner)
        consumer = Consumer(
            store=store,
            consumer_id=owner,
            load_configs=lambda: [self.config],
            clock=self.clock,
            scans=scans,
            reads=ImmediateReads(),  # next batches read ahead, deterministically
            organizer=ports.OrganizerInput(
                lambda campaign_id: list(self.adjustments.values()), lambda campaign_id, listing: listing
            ),
        )
        self.workers.append(Worker(consumer, store, scans))

    def kill(self, worker: Worker) -> None:
        self.workers.remove(worker)  # its leases stay until they expire, as a killed process's do

    # --- donations ----------------------------------------------------------------------------
    def item(self, key: str) -> dict[str, Any]:
        self.next_item += 1
        rng = self.rng
        amount: Any = Decimal(rng.randint(1, 50_000)) / 100
        if rng.random() < 0.04:
            amount = "ten"  # unusable: set aside, and a recount skips it too
        return {
            "id": key,
            "amount": amount,
            "platform": rng.choice(PLATFORMS),
            "team": rng.choice(TEAMS),
            "status": rng.choice(("paid", "paid", "pledged")),
            "email": f"donor{rng.randint(1, 15)}@example.org",
        }

    def write(self) -> str:
        rng, sim = self.rng, self.sim
        key = rng.choice(self.keys)
        exists = any(image["id"]["S"] == key for image in sim.images())
        roll = rng.random()
        if not exists:
            if roll < 0.2:
                item = self.item(key)
                sim.update({"id": key}, set={k: v for k, v in item.items() if k != "id"})
                return "update-create"
            sim.put(self.item(key))
            return "put"
        if roll < 0.25:
            sim.update({"id": key}, set={"amount": Decimal(rng.randint(1, 50_000)) / 100})
            return "update-amount"
        if roll < 0.4:
            sim.update({"id": key}, set={"platform": rng.choice(PLATFORMS), "team": rng.choice(TEAMS)})
            return "update-group"
        if roll < 0.5:
            sim.update({"id": key}, set={"status": rng.choice(("paid", "pledged"))})
            return "update-filter"
        if roll < 0.7:
            sim.delete({"id": key})
            return "delete"
        if roll < 0.8:
            current = next(i for i in sim.items() if i["id"] == key)
            sim.put(current)  # the same item again: no stream record
            return "identical-put"
        sim.put(self.item(key))
        return "replace"

    # --- actions ------------------------------------------------------------------------------
    def act(self) -> None:
        """One action, drawn by weight from the kinds this seed enabled."""
        kinds = [(weight, kind) for weight, kind in ACTIONS if kind in self.enabled]
        kind = self.rng.choices([k for _, k in kinds], weights=[w for w, _ in kinds])[0]
        done = getattr(self, "do_" + kind.replace("-", "_"))()
        kind = done or kind
        self.faults[kind] += 1
        self.log.append(kind)

    def do_write(self) -> str:
        return self.write()

    def do_adjustment(self) -> str:
        """An organizer records an adjustment, or reverses (or restores) one; the web process
        counts it at once, unless it fails to (Redis away): the consumers count it again anyway."""
        rng = self.rng
        if self.adjustments and rng.random() < 0.4:
            old = rng.choice(list(self.adjustments.values()))
            new, kind = (
                dataclasses.replace(old, version=old.version + 1, reversed=not old.reversed),
                "reverse",
            )
        else:
            new, kind = (
                Adjustment(
                    id=len(self.adjustments) + 1,
                    version=1,
                    amount=Decimal(rng.randint(-5_000, 500_000)) / 100,
                    group=rng.choice(("Cash in the room", "Website", "")),
                    counts_as_gift=rng.random() < 0.5,
                    counts_as_donor=rng.random() < 0.3,
                    donor=rng.choice(("", "paddle:7")),
                ),
                "record",
            )
        self.adjustments[new.id] = new
        if rng.random() < 0.7:
            with contextlib.suppress(redis.RedisError):
                apply_adjustments(store=self.store, config=self.config, adjustments=[new])
        return f"adjustment-{kind}"

    def do_consumer_step(self) -> str:
        return self.step_worker()

    def do_scan_step(self) -> str:
        return self.step_scans()

    def do_clock(self) -> None:
        self.now += self.rng.choice((0.05, 0.3, 1.0, 3.0))

    def do_redis_flush(self) -> None:
        self.client.flushdb()

    def do_replica_snapshot(self) -> None:
        self.snapshots = (self.snapshots + [redis_snapshot(self.client)])[-3:]

    def do_failover(self) -> str | None:
        if not self.snapshots:
            return self.do_replica_snapshot() or "replica-snapshot"
        redis_restore(self.client, self.rng.choice(self.snapshots))
        return None

    def do_abandon_mid_batch(self) -> str | None:
        if not self.workers:
            return self.step_worker()
        self.rng.choice(self.workers).store.crash = self.rng.choice(("before", "after"))
        return None

    def do_kill_worker(self) -> str | None:
        if not self.workers:
            return self.step_worker()
        self.kill(self.rng.choice(self.workers))
        return None

    def do_start_worker(self) -> str | None:
        if len(self.workers) >= 3:
            return self.step_worker()
        self.start_worker()
        return None

    def do_lease_expiry(self) -> None:
        self.expire_leases(all_of_them=self.rng.random() < 0.5)

    def do_iterator_expiry(self) -> None:
        self.sim.advance(16 * 60)

    def do_throttle(self) -> None:
        operation = self.rng.choice(
            ("GetRecords", "DescribeStream", "GetShardIterator", "Scan", "DescribeTable")
        )
        self.sim.throttle(operation, times=self.rng.randint(1, 3))

    def do_split_or_rollover(self) -> None:
        if len(self.sim.shard_ids(open_only=True)) < 6:
            self.sim.split(children=self.rng.choice((1, 2)))

    def do_downtime_25h(self) -> None:
        for _ in range(self.rng.randint(0, 4)):
            self.write()  # written while nobody reads: trimmed before anyone does
        self.sim.advance(25 * 3600)
        # A day later every record from before is out of the stream: tombstones may go (what a
        # consumer's minute sweep does once Redis' clock, which this schedule cannot move, agrees).
        self.store.sweep_tombstones(CAMPAIGN, age=0, most=100_000)

    def do_rebuild_request(self) -> None:
        rebuild_start(store=self.store, config=self.config, reason="requested by an organizer", replace=True)

    def do_stream_enabled_late(self) -> str | None:
        if self.sim.stream_enabled:
            return self.write()
        self.sim.enable_stream()
        return None

    def do_group_by_change(self) -> None:
        group = self.rng.choice(("platform", "team", ""))
        self.config = dataclasses.replace(self.config, specs=campaign.specs(metrics(group)))

    def step_worker(self) -> str:
        if not self.workers:
            self.start_worker()
        worker = self.rng.choice(self.workers)
        self.run_step(worker, worker.consumer.step)
        return "consumer-step"

    def step_scans(self) -> str:
        for worker in list(self.workers):
            self.run_step(worker, worker.scans.step)
        return "scan-step"

    def run_step(self, worker: Worker, step: Callable[[], Any]) -> None:
        try:
            step()
        except Abandoned:
            self.kill(worker)

    def expire_leases(self, *, all_of_them: bool) -> None:
        """Redis' clock jumps past some leases: their holders lose them (they find out on write)."""
        for key in self.client.scan_iter(match=f"*{self.prefix}:{CAMPAIGN}}}:lease:*"):
            if all_of_them or self.rng.random() < 0.5:
                if self.client.type(key) == "hash":
                    self.client.hset(key, "expires", 0)

    # --- settling and the invariant -----------------------------------------------------------
    def settle(self) -> str | None:
        """Let time pass with no faults; None when live and exact, else why not."""
        for worker in self.workers:
            worker.store.crash = None
        alive = {w.consumer.id for w in self.workers}
        for key in self.client.scan_iter(match=f"*{self.prefix}:{CAMPAIGN}}}:lease:*"):
            if self.client.type(key) == "hash" and self.client.hget(key, "owner") not in alive:
                self.client.hset(key, "expires", 0)  # dead workers' leases run out
        for owner in self.store.live_consumers():
            if owner not in alive:
                self.store.drop_consumer(owner)  # and their heartbeats
        if not self.workers:
            self.start_worker()
        settled_for = 0
        for round_ in range(SETTLE_ROUNDS):
            for worker in list(self.workers):
                self.run_step(worker, worker.consumer.step)
                self.run_step(worker, worker.scans.step)
            self.now += 0.5
            if self.settled():
                settled_for += 1
                if settled_for >= SETTLED_ROUNDS and round_ >= MIN_SETTLE_ROUNDS:
                    return self.judge()
            else:
                settled_for = 0
        return f"stuck: not live and caught up after {SETTLE_ROUNDS} rounds; {self.describe()}"

    def describe(self) -> str:
        """Where everything stands, for a failure message."""
        meta = self.store.meta(CAMPAIGN)
        leases = {}
        for key in self.client.scan_iter(match=f"*{self.prefix}:{CAMPAIGN}}}:lease:*"):
            if self.client.type(key) == "hash":
                leases[key.rsplit(":", 1)[1][-8:]] = self.client.hmget(key, "owner", "fence", "expires")
        scanning = {w.consumer.id: list(w.scans.scanners) for w in self.workers}
        checkpoints = self.store.checkpoints(CAMPAIGN, stream_key(self.sim.stream_arn))
        shards = {
            sid[-8:]: (self.sim.shard(sid).parent_id or "")[-8:]
            + ("" if self.sim.shard(sid).is_open else " closed")
            for sid in self.sim.shard_ids()
        }
        return (
            f"meta {meta}; leases {leases}; workers {[w.consumer.id for w in self.workers]}; "
            f"scanners {scanning}; shards (parent) {shards}; checkpoints { {k[-8:]: v for k, v in checkpoints.items()} }"
        )

    def settled(self) -> bool:
        meta = self.store.meta(CAMPAIGN)
        return (
            meta.get("status") == "live"
            and meta.get("gen", "0") != "0"
            and not meta.get("building")
            and stream_caught_up(self.store, CAMPAIGN, self.sim)
        )

    def judge(self) -> str | None:
        specs = self.config.specs
        adjusted = [adjustment_contribution(specs, a) for a in self.adjustments.values()]
        truth = recount(specs, [decode_image(image) for image in self.sim.images()], adjusted)
        snapshot = self.store.snapshot(CAMPAIGN, [s.slug for s in specs])
        totals = {slug: v.total for slug, v in snapshot.metrics.items()}
        groups = {slug: v.groups for slug, v in snapshot.metrics.items()}
        if totals == truth.totals and groups == truth.groups:
            return None
        return (
            f"LIVE AND WRONG: totals {totals} vs recount {truth.totals}; groups {groups} vs {truth.groups}; "
            f"{self.describe()}"
        )


def run_schedule(seed: int, client: Any, prefix: str = "sched") -> Outcome:
    """Play one seed's schedule against a real Redis (flushed first)."""
    client.flushdb()
    random.seed(seed)  # the consumer's backoff jitter
    schedule = Schedule(seed, client, prefix)
    previous = streams.make_clients, streams.BOTO_CONFIG
    # botocore's own retries sleep for real; without them the consumer's backoff (on the simulated
    # clock) handles throttling.
    streams.BOTO_CONFIG = Config(retries={"total_max_attempts": 1, "mode": "standard"})
    clients = schedule.sim.make_clients()  # one pair for every worker: creating clients is slow
    streams.make_clients = lambda *, region, endpoint_url=None: clients
    try:
        schedule.start_worker()
        for _ in range(schedule.rng.randint(*FAULT_STEPS)):
            schedule.act()
        if not schedule.sim.stream_enabled:
            schedule.sim.enable_stream()
            schedule.faults["stream-enabled-late"] += 1
        problem = schedule.settle()
    finally:
        streams.make_clients, streams.BOTO_CONFIG = previous
    return Outcome(seed, problem is None, problem or "", schedule.faults, schedule.log)
