"""`make demo`: the whole product on one machine, fed by simulated donations.

Migrates SQLite; starts an embedded Redis and an embedded DynamoDB (moto in server mode) unless
REDIS_URL / DYNAMODB_ENDPOINT_URL are given; creates the Donations table (with a stream), a demo
campaign and an admin user; then runs the Celery worker (with beat), the web server (uvicorn) and a
donation simulator. Ctrl-C or SIGTERM stops every process it started; running it again works.

Environment, defaults in brackets (all servers listen on 127.0.0.1 only):
  DEMO_WEB_PORT [8000]          the web server
  DEMO_REDIS_PORT [6390]        the embedded Redis (unused when REDIS_URL is set)
  DEMO_DYNAMODB_PORT [8001]     the embedded DynamoDB (unused when DYNAMODB_ENDPOINT_URL is set)
  REDIS_URL                     an existing Redis to use instead of the embedded one
  DYNAMODB_ENDPOINT_URL         an existing local DynamoDB (DynamoDB Local, moto) to use instead
  DEMO_TABLE [Donations]        the table the simulator writes and the campaign reads
  DEMO_RATE [2]                 simulated writes per second
  DEMO_ADMIN_USER [admin]       the admin user created or updated on every run
  DEMO_ADMIN_PASSWORD [random]  its password; a new random one each run unless set
  DEMO_STATUS_SECONDS [10]      how often a status line is printed (0: never)
  FUNDRAISER_VAR_DIR [var/]     SQLite database; logs go to <var>/demo/*.log
  DJANGO_DEBUG [1]              a local demo runs with DEBUG (and a key kept in the var dir)
"""

from __future__ import annotations

import json
import os
import random
import secrets
import signal
import sys
import threading
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from config.env import ConfigError, env_float, env_int, env_str

from . import seed, simulator
from .campaign import DemoCampaign
from .children import Child, command_line, load_run, save_run, stop_groups
from .embedded import LOCALHOST, port_open, port_taken, redis_command

BASE_DIR = Path(__file__).resolve().parent.parent
CAMPAIGN_SLUG = DemoCampaign().slug
STARTUP_TIMEOUT = 30.0
STOP_TIMEOUT = 10.0
BURST = 12  # donations written at once, so the page has numbers as soon as the worker reads


class DemoError(RuntimeError):
    """Something the person running the demo must fix; printed without a traceback."""


class Stop(BaseException):
    """Raised in the main thread by SIGINT/SIGTERM."""


@dataclass(frozen=True)
class DemoConfig:
    web_port: int
    redis_port: int
    dynamodb_port: int
    redis_url: str  # given by the environment, or "" for the embedded one
    dynamodb_url: str
    table: str
    region: str
    rate: float
    admin_user: str
    admin_password: str
    status_seconds: float
    consumers: int
    var_dir: Path

    @classmethod
    def from_env(cls) -> DemoConfig:
        return cls(
            web_port=env_int("DEMO_WEB_PORT", 8000, minimum=1),
            redis_port=env_int("DEMO_REDIS_PORT", 6390, minimum=1),
            dynamodb_port=env_int("DEMO_DYNAMODB_PORT", 8001, minimum=1),
            redis_url=env_str("REDIS_URL"),
            dynamodb_url=env_str("DYNAMODB_ENDPOINT_URL"),
            table=env_str("DEMO_TABLE", "Donations"),
            region=env_str("AWS_DEFAULT_REGION", "us-east-1"),
            rate=env_float("DEMO_RATE", 2.0, minimum=0.1),
            admin_user=env_str("DEMO_ADMIN_USER", "admin"),
            admin_password=env_str("DEMO_ADMIN_PASSWORD") or secrets.token_urlsafe(12),
            status_seconds=env_float("DEMO_STATUS_SECONDS", 10.0, minimum=0.0),
            consumers=env_int("INGEST_CONSUMERS", 1, minimum=1),
            var_dir=Path(env_str("FUNDRAISER_VAR_DIR", str(BASE_DIR / "var"))).resolve(),
        )

    @property
    def redis_target(self) -> str:
        """The Redis every process uses: the given one, or the embedded one."""
        return self.redis_url or f"redis://{LOCALHOST}:{self.redis_port}/0"

    @property
    def dynamodb_target(self) -> str:
        return self.dynamodb_url or f"http://{LOCALHOST}:{self.dynamodb_port}"

    @property
    def run_dir(self) -> Path:
        return self.var_dir / "demo"

    @property
    def base_url(self) -> str:
        return f"http://{LOCALHOST}:{self.web_port}"

    @property
    def page_url(self) -> str:
        return f"{self.base_url}/c/{CAMPAIGN_SLUG}/"


