"""A real web server (uvicorn) over a seeded file database, and headless Chromium, for page tests."""

from __future__ import annotations

import os
import pickle
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from django.conf import settings

from devtools.embedded import free_port, wait_for_port
from ingest.config import CampaignConfig
from ingest.consumer import Consumer
from ingest.ports import NO_ORGANIZER_INPUT

ROOT = Path(__file__).resolve().parents[2]
ARTIFACTS = ROOT / "artifacts"
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-quic",
    "--no-first-run",
    "--disable-component-update",
    "--disable-sync",
]

# Runs in a child process against the web server's database (pytest-django's test database is
# invisible to other processes). It hands back the campaign's config, pickled, so the consumer in
# the test process reads the table exactly as a worker configured from that database would.
SEED_SCRIPT = """
import pickle, sys
import django
django.setup()
from fundraiser.selectors import campaign_config
from tests.factories import make_campaign
campaign = make_campaign(endpoint_url=sys.argv[1])
sys.stdout.write(pickle.dumps(campaign_config(campaign)).hex())
"""


class WebServer:
    """uvicorn serving config.asgi over its own migrated SQLite file, on a fixed port."""

    def __init__(self, workdir: Path, env: dict[str, str]):
        self.workdir = workdir
        self.env = env
        self.port = free_port()
        self.process: subprocess.Popen | None = None
        self.log_path = workdir / "web.log"

    def url(self, path: str = "/") -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def start(self) -> WebServer:
        with open(self.log_path, "a") as log:
            self.process = subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "uvicorn",
                    "config.asgi:application",
                    "--host",
                    "127.0.0.1",
                    "--port",
                    str(self.port),
                    "--timeout-graceful-shutdown",
                    "1",
                    "--log-level",
                    "warning",
                ],
                cwd=ROOT,
                env=self.env,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        try:
            wait_for_port("127.0.0.1", self.port, timeout=30)
        except RuntimeError:
            self.stop()
            raise RuntimeError(f"uvicorn did not start:\n{self.log()}") from None
        return self

    def stop(self) -> None:
        if self.process is None:
            return
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait(5)
        self.process = None

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""


def child_env(workdir: Path) -> dict[str, str]:
    env = dict(os.environ)
    env.update(
        {
            "REDIS_URL": settings.REDIS_URL,  # the test run's own Redis: children read what tests write
            "DJANGO_SETTINGS_MODULE": "config.settings",
            "FUNDRAISER_VAR_DIR": str(workdir),
            "DJANGO_SQLITE_PATH": str(workdir / "db.sqlite3"),
            "PYTHONUNBUFFERED": "1",
        }
    )
    return env


def seed_database(env: dict[str, str], endpoint_url: str) -> CampaignConfig:
    subprocess.run(
        [sys.executable, "manage.py", "migrate", "-v", "0"], cwd=ROOT, env=env, check=True, timeout=120
    )
    done = subprocess.run(
        [sys.executable, "-c", SEED_SCRIPT, endpoint_url],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    if done.returncode != 0:
        raise RuntimeError(f"seeding failed:\n{done.stdout}\n{done.stderr}")
    return pickle.loads(bytes.fromhex(done.stdout.strip()))


class Site:
    def __init__(self, server: WebServer, config: CampaignConfig):
        self.server = server
        self.config = config

    def url(self, path: str) -> str:
        return self.server.url(path)

    @property
    def page_url(self) -> str:
        return self.url(f"/c/{self.config.slug}/")


@pytest.fixture(scope="module")
def site(moto_server):
    """The campaign of tests.factories.make_campaign, served by uvicorn; its table lives in moto."""
    workdir = Path(tempfile.mkdtemp(prefix="fr-web-"))
    env = child_env(workdir)
    config = seed_database(env, moto_server.url)
    server = WebServer(workdir, env).start()
    try:
        yield Site(server, config)
    finally:
        server.stop()


def headless_chromium():
    """Debian's Chromium through Playwright, for a browser fixture (skipped without it)."""
    if not Path(CHROMIUM).exists():
        pytest.skip(f"{CHROMIUM} is not installed")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        yield browser
        browser.close()


@pytest.fixture(scope="module")
def browser():
    yield from headless_chromium()


@pytest.fixture
def page(browser):
    context = browser.new_context(viewport={"width": 1920, "height": 1080})
    page = context.new_page()
    yield page
    context.close()


@pytest.fixture
def consumer(site, store):
    """A real stream consumer, in this process, for the campaign the web server shows."""
    consumer = Consumer(
        store=store,
        consumer_id="page-test",
        load_configs=lambda: [site.config],
        organizer=NO_ORGANIZER_INPUT,  # the campaign is in the web server's database, not the test's
    )
    yield consumer
    consumer.release_all()


def consume_until(consumer: Consumer, done: Callable[[], bool], timeout: float = 15.0) -> None:
    """Step the consumer (which applies batches and publishes `update` events) until done()."""
    deadline = time.monotonic() + timeout
    while not done():
        if time.monotonic() > deadline:
            raise AssertionError("the consumer did not get there in time")
        time.sleep(min(consumer.step(), 0.05))
