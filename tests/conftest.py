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
