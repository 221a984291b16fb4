"""The system under test for the web benchmarks: Redis, a seeded database, one uvicorn web process,
and optionally Pushpin in front of it with `manage.py pushpin_relay` feeding it.

Every server is a separate process from the load clients (bench/load.py), so their CPU can be
told apart. Nothing here is timed.
"""

from __future__ import annotations

import json
import os
import resource
import secrets
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import psutil

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from devtools.embedded import EmbeddedRedis, free_port, uvicorn_args, wait_for_port  # noqa: E402

FD_LIMIT = 65536
SLUG = "bench"
CHANNEL = f"campaign-{SLUG}"


def raise_fd_limit() -> None:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    try:
        resource.setrlimit(resource.RLIMIT_NOFILE, (FD_LIMIT, max(hard, FD_LIMIT)))  # as root
    except (ValueError, PermissionError):
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))


SEED = """
import django, json
django.setup()
from devtools.campaign import DemoCampaign
campaign = DemoCampaign(slug="bench", table_name="BenchDonations")
c = campaign.ensure()
from fundraiser.selectors import campaign_config
import pickle, sys
config = campaign_config(c)
# Live numbers, as a first backfill and a few batches would leave them (as tests/factories.make_live).
from ingest.metrics import item_contribution
from ingest.rebuild import specs_json
from ingest.records import item_key_digest, sequence_key
from ingest.store import LIVE, ItemChange, Store
store = Store()
store.ensure_meta(c.pk)
gen = store.start_generation(c.pk, specs=specs_json(config.specs), plan='{"segments": 1}', reason="bench")
store.set_meta(c.pk, **{f"scan_done:{gen}": 1})
store.swap_generation(c.pk, gen)
items = [{"id": f"g{n}", "email": f"d{n % 40}@example.org", "platform": ["web", "ios", "phone"][n % 3],
          "amount": 10 + n} for n in range(60)]
changes = [ItemChange(item_key_digest({"id": i["id"]}), sequence_key(str(n)), {LIVE: item_contribution(config.specs, i)})
           for n, i in enumerate(items, start=1)]
assert store.apply_batch(c.pk, changes=changes).status == "ok"
sys.stdout.write(pickle.dumps(config).hex())
"""


@dataclass
class Process:
    name: str
    popen: subprocess.Popen
    log: Path

    @property
    def ps(self) -> psutil.Process:
        return psutil.Process(self.popen.pid)

    def tree(self) -> list[psutil.Process]:
        try:
            return [self.ps, *self.ps.children(recursive=True)]
        except psutil.NoSuchProcess:
            return []

    def rss(self) -> int:
        return sum(self.rss_by_program().values())

    def rss_by_program(self) -> dict[str, int]:
        """RSS per program of the tree: Pushpin's by executable name (condure, proxy, handler),
        a Python one by this process's role (web, relay)."""
        out: dict[str, int] = {}
        for process in self.tree():
            name = _safe(lambda p: p.name(), process, "")
            if not name:
                continue  # gone meanwhile
            name = self.name if name.startswith("python") else name.removeprefix("pushpin-")
            out[name] = out.get(name, 0) + _safe(lambda p: p.memory_info().rss, process, 0)
        return out

    def threads(self) -> int:
        return sum(_safe(lambda p: p.num_threads(), p, 0) for p in self.tree())

    def cpu(self) -> float:
        total = 0.0
        for p in self.tree():
            times = _safe(lambda p: p.cpu_times(), p, None)
            if times is not None:
                total += times.user + times.system
        return total

    def stop(self, timeout: float = 15.0) -> tuple[float, bool]:
        """SIGTERM; (seconds to exit, whether it exited by itself, without SIGKILL)."""
        started = time.monotonic()
        if self.popen.poll() is not None:
            return 0.0, True
        os.killpg(self.popen.pid, signal.SIGTERM)
        try:
            self.popen.wait(timeout)
            return time.monotonic() - started, True
        except subprocess.TimeoutExpired:
            os.killpg(self.popen.pid, signal.SIGKILL)
            self.popen.wait(5)
            return time.monotonic() - started, False


