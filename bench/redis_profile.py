"""Where the Redis time per record goes on the real ingestion path (issue 13: target <= 5 us).

    .venv/bin/python bench/redis_profile.py [records] [shards]      (default 100000 4)

1. Runs the real path (bench/realpath.py `catch_up`, 1 worker) with SLOWLOG logging every
   command, and splits the scripts' time (the figure `make bench` prints from INFO commandstats)
   by script: commit, ticker, lease, meta. Every commit batch's arguments are kept.
2. Replays those commit batches, in order, on the campaign's state as it was when the backlog
   started (DUMP/RESTORE; leases' expiry pushed into the future), with:
   - the product's commit_batch.lua unchanged (the replay's baseline);
   - an instrumented copy (redis.call('TIME') between phases, the phase times added to a
     `:prof` hash) for the phase table;
   - experimental variants, each checked to leave the same aggregates and item states:
     msgpack instead of JSON for the batch argument; a short compare-and-set token instead of
     the whole old state; one HGET of a distinct count's field per batch instead of one per
     reference, and its HINCRBYs summed; all three together.
3. Sizes the batch argument (bytes per record, by part) and times cjson.decode against
   cmsgpack.unpack of the same batches inside Redis.

Nothing of the product is changed: the variants exist only in this file, loaded into the bench's
own throwaway redis-server. Each replay is run 5 times; the fastest is shown (the machine is shared).
"""

from __future__ import annotations

import hashlib
import json
import os
import sys
import time
from collections import Counter, defaultdict
from typing import Any

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

ROUNDS = 5


# --- the commit script, instrumented and varied -----------------------------------------------
def _replace(text: str, old: str, new: str) -> str:
    assert text.count(old) == 1, f"anchor not found once in commit_batch.lua: {old!r}"
    return text.replace(old, new)


# (phase name, the line the phase ends before): a checkpoint is inserted before each anchor.
PHASES = [
    ("argument: cjson.decode of the batch", "\n-- 0. Whose turn"),
    ("guards: turn, meta, expect, lease, checkpoint", "\n-- 2. Checks"),
    ("check: TYPE + HMGET of item states, compare", "\nlocal sums = batch['sums'] or {}"),
    ("check: sums, HGET per field", "\n-- References of distinct values"),
    ("check: distinct references, 2 HGET each", "\nlocal rejects = batch['rejects'] or {}"),
    ("check: rejects and tombstones' key TYPE", "\n-- 3. Writes"),
    ("write: HSET of item states", "\nlocal touched = {}"),
    ("write: sums, HINCRBY", "\nfor _, ref in ipairs(refs) do"),
    ("write: distinct references, HSET/HDEL (+ HINCRBY)", "\nfor _, t in ipairs(batch['tombs'] or {}) do\n  local key = prefix_of(t[1]) .. ':tomb'\n  if"),
    ("write: tombstones, ZADD/ZREM", "\nif position and position['seq']"),
    ("write: checkpoint, rejects, stats, counters", "\nif turn then redis.call('DEL', turn_key)"),
    ("reply: version, HGETALL of touched metrics", "\nreturn out\n"),
]  # fmt: skip


def instrumented(source: str) -> str:
    """The script with a TIME checkpoint before each anchor; phase times (us) go to <base>:prof."""
    body = source
    for name, anchor in PHASES:
        body = _replace(body, anchor, f"\n__cp({json.dumps(name)})" + anchor)
    head = (
        "local __marks = {}\n"
        "local function __cp(name) local t = redis.call('TIME')\n"
        "  table.insert(__marks, {name, tonumber(t[1]) * 1000000 + tonumber(t[2])}) end\n"
        "__cp('start')\n"
        "local function __body()\n"
    )
    tail = (
        "\nend\n"
        "local __out = __body()\n"
        "for i = 2, #__marks do\n"
        "  redis.call('HINCRBY', ARGV[1] .. ':prof', __marks[i][1], __marks[i][2] - __marks[i - 1][2])\n"
        "end\n"
        "redis.call('HINCRBY', ARGV[1] .. ':prof', 'calls', 1)\n"
        "return __out\n"
    )
    return head + body + tail


