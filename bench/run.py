"""Benchmark of the ingestion hot path: stream records/s per worker process (`make bench`).

Ours, per batch of 1,000 records, is what Consumer.apply does: Consumer.translate (decode each record,
compute its contribution), one Store.apply_batch (fenced by a lease, with the checkpoint) and one
published update event. The baseline, measured in the same run on the same Redis, is the seed
article's Lambda: per record, for its platform and for "ALL", HINCRBY "<platform>:count" and
"<platform>:amount" each followed by a PUBLISH; once one round trip per command, once pipelined per
batch. Records are boto3-shaped GetRecords responses (tests/streamsim.py answered through a real
botocore client), prepared before any timing. No moto (too slow), no timed assertions: the target
is printed, never enforced, since this machine is shared and noisy. See bench/README.md.
"""

from __future__ import annotations

import argparse
import cProfile
import io
import json
import os
import pstats
import random
import re
import secrets
import statistics
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable
from cProfile import Profile
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

TARGET_RECORDS_PER_SECOND = 50_000
BATCH = 1000
OWNER = "bench-consumer"
Batch = list[dict[str, Any]]


def configure_django(redis_url: str) -> None:
    """Settings for a fresh machine: our own Redis and a throwaway var dir (no database is used)."""
    os.environ["DJANGO_SETTINGS_MODULE"] = "config.settings"
    os.environ["REDIS_URL"] = redis_url
    os.environ["FUNDRAISER_VAR_DIR"] = tempfile.mkdtemp(prefix="fr-bench-var-")
    for name, value in (
        ("AWS_ACCESS_KEY_ID", "bench"),
        ("AWS_SECRET_ACCESS_KEY", "bench"),
        ("AWS_DEFAULT_REGION", "us-east-1"),
        ("DJANGO_SECRET_KEY", secrets.token_urlsafe(50)),  # DEBUG stays off, as in production
    ):
        os.environ.setdefault(name, value)
    import django

    django.setup()


# --- the workload: boto3-shaped GetRecords responses ---------------------------------------------
@dataclass
class Workload:
    batches: list[Batch]  # GetRecords' Records as boto3 returns them (datetimes, string numbers)
    bodies: list[bytes]  # the same responses as they travel (AWS JSON 1.0)
    sim: Any  # holds the table's final items
    shard_id: str


def get_records_parser() -> Callable[[bytes], dict[str, Any]]:
    """botocore's own parsing of a GetRecords response, as a boto3 client does it after the call."""
    import botocore.parsers
    import botocore.session

    model = botocore.session.get_session().get_service_model("dynamodbstreams")
    parser = botocore.parsers.create_parser(model.metadata["protocol"])
    shape = model.operation_model("GetRecords").output_shape
    return lambda body: parser.parse({"status_code": 200, "headers": {}, "body": body}, shape)


def workload(*, batches: int, keys: int, seed: int) -> Workload:
    """`batches` GetRecords responses of 1,000 records from one shard of tests/streamsim.StreamSim."""
    from bench.realpath import streams_caller
    from tests.streamsim import Donations, StreamSim

    sim = StreamSim(shards=1, seed=seed, empty_reads=(0, 0))
    donations = Donations(sim, seed=seed, keys=keys)
    rng = random.Random(seed)
    produced = 0
    while produced < batches * BATCH:
        if rng.random() < 0.004:  # now and then an amount nobody can add up: a reject
            item = donations.new_item(rng.choice(donations.keys))
            item["amount"] = rng.choice(["ten", "12.345", {"value": 5}])
            produced += donations._put(item) is not None
        else:
            produced += donations.write_one() is not None

    call = streams_caller(sim)
    parse = get_records_parser()
    shard_id = sim.shard_ids()[0]
    iterator = json.loads(
        call("GetShardIterator", StreamArn=sim.stream_arn, ShardId=shard_id, ShardIteratorType="TRIM_HORIZON")
    )["ShardIterator"]
    out = Workload([], [], sim, shard_id)
    while len(out.batches) < batches:
        body = call("GetRecords", ShardIterator=iterator, Limit=BATCH)
        response = parse(body)
        if response["Records"]:
            out.batches.append(response["Records"])
            out.bodies.append(body)
        iterator = response["NextShardIterator"]
    return out


def describe(batches: list[Batch]) -> str:
    kinds: Counter = Counter()
    for batch in batches:
        for record in batch:
            body = record["dynamodb"]
            kind = record["eventName"]
            if kind == "MODIFY":
                new, old = body["NewImage"], body["OldImage"]
                kind += "/amount" if new.get("amount") != old.get("amount") else ""
                kind += "/platform" if new.get("platform") != old.get("platform") else ""
            if record.get("userIdentity"):
                kind += "(TTL)"
            kinds[kind] += 1
    total = sum(kinds.values())
    return ", ".join(f"{kind} {100 * n / total:.1f}%" for kind, n in kinds.most_common())


