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

import ctypes
import json
import os
import random
import secrets
import signal
import subprocess
import sys
import threading
import time
import urllib.request
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from config.env import ConfigError, env_float, env_int, env_str
from devtools.embedded import LOCALHOST, port_open, port_taken, redis_command

from . import simulator

BASE_DIR = Path(__file__).resolve().parent.parent
CAMPAIGN_SLUG = "demo"
GOAL = Decimal("50000.00")
STARTUP_TIMEOUT = 30.0
STOP_TIMEOUT = 10.0
BURST = 12  # donations written at once, so the page has numbers as soon as the worker reads
DEMO_METRICS = {
    "raised": {
        "label": "Raised",
        "aggregation": "sum",
        "value_path": "amount",
        "group_by_path": "platform",
        "decimal_places": 2,
        "is_money": True,
    },
    "gifts": {
        "label": "Gifts",
        "aggregation": "count",
        "group_by_path": "platform",
        "decimal_places": 0,
        "is_money": False,
    },
    "donors": {
        "label": "Donors",
        "aggregation": "count_distinct",
        "value_path": "email",
        "decimal_places": 0,
        "is_money": False,
    },
}


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
    def run_dir(self) -> Path:
        return self.var_dir / "demo"

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.web_port}"

    @property
    def page_url(self) -> str:
        return f"{self.base_url}/c/{CAMPAIGN_SLUG}/"


# --- child processes ------------------------------------------------------------------------------
PR_SET_PDEATHSIG = 1
_LIBC = ctypes.CDLL(None) if sys.platform.startswith("linux") else None


def _die_with_parent() -> None:
    # Runs in the child before exec: if the demo is killed outright (SIGKILL), the kernel sends
    # this child SIGTERM, so nothing outlives it even without our clean-up.
    if _LIBC is not None:
        _LIBC.prctl(PR_SET_PDEATHSIG, signal.SIGTERM)


class Child:
    """A server the demo started, in its own process group (so signals reach its own children)."""

    def __init__(self, name: str, argv: list[str], *, env: dict[str, str], log_path: Path, marker: str):
        self.name = name
        self.marker = marker  # text its command line shows, to recognise it in a later run
        self.log_path = log_path
        with open(log_path, "ab") as log:
            self.process = subprocess.Popen(
                argv,
                env=env,
                cwd=BASE_DIR,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
                preexec_fn=_die_with_parent,
            )

    @property
    def pid(self) -> int:
        return self.process.pid

    def running(self) -> bool:
        return self.process.poll() is None or group_alive(self.pid)

    def signal(self, sig: int) -> None:
        try:
            os.killpg(self.pid, sig)
        except ProcessLookupError:
            pass

    def log_tail(self, lines: int = 15) -> str:
        try:
            text = self.log_path.read_text(errors="replace").splitlines()[-lines:]
        except OSError:
            return ""
        return "\n".join("    " + line for line in text)


# fmt: off
def redis_server_command(config: DemoConfig) -> list[str]:
    return redis_command(config.redis_port, config.run_dir, daemonize=False, log_to_stdout=True)


def dynamodb_command(config: DemoConfig) -> list[str]:
    return [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(config.dynamodb_port)]


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
        "--host", "127.0.0.1", "--port", str(config.web_port),
        "--lifespan", "off", "--no-access-log",
        # Open SSE streams never end by themselves: without this uvicorn ignores SIGTERM.
        "--timeout-graceful-shutdown", "2",
    ]
# fmt: on