def msgpack_variant(source: str) -> str:
    return _replace(source, "cjson.decode(ARGV[2])", "cmsgpack.unpack(ARGV[2])")


def short_cas_variant(source: str) -> str:
    """The caller sends the first SHORT characters of the old state (a state starts with its
    sequence) and the script compares only those: what a short version would cost and save. (Not
    a safe design as it is: a scanned item has no sequence; a real one would need a version.)"""
    return _replace(
        source,
        "if (held[n] or '') ~= writes[first + n - 1][2] then",
        "local want = writes[first + n - 1][2]\n      if string.sub(held[n] or '', 1, #want) ~= want then",
    )


def refs_variant(source: str) -> str:
    """A distinct count's field (`t` or `g:<group>`) read once per batch, not once per reference,
    and its moves summed into one HINCRBY per field."""
    source = _replace(
        source,
        "  local ok2, counted = pcall(redis.call, 'HGET', ref.mkey, ref.counted)\n",
        "  local ck = ref.mkey .. '\\0' .. ref.counted\n"
        "  local ok2, counted = true, counted_seen[ck]\n"
        "  if counted == nil then ok2, counted = pcall(redis.call, 'HGET', ref.mkey, ref.counted)\n"
        "    counted_seen[ck] = counted or false end\n",
    )
    source = _replace(source, "local refs = {}\n", "local refs = {}\nlocal counted_seen = {}\n")
    source = _replace(
        source,
        "  if ref.before <= 0 and after > 0 then\n"
        "    hincr(ref.mkey, ref.counted, 1)\n"
        "  elseif ref.before > 0 and after <= 0 then\n"
        "    hincr(ref.mkey, ref.counted, -1)\n"
        "  end\n",
        "  local move = 0\n"
        "  if ref.before <= 0 and after > 0 then move = 1 elseif ref.before > 0 and after <= 0 then move = -1 end\n"
        "  if move ~= 0 then\n"
        "    local ck = ref.mkey .. '\\0' .. ref.counted\n"
        "    if not moves[ck] then moves[ck] = {ref.mkey, ref.counted, 0}; table.insert(move_order, ck) end\n"
        "    moves[ck][3] = moves[ck][3] + move\n"
        "  end\n",
    )
    return _replace(
        source,
        "for _, t in ipairs(batch['tombs'] or {}) do\n  local key = prefix_of(t[1]) .. ':tomb'\n  if",
        "for _, ck in ipairs(move_order) do hincr(moves[ck][1], moves[ck][2], moves[ck][3]) end\n"
        "for _, t in ipairs(batch['tombs'] or {}) do\n  local key = prefix_of(t[1]) .. ':tomb'\n  if",
    ).replace("local touched = {}\n", "local touched = {}\nlocal moves, move_order = {}, {}\n", 1)


SHORT = 44  # '["' + 40 digits + '",': the sequence at the head of a state (ingest/items.py)


def shorten(header: dict[str, Any]) -> dict[str, Any]:
    header = dict(header)
    header["writes"] = [[gen, [[k, old[:SHORT], new] for k, old, new in ws]] for gen, ws in header["writes"]]
    return header


def as_json(header: dict[str, Any]) -> str:
    from ingest.items import dumps

    return dumps(header)


def as_msgpack(header: dict[str, Any]) -> bytes:
    import msgpack

    return msgpack.packb(header)


def sched(pid: int) -> tuple[float, float, int]:
    """(CPU seconds, seconds waiting for a core, involuntary switches) of a process's main thread."""
    with open(f"/proc/{pid}/task/{pid}/schedstat") as f:
        cpu_ns, wait_ns, _ = (int(x) for x in f.read().split())
    with open(f"/proc/{pid}/task/{pid}/status") as f:
        switches = next(int(line.split()[1]) for line in f if line.startswith("nonvoluntary_ctxt_switches"))
    return cpu_ns / 1e9, wait_ns / 1e9, switches