# --- ours -----------------------------------------------------------------------------------------
def campaign(campaign_id: int):
    """The demo campaign (devtools/campaign.py, as the tests configure it), without the database."""
    from devtools.campaign import DemoCampaign

    return DemoCampaign(slug=f"bench-{campaign_id}", name="Bench").engine_config(campaign_id)


class Ours:
    """One fresh campaign with a live generation and a held lease, fed batch after batch."""

    def __init__(self, store: Any, campaign_id: int, shard_id: str):
        from ingest.consumer import Consumer
        from ingest.rebuild import Generations, specs_json

        self.store, self.shard_id = store, shard_id
        self.config = campaign(campaign_id)
        store.ensure_meta(campaign_id)
        gen = store.start_generation(
            campaign_id, specs=specs_json(self.config.specs), plan='{"segments": 1}', reason="bench"
        )
        store.set_meta(campaign_id, **{f"scan_done:{gen}": 1})  # as if its scan had run
        store.swap_generation(campaign_id, gen)
        self.gens = Generations.from_meta(store.campaign_meta(campaign_id))
        # Held for the whole run: the consumer renews its leases between reads; the bench does not.
        self.fence = store.lease(campaign_id, shard_id, "take", OWNER, ttl_seconds=600)
        self.checkpoint: str | None = None
        self.consumer = Consumer(store=store, consumer_id=OWNER, load_configs=list)
        self.seconds = Counter()  # per stage

    def apply(self, records: Batch) -> None:
        """What Consumer.apply does for a batch, minus its bookkeeping of the ShardState."""
        from dashboard.events import publish
        from dashboard.payloads import update_payload

        clock = time.perf_counter
        started = clock()
        from ingest.batches import translate
        from ingest.store import Position

        changes, rejects, decoded, _ = translate(self.config, self.gens, self.shard_id, records)
        last = decoded[-1]
        translated = clock()
        stats = shard_stats(self.shard_id, records[-1]["dynamodb"]["SequenceNumber"], last.created_at)
        result = self.store.apply_batch(
            self.config.id,
            changes=changes,
            gens=self.gens.active,
            expect={"gen": self.gens.live, "building": self.gens.building},
            rejects=rejects,
            position=Position(
                "bench", self.shard_id, self.checkpoint, records[-1]["dynamodb"]["SequenceNumber"]
            ),
            lease=(self.shard_id, OWNER, self.fence),
            stats=stats,
            records=len(records),
        )
        if result.status != "ok":
            raise RuntimeError(f"apply_batch answered {result.status}")
        self.checkpoint = records[-1]["dynamodb"]["SequenceNumber"]
        applied = clock()
        if result.metrics:
            publish(
                self.config.slug,
                "update",
                update_payload(self.config, result.version, result.metrics, epoch=result.epoch),
            )
        published = clock()
        self.seconds.update(
            {
                "translate": translated - started,
                "apply_batch": applied - translated,
                "publish": published - applied,
            }
        )

    def check(self, sim: Any, batches: list[Batch]) -> list[str]:
        """Differences between the store and a recount of the table's final items ([] when exact)."""
        from ingest.metrics import recount
        from ingest.records import decode_image

        config, problems = self.config, []
        expected = recount(config.specs, [decode_image(image) for image in sim.images()])
        snapshot = self.store.snapshot(config.id, [s.slug for s in config.specs])
        for spec in config.specs:
            got = snapshot.metrics[spec.slug]
            if got.total != expected.totals[spec.slug]:
                problems.append(f"{spec.slug} total {got.total} != recount {expected.totals[spec.slug]}")
            if got.groups != expected.groups[spec.slug]:
                problems.append(f"{spec.slug} groups {got.groups} != recount {expected.groups[spec.slug]}")
        records = sum(len(b) for b in batches)
        if int(snapshot.meta.get("records", 0)) != records:
            problems.append(f"records {snapshot.meta.get('records')} != {records}")
        last_seq = batches[-1][-1]["dynamodb"]["SequenceNumber"]
        if self.store.checkpoints(config.id, "bench").get(self.shard_id) != last_seq:
            problems.append("checkpoint is not the last record's sequence number")
        return problems


def shard_stats(shard_id: str, seq: str, created_at: float | None) -> dict[str, Any]:
    """The health fields a consumer writes with each batch (Consumer.apply's, for a shard behind)."""
    now = time.time()
    shard = {"seq": seq, "created": created_at, "read_at": now, "behind": True, "rps": 0.0}
    return {
        "status_at": now,
        "last_record_at": created_at,
        "last_applied_at": now,
        f"shard:{shard_id}": json.dumps(shard),
    }


