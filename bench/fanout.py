"""Fan-out: one update to all of N open streams, on one web process (ASGI) and through Pushpin.

Per path, one site; streams are added level by level (1k, 5k, 10k, 20k by default). At each level:
how long the new streams took to open, `updates` updates published on Redis one second apart
(p50/p99/max of publish -> update event read by the client, over every stream and update; streams
that never got one are counted), the server's RSS over its RSS before any stream (per stream) and
its threads. At the last level the server is stopped with every stream open: it must exit by itself
(SIGTERM, no SIGKILL). Stages: Redis PUBLISH -> web process relay (pub/sub) -> hub (coalescing)
-> every stream's socket [-> Pushpin] -> client socket read (loopback).
"""

from __future__ import annotations

import resource
import statistics
import time
from typing import Any

from bench.load import LoadClients
from bench.site import CHANNEL, SLUG, Site
from bench.table import Row, at_most

P99_TARGET = 0.5
WARM_UP = 20
CONNECT_STEP = 1000
FDS_KEPT = 100  # descriptors a server needs besides its streams (listener, Redis, logs, database)
BYTES_PER_STREAM_TARGET = 30 * 1024
STAGES = (
    "Redis PUBLISH -> web relay -> hub coalescing -> each stream's socket [-> Pushpin] -> client read, "
    "loopback; RSS of the web process (through Pushpin also condure, proxy, handler, zurl and the relay) "
    "over their RSS before any stream"
)