def sched_line(before: tuple[float, float, int], after: tuple[float, float, int], n: int, usec: float) -> str:
    cpu, wait, switches = (a - b for a, b in zip(after, before, strict=True))
    return (
        f"redis-server main thread: CPU {1e6 * cpu / n:.2f} us/record, waiting for a core {1e6 * wait / n:.2f}"
        f" us/record, {switches:,} involuntary switches; all commands' usec {usec / n:.2f} us/record"
    )


def all_usec(client: Any) -> float:
    return float(sum(v["usec"] for v in client.info("commandstats").values()))


# --- step 1: the real path, every script call logged ------------------------------------------
class Capture:
    def __init__(self) -> None:
        self.on = False
        self.commits: list[tuple[list[str], list[Any], str]] = []  # keys, args, status
        self.tickers: list[tuple[list[str], list[Any]]] = []
        self.ticker_ops = 0
        self.commit_usec: list[int] = []  # each commit call's duration in the run (SLOWLOG)
        self.sched: tuple[float, float, int] = (0.0, 0.0, 0)
        self.redis_pid = 0
        self.start_state: dict[str, bytes] = {}


def run_real_path(records: int, shards: int, url: str) -> tuple[Any, Capture, dict[str, float], Counter]:
    import redis
    from redis.commands.core import Script

    from bench import realpath
    from ingest.store import LUA_DIR, get_redis

    names = {hashlib.sha1(p.read_bytes()).hexdigest(): p.stem for p in LUA_DIR.glob("*.lua")}
    capture = Capture()
    raw = redis.Redis.from_url(url)
    client = get_redis()
    capture.redis_pid = int(client.info("server")["process_id"])
    call = Script.__call__

    def recording(self: Script, keys: Any = (), args: Any = (), client: Any = None) -> Any:
        result = call(self, keys=keys, args=args, client=client)
        name = names.get(self.sha)
        if capture.on and name == "commit_batch":
            capture.commits.append((list(keys), list(args), result[0]))
        elif capture.on and name == "ticker":
            capture.tickers.append((list(keys), list(args)))
            capture.ticker_ops += len(json.loads(args[3]))
        return result

    go_live = realpath.go_live

    def go_live_then_log(*a: Any, **kw: Any) -> None:
        go_live(*a, **kw)
        capture.start_state = {k: raw.dump(k) for k in raw.keys("*")}
        client.config_set("slowlog-max-len", 1_000_000)
        client.config_set("slowlog-log-slower-than", 0)
        client.slowlog_reset()
        capture.on = True
        capture.sched = sched(capture.redis_pid)

    Script.__call__, realpath.go_live = recording, go_live_then_log
    try:
        result = realpath.catch_up(records=records, shards=shards, workers=1)
    finally:
        Script.__call__, realpath.go_live = call, go_live
        capture.on = False
    capture.sched = sched(capture.redis_pid), capture.sched  # (after, before)
    print(sched_line(capture.sched[1], capture.sched[0], result.records, all_usec(client)))
    client.config_set("slowlog-log-slower-than", 10_000)
    usec: dict[str, float] = defaultdict(float)
    calls: Counter = Counter()
    for entry in reversed(client.slowlog_get(1_000_000)):  # oldest first
        command = entry["command"]
        command = command.decode() if isinstance(command, bytes) else command
        parts = command.split(" ", 2)
        if parts[0].upper() == "EVALSHA":
            name = names.get(parts[1], parts[1][:8])
        elif parts[0].upper() == "EVAL":
            name = "eval"
        else:
            continue
        usec[name] += entry["duration"]
        if name == "commit_batch":
            capture.commit_usec.append(entry["duration"])
        calls[name] += 1
    return result, capture, usec, calls


# --- step 2: replays ---------------------------------------------------------------------------
def restore(raw: Any, capture: Capture) -> None:
    """The state the backlog started from, with the leases the run's batches were fenced by."""
    raw.flushdb()
    for key, value in capture.start_state.items():
        raw.restore(key, 0, value)
    for _, args, _ in capture.commits:
        lease = json.loads(args[1]).get("lease")
        if lease:
            fields = {"owner": lease["owner"], "fence": lease["fence"], "expires": 10**15}
            raw.hset(f"{args[0]}:lease:{lease['name']}", mapping=fields)