# --- the seed article's approach ------------------------------------------------------------------
def seed_commands(record: dict[str, Any]) -> list[tuple[str, str, int]]:
    """(field, channel message, increment) per HINCRBY of the article's Lambda for one record.

    The article reads NewImage.platform.S and NewImage.amount.N and crashes on anything else (a
    REMOVE has no NewImage): here such records are skipped. Amounts go in as cents (HINCRBY takes
    integers only)."""
    new = record["dynamodb"].get("NewImage")
    try:
        platform = new["platform"]["S"]
        cents = int(Decimal(new["amount"]["N"]) * 100)
    except (KeyError, TypeError, InvalidOperation):
        return []
    out = []
    for name in (platform, "ALL"):
        out.append((f"{name}:count", 1))
        out.append((f"{name}:amount", cents))
    return out


def seed_naive(client: Any, key: str, batches: list[Batch]) -> None:
    for records in batches:
        for record in records:
            for field, amount in seed_commands(record):
                client.hincrby(key, field, amount)
                client.publish("aggregates", f"{field} {amount}")


def seed_pipelined(client: Any, key: str, batches: list[Batch]) -> None:
    for records in batches:
        pipe = client.pipeline(transaction=False)
        for record in records:
            for field, amount in seed_commands(record):
                pipe.hincrby(key, field, amount)
                pipe.publish("aggregates", f"{field} {amount}")
        pipe.execute()


# --- measuring ------------------------------------------------------------------------------------
def rate(records: int, run: Callable[[], None]) -> float:
    started = time.perf_counter()
    run()
    return records / (time.perf_counter() - started)


def script_usec(client: Any) -> float:
    stats = client.info("commandstats")
    return sum(v["usec"] for k, v in stats.items() if k in ("cmdstat_evalsha", "cmdstat_eval"))


def profile_ours(store: Any, campaign_id: int, shard_id: str, batches: list[Batch]) -> Profile:
    ours = Ours(store, campaign_id, shard_id)
    profiler = cProfile.Profile()
    profiler.enable()
    for records in batches:
        ours.apply(records)
    profiler.disable()
    return profiler


def top_functions(profiler: Profile, order: str, count: int) -> str:
    out = io.StringIO()
    pstats.Stats(profiler, stream=out).sort_stats(order).print_stats(count)
    lines = out.getvalue().splitlines()
    start = next(i for i, line in enumerate(lines) if line.lstrip().startswith("ncalls"))
    text = "\n".join(lines[start : start + count + 1])
    return re.sub(r"\S*/(site-packages|lib/python3\.\d+)/", "", text.replace(f"{ROOT}/", ""))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batches", type=int, default=30, help="batches of 1,000 records per round")
    parser.add_argument(
        "--naive-batches",
        type=int,
        default=1,
        help="batches for the one-round-trip-per-command baseline (it is slow)",
    )
    parser.add_argument("--parse-batches", type=int, default=10, help="batches parsed by botocore a round")
    parser.add_argument("--rounds", type=int, default=5, help="rounds; medians are reported")
    parser.add_argument("--keys", type=int, default=20_000, help="distinct donation keys")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--no-profile", action="store_true")
    args = parser.parse_args()

    from devtools.embedded import EmbeddedRedis

    server = EmbeddedRedis().start()
    try:
        configure_django(server.url)
        return run(args)
    finally:
        server.close()


