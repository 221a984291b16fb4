"""`make bench` on a tiny size: every suite runs end to end and its numbers agree with each other.

Not a timed test: nothing here compares a duration with a target (the table prints ratios; the
machine is shared). It checks the machinery: servers start and stop, load clients connect, every
published value is counted, the table has each suite's rows.
"""

from __future__ import annotations

import shutil

import pytest

from bench import fanout, latency, snapshot
from bench.table import Row, render

pytestmark = pytest.mark.e2e


def needs(tool: str):
    """The Debian package the suite drives (.ci/run installs it); skipped on a machine without it."""
    return pytest.mark.skipif(shutil.which(tool) is None, reason=f"{tool} is not installed")


def test_write_to_sse_counts_every_published_value_for_every_stream():
    rows, raw = latency.rows(streams=20, rate=20.0, seconds=2.0)
    assert raw["writes"] >= 10
    assert raw["missed"] == 0  # every stream caught up with every value by the end
    pairs = len(raw["stale"]) + raw["missed"]
    assert pairs > 20 * raw["writes"]  # each write changes two or three metrics, for each stream
    assert all(s >= 0 for s in raw["stale"])
    assert [r.figure.rsplit(": ", 1)[1] for r in rows] == ["p50", "p99", "staleness", "CPU"]


@pytest.mark.parametrize("path", ["asgi", pytest.param("pushpin", marks=needs("pushpin"))])
def test_fan_out_reaches_every_stream_and_the_server_stops_by_itself(path):
    rows, raw = fanout.rows([30, 60], [path], updates=2)  # (20 streams warm the server up first)
    levels, stopped = raw[path]["levels"], raw[path]["stopped"]
    assert [lv["open"] for lv in levels] == [30, 60]
    assert [lv["deliveries"] for lv in levels] == [2 * 30, 2 * 60]  # updates x streams
    assert all(lv["missed"] == 0 for lv in levels)
    assert all(clean for _, clean in stopped.values())
    if path == "asgi":  # no thread per stream: the same threads for 30 streams as for 60
        assert levels[0]["threads"] == levels[1]["threads"]
    assert len(rows) == 3 * len(levels) + len(stopped)


@needs("wrk")
def test_snapshot_load_gets_only_successful_answers_on_both_paths():
    rows, raw = snapshot.rows(streams=10, connections=2, seconds=1.0, rate=5.0)
    assert raw["first"] == 200 and raw["opened"] == 10
    assert raw["cache_control"] == "public, max-age=1, stale-while-revalidate=1"
    for name in ("edge", "django"):
        assert raw[name]["errors"] == 0 and raw[name]["rate"] > 0
    assert len(rows) == 2


def test_the_table_names_every_figure_and_its_stages():
    rows = [
        Row("fan-out asgi, 10 streams: p99", "<= 500 ms", "12 ms", "41.67x", "stages A", met=True),
        Row("snapshot.json, public URL", ">= 2,000 req/s", "100 req/s", "0.05x", "stages B", met=False),
    ]
    text = render(rows)
    header = [cell.strip() for cell in text.splitlines()[0].split("|")]
    assert header[:4] == ["figure", "target", "measured", "ratio"]
    assert "NOT met" in text and "fan-out asgi: stages A" in text and "snapshot.json: stages B" in text