def aggregates(raw: Any) -> str:
    digest = hashlib.sha1()
    for key in sorted(raw.keys("*:g*")):
        if raw.type(key) == b"hash":
            digest.update(key + repr(sorted(raw.hgetall(key).items())).encode())
        else:
            digest.update(key + repr(sorted(raw.zrange(key, 0, -1))).encode())  # (scores: times)
    return digest.hexdigest()


def replay(raw: Any, capture: Capture, source: str, encode: Any) -> tuple[float, float, str, dict[str, int]]:
    """(fastest total usec of EVALSHA over ROUNDS (INFO commandstats: wall-clock time), least CPU
    usec of redis-server's main thread over ROUNDS, digest of the aggregates, phase usec)."""
    sha = raw.script_load(source)
    headers = [json.loads(args[1]) for _, args, _ in capture.commits]
    encoded = [encode(h) for h in headers]
    best, best_cpu, digest, prof = float("inf"), float("inf"), "", {}
    for _ in range(ROUNDS):
        restore(raw, capture)
        raw.config_resetstat()
        cpu = sched(capture.redis_pid)[0]
        for (keys, args, status), arg in zip(capture.commits, encoded, strict=True):
            out = raw.evalsha(sha, len(keys), *keys, args[0], arg)
            assert out[0].decode() == status, f"replay answered {out[0]!r}, the run {status!r}"
        best_cpu = min(best_cpu, 1e6 * (sched(capture.redis_pid)[0] - cpu))
        stats = raw.info("commandstats")
        usec = float(stats["cmdstat_evalsha"]["usec"])
        if usec < best:
            best, digest = usec, aggregates(raw)
            base = capture.commits[0][1][0]
            prof = {k.decode(): int(v) for k, v in raw.hgetall(f"{base}:prof").items()}
    return best, best_cpu, digest, prof


def replay_ticker(raw: Any, capture: Capture, source: str) -> float:
    """Fastest total usec of the run's ticker calls, replayed in order from no list."""
    sha = raw.script_load(source)
    best = float("inf")
    for _ in range(ROUNDS):
        raw.delete(*capture.tickers[0][0])
        raw.config_resetstat()
        for keys, args in capture.tickers:
            raw.evalsha(sha, len(keys), *keys, *args)
        best = min(best, float(raw.info("commandstats")["cmdstat_evalsha"]["usec"]))
    return best


