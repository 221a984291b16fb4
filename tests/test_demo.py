"""`make demo` end to end: the real command on free ports, with its own var directory."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import threading
import time
from decimal import Decimal
from pathlib import Path

import pytest
import requests

from devtools.embedded import free_port

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.timeout(120),
    pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc"),
]

REPO = Path(__file__).resolve().parent.parent


class DemoRun:
    """`python -m devtools.demo` as a child, with its output collected as it comes."""

    def __init__(self, env: dict[str, str]):
        self.process = subprocess.Popen(
            [sys.executable, "-m", "devtools.demo"],
            cwd=REPO,
            env=env,
            text=True,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        self.lines: list[str] = []
        threading.Thread(target=self._collect, daemon=True).start()

    def _collect(self) -> None:
        for line in self.process.stdout:
            self.lines.append(line.rstrip("\n"))

    @property
    def output(self) -> str:
        return "\n".join(self.lines)

    def wait_for(self, pattern: str, timeout: float) -> str:
        deadline = time.monotonic() + timeout
        while (match := re.search(pattern, self.output, re.MULTILINE)) is None:
            if self.process.poll() is not None:
                time.sleep(0.2)  # let the reader catch the last lines
                pytest.fail(f"the demo exited with {self.process.returncode}:\n{self.output}")
            if time.monotonic() > deadline:
                pytest.fail(f"no {pattern!r} after {timeout:.0f}s:\n{self.output}")
            time.sleep(0.1)
        return match.group(1)

    def child_pids(self) -> list[int]:
        return [int(pid) for pid in re.findall(r"started \w+\s+pid (\d+)", self.output)]

    def kill_everything(self) -> None:
        for pgid in [self.process.pid, *self.child_pids()]:
            try:
                os.killpg(pgid, signal.SIGKILL)
            except (ProcessLookupError, PermissionError):
                pass


def distinct_free_ports(count: int) -> list[int]:
    ports: set[int] = set()
    while len(ports) < count:
        ports.add(free_port())
    return sorted(ports)


def processes_in_groups(pgids: set[int]) -> list[str]:
    """Live (non-zombie) processes whose process group is one the demo created."""
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            text = stat.read_text()
        except OSError:
            continue  # it ended while we looked
        state, _ppid, pgrp = text.rsplit(")", 1)[1].split()[:3]
        if int(pgrp) in pgids and state != "Z":
            found.append(text[:120])
    return found


def raised_total(snapshot_url: str) -> Decimal:
    response = requests.get(snapshot_url, timeout=5)
    response.raise_for_status()
    metrics = response.json()["metrics"]
    if "raised" not in metrics:  # still recalculating (the first backfill): no number shown yet
        return Decimal(0)
    return Decimal(metrics["raised"]["total"])


def wait_until(condition, timeout: float, what: str):
    deadline = time.monotonic() + timeout
    while True:
        try:
            value = condition()
        except requests.RequestException:
            value = None
        if value:
            return value
        if time.monotonic() > deadline:
            pytest.fail(f"{what} within {timeout:.0f}s")
        time.sleep(0.25)


def log_in(base_url: str, username: str, password: str) -> requests.Session:
    session = requests.Session()
    login_url = f"{base_url}/admin/login/"
    session.get(login_url, timeout=5).raise_for_status()
    response = session.post(
        login_url,
        timeout=5,
        headers={"Referer": login_url},
        data={
            "username": username,
            "password": password,
            "next": "/admin/",
            "csrfmiddlewaretoken": session.cookies["csrftoken"],
        },
    )
    assert response.status_code == 200
    assert response.url == f"{base_url}/admin/", "the printed admin credentials did not log in"
    return session


def test_the_demo_shows_a_moving_total_takes_the_printed_login_and_stops_every_process(tmp_path):
    web_port, redis_port, dynamodb_port = distinct_free_ports(3)
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in ("REDIS_URL", "DYNAMODB_ENDPOINT_URL") and not k.startswith("DEMO_")
    }
    env.update(
        DEMO_WEB_PORT=str(web_port),
        DEMO_REDIS_PORT=str(redis_port),
        DEMO_DYNAMODB_PORT=str(dynamodb_port),
        FUNDRAISER_VAR_DIR=str(tmp_path),
        DEMO_STATUS_SECONDS="0",
    )
    demo = DemoRun(env)
    try:
        page_url = demo.wait_for(r"Live goal page\s+(\S+)", timeout=45)
        username = demo.wait_for(r"username\s+(\S+)", timeout=1)
        password = demo.wait_for(r"password\s+(\S+)", timeout=1)
        base_url = f"http://127.0.0.1:{web_port}"
        assert page_url == f"{base_url}/c/demo/"
        snapshot_url = f"{page_url}snapshot.json"

        first = wait_until(lambda: raised_total(snapshot_url), 15, "the total did not become non-zero")
        wait_until(lambda: raised_total(snapshot_url) != first, 15, f"the total stayed at {first}")

        page = requests.get(page_url, timeout=5)
        assert page.status_code == 200 and "Spring Appeal (demo)" in page.text
        admin = log_in(base_url, username, password)
        campaigns = admin.get(f"{base_url}/admin/fundraiser/campaign/", timeout=5)
        assert campaigns.status_code == 200 and "Spring Appeal (demo)" in campaigns.text

        children = set(demo.child_pids())
        assert len(children) == 4, demo.output  # redis, dynamodb, worker, web
        demo.process.send_signal(signal.SIGINT)
        assert demo.process.wait(40) == 0, demo.output
        # Checked at once: the demo waits for every process group it made before it exits.
        survivors = processes_in_groups(children)
        assert not survivors, "\n".join([*survivors, demo.output])
    finally:
        demo.kill_everything()
