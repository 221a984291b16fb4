"""Ingest rows, from the existing ingestion benchmark (bench/run.py), run as its own process.

PLACEHOLDER for the lead's part of issue 13 (raw GetRecords bytes, seed baseline pipelined and
one-by-one, 1M-record catch-up on 1 and 2 workers): replace `rows` with the real row functions.
Until then it runs bench/run.py and reports its headline and ratios as they are printed.
"""

from __future__ import annotations

import re
import subprocess
import sys

from bench.site import ROOT
from bench.table import Row, at_least

TARGET = 50_000
STAGES = "bench/run.py: Consumer.translate + Store.apply_batch + publish from pre-parsed records (no parsing)"


def rows(
    *, batches: int = 30, rounds: int = 5, naive_batches: int = 1, parse_batches: int = 10
) -> tuple[list[Row], dict]:
    args = [
        sys.executable,
        str(ROOT / "bench" / "run.py"),
        "--no-profile",
        f"--batches={batches}",
        f"--rounds={rounds}",
        f"--naive-batches={naive_batches}",
        f"--parse-batches={parse_batches}",
    ]
    done = subprocess.run(args, cwd=ROOT, capture_output=True, text=True, timeout=3600)
    out = done.stdout
    ours = re.search(r"^ours \(.*?\): ([\d,]+) records/s", out, re.M)
    pipelined = re.search(r"pipelined per batch:\s+([\d,]+) records/s\s+-> ours/seed ([\d.]+)x", out)
    naive = re.search(r"one round trip each:\s+([\d,]+) records/s\s+-> ours/seed ([\d.]+)x", out)
    if done.returncode or not (ours and pipelined and naive):
        return [
            Row("ingest (bench/run.py)", "", f"FAILED (exit {done.returncode})", "", STAGES, met=False)
        ], {"output": out + done.stderr}
    rate = float(ours[1].replace(",", ""))
    return [
        Row(
            "ingest, one worker process [PLACEHOLDER: lead's rows]",
            f">= {TARGET:,} rec/s",
            f"{rate:,.0f} rec/s",
            at_least(rate, TARGET),
            STAGES,
            met=rate >= TARGET,
        ),
        Row(
            "ingest vs seed pipelined [PLACEHOLDER]",
            ">= 10x",
            f"{pipelined[2]}x ({pipelined[1]} rec/s)",
            "",
            STAGES,
        ),
        Row("ingest vs seed one-by-one [PLACEHOLDER]", "", f"{naive[2]}x ({naive[1]} rec/s)", "", STAGES),
        Row(
            "1M-record catch-up, 1 and 2 workers [PLACEHOLDER]", "2 workers >= 1.8x", "not measured here", ""
        ),
    ], {"output": out}