def per_batch(usec: list[int] | list[float], capture: Capture) -> str:
    """Percentiles of us/record over the commit calls that carried at least 100 records."""
    records = [json.loads(args[1]).get("records", 0) for _, args, _ in capture.commits]
    rates = sorted(u / r for u, r in zip(usec, records, strict=True) if r >= 100)
    pick = [rates[0], rates[len(rates) // 2], rates[int(len(rates) * 0.9)], rates[-1]]
    return "min {:.2f}, median {:.2f}, p90 {:.2f}, max {:.2f} us/record ({} calls)".format(*pick, len(rates))


def replay_per_batch(raw: Any, capture: Capture, source: str) -> list[int]:
    """Each commit call's duration (SLOWLOG) in one replay of the product script."""
    sha = raw.script_load(source)
    restore(raw, capture)
    raw.config_set("slowlog-log-slower-than", 0)
    raw.slowlog_reset()
    raw.config_resetstat()
    before = sched(capture.redis_pid)
    for keys, args, _ in capture.commits:
        raw.evalsha(sha, len(keys), *keys, *args)
    n = sum(json.loads(args[1]).get("records", 0) for _, args, _ in capture.commits)
    print("  replay: " + sched_line(before, sched(capture.redis_pid), n, all_usec(raw)))
    raw.config_set("slowlog-log-slower-than", 10_000)
    return [
        e["duration"] for e in reversed(raw.slowlog_get(1_000_000)) if e["command"].startswith(b"EVALSHA")
    ]


def decode_times(raw: Any, capture: Capture) -> dict[str, float]:
    """usec inside Redis to decode every batch argument once: cjson vs cmsgpack, full vs short CAS."""
    timer = (
        "local t0 = redis.call('TIME')\n"
        "for i = 1, tonumber(ARGV[2]) do local _ = {DECODE}(ARGV[1]) end\n"
        "local t1 = redis.call('TIME')\n"
        "return (t1[1] - t0[1]) * 1000000 + (t1[2] - t0[2])"
    )
    reps = 5
    out = {}
    headers = [json.loads(args[1]) for _, args, _ in capture.commits]
    for name, decoder, encode in (
        ("cjson, full old states", "cjson.decode", as_json),
        ("cjson, short CAS token", "cjson.decode", lambda h: as_json(shorten(h))),
        ("cmsgpack, full old states", "cmsgpack.unpack", as_msgpack),
        ("cmsgpack, short CAS token", "cmsgpack.unpack", lambda h: as_msgpack(shorten(h))),
    ):
        sha = raw.script_load(timer.replace("{DECODE}", decoder))
        best = float("inf")
        for _ in range(ROUNDS):
            best = min(best, sum(raw.evalsha(sha, 0, encode(h), reps) for h in headers) / reps)
        out[name] = best
    return out


def sizes(capture: Capture) -> dict[str, float]:
    """Bytes of the batch argument, by part (JSON as sent), summed over the run."""
    from ingest.items import dumps

    total: Counter = Counter()
    for _, args, _ in capture.commits:
        header = json.loads(args[1])
        total["whole argument (JSON)"] += len(args[1].encode())
        total["  as msgpack"] += len(as_msgpack(header))
        for _gen, writes in header["writes"]:
            total["  writes: item keys"] += sum(len(dumps(k)) for k, _, _ in writes)
            total["  writes: old states (JSON in JSON)"] += sum(len(dumps(old)) for _, old, _ in writes)
            total["  writes: new states (JSON in JSON)"] += sum(len(dumps(new)) for _, _, new in writes)
        for part in ("sums", "refs", "tombs", "rejects"):
            total[f"  {part}"] += len(dumps(header.get(part, [])))
        total["  state strings as stored (old + new)"] += sum(
            len(old) + len(new) for _gen, ws in header["writes"] for _, old, new in ws
        )
    return dict(total)


def counts(capture: Capture) -> Counter:
    c: Counter = Counter()
    for _, args, _ in capture.commits:
        header = json.loads(args[1])
        c["batches"] += 1
        c["item writes"] += sum(len(ws) for _, ws in header["writes"])
        c["sums"] += len(header["sums"])
        c["refs"] += len(header["refs"])
        c["refs with a group"] += sum(1 for r in header["refs"] if r[3] is not False)
        c["distinct counted fields"] += len({(r[1], r[3]) for r in header["refs"]})
        c["tombs"] += len(header["tombs"])
        c["rejects"] += len(header["rejects"])
    return c


def main() -> None:
    import redis

    from bench.run import configure_django
    from devtools.embedded import EmbeddedRedis
    from ingest.store import LUA_DIR

    args = [a for a in sys.argv[1:] if a != "--pin"]
    records, shards = (int(a) for a in args + ["100000", "4"][len(args) :])
    server = EmbeddedRedis().start()
    if "--pin" in sys.argv:  # redis-server on the last core, this process (the worker) on the others
        last = max(os.sched_getaffinity(0))
        os.sched_setaffinity(server.process.pid, {last})
        os.sched_setaffinity(0, os.sched_getaffinity(0) - {last})
        print(f"pinned: redis-server to core {last}, the worker to {sorted(os.sched_getaffinity(0))}")
    try:
        configure_django(server.url)
        started = time.monotonic()
        result, capture, usec, calls = run_real_path(records, shards, server.url)
        n = result.records
        print(
            f"real path: {n:,} records, {shards} shards, 1 worker, {result.rate:,.0f} rec/s; exact: {not result.problems}"
        )
        print(
            f"EVALSHA+EVAL usec (INFO commandstats, as bench/realpath.py): {result.script_usec / n:.2f} us/record"
        )
        print("\nby script (SLOWLOG of every command):")
        for name in sorted(usec, key=usec.get, reverse=True):
            print(
                f"  {name:<16} {usec[name] / n:6.2f} us/record  {calls[name]:6,} calls  {usec[name] / calls[name]:8.1f} us/call"
            )
        print(f"  (all)            {sum(usec.values()) / n:6.2f} us/record")
        print(f"  ticker: {capture.ticker_ops:,} ops in {len(capture.tickers):,} calls")
        c = counts(capture)
        print(
            "\nper record:",
            ", ".join(f"{k} {v / n:.3f}" for k, v in c.items()),
            f"(statuses {Counter(s for *_, s in capture.commits)})",
        )

        raw = redis.Redis.from_url(server.url)
        source = (LUA_DIR / "commit_batch.lua").read_text()
        print("\nbatch argument, bytes per record:")
        for k, v in sizes(capture).items():
            print(f"  {k:<42} {v / n:7.1f}")

        base_us, base_cpu, base_digest, _ = replay(raw, capture, source, as_json)
        print(
            f"\nreplay of the {len(capture.commits)} commit batches, product script: {base_us / n:.2f} us/record, CPU {base_cpu / n:.2f} us/record"
        )
        print(f"  per call in the run:    {per_batch(capture.commit_usec, capture)}")
        print(f"  per call in one replay: {per_batch(replay_per_batch(raw, capture, source), capture)}")
        ticker_us = replay_ticker(raw, capture, (LUA_DIR / "ticker.lua").read_text())
        print(
            f"replay of the {len(capture.tickers)} ticker calls: {ticker_us / n:.2f} us/record, {ticker_us / capture.ticker_ops:.2f} us/op"
        )
        prof_us, prof_cpu, digest, prof = replay(raw, capture, instrumented(source), as_json)
        assert digest == base_digest
        print(
            f"instrumented copy: {prof_us / n:.2f} us/record, CPU {prof_cpu / n:.2f} (TIME checkpoints included); phases:"
        )
        phased = 0
        for name, _ in PHASES:
            phased += prof.get(name, 0)
            print(f"  {name:<52} {prof.get(name, 0) / n:6.2f} us/record")
        print(f"  {'outside the Lua body (call, ARGV, reply)':<52} {(prof_us - phased) / n:6.2f} us/record")

        print("\ndecoding every batch argument once, inside Redis:")
        for k, v in decode_times(raw, capture).items():
            print(f"  {k:<30} {v / n:6.2f} us/record")

        print("\nvariants (replay; same aggregates and item states checked):")
        variants = [
            ("msgpack argument", msgpack_variant(source), as_msgpack),
            ("short CAS token", short_cas_variant(source), lambda h: as_json(shorten(h))),
            ("distinct counts read once, moves summed", refs_variant(source), as_json),
            ("all three", refs_variant(short_cas_variant(msgpack_variant(source))), lambda h: as_msgpack(shorten(h))),
        ]  # fmt: skip
        for name, text, encode in variants:
            us, cpu, digest, _ = replay(raw, capture, text, encode)
            same = "same" if digest == base_digest else "DIFFERENT"
            print(
                f"  {name:<42} {us / n:6.2f} us/record ({(us - base_us) / n:+.2f}), CPU {cpu / n:.2f}"
                f" ({(cpu - base_cpu) / n:+.2f}); aggregates {same}"
            )

        # The ticker's cost per call with nothing to do: what folding it into the commit saves.
        ticker = raw.script_load((LUA_DIR / "ticker.lua").read_text())
        keys = [f"{{prof}}:t{i}" for i in range(5)]
        raw.config_resetstat()
        for _ in range(1000):
            raw.evalsha(ticker, 5, *keys, 50, 50, "x", "[]", "")
        empty = float(raw.info("commandstats")["cmdstat_evalsha"]["usec"]) / 1000
        print(
            f"\nticker call with no ops: {empty:.1f} us; x {len(capture.tickers)} calls = {empty * len(capture.tickers) / n:.3f} us/record"
        )
        print(f"({time.monotonic() - started:.0f} s)")
    finally:
        server.close()


if __name__ == "__main__":
    main()
