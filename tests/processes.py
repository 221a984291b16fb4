"""Real processes for end-to-end tests: a migrated file database, uvicorn, Celery workers."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import requests

from devtools.embedded import free_port, uvicorn_args, wait_for_port

ROOT = Path(__file__).resolve().parent.parent
PYTHON = sys.executable


def process_env(**overrides: str) -> dict[str, str]:
    """Environment for child processes: the test Redis, a private var dir, fast polling."""
    var_dir = overrides.pop("FUNDRAISER_VAR_DIR", None) or tempfile.mkdtemp(prefix="fr-e2e-")
    env = dict(os.environ)
    env.update(
        {  # REDIS_URL stays the test Redis unless overridden
            "DJANGO_SETTINGS_MODULE": "config.settings",
            "FUNDRAISER_VAR_DIR": var_dir,
            "DJANGO_SQLITE_PATH": str(Path(var_dir) / "db.sqlite3"),
            "INGEST_IDLE_POLL_SECONDS": "0.1",
            "INGEST_DISCOVER_SECONDS": "1",
            "INGEST_LEASE_SECONDS": "3",
            "PYTHONUNBUFFERED": "1",
        }
    )
    env.update(overrides)
    return env


def run_django(env: dict[str, str], code: str) -> str:
    """Run Python with Django set up against the child database; returns what it printed."""
    script = "import django; django.setup()\n" + code
    done = subprocess.run(
        [PYTHON, "-c", script], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120
    )
    if done.returncode != 0:
        raise RuntimeError(f"child failed:\n{done.stdout}\n{done.stderr}")
    return done.stdout


def migrate(env: dict[str, str]) -> None:
    subprocess.run([PYTHON, "manage.py", "migrate", "-v", "0"], cwd=ROOT, env=env, check=True, timeout=120)


def seed_campaign(
    env: dict[str, str], *, endpoint_url: str, table_name: str = "Donations", slug: str = "gala"
) -> int:
    out = run_django(
        env,
        (
            "from tests.factories import make_campaign\n"
            f"c = make_campaign(endpoint_url={endpoint_url!r}, table_name={table_name!r}, slug={slug!r})\n"
            "print(c.pk)\n"
        ),
    )
    return int(out.strip().splitlines()[-1])


class Child:
    """A child process in its own process group, with its output kept in a log file."""

    def __init__(self, name: str, args: list[str], env: dict[str, str]):
        self.name = name
        self.log_path = Path(env["FUNDRAISER_VAR_DIR"]) / f"{name}.log"
        self.log = open(self.log_path, "w")  # noqa: SIM115 - closed in stop()
        self.process = subprocess.Popen(
            args, cwd=ROOT, env=env, stdout=self.log, stderr=subprocess.STDOUT, start_new_session=True
        )

    def alive(self) -> bool:
        return self.process.poll() is None

    def signal(self, sig: int) -> None:
        if self.alive():
            os.killpg(self.process.pid, sig)

    def stop(self, timeout: float = 15) -> int | None:
        self.signal(signal.SIGTERM)
        try:
            self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            self.signal(signal.SIGKILL)
            self.process.wait(5)
        self.log.close()
        return self.process.returncode

    def output(self) -> str:
        if not self.log.closed:
            self.log.flush()
        return self.log_path.read_text(errors="replace")


def start_web(env: dict[str, str], port: int | None = None) -> tuple[Child, str]:
    port = port or free_port()
    child = Child(
        "web",
        [PYTHON, *uvicorn_args("config.asgi:application", port, graceful_seconds=2)],
        env,
    )
    try:
        wait_for_port("127.0.0.1", port, timeout=30)
    except RuntimeError:
        child.stop()
        raise RuntimeError(f"web server did not start:\n{child.output()}") from None
    return child, f"http://127.0.0.1:{port}"


def start_worker(env: dict[str, str], name: str = "worker", *, beat: bool = True) -> Child:
    args = [
        PYTHON,
        "-m",
        "celery",
        "-A",
        "config",
        "worker",
        "-Q",
        "ingest,celery",
        "--pool",
        "threads",
        "-c",
        "2",
        "-n",
        f"{name}@%h",
        "--loglevel",
        "INFO",
    ]
    if beat:
        args += ["-B", "-s", str(Path(env["FUNDRAISER_VAR_DIR"]) / f"{name}-beat-schedule")]
    return Child(name, args, env)


class SSEClient:
    """Reads a server-sent events stream on a thread and keeps every event it receives."""

    def __init__(self, url: str):
        self.url = url
        self.events: list[tuple[str, dict | str]] = []
        self.connected = threading.Event()
        self._stop = threading.Event()
        self._response: requests.Response | None = None
        self._thread = threading.Thread(target=self._read, daemon=True)
        self._thread.start()

    def _read(self) -> None:
        try:
            self._consume()
        except (requests.RequestException, AttributeError, OSError):
            if not self._stop.is_set():  # closing the response mid-read ends the loop this way
                raise

    def _consume(self) -> None:
        with requests.get(
            self.url, stream=True, timeout=(5, 60), headers={"Accept": "text/event-stream"}
        ) as response:
            self._response = response
            response.raise_for_status()
            self.connected.set()
            event_type, data = "message", []
            for line in response.iter_lines(decode_unicode=True):
                if self._stop.is_set():
                    return
                if line == "":
                    if data:
                        payload = "\n".join(data)
                        try:
                            parsed: dict | str = json.loads(payload)
                        except ValueError:
                            parsed = payload
                        self.events.append((event_type, parsed))
                    event_type, data = "message", []
                elif line.startswith("event:"):
                    event_type = line[6:].strip()
                elif line.startswith("data:"):
                    data.append(line[5:].lstrip())

    def updates(self) -> list[dict]:
        return [data for kind, data in self.events if kind == "update" and isinstance(data, dict)]

    def close(self) -> None:
        self._stop.set()
        if self._response is not None:
            self._response.close()


def wait_until(predicate, timeout: float, interval: float = 0.1, message: str = "condition"):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout}s waiting for {message}")