def run(args: argparse.Namespace) -> int:
    from ingest.store import Store, get_redis

    client = get_redis()
    store = Store(client)
    started = time.perf_counter()
    work = workload(batches=args.batches, keys=args.keys, seed=args.seed)
    batches = work.batches
    records = sum(len(b) for b in batches)
    naive, parsed = batches[: args.naive_batches], work.bodies[: args.parse_batches]
    naive_records = sum(len(b) for b in naive)
    parsed_records = sum(len(b) for b in batches[: args.parse_batches])
    print(
        f"workload: {len(batches)} GetRecords responses of {BATCH} records (NEW_AND_OLD_IMAGES, "
        f"{args.keys:,} keys), parsed by botocore, prepared in {time.perf_counter() - started:.1f}s"
    )
    print(f"  mix: {describe(batches)}")
    info = client.info("server")
    print(
        f"redis: embedded redis-server {info['redis_version']} on port {info['tcp_port']}, same machine "
        f"({os.cpu_count()} CPUs), one client connection"
    )
    print()

    results: dict[str, list[float]] = {"ours": [], "pipelined": [], "naive": [], "parse": []}
    stage_seconds: Counter = Counter()
    script_seconds = 0.0
    problems: list[str] = []
    parse = get_records_parser()
    for round_no in range(1, args.rounds + 1):
        ours = Ours(store, round_no, work.shard_id)
        client.config_resetstat()
        results["ours"].append(rate(records, lambda ours=ours: [ours.apply(b) for b in batches]))
        script_seconds += script_usec(client) / 1e6
        stage_seconds.update(ours.seconds)
        problems += [f"round {round_no}: {p}" for p in ours.check(work.sim, batches)]
        key = f"bench:seed:{round_no}"
        results["pipelined"].append(rate(records, lambda key=key: seed_pipelined(client, key + "p", batches)))
        results["naive"].append(rate(naive_records, lambda key=key: seed_naive(client, key + "n", naive)))
        results["parse"].append(rate(parsed_records, lambda: [parse(body) for body in parsed]))
        print(
            f"round {round_no}: ours {results['ours'][-1]:>8,.0f}/s   seed pipelined "
            f"{results['pipelined'][-1]:>8,.0f}/s   seed naive {results['naive'][-1]:>7,.0f}/s   "
            f"botocore parsing {results['parse'][-1]:>8,.0f}/s"
        )

    median = {name: statistics.median(values) for name, values in results.items()}
    ours_rate = median["ours"]
    # Ratios per round (the runs of one round are seconds apart, so they share the machine's load).
    ratio = {
        name: statistics.median(o / b for o, b in zip(results["ours"], results[name], strict=True))
        for name in ("pipelined", "naive")
    }
    per_record = {stage: 1e6 * s / (records * args.rounds) for stage, s in stage_seconds.items()}
    print()
    print(
        f"ours (Consumer.translate + Store.apply_batch + publish, one script per {BATCH} records): "
        f"{ours_rate:,.0f} records/s  (median of {args.rounds} rounds of {records:,} records)"
    )
    print(
        "  per record: "
        + ", ".join(f"{stage} {us:.1f} us" for stage, us in per_record.items())
        + f"; the Lua script's own time inside Redis: {1e6 * script_seconds / (records * args.rounds):.1f} us"
    )
    print(
        f"seed article, pipelined per batch: {median['pipelined']:>8,.0f} records/s  -> ours/seed "
        f"{ratio['pipelined']:.2f}x (median of per-round ratios)"
    )
    print(
        f"seed article, one round trip each: {median['naive']:>8,.0f} records/s  -> ours/seed "
        f"{ratio['naive']:.2f}x ({naive_records:,} records a round)"
    )
    reached = ours_rate >= TARGET_RECORDS_PER_SECOND
    print(
        f"target >= {TARGET_RECORDS_PER_SECOND:,} records/s per worker process: "
        f"{'REACHED' if reached else 'NOT reached'} ({ours_rate / TARGET_RECORDS_PER_SECOND:.0%} of it)"
    )
    parse_us = 1e6 / median["parse"]
    print(
        f"  not counted above: botocore parsing the GetRecords responses costs {parse_us:.1f} us/record in "
        f"the worker too; with it, ours would be {1 / (1 / ours_rate + parse_us / 1e6):,.0f} records/s"
    )
    if problems:
        print("correctness: FAILED, the aggregates differ from a recount of the final items:")
        print("\n".join(f"  {problem}" for problem in problems))
    else:
        print(
            f"correctness: OK, after each of {args.rounds} rounds the aggregates equal ingest.metrics.recount "
            "of the table's final items (and the records count and checkpoint are right)"
        )
    seed_total = int(client.hget("bench:seed:1p", "ALL:amount") or 0) / 100
    print(
        f"  (the seed approach's ALL:amount says {seed_total:,.2f} where a recount says "
        f"{recount_total(work.sim):,.2f}: it adds every MODIFY again and never subtracts a REMOVE)"
    )

    if not args.no_profile:
        profiler = profile_ours(store, args.rounds + 1, work.shard_id, batches)
        print()
        print(
            f"profile of ours (cProfile over {records:,} records; it slows the Python side only), "
            "top 15 by cumulative time:"
        )
        print(top_functions(profiler, "cumulative", 15))
        print()
        print("top 10 by own time:")
        print(top_functions(profiler, "tottime", 10))
    return 1 if problems else 0


def recount_total(sim: Any) -> Decimal:
    from ingest.metrics import recount
    from ingest.records import decode_image

    specs = campaign(0).specs
    cents = recount(specs, [decode_image(image) for image in sim.images()]).totals["raised"]
    return Decimal(cents) / 100


if __name__ == "__main__":
    sys.exit(main())
