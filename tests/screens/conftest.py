"""Display screens served by uvicorn over a seeded file database, driven in headless Chromium.

The campaign is tests.factories.make_campaign's (goal $1,000) plus what screens use: milestones at
$250, $500 and $1,500 (a stretch goal), a donation URL, a logo, an end time, one screen per layout
(and a second thermometer) and an organizer account for the admin.
"""

from __future__ import annotations

import pickle
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from urllib.parse import urlsplit

import pytest
import redis

from ingest.consumer import Consumer
from ingest.ports import NO_ORGANIZER_INPUT
from tests.background import Worker
from tests.dashboard.conftest import ARTIFACTS, ROOT, WebServer, child_env, headless_chromium
from tests.factories import aggregates_settled
from tests.streamsim import StreamSim, stream_caught_up

SCREENSHOTS = ARTIFACTS / "screens"
ADMIN_USER, ADMIN_PASSWORD = "organizer", "organizer-password-1"
MILESTONES = [("250", "A quarter there"), ("500", "Halfway"), ("1500", "Stretch: a new van")]

SEED_SCRIPT = """
import datetime as dt, pickle, sys
from decimal import Decimal
import django
django.setup()
from django.contrib.auth import get_user_model
from django.utils import timezone
from fundraiser.models import Milestone, Screen
from fundraiser.selectors import campaign_config
from tests.factories import make_campaign

endpoint_url, logo_url, milestones = sys.argv[1], sys.argv[2], eval(sys.argv[3])
campaign = make_campaign(endpoint_url=endpoint_url)
campaign.donation_url = "https://give.example.org/spring-gala"
campaign.logo_url = logo_url
campaign.anonymous_path = "anonymous"
campaign.ends_at = timezone.now() + dt.timedelta(hours=2, minutes=14)
campaign.save()
for amount, label in milestones:
    Milestone.objects.create(campaign=campaign, amount=Decimal(amount), label=label)
tokens, ids = {}, {}
for name, layout in [("thermometer", "thermometer"), ("breakdown", "breakdown"),
                     ("leaderboard", "leaderboard"), ("split", "split"),
                     ("thermometer-2", "thermometer")]:
    screen = Screen(campaign=campaign, name=name, layout=layout)
    tokens[name] = screen.issue_token()
    screen.save()
    ids[name] = screen.pk
get_user_model().objects.create_superuser(sys.argv[4], "organizer@example.org", sys.argv[5])
sys.stdout.write(pickle.dumps({"config": campaign_config(campaign), "tokens": tokens, "ids": ids}).hex())
"""


@dataclass
class KioskSite:
    server: WebServer
    config: object  # fundraiser.selectors.CampaignConfig
    tokens: dict[str, str]
    ids: dict[str, int]
    env: dict[str, str]

    def url(self, path: str) -> str:
        return self.server.url(path)

    def screen_url(self, name: str, suffix: str = "") -> str:
        return self.url(f"/s/{self.tokens[name]}/{suffix}")

    def run_django(self, code: str) -> str:
        """Run Python against the web server's database (the test database is another one)."""
        script = "import django; django.setup()\n" + code
        done = subprocess.run(
            [sys.executable, "-c", script],
            cwd=ROOT,
            env=self.env,
            capture_output=True,
            text=True,
            timeout=120,
        )
        if done.returncode != 0:
            raise RuntimeError(f"child failed:\n{done.stdout}\n{done.stderr}")
        return done.stdout