def _safe(get, process, default):
    try:
        return get(process)
    except (psutil.NoSuchProcess, psutil.AccessDenied):
        return default


@dataclass
class Site:
    workdir: Path
    env: dict[str, str]
    redis: EmbeddedRedis
    config: object = None
    web: Process | None = None
    web_port: int = 0
    pushpin: Process | None = None
    pushpin_port: int = 0
    relay: Process | None = None
    publish_url: str = ""
    extra: list[Process] = field(default_factory=list)

    @classmethod
    def start(cls, *, pushpin: bool = False) -> Site:
        workdir = Path(tempfile.mkdtemp(prefix="fr-bench-site-"))
        redis = EmbeddedRedis().start()
        env = dict(os.environ)
        env.update(
            DJANGO_SETTINGS_MODULE="config.settings",
            REDIS_URL=redis.url,
            FUNDRAISER_VAR_DIR=str(workdir),
            DJANGO_SQLITE_PATH=str(workdir / "db.sqlite3"),
            DJANGO_SECRET_KEY=secrets.token_urlsafe(50),
            DJANGO_SECURE_SSL_REDIRECT="0",
            DJANGO_SECURE_COOKIES="0",
            STREAMS_PER_CLIENT="100000",  # the load comes from a few loopback addresses
            LOG_LEVEL="WARNING",
            AWS_ACCESS_KEY_ID="bench",
            AWS_SECRET_ACCESS_KEY="bench",
            PYTHONUNBUFFERED="1",
        )
        site = cls(workdir, env, redis)
        subprocess.run(
            [sys.executable, "manage.py", "migrate", "-v", "0"], cwd=ROOT, env=env, check=True, timeout=300
        )
        import pickle

        done = subprocess.run(
            [sys.executable, "-c", SEED], cwd=ROOT, env=env, capture_output=True, text=True, timeout=300
        )
        if done.returncode:
            raise RuntimeError(done.stderr)
        site.config = pickle.loads(bytes.fromhex(done.stdout.strip()))
        if pushpin:
            site._start_pushpin()
        site._start_web()
        return site

    def _spawn(self, name: str, args: list[str], env: dict[str, str] | None = None) -> Process:
        log = self.workdir / f"{name}.log"
        popen = subprocess.Popen(
            args,
            cwd=ROOT,
            env=env or self.env,
            stdout=log.open("w"),
            stderr=subprocess.STDOUT,
            start_new_session=True,
            preexec_fn=raise_fd_limit,  # noqa: PLW1509 - before exec only
        )
        return Process(name, popen, log)

    def _start_web(self) -> None:
        self.web_port = getattr(self, "_web_port_for_pushpin", 0) or free_port()
        self.web = self._spawn(
            "web",
            [
                sys.executable,
                *(
                    ["-m", "cProfile", "-o", os.environ["BENCH_PROFILE_WEB"]]
                    if os.environ.get("BENCH_PROFILE_WEB")
                    else []
                ),
                # A keep-alive longer than a proxy keeps idle connections to us (zurl, nginx): else
                # it may reuse one we are closing, and its request fails.
                *uvicorn_args(
                    "config.asgi:application",
                    self.web_port,
                    graceful_seconds=3,
                    extra=("--backlog", "4096", "--no-access-log", "--timeout-keep-alive", "75"),
                ),
            ],
        )
        wait_for_port("127.0.0.1", self.web_port, timeout=60)

    def _start_pushpin(self) -> None:
        key = secrets.token_urlsafe(32)
        self.env["PUSHPIN_SIG_KEY"] = key
        ports = [free_port() for _ in range(5)]
        self.pushpin_port, publish_port = ports[0], ports[1]
        self.publish_url = f"http://127.0.0.1:{publish_port}/publish/"
        self.env["PUSHPIN_PUBLISH_URL"] = self.publish_url
        rundir = self.workdir / "pushpin"
        (rundir / "run").mkdir(parents=True)
        (rundir / "log").mkdir()
        self._web_port_for_pushpin = free_port()
        conf = PUSHPIN_CONF.format(
            rundir=rundir / "run",
            logdir=rundir / "log",
            http_port=self.pushpin_port,
            publish_port=publish_port,
            push_in=ports[2],
            push_sub=ports[3],
            command=ports[4],
            key=key,
            prefix=f"fr{os.getpid()}-",
        )
        (rundir / "pushpin.conf").write_text(conf)
        (rundir / "routes").write_text(f"* 127.0.0.1:{self._web_port_for_pushpin}\n")
        # Pushpin 1.36 reaches origins through zurl (Debian runs one as a system service; ours is private).
        (rundir / "zurl.conf").write_text(ZURL_CONF.format(run=rundir / "run"))
        self.extra.append(self._spawn("zurl", ["zurl", f"--config={rundir / 'zurl.conf'}"]))
        self.pushpin = self._spawn("pushpin", ["pushpin", "--config", str(rundir / "pushpin.conf")])
        wait_for_port("127.0.0.1", self.pushpin_port, timeout=30)
        wait_for_port("127.0.0.1", publish_port, timeout=30)
        self.relay = self._spawn("relay", [sys.executable, "manage.py", "pushpin_relay"])

    def url(self, path: str, *, via_pushpin: bool = False) -> str:
        port = self.pushpin_port if via_pushpin else self.web_port
        return f"http://127.0.0.1:{port}{path}"

    def publish(self, event_type: str, data: dict, channel: str = CHANNEL) -> None:
        """What django_eventstream.send_event puts on Redis (the worker's ServerSentEvents.publish)."""
        import redis

        client = redis.Redis.from_url(self.redis.url)
        try:
            client.publish(
                "events_channel",
                json.dumps(
                    {"channel": channel, "event_type": event_type, "data": json.dumps(data), "pub_id": None}
                ),
            )
        finally:
            client.close()

    def stop(self) -> dict[str, tuple[float, bool]]:
        stopped = {}
        for process in (self.relay, self.web, self.pushpin, *self.extra):
            if process is not None:
                stopped[process.name] = process.stop()
        self.redis.close()
        return stopped


