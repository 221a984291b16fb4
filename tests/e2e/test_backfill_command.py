"""`manage.py backfill` on a 50,000-item table: progress, a kill halfway, a resume, an exact result."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import time

import pytest

from ingest.metrics import recount
from ingest.store import Store
from tests.e2e.expect import SPECS, as_text
from tests.factories import scan_all
from tests.ingest.test_backfill import enable_stream, fill, table_without_stream
from tests.processes import PYTHON, ROOT, Child, migrate, process_env, seed_campaign, wait_until

pytestmark = pytest.mark.e2e

ITEMS = 50_000


def scanned(store: Store, campaign_id: int) -> int:
    meta = store.meta(campaign_id)
    gen = meta.get("building")
    return sum(
        int(re.search(r'"items":(\d+)', v).group(1))
        for k, v in meta.items()
        if gen and k.startswith(f"scan:{gen}:")
    )


def test_backfill_prints_progress_resumes_after_a_kill_and_is_exact(moto, store):
    table = table_without_stream(moto.url)
    fill(table, ITEMS, seed=11)
    enable_stream(table)
    env = process_env(INGEST_SCAN_PAGE="250", INGEST_SCAN_SEGMENTS="4", INGEST_LEASE_SECONDS="2")
    migrate(env)
    campaign_id = seed_campaign(env, endpoint_url=moto.url)
    command = [PYTHON, "manage.py", "backfill", "gala", "--wait", "0"]

    first = Child("backfill-1", command, env)
    wait_until(
        lambda: scanned(store, campaign_id) >= ITEMS * 0.3 or not first.alive(),
        120,
        message="the first run to get a third of the way",
    )
    assert first.alive(), first.output()
    first.signal(signal.SIGKILL)
    first.stop()
    before = scanned(store, campaign_id)
    assert 0 < before < ITEMS
    time.sleep(2.5)  # the killed run's scan lease lapses

    second = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
    assert second.returncode == 0, second.stdout + second.stderr
    out = second.stdout
    print(first.output()[-1500:], out[-3000:], sep="\n----\n")
    assert "Resuming the build of generation" in out
    resumed = int(re.search(r"Resuming: ([\d,]+) items were scanned before", out).group(1).replace(",", ""))
    assert resumed == before
    assert re.search(r"\] +100\.0% +50,000/50,000 items .* items/s +done", out)
    assert "ETA" in first.output() and "items/s" in first.output()

    consume = Child("consume", [PYTHON, "manage.py", "consume", "--seconds", "60"], env)
    try:
        wait_until(
            lambda: (
                store.meta(campaign_id).get("gen") not in (None, "0")
                and not store.meta(campaign_id).get("building")
            ),
            60,
            message="the consumer to swap the built generation in",
        )
    finally:
        consume.stop()
    truth = recount(SPECS, scan_all(table))
    snap = store.snapshot(campaign_id, [s.slug for s in SPECS])
    for spec in SPECS:
        values = snap.metrics[spec.slug]
        assert values.total == truth.totals[spec.slug], spec.slug
        assert values.groups == truth.groups[spec.slug], spec.slug
    assert truth.totals["gifts"] == ITEMS
    assert as_text({"t": snap.metrics["raised"].total}, 2)["t"] != "0.00"
    assert os.path.exists(ROOT / "manage.py")
