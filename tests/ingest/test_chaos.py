"""Three worker processes read a busy, splitting stream while being SIGKILLed at random; in the end
the Redis aggregates equal a recount of the table, exactly."""

from __future__ import annotations

import random
import signal
import threading
import time

import pytest
import redis

from devtools.embedded import EmbeddedRedis
from fundraiser.selectors import campaign_config
from ingest.consumer import stream_key
from ingest.metrics import recount
from ingest.records import decode_image
from ingest.store import Store
from tests.factories import aggregates_settled, make_campaign
from tests.processes import PYTHON, Child, migrate, process_env, seed_campaign
from tests.streamsim import Donations, StreamSim, StreamSimServer, shard_of_iterator, stream_caught_up

pytestmark = [pytest.mark.e2e, pytest.mark.django_db]

RECORDS = 20_000
WORKERS = 3
MIN_KILLS = 10


class Workers:
    """`manage.py consume` processes; a killed one is replaced at once by a fresh process."""

    def __init__(self, env: dict[str, str], store: Store, campaign_id: int):
        self.env = env
        self.store = store
        self.campaign_id = campaign_id
        self.started = 0
        self.kills = 0
        self.kills_holding_leases = 0
        self.started_at: dict[str, float] = {}
        self.slots = [self.start() for _ in range(WORKERS)]
        self.retired: list[Child] = []

    def start(self) -> Child:
        self.started += 1
        name = f"consumer-{self.started}"  # unique per process, as consumer ids must be
        self.started_at[name] = time.monotonic()
        return Child(name, [PYTHON, "manage.py", "consume", "--seconds", "300", "--id", name], self.env)

    def kill_one(self, rng: random.Random) -> None:
        """SIGKILL a worker that has been up long enough to hold leases, wherever it is."""
        running = [n for n, c in enumerate(self.slots) if time.monotonic() - self.started_at[c.name] > 2.5]
        holding = [n for n in running if self.leases_held_by(self.slots[n].name)]
        if not running:
            return
        slot = rng.choice(holding or running)  # (a loaded machine starts workers slowly)
        victim = self.slots[slot]
        held = self.leases_held_by(victim.name)
        victim.signal(signal.SIGKILL)
        victim.process.wait(5)
        self.kills += 1
        self.kills_holding_leases += bool(held)
        self.retired.append(victim)
        self.slots[slot] = self.start()

    def leases_held_by(self, owner: str) -> int:
        keys = self.store.redis.keys(f"{self.store.base(self.campaign_id)}:lease:*")
        return sum(self.store.redis.hget(key, "owner") == owner for key in keys)

    def stop(self) -> str:
        for child in self.slots:
            child.stop()
        for child in self.retired:
            child.log.close()
        return "\n".join(f"----- {c.name} -----\n{c.output()[-3000:]}" for c in self.slots + self.retired)


def caught_up(store: Store, campaign_id: int, sim: StreamSim) -> bool:
    return aggregates_settled(store, campaign_id) and stream_caught_up(store, campaign_id, sim)


