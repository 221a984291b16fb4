"""Ingest rows of `make bench`: bench/realpath.py in its own process (its own embedded Redis).

The real path from raw GetRecords response bytes (a real Consumer: boto3 call, fast parse,
decode, five metrics, state read, plan, commit script, ticker, health, SSE publish), the seed
article's approach on the same bytes (botocore parse + HINCRBY/PUBLISH, pipelined and one call
each), Redis time per record, and a catch-up on 1 and 2 worker processes. bench/run.py (`make
bench-ingest`) keeps the per-stage costs and the profile.
"""

from __future__ import annotations

import json
import subprocess
import sys

from bench.site import ROOT
from bench.table import Row

SIZES = {False: (100_000, 1_000_000), True: (1_500, 600)}  # real path, catch-up


def rows(*, tiny: bool = False) -> tuple[list[Row], dict]:
    records, catch_up = SIZES[tiny]
    args = [sys.executable, str(ROOT / "bench" / "realpath.py"), "figures-json", str(records), str(catch_up)]
    done = subprocess.run(args, cwd=ROOT, capture_output=True, text=True, timeout=7200)
    try:
        figures = json.loads(done.stdout.strip().splitlines()[-1])
    except (IndexError, ValueError):
        return [Row("ingest (bench/realpath.py)", "", f"FAILED (exit {done.returncode})", "", met=False)], {
            "output": done.stdout[-4000:] + done.stderr[-4000:]
        }
    return [
        Row(f["figure"], f["target"], f["measured"], f["ratio"], f["includes"], f["met"]) for f in figures
    ], {"figures": figures}
