"""The ingestion engine under randomized fault schedules (tests/ingest/schedules.py).

`make test` plays SCHEDULE_SEEDS seeds (default 200); `make soak SEEDS=10000` plays more. A failing
seed prints the one command that replays it: make replay SEED=<seed>.
"""

from __future__ import annotations

import os
import time
from collections import Counter

import pytest

from tests.ingest.schedules import run_schedule

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def schedule_settings(settings):
    settings.INGEST_LEASE_SECONDS = 60  # leases expire when a schedule says so, not by accident
    settings.INGEST_DISCOVER_SECONDS = 1.0
    settings.INGEST_IDLE_POLL_SECONDS = 0.05
    settings.INGEST_BATCH_LIMIT = 7  # several batches per shard
    settings.INGEST_SCAN_PAGE = 5
    settings.INGEST_SCAN_SEGMENTS = 2


def seeds() -> list[int]:
    if os.environ.get("SCHEDULE_SEED"):
        return [int(os.environ["SCHEDULE_SEED"])]
    first = int(os.environ.get("SCHEDULE_FIRST_SEED", "1"))
    return list(range(first, first + int(os.environ.get("SCHEDULE_SEEDS", "200"))))


def test_every_fault_schedule_ends_live_and_exact_or_says_why(redis_client, capsys):
    faults: Counter = Counter()
    started = time.monotonic()
    played = 0
    for seed in seeds():
        outcome = run_schedule(seed, redis_client)
        played += 1
        faults.update(outcome.faults)
        if not outcome.ok:
            pytest.fail(
                f"seed {seed}: {outcome.message}\n"
                f"actions: {' '.join(outcome.log)}\n"
                f"replay it with: make replay SEED={seed}",
                pytrace=False,
            )
    with capsys.disabled():
        kinds = ", ".join(f"{kind} {count}" for kind, count in sorted(faults.items()))
        print(f"\n{played} fault schedules in {time.monotonic() - started:.0f}s, all live and exact: {kinds}")