def group_alive(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def stop_children(children: list[Child], timeout: float) -> list[Child]:
    """SIGTERM each process group, wait, then SIGKILL what is left; returns the ones killed."""
    for child in children:
        child.signal(signal.SIGTERM)
    deadline = time.monotonic() + timeout
    while any(child.running() for child in children) and time.monotonic() < deadline:
        time.sleep(0.1)
    killed = [child for child in children if child.running()]
    for child in killed:
        child.signal(signal.SIGKILL)
    for child in children:
        try:
            child.process.wait(5)
        except subprocess.TimeoutExpired:
            pass
    return killed


def command_line(pid: int) -> str | None:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
    except OSError:
        return None


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
        redis_url = config.redis_url or f"redis://127.0.0.1:{config.redis_port}/0"
        dynamodb_url = config.dynamodb_url or f"http://127.0.0.1:{config.dynamodb_port}"
        env = self.child_env(redis_url, dynamodb_url)
        if not config.redis_url:
            self.spawn("redis", redis_server_command(config), env, marker="redis-server")
        if not config.dynamodb_url:
            self.spawn("dynamodb", dynamodb_command(config), env, marker="moto.server")

        os.environ.update(env)  # this process uses the same Redis, database and credentials
        step(f"migrating the database in {config.var_dir}")
        import django
        from django.core.management import call_command

        django.setup()
        call_command("migrate", verbosity=0, interactive=False)

        if not config.redis_url:
            self.wait_for("redis", config.redis_port)
        if not config.dynamodb_url:
            self.wait_for("dynamodb", config.dynamodb_port)
        dynamodb = simulator.dynamodb_resource(region=config.region, endpoint_url=dynamodb_url)
        fresh_table = simulator.ensure_table(dynamodb, config.table)
        step(f"table {config.table} {'created' if fresh_table else 'found'} at {dynamodb_url}")
        ensure_campaign(config, endpoint_url=dynamodb_url, fresh_table=fresh_table)
        self.screens = ensure_screens(config)
        ensure_admin(config.admin_user, config.admin_password)

        self.spawn("worker", worker_command(config), env, marker="celery")
        self.spawn("web", web_command(config), env, marker="uvicorn")

        self.simulator = simulator.Simulator(dynamodb.Table(config.table), rng=random.Random())
        self.simulator_thread = threading.Thread(target=self.simulate, name="simulator", daemon=True)
        self.simulator_thread.start()
        self.wait_for("web", config.web_port)
        self.print_banner(redis_url, dynamodb_url)

    def child_env(self, redis_url: str, dynamodb_url: str) -> dict[str, str]:
        config = self.config
        env = dict(os.environ)
        env.update(
            {
                "REDIS_URL": redis_url,  # every process must share one Redis
                "FUNDRAISER_VAR_DIR": str(config.var_dir),
                "DJANGO_SETTINGS_MODULE": "config.settings",
                "AWS_DEFAULT_REGION": config.region,
                "PYTHONUNBUFFERED": "1",
            }
        )
        # A local demo: debug pages and a key kept in the var dir, unless the caller says otherwise;
        # the campaign may name the demo's own DynamoDB and nothing else.
        env.setdefault("DJANGO_DEBUG", "1")
        env.setdefault("INGEST_ALLOWED_ENDPOINTS", urlsplit(dynamodb_url).netloc)
        if not config.dynamodb_url:
            # moto accepts any credentials; never hand it real ones, nor wait on a profile or SSO.
            for name in ("AWS_SESSION_TOKEN", "AWS_PROFILE"):
                env.pop(name, None)
            env.update(AWS_ACCESS_KEY_ID="demo", AWS_SECRET_ACCESS_KEY="demo")
        else:
            env.setdefault("AWS_ACCESS_KEY_ID", "demo")
            env.setdefault("AWS_SECRET_ACCESS_KEY", "demo")
        return env

    def spawn(self, name: str, argv: list[str], env: dict[str, str], *, marker: str) -> None:
        log_path = self.config.run_dir / f"{name}.log"
        log_path.write_bytes(b"")
        child = Child(name, argv, env=env, log_path=log_path, marker=marker)
        self.children.append(child)
        self.save_state()
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

    # --- leftovers of a run that could not clean up (e.g. killed with SIGKILL) ------------------
    def save_state(self) -> None:
        state = {
            "demo": os.getpid(),
            "children": [{"name": c.name, "pid": c.pid, "marker": c.marker} for c in self.children],
        }
        self.state_path.write_text(json.dumps(state))

    def stop_leftovers(self) -> None:
        try:
            state = json.loads(self.state_path.read_text())
        except (OSError, ValueError):
            return
        demo_pid = state.get("demo")
        if demo_pid and demo_pid != os.getpid() and "devtools.demo" in (command_line(demo_pid) or ""):
            raise DemoError(
                f"another demo is running (pid {demo_pid}) with {self.config.var_dir}; "
                "stop it first (Ctrl-C in its terminal)"
            )
        leftovers = []
        for entry in state.get("children", []):
            pid = int(entry.get("pid", 0))
            if pid > 0 and entry.get("marker", "?") in (command_line(pid) or ""):
                leftovers.append(entry)
                try:
                    os.killpg(pid, signal.SIGTERM)
                except (ProcessLookupError, PermissionError):
                    pass
        deadline = time.monotonic() + STOP_TIMEOUT
        while any(group_alive(e["pid"]) for e in leftovers) and time.monotonic() < deadline:
            time.sleep(0.1)
        for entry in leftovers:
            if group_alive(entry["pid"]):
                os.killpg(entry["pid"], signal.SIGKILL)
        if leftovers:
            step("stopped leftovers of an earlier run: " + ", ".join(e["name"] for e in leftovers))
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
        counts = self.simulator.counts if self.simulator else {}
        wrote = (
            f"simulator wrote {sum(counts.values())} ({counts.get('donation', 0)} gifts, "
            f"{counts.get('correction', 0) + counts.get('fix', 0)} corrections, "
            f"{counts.get('refund', 0)} refunds, {counts.get('malformed', 0)} malformed)"
        )
        elapsed = f"[{time.monotonic() - self.started:5.0f}s]"
        try:
            url = f"{self.config.base_url}/c/{CAMPAIGN_SLUG}/snapshot.json"
            with urllib.request.urlopen(url, timeout=3) as response:
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

    def print_banner(self, redis_url: str, dynamodb_url: str) -> None:
        config = self.config
        redis_note = "" if config.redis_url else " (embedded)"
        dynamodb_note = "" if config.dynamodb_url else " (embedded moto)"
        rule = "─" * 72
        print(
            "\n".join(
                [
                    rule,
                    f"  Live goal page   {config.page_url}",
                    f"  Snapshot JSON    {config.page_url}snapshot.json",
                    "  Display screens (kiosk links, no login)",
                    *(f"    {layout:<14} {url}" for layout, url in self.screens),
                    f"  Admin            {config.base_url}/admin/",
                    f"    username       {config.admin_user}",
                    f"    password       {config.admin_password}",
                    f"  Redis            {redis_url}{redis_note}",
                    f"  DynamoDB         {dynamodb_url}{dynamodb_note}, table {config.table}",
                    f"  Logs             {relative(config.run_dir)}/*.log",
                    "  Ctrl-C stops everything.",
                    rule,
                ]
            ),
            flush=True,
        )

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
        killed = stop_children(apps, STOP_TIMEOUT) + stop_children(stores, STOP_TIMEOUT)
        for child in killed:
            step(f"{child.name} did not stop within {STOP_TIMEOUT:.0f}s and was killed")
        self.state_path.unlink(missing_ok=True)
        step("stopped " + ", ".join(f"{c.name} (pid {c.pid})" for c in self.children))


def ensure_campaign(config: DemoConfig, *, endpoint_url: str, fresh_table: bool) -> None:
    """The demo campaign, its metrics and its headline goal; edits made in the admin are kept."""
    from fundraiser.models import Campaign, Goal, Metric

    source = {
        "table_name": config.table,
        "region": config.region,
        "endpoint_url": endpoint_url,
        "is_active": True,
    }
    campaign, _ = Campaign.objects.update_or_create(
        slug=CAMPAIGN_SLUG,
        defaults=source,
        create_defaults={**source, "name": "Spring Appeal (demo)", "currency": "USD", "goal_amount": GOAL},
    )
    metrics = {
        slug: Metric.objects.get_or_create(campaign=campaign, slug=slug, defaults=fields)[0]
        for slug, fields in DEMO_METRICS.items()
    }
    if campaign.headline_goal_id is None:
        campaign.headline_goal = Goal.objects.create(metric=metrics["raised"], target=GOAL, label="Goal")
        campaign.save(update_fields=["headline_goal"])
    if fresh_table:
        forget_campaign_state(campaign.pk)


def ensure_screens(config: DemoConfig) -> list[tuple[str, str]]:
    """One display screen per layout, with milestones to celebrate; returns (layout, kiosk URL).

    Only a digest of each token is stored, so the tokens are kept in the run directory and reused
    while they still match (a screen's link then survives a restart of the demo).
    """
    from fundraiser.models import Campaign, Milestone, Screen

    campaign = Campaign.objects.get(slug=CAMPAIGN_SLUG)
    if not campaign.donation_url:
        campaign.donation_url = "https://example.org/give"
        campaign.logo_url = f"{config.base_url}/static/dashboard/demo-logo.svg"
        campaign.save(update_fields=["donation_url", "logo_url"])
    if not campaign.milestones.exists():
        for amount, label in (
            (10_000, "First ten thousand"),
            (25_000, "Halfway"),
            (75_000, "Stretch: a new van"),
        ):
            Milestone.objects.create(campaign=campaign, amount=Decimal(amount), label=label)
    saved_path = config.run_dir / "screens.json"
    saved = json.loads(saved_path.read_text()) if saved_path.exists() else {}
    urls = []
    for layout, _ in Screen.LAYOUTS:
        screen = Screen.objects.filter(campaign=campaign, layout=layout).first() or Screen(
            campaign=campaign, name=f"Demo {layout}", layout=layout
        )
        token = saved.get(layout, "")
        if not screen.pk or not token or not screen.token_matches(token) or screen.is_revoked:
            token = screen.issue_token()
            screen.revoked_at = None
            screen.save()
        saved[layout] = token
        urls.append((layout, f"{config.base_url}/s/{token}/"))
    saved_path.write_text(json.dumps(saved))
    saved_path.chmod(0o600)
    return urls


def forget_campaign_state(campaign_id: int) -> None:
    """A new (empty) table: totals kept in Redis from an earlier run's table no longer apply."""
    from ingest.store import Store

    store = Store()
    keys = list(store.redis.scan_iter(match=f"{store.base(campaign_id)}*", count=1000))
    if keys:
        store.redis.delete(*keys)


def ensure_admin(username: str, password: str) -> None:
    from django.contrib.auth import get_user_model

    user, _ = get_user_model().objects.get_or_create(username=username)
    user.is_staff = user.is_superuser = user.is_active = True
    user.set_password(password)
    user.save()


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