# --- the servers ----------------------------------------------------------------------------------
# fmt: off
def redis_server_command(config: DemoConfig) -> list[str]:
    return redis_command(config.redis_port, config.run_dir, daemonize=False, log_to_stdout=True)


def dynamodb_command(config: DemoConfig) -> list[str]:
    return [sys.executable, "-m", "moto.server", "-H", LOCALHOST, "-p", str(config.dynamodb_port)]


def worker_command(config: DemoConfig) -> list[str]:
    return [
        sys.executable, "-m", "celery", "-A", "config", "worker",
        "-Q", "ingest,celery",
        "--pool", "threads",
        "-c", str(config.consumers + 1),  # each consumer holds a thread; one more for the rest
        "-B", "-s", str(config.run_dir / "celerybeat-schedule"),  # beat runs ensure_consumers
        "-n", f"demo-{config.web_port}@%h",
        "--without-mingle", "--without-gossip",
        "-l", "info",
    ]


def web_command(config: DemoConfig) -> list[str]:
    return [
        sys.executable, "-m", "uvicorn", "devtools.asgi:application",
        "--host", LOCALHOST, "--port", str(config.web_port),
        "--lifespan", "off", "--no-access-log",
        # Open SSE streams never end by themselves: without this uvicorn ignores SIGTERM.
        "--timeout-graceful-shutdown", "2",
    ]
# fmt: on


def child_env(config: DemoConfig) -> dict[str, str]:
    """This process's environment for every process of the demo (this one included)."""
    env = dict(os.environ)
    env.update(
        {
            "REDIS_URL": config.redis_target,  # every process must share one Redis
            "FUNDRAISER_VAR_DIR": str(config.var_dir),
            "DJANGO_SETTINGS_MODULE": "config.settings",
            "AWS_DEFAULT_REGION": config.region,
            "PYTHONUNBUFFERED": "1",
        }
    )
    # A local demo: debug pages and a key kept in the var dir, unless the caller says otherwise;
    # the campaign may name the demo's own DynamoDB and nothing else.
    env.setdefault("DJANGO_DEBUG", "1")
    env.setdefault("INGEST_ALLOWED_ENDPOINTS", urlsplit(config.dynamodb_target).netloc)
    if not config.dynamodb_url:
        # moto accepts any credentials; never hand it real ones, nor wait on a profile or SSO.
        for name in ("AWS_SESSION_TOKEN", "AWS_PROFILE"):
            env.pop(name, None)
        env.update(AWS_ACCESS_KEY_ID="demo", AWS_SECRET_ACCESS_KEY="demo")
    else:
        env.setdefault("AWS_ACCESS_KEY_ID", "demo")
        env.setdefault("AWS_SECRET_ACCESS_KEY", "demo")
    return env