@pytest.fixture(scope="module")
def kiosk(moto_server):
    workdir = Path(tempfile.mkdtemp(prefix="fr-screens-"))
    env = child_env(workdir)
    server = WebServer(workdir, env)  # its port is known now: the logo URL points at it
    subprocess.run(
        [sys.executable, "manage.py", "migrate", "-v", "0"], cwd=ROOT, env=env, check=True, timeout=120
    )
    done = subprocess.run(
        [
            sys.executable,
            "-c",
            SEED_SCRIPT,
            moto_server.url,
            server.url("/static/dashboard/demo-logo.svg"),
            repr(MILESTONES),
            ADMIN_USER,
            ADMIN_PASSWORD,
        ],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    if done.returncode != 0:
        raise RuntimeError(f"seeding failed:\n{done.stdout}\n{done.stderr}")
    seeded = pickle.loads(bytes.fromhex(done.stdout.strip()))
    server.start()
    try:
        yield KioskSite(server, seeded["config"], seeded["tokens"], seeded["ids"], env)
    finally:
        server.stop()


@pytest.fixture(scope="module")
def browser():
    yield from headless_chromium()


@pytest.fixture
def open_page(browser):
    """open_page(url, width=1920, height=1080, reduced_motion=None, init=None) -> a Page, closed after."""
    contexts = []

    def open_(
        url: str | None = None,
        *,
        width: int = 1920,
        height: int = 1080,
        reduced_motion: str | None = None,
        init: str | None = None,
    ):
        context = browser.new_context(
            viewport={"width": width, "height": height}, reduced_motion=reduced_motion or "no-preference"
        )
        contexts.append(context)
        page = context.new_page()
        page.dialogs = []
        page.on("dialog", lambda dialog: (page.dialogs.append(dialog.message), dialog.dismiss()))
        if init:
            page.add_init_script(init)
        if url:
            page.goto(url)
        return page

    yield open_
    for context in contexts:
        context.close()


@pytest.fixture
def consumer(kiosk, store):
    """A real stream consumer, in this process, for the campaign the screens show."""
    consumer = Consumer(
        store=store,
        consumer_id="screens-test",
        load_configs=lambda: [kiosk.config],
        organizer=NO_ORGANIZER_INPUT,  # the campaign is in the web server's database, not the test's
    )
    yield consumer
    consumer.release_all()


def step_until(consumer: Consumer, done: Callable[[], bool], timeout: float = 15.0) -> None:
    """Step the consumer (it applies batches and publishes) until done(); rides out Redis restarts."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            if done():
                return
            pause = consumer.step()
        except redis.ConnectionError:
            pause = 0.1
        if time.monotonic() > deadline:
            raise AssertionError("the consumer did not get there in time")
        time.sleep(min(pause, 0.05))


def raised_minor(store, config) -> int:
    metrics = store.snapshot(config.id, ["raised"]).metrics
    return metrics["raised"].total if "raised" in metrics else 0  # 0 until the first backfill


class Donations:
    """Writes gifts into the table and steps the consumer until they are counted."""

    def __init__(self, table, consumer, store, config):
        self.table, self.consumer, self.store, self.config = table, consumer, store, config
        self.count = 0

    def give(self, *gifts: dict) -> float:
        """Write the gifts; returns the monotonic time just before the first write."""
        before = raised_minor(self.store, self.config)
        items = []
        for gift in gifts:
            self.count += 1
            items.append(
                {
                    "id": f"gift-{self.count}",
                    "email": f"donor{self.count}@mail.test",
                    "platform": "Website",
                    **gift,
                }
            )
        started = time.monotonic()
        for item in items:
            self.table.put_item(Item=item)
        expected = before + sum(int(Decimal(str(item["amount"])) * 100) for item in items)
        step_until(self.consumer, lambda: raised_minor(self.store, self.config) == expected)
        return started


class RawStream:
    """Every byte of an SSE response body, as sent (to assert on what never leaves the server).

    A plain socket with a short timeout, so that close() returns at once (a blocking read in
    requests would hold it until the next keep-alive).
    """

    def __init__(self, url: str):
        parts = urlsplit(url)
        self.raw = bytearray()
        self.opened = threading.Event()
        self._stop = threading.Event()
        self._sock = socket.create_connection((parts.hostname, parts.port), timeout=5)
        self._sock.sendall(
            f"GET {parts.path} HTTP/1.1\r\nHost: {parts.netloc}\r\nAccept: text/event-stream\r\n"
            "Connection: close\r\n\r\n".encode()
        )
        self._sock.settimeout(0.2)
        self._thread = threading.Thread(target=self._read, daemon=True)
        self._thread.start()

    def _read(self) -> None:
        while not self._stop.is_set():
            try:
                chunk = self._sock.recv(65536)
            except TimeoutError:
                continue
            except OSError:
                return
            if not chunk:
                return
            self.raw.extend(chunk)
            if b"stream-open" in self.raw:
                self.opened.set()

    def text(self) -> str:
        """The body, chunked transfer encoding undone (a string split across chunks still shows)."""
        head, _, body = bytes(self.raw).partition(b"\r\n\r\n")
        if b"chunked" not in head.lower():
            return body.decode(errors="replace")
        out = bytearray()
        while body:
            size_line, _, rest = body.partition(b"\r\n")
            size = int(size_line.split(b";")[0] or b"0", 16)
            if size == 0:
                break
            out.extend(rest[:size])
            body = rest[size + 2 :]
        return out.decode(errors="replace")

    def close(self) -> None:
        self._stop.set()
        self._thread.join(2)
        self._sock.close()


# --- a busy night: the campaign's table simulated in this process, gifts from a thread ----------
@pytest.fixture
def sim(kiosk, monkeypatch):
    """The campaign's table and its stream (tests/streamsim.py) in place of moto, for the consumer
    in this process: cheap enough to take ten gifts a second beside several browsers."""
    simulated = StreamSim(endpoint_url=kiosk.config.endpoint_url, shards=2, seed=14)
    simulated.install(monkeypatch)
    return simulated


@pytest.fixture
def worker(consumer):
    """The consumer, to run in a thread (start() it); stopped after the test, even a failed one."""
    running = Worker(consumer)
    yield running
    running.stop()


def settle(consumer: Consumer, store, config, sim: StreamSim, timeout: float = 60.0) -> None:
    """Step the consumer until the campaign is live and every record of the stream is counted."""
    step_until(
        consumer,
        lambda: aggregates_settled(store, config.id) and stream_caught_up(store, config.id, sim),
        timeout=timeout,
    )