def write_stream(sim: StreamSim, done: threading.Event, counts: dict[str, int]) -> None:
    """About 2,000 records a second; two generations of splits and a rollover on the way."""
    donations = Donations(sim, seed=20, keys=4000)
    splits = {RECORDS // 3: sim.split_all, 2 * RECORDS // 3: sim.split_all, 5 * RECORDS // 6: sim.split}
    while counts["records"] < RECORDS:
        counts["records"] += donations.write(200)
        for at in [at for at in splits if counts["records"] >= at]:
            splits.pop(at)()
        time.sleep(0.1)
    done.set()


def test_workers_killed_at_random_leave_the_aggregates_equal_to_a_recount(request):
    sim = StreamSim(shards=8, seed=21)
    server = StreamSimServer(sim).start()
    request.addfinalizer(server.stop)
    redis_server = EmbeddedRedis().start()
    request.addfinalizer(redis_server.close)
    env = process_env(
        REDIS_URL=redis_server.url,
        INGEST_LEASE_SECONDS="1.5",
        INGEST_DISCOVER_SECONDS="0.5",
        INGEST_IDLE_POLL_SECONDS="0.05",
        INGEST_BATCH_LIMIT="250",
        LOG_LEVEL="WARNING",
    )
    migrate(env)
    campaign_id = seed_campaign(env, endpoint_url=server.url, table_name=sim.table_name)
    store = Store(redis.Redis.from_url(redis_server.url, decode_responses=True))
    specs = campaign_config(make_campaign(endpoint_url=server.url)).specs  # as seed_campaign made it

    rng = random.Random(22)
    started = time.monotonic()
    workers = Workers(env, store, campaign_id)
    counts = {"records": 0}
    written = threading.Event()
    writer = threading.Thread(target=write_stream, args=(sim, written, counts), daemon=True)
    try:
        writer.start()
        while not written.is_set() or workers.kills_holding_leases < MIN_KILLS:
            time.sleep(rng.uniform(0.3, 1.2))
            workers.kill_one(rng)
            assert time.monotonic() - started < 90, "the writer or the kills took too long"
        deadline = time.monotonic() + 25
        while not caught_up(store, campaign_id, sim):
            assert time.monotonic() < deadline, "the workers did not catch up after the last kill"
            time.sleep(0.2)
    finally:
        logs = workers.stop()
        print(
            f"{workers.kills} workers killed with SIGKILL ({workers.kills_holding_leases} holding "
            f"leases); {counts['records']} records; "
            f"{len(sim.shard_ids())} shards; {time.monotonic() - started:.1f} s"
        )
        print(logs[-20000:])

    truth = recount(specs, [decode_image(image) for image in sim.images()])
    snap = store.snapshot(campaign_id, [spec.slug for spec in specs])
    assert {slug: v.total for slug, v in snap.metrics.items()} == truth.totals
    assert {slug: v.groups for slug, v in snap.metrics.items()} == truth.groups
    assert counts["records"] >= RECORDS
    assert len(sim.shard_ids()) >= 8 + 16 + 32
    assert workers.kills >= MIN_KILLS
    assert workers.kills_holding_leases >= MIN_KILLS
    assert store.meta(campaign_id).get("status") != "needs_rebuild"


def test_sigterm_finishes_the_batch_in_flight_releases_the_leases_and_exits(request):
    sim = StreamSim(shards=4, seed=23, empty_reads=(0, 0))
    server = StreamSimServer(sim).start()
    request.addfinalizer(server.stop)
    redis_server = EmbeddedRedis().start()
    request.addfinalizer(redis_server.close)
    env = process_env(REDIS_URL=redis_server.url, INGEST_LEASE_SECONDS="30", LOG_LEVEL="WARNING")
    migrate(env)
    campaign_id = seed_campaign(env, endpoint_url=server.url, table_name=sim.table_name)
    store = Store(redis.Redis.from_url(redis_server.url, decode_responses=True))
    donations = Donations(sim, seed=23, keys=300)
    donations.write(300)
    worker = Child("consumer", [PYTHON, "manage.py", "consume", "--seconds", "120", "--id", "w1"], env)
    try:
        deadline = time.monotonic() + 30
        while not caught_up(store, campaign_id, sim):
            assert time.monotonic() < deadline, worker.output()
            time.sleep(0.1)
        in_flight = threading.Event()

        def slow_read(params):
            if not in_flight.is_set():
                in_flight.set()
                shards.append(shard_of_iterator(params["ShardIterator"]))
                time.sleep(1.0)  # SIGTERM arrives while this GetRecords is being answered

        shards: list[str] = []
        donations.write(300)
        sim.hooks["GetRecords"] = slow_read
        assert in_flight.wait(10)
        worker.signal(signal.SIGTERM)
        assert worker.process.wait(15) == 0
    finally:
        worker.stop()

    checkpoints = store.checkpoints(campaign_id, stream_key(sim.stream_arn))
    assert checkpoints[shards[0]] == str(sim.shard(shards[0]).records[-1][0])  # the batch was committed
    owners = store.lease_owners(campaign_id, sim.shard_ids())
    assert owners == dict.fromkeys(sim.shard_ids())  # every lease released
    assert "w1" not in store.live_consumers()
