"""`make bench`: every benchmark, one table (bench/table.py). `make bench-tiny` / tests run it small.

    python -m bench.all                      # everything, full sizes (about 10 minutes, heavy)
    python -m bench.all --only fanout --fanout-sizes 1000,5000 --fanout-paths asgi
    python -m bench.all --tiny               # every suite on a tiny size (what make test checks)

Suites are functions returning (rows, raw); each runs its own servers in separate processes from
its load clients. Nothing is asserted on speed: the table shows measured against target.
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.table import Row, render  # noqa: E402

SUITES = ("ingest", "latency", "fanout", "snapshot")


def machine() -> str:
    import psutil

    model = next(
        (
            line.split(":", 1)[1].strip()
            for line in Path("/proc/cpuinfo").read_text().splitlines()
            if "model name" in line
        ),
        platform.processor(),
    )
    return (
        f"{model}, {os.cpu_count()} cores, {psutil.virtual_memory().total / 2**30:.0f} GiB RAM, Python "
        f"{platform.python_version()}, load average at start {os.getloadavg()[0]:.1f}"
    )


def run_suites(args: argparse.Namespace) -> tuple[list[Row], dict]:
    rows: list[Row] = []
    raw: dict = {}
    only = set(args.only.split(",")) if args.only else set(SUITES)
    tiny = args.tiny
    for name in SUITES:
        if name not in only:
            continue
        started = time.monotonic()
        if name == "ingest":
            from bench import ingest

            got = ingest.rows(tiny=tiny)
        elif name == "latency":
            from bench import latency

            got = latency.rows(*((50, 20.0, 3.0) if tiny else (1000, 20.0, args.latency_seconds)))
        elif name == "fanout":
            from bench import fanout

            sizes = [50, 100] if tiny else [int(n) for n in args.fanout_sizes.split(",")]
            paths = args.fanout_paths.split(",")
            got = fanout.rows(sizes, paths, updates=2 if tiny else 5)
        else:
            from bench import snapshot

            got = snapshot.rows(*((50, 4, 2.0, 5.0) if tiny else (1000, 32, 10.0, 20.0)))
        rows += got[0]
        raw[name] = got[1]
        print(
            f"[{name}: {time.monotonic() - started:.0f} s]\n{render(got[0])}\n", file=sys.stderr, flush=True
        )
    return rows, raw


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", default="", help=f"comma-separated suites of {', '.join(SUITES)}")
    parser.add_argument("--tiny", action="store_true", help="tiny sizes: checks the machinery, times nothing")
    parser.add_argument("--fanout-sizes", default="1000,5000,10000,20000")
    parser.add_argument("--fanout-paths", default="asgi,pushpin")
    parser.add_argument("--latency-seconds", type=float, default=20.0)
    args = parser.parse_args(argv)
    from bench.site import raise_fd_limit

    raise_fd_limit()
    header = machine()
    started = time.monotonic()
    rows, _ = run_suites(args)
    print()
    print(f"machine: {header}")
    print(f"command: python -m bench.all {' '.join(argv if argv is not None else sys.argv[1:])}".rstrip())
    print(f"took {time.monotonic() - started:.0f} s; load average at end {os.getloadavg()[0]:.1f}")
    print()
    print(
        render(
            rows, ["CPU: 'load client' is the client process(es); 'wrk' the HTTP load tool; 'web' uvicorn."]
        )
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
