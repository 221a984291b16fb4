"""`make bench`'s ingest figures, on a tiny backlog: they run, every figure names its stages, and the
numbers behind them are exact. Not a timed test: no speed is asserted here (see bench/README.md)."""

from __future__ import annotations

import pytest

from bench.realpath import catch_up, ingest_figures, seed_rate

pytestmark = pytest.mark.django_db


def test_the_ingest_figures_run_on_a_tiny_backlog_and_the_numbers_behind_them_are_exact(redis_client):
    figures = ingest_figures(records=1200, shards=2, catch_up_records=600, naive_batches=1)
    assert [f.figure for f in figures if f.figure == "EXACTNESS FAILED"] == []
    assert all(f.includes and f.measured for f in figures)
    catch_ups = [
        f for f in figures if "worker" in f.figure and "catch-up" in f.figure or "2 workers" in f.figure
    ]
    assert len(catch_ups) == 2 and all(f.includes.endswith("exact") for f in catch_ups)


def test_the_seed_baseline_reads_the_same_records_the_real_path_read(redis_client):
    result = catch_up(records=900, shards=2, workers=1)
    assert result.problems == []
    _, records = seed_rate(result.recording, pipelined=True)
    assert records == result.records == result.recording.records


def test_the_redis_profile_runs_on_a_tiny_backlog_and_its_replays_match_the_run():
    """bench/redis_profile.py (its own Redis, in a child process): the real path is exact, the
    replays answer as the run did (it asserts so), and every variant of the commit script leaves
    the aggregates and item states the product script leaves."""
    import subprocess
    import sys

    from tests.processes import ROOT

    done = subprocess.run(
        [sys.executable, "bench/redis_profile.py", "1500", "2"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=240,
    )
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-3000:]
    out = done.stdout
    assert "exact: True" in out
    assert "aggregates DIFFERENT" not in out and out.count("aggregates same") == 4
    assert "instrumented copy:" in out and "argument: cjson.decode of the batch" in out