def percentile(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def measure_path(
    path: str, sizes: list[int], updates: int, clients: int
) -> tuple[list[dict[str, Any]], dict]:
    site = Site.start(pushpin=(path == "pushpin"))
    # Through Pushpin: condure, proxy, handler (the runner's children), zurl and the relay too.
    servers = [p for p in (site.web, site.pushpin, *site.extra, site.relay) if p is not None]
    load = None
    levels = []
    try:
        load = LoadClients(
            site.url(f"/c/{SLUG}/events/", via_pushpin=path == "pushpin"), mode="fanout", processes=clients
        )
        open_now = load.connect(WARM_UP)["opened"]  # the first requests load code: not per-stream memory
        time.sleep(1.0)
        baseline_by, baseline_open = rss_by_program(servers), open_now
        version = 1000
        cap = resource.getrlimit(resource.RLIMIT_NOFILE)[1] - FDS_KEPT  # the server's sockets and files
        for asked in sizes:
            size = min(asked, cap)
            cpu_before = {"server": sum(p.cpu() for p in servers), "client": load.cpu()}
            connected = {"seconds": 0.0, "failed": 0}
            while open_now < size:  # in steps; streams refused (non-200) are asked for again
                step = load.connect(min(CONNECT_STEP, size - open_now))
                connected = {
                    "seconds": connected["seconds"] + step["seconds"],
                    "failed": connected["failed"] + step["failed"],
                }
                if step["opened"] <= open_now:
                    break
                open_now = step["opened"]
            time.sleep(1.0)
            published = []
            for _ in range(updates):
                version += 1
                published.append((version, time.time()))
                site.publish("update", update_event(version), CHANNEL)
                time.sleep(1.0)
            time.sleep(max(1.0, size / 2000))  # the last update may take seconds to reach everyone
            arrivals = [a for share in load.ask("arrivals") for a in share]
            latencies, missed = [], 0
            for sent_version, sent_at in published:
                for connection in arrivals:
                    # this version, or a newer one that carries it (two updates may be merged)
                    when = min((t for v, t in connection.items() if v >= sent_version), default=None)
                    if when is None:
                        missed += 1
                    else:
                        latencies.append(when - sent_at)
            by_process = rss_by_program(servers)
            rss = sum(by_process.values())
            levels.append(
                {
                    "size": size,
                    "asked": asked,
                    "open": open_now,
                    "connect_seconds": connected["seconds"],
                    "failed": connected["failed"],
                    "p50": percentile(latencies, 0.5),
                    "p99": percentile(latencies, 0.99),
                    "max": max(latencies, default=float("nan")),
                    "missed": missed,
                    "deliveries": len(latencies),
                    "bytes_per_stream": (rss - sum(baseline_by.values())) / max(open_now - baseline_open, 1),
                    "rss_mb": rss / 2**20,
                    "bytes_per_stream_by_process": {
                        name: (by_process.get(name, 0) - baseline_by.get(name, 0))
                        / max(open_now - baseline_open, 1)
                        for name in by_process
                    },
                    "threads": sum(p.threads() for p in servers),
                    "server_cpu": sum(p.cpu() for p in servers) - cpu_before["server"],
                    "client_cpu": load.cpu() - cpu_before["client"],
                }
            )
        stopped = {name: value for name, value in site.stop().items() if name in ("web", "pushpin")}
        return levels, stopped
    finally:
        if load is not None:
            load.close()
        site.stop()


def rss_by_program(servers) -> dict[str, int]:
    """RSS per program over every server's process tree (bench/site.py Process.rss_by_program)."""
    out: dict[str, int] = {}
    for server in servers:
        for name, rss in server.rss_by_program().items():
            out[name] = out.get(name, 0) + rss
    return out


def update_event(version: int) -> dict[str, Any]:
    return {
        "campaign": SLUG,
        "version": version,
        "epoch": "bench",
        "status": "live",
        "currency": "USD",
        "sent_at": round(time.time(), 3),
        "metrics": {"raised": {"label": "Raised", "money": True, "total": f"{version}.00", "groups": []}},
    }


def rows(sizes: list[int], paths: list[str], updates: int = 5, clients: int = 0) -> tuple[list[Row], dict]:
    """clients: load client processes (0: one per 9,000 streams, each under the fd limit)."""
    clients = clients or 1 + max(sizes) // 9000
    out: list[Row] = []
    raw = {}
    for path in paths:
        levels, stopped = measure_path(path, sizes, updates, clients)
        raw[path] = {"levels": levels, "stopped": stopped}
        for level in levels:
            n = level["size"]
            name = f"fan-out {path}, {n:,} streams"
            if level["asked"] != n:
                name += f" ({level['asked']:,} asked: fd hard limit {n + FDS_KEPT:,})"
            out.append(
                Row(
                    f"{name}: one update to all, p99",
                    f"<= {P99_TARGET * 1000:.0f} ms",
                    f"p50 {level['p50'] * 1000:.0f} ms, p99 {level['p99'] * 1000:.0f} ms, max "
                    f"{level['max'] * 1000:.0f} ms; missed {level['missed']}/{level['missed'] + level['deliveries']}",
                    at_most(level["p99"], P99_TARGET),
                    STAGES,
                    met=level["p99"] <= P99_TARGET and level["missed"] == 0 and level["open"] >= n,
                )
            )
            by_process = level["bytes_per_stream_by_process"]
            parts = (
                "; "
                + ", ".join(
                    f"{proc} {per / 1024:.1f}"
                    for proc, per in sorted(by_process.items(), key=lambda kv: -kv[1])
                )
                if len(by_process) > 1
                else ""
            )
            out.append(
                Row(
                    f"{name}: memory per stream",
                    "<= 30 KB",
                    f"{level['bytes_per_stream'] / 1024:.1f} KB ({level['rss_mb']:.0f} MB RSS, "
                    f"{level['threads']} threads, {level['open']:,} open{parts})",
                    at_most(level["bytes_per_stream"], BYTES_PER_STREAM_TARGET),
                    STAGES,
                    met=level["bytes_per_stream"] <= BYTES_PER_STREAM_TARGET,
                )
            )
            out.append(
                Row(
                    f"{name}: connect, CPU",
                    "",
                    f"{level['connect_seconds']:.1f} s to open {level['size']:,} ({level['failed']} failed); "
                    f"CPU server {level['server_cpu']:.1f} s, load client {level['client_cpu']:.1f} s",
                    "",
                )
            )
        for name, (seconds, clean) in stopped.items():
            out.append(
                Row(
                    f"fan-out {path}, {levels[-1]['open']:,} open: {name} stops on SIGTERM",
                    "clean, no SIGKILL",
                    f"{'exited' if clean else 'SIGKILLed'} after {seconds:.1f} s",
                    "",
                    met=clean,
                )
            )
    return out, raw


def summary(levels: list[dict[str, Any]]) -> str:
    return ", ".join(f"{lv['size']}: p99 {lv['p99'] * 1000:.0f} ms" for lv in levels) + (
        f" (median p99 {statistics.median(lv['p99'] for lv in levels) * 1000:.0f} ms)" if levels else ""
    )
