"""Ingestion on the real path: a real Consumer catching up a backlog from raw GetRecords bytes.

Everything the worker does is timed: the boto3 call (botocore's request pipeline and signing, the
response parsed from its bytes by ingest/wire.py), decoding and metric evaluation, the item-state
read, the plan, the commit script, the ticker, the health fields, the lease renewals and the SSE
publish. Only the network is not there: the GetRecords responses were recorded beforehand from
tests/streamsim.py (an AWS-documented stream double) and are handed back as bytes from memory, so
the stream double's own work is not timed. Exactness is checked after every run against a recount
of the table's final items.

`catch_up(records=..., shards=..., workers=...)` runs it in `workers` processes, each a Consumer
(leases spread the shards between them) on the same Redis.
"""

from __future__ import annotations

import dataclasses
import gc
import json
import multiprocessing
import os
import random
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

CAMPAIGN_ID = 7001
BATCH = 1000


def bench_campaign(endpoint_url: str):
    """The demo campaign with five metrics (a count-distinct among them) and the ticker on."""
    from devtools.campaign import DONORS, GIFTS, RAISED, DemoCampaign, MetricDefinition, displays, specs

    phone = MetricDefinition(
        "phone", "Phone bank", "sum", "amount", filter_path="platform", filter_value="Phone",
        decimal_places=2, is_money=True,
    )  # fmt: skip
    texts = MetricDefinition(
        "texts", "Text-to-give gifts", "count", filter_path="platform", filter_value="Text"
    )
    metrics = tuple(sorted((RAISED, GIFTS, DONORS, phone, texts), key=lambda m: m.slug))
    config = DemoCampaign(slug="bench-real", name="Bench", endpoint_url=endpoint_url).engine_config(
        CAMPAIGN_ID
    )
    import dataclasses

    return dataclasses.replace(config, specs=specs(metrics), displays=displays(metrics))


@dataclass
class Recording:
    """GetRecords response bodies by (shard, position), as the stream double wrote them."""

    bodies: dict[tuple[str, int], bytes] = field(default_factory=dict)
    records: int = 0
    responses: int = 0

    def answer_from(self, sim: Any) -> Callable[..., Any]:
        """A botocore `before-send` handler: recorded GetRecords bytes, the double for the rest."""
        from botocore.awsrequest import AWSResponse

        from tests.streamsim import STREAMS_TARGET, _Body, _decode_iterator, response_headers

        get_records = f"{STREAMS_TARGET}.GetRecords"

        def answer(request: Any, **_: Any) -> Any:
            target = request.headers.get("X-Amz-Target")
            target = target.decode() if isinstance(target, bytes) else target or ""
            body = None
            if target == get_records:
                token = _decode_iterator(json.loads(request.body)["ShardIterator"])
                body = self.bodies.get((token["shard"], token["after"]))
            if body is None:
                status, body = sim.handle(target, request.body or b"")
            else:
                status = 200
            return AWSResponse(request.url, status, response_headers(body), _Body(body))

        return answer


def streams_caller(sim: Any) -> Callable[..., bytes]:
    """Call the double's DynamoDB Streams API directly: the response body as it would travel."""
    from tests.streamsim import STREAMS_TARGET

    def call(operation: str, **params: Any) -> bytes:
        status, body = sim.handle(f"{STREAMS_TARGET}.{operation}", json.dumps(params).encode())
        if status != 200:
            raise RuntimeError(f"{operation}: {body[:200]!r}")
        return body

    return call


def record(sim: Any) -> Recording:
    """Read every shard of the double from its start, keeping each response's bytes."""
    from tests.streamsim import _decode_iterator

    call = streams_caller(sim)
    out = Recording()
    for shard_id in sim.shard_ids():
        params = {"StreamArn": sim.stream_arn, "ShardId": shard_id, "ShardIteratorType": "TRIM_HORIZON"}
        iterator = json.loads(call("GetShardIterator", **params))["ShardIterator"]
        while iterator:
            body = call("GetRecords", ShardIterator=iterator, Limit=BATCH)
            response = json.loads(body)
            if not response["Records"]:
                break
            token = _decode_iterator(iterator)
            out.bodies[(token["shard"], token["after"])] = body
            out.records += len(response["Records"])
            out.responses += 1
            iterator = response.get("NextShardIterator")
    return out


