"""REDIS_URL unset: settings start nothing on import; each entry point starts the embedded Redis."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import pytest

from devtools.embedded import free_port, port_open
from tests.processes import ROOT

ENTRY_POINTS = {
    "manage.py": ["manage.py", "check"],
    "asgi": ["-c", "import config.asgi"],
    "wsgi": ["-c", "import config.wsgi"],
    "celery": ["-c", "from config.celery import app; print(app.conf.broker_url)"],
}


@pytest.fixture
def local_env(tmp_path):
    """A fresh machine's environment: no REDIS_URL, DEBUG for local development, a free port."""
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DJANGO_", "REDIS_", "CELERY_"))}
    env.update(
        DJANGO_SETTINGS_MODULE="config.settings",
        DJANGO_DEBUG="1",
        FUNDRAISER_VAR_DIR=str(tmp_path),
        EMBEDDED_REDIS_PORT=str(port),
    )
    yield env
    pidfile = tmp_path / f"redis-{port}.pid"
    if pidfile.exists():  # the daemonized server an entry point started
        os.kill(int(pidfile.read_text()), signal.SIGTERM)


def run(env: dict[str, str], *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, *args], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120
    )


def test_importing_the_settings_starts_no_process_and_names_the_embedded_redis(local_env):
    port = local_env["EMBEDDED_REDIS_PORT"]
    done = run(local_env, "-c", "from django.conf import settings; print(settings.REDIS_URL)")
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == f"redis://127.0.0.1:{port}/0"
    time.sleep(0.3)
    assert not port_open("127.0.0.1", int(port))


def test_a_bad_embedded_redis_port_stops_the_settings_with_its_name(local_env):
    done = run({**local_env, "EMBEDDED_REDIS_PORT": "sixty"}, "manage.py", "check")
    assert done.returncode != 0 and "EMBEDDED_REDIS_PORT='sixty' is not a whole number" in done.stderr


@pytest.mark.parametrize("entry_point", ENTRY_POINTS)
def test_each_entry_point_starts_the_embedded_redis_when_redis_url_is_unset(local_env, entry_point):
    done = run(local_env, *ENTRY_POINTS[entry_point])
    assert done.returncode == 0, done.stderr
    assert port_open("127.0.0.1", int(local_env["EMBEDDED_REDIS_PORT"]))
