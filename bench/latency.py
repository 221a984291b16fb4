"""Write -> SSE: 1,000 streams open while the worker publishes 20 writes a second.

For every (stream, published value): how long until the stream held that value or a newer one of
the same metric (its staleness). p50/p99/max over all pairs; "missed" counts values a stream
never caught up with by the end (after a 2 s drain); "> 1 s" counts pairs stale for longer.
Stages: ServerSentEvents.publish (payload, JSON, Redis PUBLISH, in a worker-like process) -> web
relay (pub/sub) -> hub (coalescing, <= 10 events/s per channel) -> socket -> client parse.
Not included: DynamoDB, Streams polling (INGEST_IDLE_POLL_SECONDS, 0.25 s) and the batch commit,
which come before the publish (the ingest rows).
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bench.fanout import percentile
from bench.load import LoadClients
from bench.site import ROOT, SLUG, Site
from bench.table import Row, at_most

P50_TARGET, P99_TARGET, STALE_TARGET = 0.25, 0.7, 1.0
STAGES = (
    "ServerSentEvents.publish (worker process) -> Redis pub/sub -> web relay -> hub coalescing -> socket "
    "-> client parse; not DynamoDB/Streams polling or the batch commit (ingest rows)"
)


def measure(streams: int, rate: float, seconds: float) -> dict:
    site = Site.start()
    load = None
    try:
        load = LoadClients(site.url(f"/c/{SLUG}/events/"), mode="latency")
        connected = load.connect(streams)
        time.sleep(1.0)
        out = Path(tempfile.mkdtemp(prefix="fr-bench-pub-")) / "published.json"
        cpu = {"server": site.web.cpu(), "client": load.cpu()}
        publisher = subprocess.Popen(
            [sys.executable, str(ROOT / "bench" / "publisher.py"), SLUG, str(rate), str(seconds), str(out)],
            cwd=ROOT,
            env=site.env,
        )
        started = time.monotonic()
        publisher.wait(seconds + 60)
        wall = time.monotonic() - started
        time.sleep(2.0)  # drain
        cpu = {"server": site.web.cpu() - cpu["server"], "client": load.cpu() - cpu["client"]}
        published = json.loads(out.read_text())
        histories = [h for share in load.ask("history") for h in share]
        return {
            "connected": connected,
            "published": published,
            "histories": histories,
            "cpu": cpu,
            "wall": wall,
        }
    finally:
        if load is not None:
            load.close()
        site.stop()


def staleness(published: list, histories: list) -> tuple[list[float], int]:
    """Per (stream, published value): seconds until the stream held it or newer; and how many never."""
    by_metric: dict[str, list[tuple[int, float]]] = {}
    for slug, version, sent_at in published:
        by_metric.setdefault(slug, []).append((version, sent_at))
    for values in by_metric.values():
        values.sort()
    stale, missed = [], 0
    for history in histories:
        held: dict[str, list[tuple[int, float]]] = {}
        for slug, version, when in history:  # versions only go up within a stream's history
            held.setdefault(slug, []).append((version, when))
        for slug, values in by_metric.items():
            got, i = held.get(slug, []), 0
            for version, sent_at in values:  # two pointers: both lists ascend by version
                while i < len(got) and got[i][0] < version:
                    i += 1
                if i == len(got):
                    missed += 1
                else:
                    stale.append(max(0.0, got[i][1] - sent_at))
    return stale, missed


def rows(streams: int = 1000, rate: float = 20.0, seconds: float = 20.0) -> tuple[list[Row], dict]:
    result = measure(streams, rate, seconds)
    stale, missed = staleness(result["published"], result["histories"])
    writes = len({v for _, v, _ in result["published"]})
    times = [t for _, _, t in result["published"]]
    rate_seen = (writes - 1) / (max(times) - min(times)) if writes > 1 else 0.0
    p50, p99 = percentile(stale, 0.5), percentile(stale, 0.99)
    worst = max(stale, default=float("nan"))
    over = sum(1 for s in stale if s > STALE_TARGET)
    opened = result["connected"]["opened"]
    name = f"write -> SSE, {opened:,} streams, {rate_seen:.0f} writes/s"
    cpu = result["cpu"]
    return [
        Row(
            f"{name}: p50",
            f"<= {P50_TARGET * 1000:.0f} ms",
            f"{p50 * 1000:.0f} ms",
            at_most(p50, P50_TARGET),
            STAGES,
            met=p50 <= P50_TARGET,
        ),
        Row(
            f"{name}: p99",
            f"<= {P99_TARGET * 1000:.0f} ms",
            f"{p99 * 1000:.0f} ms",
            at_most(p99, P99_TARGET),
            STAGES,
            met=p99 <= P99_TARGET,
        ),
        Row(
            f"{name}: staleness",
            "no stream behind the latest value > 1 s",
            f"max {worst * 1000:.0f} ms; {over} of {len(stale) + missed:,} (stream, value) pairs > 1 s; "
            f"{missed} never delivered",
            at_most(worst, STALE_TARGET),
            STAGES,
            met=worst <= STALE_TARGET and missed == 0,
        ),
        Row(
            f"{name}: CPU",
            "",
            f"{writes} writes in {max(times) - min(times):.1f} s; CPU web {cpu['server']:.1f} s, load client "
            f"{cpu['client']:.1f} s",
            "",
        ),
    ], {"stale": stale, "missed": missed, "writes": writes, "cpu": cpu}