def write_backlog(sim: Any, records: int, *, keys: int, seed: int) -> None:
    from tests.streamsim import Donations

    donations = Donations(sim, seed=seed, keys=keys)
    rng = random.Random(seed)
    produced = 0
    while produced < records:
        if rng.random() < 0.004:  # now and then an amount nobody can add up: a reject
            item = donations.new_item(rng.choice(donations.keys))
            item["amount"] = rng.choice(["ten", "12.345"])
            produced += donations._put(item) is not None
        else:
            produced += donations.write_one() is not None


def install_clients(sim: Any, recording: Recording) -> None:
    """Every StreamReader the consumer makes gets real boto3 clients answered from the recording."""
    from urllib.parse import urlsplit

    from django.test import override_settings

    from ingest import streams

    answer = recording.answer_from(sim)

    def make_clients(*, region: str, endpoint_url: str | None = None) -> tuple[Any, Any]:
        with override_settings(INGEST_ALLOWED_ENDPOINTS=[urlsplit(sim.endpoint_url).netloc]):
            clients = streams.boto_clients(region=region, endpoint_url=endpoint_url)
        for client in clients:
            client.meta.events.register("before-send", answer)
        return clients

    streams.make_clients = make_clients


def consume_until(consumer: Any, done: Callable[[], bool], *, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while not done():
        if time.monotonic() > deadline:
            raise TimeoutError("the consumer did not finish in time")
        pause = consumer.step()
        if pause > 0:
            time.sleep(min(pause, 0.05))


def make_consumer(config: Any, name: str) -> Any:
    from ingest import ports
    from ingest.consumer import Consumer
    from ingest.store import Store

    # No organizers' database here: no adjustments, the ticker as it is.
    return Consumer(
        store=Store(), consumer_id=name, load_configs=lambda: [config], organizer=ports.NO_ORGANIZER_INPUT
    )


def is_live(store: Any) -> bool:
    meta = store.campaign_meta(CAMPAIGN_ID)
    return meta.status == "live" and meta.live != "0"


@dataclass
class CatchUp:
    records: int
    shards: int
    workers: int
    seconds: float
    worker_cpu: float  # seconds of CPU, all worker processes
    redis_cpu: float
    script_usec: float  # inside Redis, the commit scripts
    problems: list[str]
    recording: Recording | None = None

    @property
    def rate(self) -> float:
        return self.records / self.seconds


def _worker(config: Any, name: str, sim: Any, recording: Recording, start: Any, out: Any) -> None:
    from ingest.store import Store
    from tests.streamsim import stream_caught_up

    install_clients(sim, recording)
    consumer = make_consumer(config, name)
    store = Store()
    start.wait()
    cpu = time.process_time()
    consume_until(consumer, lambda: stream_caught_up(store, CAMPAIGN_ID, sim), timeout=3600)
    out.put(time.process_time() - cpu)
    consumer.shut_down()


def catch_up(*, records: int, shards: int, workers: int, keys: int = 20_000, seed: int = 1) -> CatchUp:
    """A backlog of `records` over `shards` shards, consumed by `workers` processes from live."""
    from ingest import streams

    previous = streams.make_clients
    try:
        return _catch_up(records=records, shards=shards, workers=workers, keys=keys, seed=seed)
    finally:
        streams.make_clients = previous  # (the tests go on with their own)


def _catch_up(*, records: int, shards: int, workers: int, keys: int, seed: int) -> CatchUp:
    from ingest.store import Store, get_redis
    from tests.streamsim import StreamSim, stream_caught_up

    client = get_redis()
    client.flushdb()  # the bench's own Redis (or the tests' database)
    sim = StreamSim(shards=shards, seed=seed, empty_reads=(0, 0))
    config = bench_campaign(sim.endpoint_url)
    store = Store()
    go_live(sim, config, store)
    write_backlog(sim, records, keys=keys, seed=seed)
    recording = record(sim)
    gc.collect()
    gc.freeze()  # the double's table and recording are not the worker's: keep them out of its GC
    client.config_resetstat()
    redis_cpu = _redis_cpu(client)
    started = time.perf_counter()
    if workers == 1:
        install_clients(sim, recording)
        consumer = make_consumer(config, "bench-1")
        cpu = time.process_time()
        consume_until(consumer, lambda: stream_caught_up(store, CAMPAIGN_ID, sim), timeout=3600)
        worker_cpu = time.process_time() - cpu
        seconds = time.perf_counter() - started
        consumer.shut_down()
    else:
        worker_cpu, seconds = _in_processes(config, sim, recording, workers)
    return CatchUp(
        records=recording.records,
        shards=shards,
        workers=workers,
        seconds=seconds,
        worker_cpu=worker_cpu,
        redis_cpu=_redis_cpu(client) - redis_cpu,
        script_usec=_script_usec(client),
        problems=check(store, config, sim, recording.records),
        recording=recording,
    )


def go_live(sim: Any, config: Any, store: Any) -> None:
    """The campaign live on its empty table, its shards taken: the backlog comes after."""
    install_clients(sim, Recording())
    warm = make_consumer(config, "bench-warm")
    consume_until(warm, lambda: is_live(store), timeout=60)
    warm.shut_down()


def _in_processes(config: Any, sim: Any, recording: Recording, workers: int) -> tuple[float, float]:
    context = multiprocessing.get_context("fork")  # the recording is shared, not copied up front
    start, out = context.Event(), context.Queue()
    processes = [
        context.Process(target=_worker, args=(config, f"bench-{n}", sim, recording, start, out))
        for n in range(workers)
    ]
    for process in processes:
        process.start()
    time.sleep(1.0)  # every process imported and connected before the clock starts
    started = time.perf_counter()
    start.set()
    cpu = sum(out.get(timeout=3600) for _ in processes)
    seconds = time.perf_counter() - started
    for process in processes:
        process.join(timeout=60)
    return cpu, seconds


def check(store: Any, config: Any, sim: Any, records: int) -> list[str]:
    """Differences between the live numbers and a recount of the table's final items."""
    from ingest.metrics import recount
    from ingest.records import decode_image

    expected = recount(config.specs, [decode_image(image) for image in sim.images()])
    snapshot = store.snapshot(config.id, [s.slug for s in config.specs])
    problems = []
    for spec in config.specs:
        got = snapshot.metrics[spec.slug]
        if got.total != expected.totals[spec.slug] or got.groups != expected.groups[spec.slug]:
            problems.append(f"{spec.slug}: {got.total} != recount {expected.totals[spec.slug]}")
    if snapshot.status != "live":
        problems.append(f"status {snapshot.status}, not live")
    return problems


def _redis_cpu(client: Any) -> float:
    info = client.info("cpu")
    return float(info["used_cpu_user"]) + float(info["used_cpu_sys"])


def _script_usec(client: Any) -> float:
    stats = client.info("commandstats")
    return float(sum(v["usec"] for k, v in stats.items() if k in ("cmdstat_evalsha", "cmdstat_eval")))


# --- the seed article's Lambda, on the same bytes ------------------------------------------------
def seed_rate(recording: Recording, *, pipelined: bool, most: int | None = None) -> tuple[float, int]:
    """records/s of the article's approach (per record HINCRBY + PUBLISH, for its platform and
    "ALL") fed the same GetRecords bytes, parsed as a Lambda-like consumer would: botocore's parser."""
    from bench.run import get_records_parser, seed_naive, seed_pipelined
    from ingest.store import get_redis

    client, parse = get_redis(), get_records_parser()
    bodies = list(recording.bodies.values())[:most]
    apply = seed_pipelined if pipelined else seed_naive
    records = 0
    started = time.perf_counter()
    for body in bodies:
        batch = parse(body)["Records"]
        apply(client, "bench:seed", [batch])
        records += len(batch)
    return records / (time.perf_counter() - started), records


@dataclass
class Figure:
    figure: str
    target: str
    measured: str
    ratio: str
    includes: str
    met: bool | None = None  # None: informative, no target


def ingest_figures(
    *, records: int, shards: int, catch_up_records: int, naive_batches: int = 3
) -> list[Figure]:
    """The ingest rows of `make bench`'s table (bench/README.md)."""
    one = catch_up(records=records, shards=shards, workers=1)
    assert one.recording is not None
    pipelined, _ = seed_rate(one.recording, pipelined=True)
    naive, naive_records = seed_rate(one.recording, pipelined=False, most=naive_batches)
    script_us = one.script_usec / one.records
    real_path = (
        "GetRecords bytes from memory -> boto3 call (signing, hooks) -> orjson parse -> decode -> 5 metrics -> "
        "state read -> plan -> commit script -> ticker -> health -> SSE publish; left out: the network"
    )
    rows = [
        Figure(f"ingest, real path, 1 worker, {one.records:,} records, {shards} shards", ">= 50,000 rec/s",
               f"{one.rate:,.0f} rec/s", f"{one.rate / 50_000:.2f}x", real_path, one.rate >= 50_000),
        Figure("  vs the seed approach pipelined, same bytes (botocore parse + HINCRBY/PUBLISH)", ">= 10x",
               f"{pipelined:,.0f} rec/s", f"{one.rate / pipelined:.2f}x", "the seed's whole path, its parse included",
               one.rate >= 10 * pipelined),
        Figure(f"  vs the seed approach one call each ({naive_records:,} records)", "-",
               f"{naive:,.0f} rec/s", f"{one.rate / naive:.2f}x", "the seed's whole path, its parse included"),
        Figure("Redis time per record, every script of the run", "<= 5 us", f"{script_us:.2f} us",
               f"{5 / script_us:.2f}x", "commit, ticker, lease and health scripts (INFO commandstats)",
               script_us <= 5),
        Figure("  worker / Redis CPU per record", "-",
               f"{1e6 * one.worker_cpu / one.records:.1f} us / {1e6 * one.redis_cpu / one.records:.1f} us", "-",
               "process CPU time of the worker; INFO cpu of redis-server"),
    ]  # fmt: skip
    rows += catch_up_figures(catch_up_records, max(shards, 4))
    problems = one.problems
    if problems:
        rows.append(
            Figure("EXACTNESS FAILED", "exact", "; ".join(problems), "-", "recount of the table", False)
        )
    return rows


def catch_up_figures(records: int, shards: int) -> list[Figure]:
    one = catch_up(records=records, shards=shards, workers=1)
    two = catch_up(records=records, shards=shards, workers=2)
    exact = "exact" if not (one.problems or two.problems) else f"WRONG: {one.problems + two.problems}"
    return [
        Figure(f"catch-up of {records:,} records, {shards} shards, 1 worker", "measured",
               f"{one.rate:,.0f} rec/s ({one.seconds:.1f} s)", "-", f"the real path as above; {exact}"),
        Figure("  2 workers (processes; leases spread the shards)", ">= 1.8x of 1",
               f"{two.rate:,.0f} rec/s ({two.seconds:.1f} s)", f"{two.rate / one.rate:.2f}x",
               f"both on this machine's {os.cpu_count()} cores, with Redis; {exact}", two.rate >= 1.8 * one.rate),
    ]  # fmt: skip


def print_figures(figures: list[Figure]) -> None:
    for f in figures:
        print(f"{f.figure:<72} {f.target:>16} {f.measured:>28} {f.ratio:>8}   [{f.includes}]")


def main() -> None:
    """python bench/realpath.py [records] [shards] [workers], or: figures [records] [catch-up records]"""
    import sys

    sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    from bench.run import configure_django
    from devtools.embedded import EmbeddedRedis

    args = sys.argv[1:]
    server = EmbeddedRedis().start()
    try:
        configure_django(server.url)
        if args[:1] in (["figures"], ["figures-json"]):
            sizes = [int(a) for a in args[1:]] + [50_000, 100_000][len(args) - 1 :]
            figures = ingest_figures(records=sizes[0], shards=4, catch_up_records=sizes[1])
            if args[0] == "figures":
                print_figures(figures)
            else:
                print(json.dumps([dataclasses.asdict(f) for f in figures]))
            return
        records, shards, workers = (int(a) for a in args + ["100000", "4", "1"][len(args) :])
        result = catch_up(records=records, shards=shards, workers=workers)
        print(
            f"{result.records:,} records, {shards} shards, {workers} worker(s): {result.rate:,.0f} records/s "
            f"({result.seconds:.1f} s; worker CPU {result.worker_cpu:.1f} s, Redis CPU {result.redis_cpu:.1f} s, "
            f"scripts {result.script_usec / result.records:.2f} us/record)"
        )
        print("exact" if not result.problems else result.problems)
    finally:
        server.close()


if __name__ == "__main__":
    main()