PUSHPIN_CONF = """
[global]
include={{libdir}}/internal.conf
rundir={rundir}
ipc_prefix={prefix}
port_offset=0
stats_connection_ttl=120

[runner]
services=condure,pushpin-proxy,pushpin-handler
http_port={http_port}
logdir={logdir}
log_level=1
# condure keeps two buffers of this size per connection (8,192 by default: 16 KB of its ~35 KB per
# stream); a request whose header does not fit is dropped (connection reset). 4 KB holds a browser's
# EventSource request with the site's cookies.
client_buffer_size=4096
client_maxconn=60000

[proxy]
zurl_out_specs=ipc://{rundir}/zurl-in
zurl_out_stream_specs=ipc://{rundir}/zurl-in-stream
zurl_in_specs=ipc://{rundir}/zurl-out
routesfile=routes
sig_iss=pushpin
sig_key={key}
updates_check=off
# Requests in the proxy at once (each until the handler accepts its hold). The proxy's queues to zurl
# and to the handler hold 100 messages (fixed in Pushpin); a request that finds one full is answered
# 502 ("Error while proxying to origin.") or 500 ("Accept service unavailable.") at once, so a burst
# of a few hundred new streams lost 5 to 50 percent of them. Below 100 the rest wait in condure.
max_open_requests=50

[handler]
push_in_spec=tcp://127.0.0.1:{push_in}
push_in_sub_specs=tcp://127.0.0.1:{push_sub}
push_in_sub_connect=false
push_in_http_addr=127.0.0.1
push_in_http_port={publish_port}
command_spec=tcp://127.0.0.1:{command}
stats_spec=ipc://{rundir}/{prefix}stats
message_rate=1000000
message_hwm=1000000
"""

ZURL_CONF = """
[General]
in_spec=ipc://{run}/zurl-in
in_stream_spec=ipc://{run}/zurl-in-stream
out_spec=ipc://{run}/zurl-out
in_req_spec=ipc://{run}/zurl-req
defpolicy=allow
max_open_requests=100000
buffer_size=200000
timeout=600
in_hwm=100000
out_hwm=100000
"""
