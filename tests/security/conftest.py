"""A real web server (uvicorn, DEBUG off) for the stream tests: two campaigns and two screens."""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.dashboard.conftest import ROOT, WebServer, child_env
from tests.processes import run_django
from tests.screens.conftest import RawStream

STREAMS_PER_CLIENT = 4

SEED_SCRIPT = """
import json
import django
django.setup()
from fundraiser.models import Screen
from tests.factories import make_campaign

gala = make_campaign(slug="gala")
shown = make_campaign(slug="open-gala")
shown.public_ticker = True
shown.save()
tokens = {}
for name, show_ticker in [("with-ticker", True), ("no-ticker", False)]:
    screen = Screen(campaign=gala, name=name, show_ticker=show_ticker)
    tokens[name] = screen.issue_token()
    screen.save()
print(json.dumps(tokens))
"""


@dataclass
class LiveSite:
    server: WebServer
    env: dict[str, str]
    tokens: dict[str, str]

    def url(self, path: str) -> str:
        return self.server.url(path)

    def run_django(self, code: str) -> str:
        return run_django(self.env, code)


@pytest.fixture(scope="module")
def live_site():
    workdir = Path(tempfile.mkdtemp(prefix="fr-security-"))
    env = child_env(workdir)
    env["STREAMS_PER_CLIENT"] = str(STREAMS_PER_CLIENT)
    subprocess.run(
        [sys.executable, "manage.py", "migrate", "-v", "0"], cwd=ROOT, env=env, check=True, timeout=120
    )
    done = subprocess.run(
        [sys.executable, "-c", SEED_SCRIPT], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120
    )
    if done.returncode != 0:
        raise RuntimeError(f"seeding failed:\n{done.stdout}\n{done.stderr}")
    server = WebServer(workdir, env).start()
    try:
        yield LiveSite(server, env, json.loads(done.stdout.strip().splitlines()[-1]))
    finally:
        server.stop()


def opened(url: str) -> RawStream:
    stream = RawStream(url)
    assert stream.opened.wait(10), f"{url} did not open:\n{bytes(stream.raw)[:300]!r}"
    return stream


def ends_within(stream: RawStream, seconds: float) -> bool:
    """True once the server has ended the response (the reader saw the connection close)."""
    stream._thread.join(seconds)
    return not stream._thread.is_alive()


def wait_for(predicate, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.05)
