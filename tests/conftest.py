from __future__ import annotations

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


def pytest_collection_modifyitems(config, items):
    """`make test` runs the suite in two processes (pytest -n 2 --dist loadgroup). Browser tests run
    one after another in one of them: each drives Chromium, a web server and often a worker, and
    asserts what a screen shows within a second; two at once on a 2-core machine would measure the
    machine. Every other test goes wherever a process is free."""
    for item in items:
        if item.get_closest_marker("browser"):
            item.add_marker(pytest.mark.xdist_group("browser"))