# --- the demo -------------------------------------------------------------------------------------
class Demo:
    def __init__(self, config: DemoConfig):
        self.config = config
        self.children: list[Child] = []
        self.started = time.monotonic()
        self.stop_simulator = threading.Event()
        self.simulator: simulator.Simulator | None = None
        self.simulator_thread: threading.Thread | None = None
        self.simulator_error: BaseException | None = None
        self.stopping = False
        self.state_path = config.run_dir / "processes.json"
        self.screens: list[tuple[str, str]] = []

    # --- start ----------------------------------------------------------------------------------
    def start(self) -> None:
        config = self.config
        config.run_dir.mkdir(parents=True, exist_ok=True)
        self.stop_leftovers()
        self.check_ports()
        env = child_env(config)
        if not config.redis_url:
            self.spawn("redis", redis_server_command(config), env, marker="redis-server")
        if not config.dynamodb_url:
            self.spawn("dynamodb", dynamodb_command(config), env, marker="moto.server")
        os.environ.update(env)  # this process uses the same Redis, database and credentials
        table = self.prepare()
        self.spawn("worker", worker_command(config), env, marker="celery")
        self.spawn("web", web_command(config), env, marker="uvicorn")
        self.simulator = simulator.Simulator(table, rng=random.Random())
        self.simulator_thread = threading.Thread(target=self.simulate, name="simulator", daemon=True)
        self.simulator_thread.start()
        self.wait_for("web", config.web_port)
        self.print_banner()

    def prepare(self) -> Any:
        """Migrates the database, then (once the stores answer) writes the table, campaign, screens
        and admin login; returns the table (a boto3 Table resource)."""
        config = self.config
        step(f"migrating the database in {config.var_dir}")
        import django
        from django.core.management import call_command

        django.setup()
        call_command("migrate", verbosity=0, interactive=False)

        if not config.redis_url:
            self.wait_for("redis", config.redis_port)
        if not config.dynamodb_url:
            self.wait_for("dynamodb", config.dynamodb_port)
        dynamodb = simulator.dynamodb_resource(region=config.region, endpoint_url=config.dynamodb_target)
        fresh_table = simulator.ensure_table(dynamodb, config.table)
        step(f"table {config.table} {'created' if fresh_table else 'found'} at {config.dynamodb_target}")
        campaign = seed.ensure_campaign(
            table=config.table,
            region=config.region,
            endpoint_url=config.dynamodb_target,
            fresh_table=fresh_table,
        )
        seed.dress_for_screens(campaign, base_url=config.base_url)
        self.screens = seed.ensure_screens(campaign, base_url=config.base_url, run_dir=config.run_dir)
        seed.ensure_admin(config.admin_user, config.admin_password)
        return dynamodb.Table(config.table)

    def spawn(self, name: str, argv: list[str], env: dict[str, str], *, marker: str) -> None:
        log_path = self.config.run_dir / f"{name}.log"
        log_path.write_bytes(b"")
        child = Child(name, argv, env=env, log_path=log_path, marker=marker)
        self.children.append(child)
        save_run(self.state_path, self.children)
        step(f"started {name:<8} pid {child.pid:<7} log {relative(log_path)}")

    def wait_for(self, name: str, port: int) -> None:
        child = next(c for c in self.children if c.name == name)
        deadline = time.monotonic() + STARTUP_TIMEOUT
        while not port_open(LOCALHOST, port):
            if child.process.poll() is not None:
                raise DemoError(
                    f"{name} exited with code {child.process.returncode} while starting; "
                    f"last lines of {relative(child.log_path)}:\n{child.log_tail()}"
                )
            if time.monotonic() > deadline:
                raise DemoError(
                    f"{name} did not answer on port {port} within {STARTUP_TIMEOUT:.0f}s; "
                    f"see {relative(child.log_path)}"
                )
            time.sleep(0.05)

    def check_ports(self) -> None:
        config = self.config
        wanted = [("DEMO_WEB_PORT", config.web_port, "web server")]
        if not config.redis_url:
            wanted.append(("DEMO_REDIS_PORT", config.redis_port, "embedded Redis"))
        if not config.dynamodb_url:
            wanted.append(("DEMO_DYNAMODB_PORT", config.dynamodb_port, "embedded DynamoDB"))
        seen: dict[int, str] = {}
        for variable, port, what in wanted:
            if port in seen:
                raise DemoError(f"{seen[port]} and {variable} are both {port}; give each its own port")
            seen[port] = variable
            if port_taken(port):
                raise DemoError(
                    f"port {port} (for the {what}) is already in use on 127.0.0.1 by another program.\n"
                    f"Stop that program, or choose another port: {variable}=<port> make demo"
                )

    def stop_leftovers(self) -> None:
        """Stops what a run that could not clean up (killed with SIGKILL) left running."""
        demo_pid, leftovers = load_run(self.state_path)
        if demo_pid and demo_pid != os.getpid() and "devtools.demo" in (command_line(demo_pid) or ""):
            raise DemoError(
                f"another demo is running (pid {demo_pid}) with {self.config.var_dir}; "
                "stop it first (Ctrl-C in its terminal)"
            )
        stop_groups(leftovers, STOP_TIMEOUT)
        if leftovers:
            step("stopped leftovers of an earlier run: " + ", ".join(g.name for g in leftovers))
        self.state_path.unlink(missing_ok=True)

    # --- running --------------------------------------------------------------------------------
    def simulate(self) -> None:
        try:
            simulator.run(self.simulator, rate=self.config.rate, stop=self.stop_simulator, burst=BURST)
        except BaseException as exc:  # noqa: BLE001 - reported by the main thread
            self.simulator_error = exc

    def watch(self) -> None:
        next_status = time.monotonic() + min(self.config.status_seconds, 5.0)
        while True:
            for child in self.children:
                code = child.process.poll()
                if code is not None:
                    raise DemoError(
                        f"{child.name} exited unexpectedly with code {code}; last lines of "
                        f"{relative(child.log_path)}:\n{child.log_tail()}"
                    )
            if self.simulator_error is not None:
                raise DemoError(f"the donation simulator failed: {self.simulator_error!r}")
            if self.config.status_seconds and time.monotonic() >= next_status:
                print(self.status_line(), flush=True)
                next_status = time.monotonic() + self.config.status_seconds
            time.sleep(0.2)

    def status_line(self) -> str:
        elapsed = f"[{time.monotonic() - self.started:5.0f}s]"
        wrote = self.simulator_summary()
        try:
            with urllib.request.urlopen(f"{self.config.page_url}snapshot.json", timeout=3) as response:
                snapshot = json.load(response)
        except (OSError, ValueError) as exc:
            return f"{elapsed} page not answering ({exc}); {wrote}"
        metrics = snapshot.get("metrics", {})
        goal = snapshot.get("goal") or {}
        page = (
            f"page: {snapshot.get('currency', '')} {goal.get('current', '?')} of {goal.get('target', '?')}"
            f" ({goal.get('percent', 0)}%), {metrics.get('gifts', {}).get('total', '?')} gifts, "
            f"{metrics.get('donors', {}).get('total', '?')} donors"
        )
        return f"{elapsed} {page}; {wrote}"

    def simulator_summary(self) -> str:
        counts = self.simulator.counts if self.simulator else {}
        return (
            f"simulator wrote {sum(counts.values())} ({counts.get('donation', 0)} gifts, "
            f"{counts.get('correction', 0) + counts.get('fix', 0)} corrections, "
            f"{counts.get('refund', 0)} refunds, {counts.get('malformed', 0)} malformed)"
        )

    def print_banner(self) -> None:
        config = self.config
        redis_note = "" if config.redis_url else " (embedded)"
        dynamodb_note = "" if config.dynamodb_url else " (embedded moto)"
        rule = "─" * 72
        lines = [
            rule,
            f"  Live goal page   {config.page_url}",
            f"  Snapshot JSON    {config.page_url}snapshot.json",
            "  Display screens (kiosk links, no login)",
            *(f"    {layout:<14} {url}" for layout, url in self.screens),
            f"  Admin            {config.base_url}/admin/",
            f"    username       {config.admin_user}",
            f"    password       {config.admin_password}",
            f"  Redis            {config.redis_target}{redis_note}",
            f"  DynamoDB         {config.dynamodb_target}{dynamodb_note}, table {config.table}",
            f"  Logs             {relative(config.run_dir)}/*.log",
            "  Ctrl-C stops everything.",
            rule,
        ]
        print("\n".join(lines), flush=True)

    # --- stop -----------------------------------------------------------------------------------
    def stop(self) -> None:
        self.stopping = True
        if not self.children and self.simulator_thread is None:
            return
        step("stopping ...")
        self.stop_simulator.set()
        if self.simulator_thread is not None:
            self.simulator_thread.join(5)
        # Web and worker first (the worker finishes its batch in flight and releases its shard
        # leases in Redis), then the stores they use.
        apps = [c for c in self.children if c.name in ("web", "worker")]
        stores = [c for c in self.children if c not in apps]
        killed = stop_groups(apps, STOP_TIMEOUT) + stop_groups(stores, STOP_TIMEOUT)
        for child in killed:
            step(f"{child.name} did not stop within {STOP_TIMEOUT:.0f}s and was killed")
        self.state_path.unlink(missing_ok=True)
        step("stopped " + ", ".join(f"{c.name} (pid {c.pid})" for c in self.children))


def step(message: str) -> None:
    print(f"demo: {message}", flush=True)


def relative(path: Path) -> str:
    try:
        return str(path.relative_to(Path.cwd()))
    except ValueError:
        return str(path)


def main() -> int:
    try:
        config = DemoConfig.from_env()
    except ConfigError as exc:
        print(f"demo: {exc}", file=sys.stderr)
        return 2
    demo = Demo(config)

    def on_signal(signum: int, _frame: Any) -> None:
        if not demo.stopping:
            raise Stop(signal.Signals(signum).name)

    signal.signal(signal.SIGINT, on_signal)
    signal.signal(signal.SIGTERM, on_signal)
    code = 0
    try:
        demo.start()
        demo.watch()
    except Stop:
        pass
    except DemoError as exc:
        print(f"demo: {exc}", file=sys.stderr, flush=True)
        code = 1
    finally:
        demo.stop()
    return code


if __name__ == "__main__":
    sys.exit(main())
