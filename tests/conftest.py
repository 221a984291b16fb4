from __future__ import annotations

import re
from pathlib import Path

import pytest
from django.conf import settings

from ingest.store import get_redis


@pytest.fixture
def redis_client():
    from ingest import ticker

    client = get_redis()
    client.flushdb()
    ticker.forget_seen()  # a worker's memory of recent gifts belongs to the Redis it wrote them to
    yield client
    client.flushdb()
    ticker.forget_seen()


@pytest.fixture
def store(redis_client):
    from ingest.store import Store

    return Store(redis_client, prefix=settings.REDIS_KEY_PREFIX)


@pytest.fixture(scope="session")
def moto_server():
    from devtools.embedded import MotoServer

    server = MotoServer().start()
    yield server
    server.stop()


@pytest.fixture
def moto(moto_server):
    moto_server.reset()
    return moto_server


# `make test` runs the suite in two processes (pytest -n 2). Browser tests run one after another in
# one of them: each drives Chromium, a web server and often a worker, and asserts what a screen shows
# within a second; two at once on a 2-core machine would measure the machine. The controller, which
# decides, sees only test ids, so a browser test is known by its file: a file that names the marker.
# (xdist's own `--dist loadgroup` does not group under pytest 9.2: pytest-dev/pytest-xdist#1386.)
BROWSER_MARK = re.compile(r"\bmark\.browser\b")


def browser_test_files(root: Path) -> frozenset[str]:
    """The test files holding browser tests, as test ids name them (relative to the root)."""
    return frozenset(
        path.relative_to(root).as_posix()
        for path in (root / "tests").rglob("test_*.py")
        if BROWSER_MARK.search(path.read_text())
    )


def pytest_xdist_make_scheduler(config, log):
    from xdist.scheduler import LoadScopeScheduling

    files = browser_test_files(config.rootpath)

    class BrowserTestsTogether(LoadScopeScheduling):
        """Every browser test in one unit of work (given first, as the largest); every other test
        a unit of its own, to whichever process is free."""

        def _split_scope(self, nodeid: str) -> str:
            return "browser tests" if nodeid.split("::", 1)[0] in files else nodeid

    return BrowserTestsTogether(config, log)


def pytest_collection_modifyitems(config, items):
    """A browser test whose file does not name the marker (a marker from a fixture or a conftest)
    would escape the grouping above: refuse the run rather than measure the machine."""
    files = browser_test_files(config.rootpath)
    for item in items:
        if item.get_closest_marker("browser") and item.nodeid.split("::", 1)[0] not in files:
            raise pytest.UsageError(
                f"{item.nodeid}: a browser test must name pytest.mark.browser in its file"
            )
