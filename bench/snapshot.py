"""`/c/<slug>/snapshot.json` under load, with 1,000 streams open and the worker publishing 20 writes/s.

wrk (C, one thread) asks for the snapshot over `connections` keep-alive connections for `seconds`.
Two rows: the public URL as browsers and CDNs ask it (dashboard/edge.py: kept configuration and
headers, one Redis round trip, no Django request), and the same view through Django (a query string
sends it there: middleware, view, the same kept configuration and one Redis round trip).
Stages: HTTP over loopback -> uvicorn -> [Django middleware + view ->] Redis MULTI (meta + metric
hashes) -> JSON.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time

import requests

from bench.load import LoadClients
from bench.site import ROOT, SLUG, Site
from bench.table import Row, at_least, at_most

RATE_TARGET, P99_TARGET = 2000.0, 0.05
STAGES = (
    "HTTP/1.1 keep-alive over loopback -> uvicorn (h11) -> kept configuration [-> Django middleware + view] "
    "-> one Redis MULTI -> JSON; the row's SSE streams open, writes published meanwhile"
)


def wrk(url: str, connections: int, seconds: float) -> dict:
    process = subprocess.Popen(
        ["wrk", "-t1", f"-c{connections}", f"-d{seconds:.0f}s", "--latency", url],
        stdout=subprocess.PIPE,
        text=True,
    )
    _, status, usage = os.wait4(process.pid, 0)
    output = process.stdout.read()
    process.returncode = status
    rate = float(re.search(r"Requests/sec:\s+([\d.]+)", output)[1])
    p99 = _seconds(re.search(r"99%\s+([\d.]+\w+)", output)[1])
    errors = re.search(r"Non-2xx or 3xx responses: (\d+)", output)
    return {
        "rate": rate,
        "p99": p99,
        "cpu": usage.ru_utime + usage.ru_stime,
        "errors": int(errors[1]) if errors else 0,
    }


def _seconds(text: str) -> float:
    value, unit = re.match(r"([\d.]+)(\w+)", text).groups()
    return float(value) * {"us": 1e-6, "ms": 1e-3, "s": 1.0, "m": 60.0}[unit]


def measure(streams: int, connections: int, seconds: float, rate: float) -> dict:
    site = Site.start()
    load = None
    publisher = None
    try:
        load = LoadClients(site.url(f"/c/{SLUG}/events/"), mode="fanout")
        opened = load.connect(streams)["opened"]
        url = site.url(f"/c/{SLUG}/snapshot.json")
        first = requests.get(url, timeout=10)  # through Django: its headers are kept for the next ones
        publisher = subprocess.Popen(
            [
                sys.executable,
                str(ROOT / "bench" / "publisher.py"),
                SLUG,
                str(rate),
                str(seconds * 3 + 30),
                os.devnull,
            ],
            cwd=ROOT,
            env=site.env,
        )
        time.sleep(5.0)  # the publisher is up
        results = {}
        for name, target in (("edge", url), ("django", url + "?via=django")):
            before = site.web.cpu()
            results[name] = wrk(target, connections, seconds)
            results[name]["server_cpu"] = site.web.cpu() - before
        results.update(
            opened=opened, first=first.status_code, cache_control=first.headers.get("Cache-Control")
        )
        return results
    finally:
        if publisher is not None:
            publisher.kill()
            publisher.wait()
        if load is not None:
            load.close()
        site.stop()


def rows(
    streams: int = 1000, connections: int = 32, seconds: float = 10.0, rate: float = 20.0
) -> tuple[list[Row], dict]:
    result = measure(streams, connections, seconds, rate)
    out = []
    for name, label in (("edge", "public URL"), ("django", "through Django")):
        r = result[name]
        out.append(
            Row(
                f"snapshot.json, {label}, {result['opened']:,} streams open",
                f">= {RATE_TARGET:,.0f} req/s, p99 <= {P99_TARGET * 1000:.0f} ms",
                f"{r['rate']:,.0f} req/s, p99 {r['p99'] * 1000:.1f} ms ({r['errors']} errors); CPU web "
                f"{r['server_cpu']:.1f} s, wrk {r['cpu']:.1f} s",
                f"{at_least(r['rate'], RATE_TARGET)} / {at_most(r['p99'], P99_TARGET)}",
                STAGES,
                met=r["rate"] >= RATE_TARGET and r["p99"] <= P99_TARGET and r["errors"] == 0,
            )
        )
    return out, result
