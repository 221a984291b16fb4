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
