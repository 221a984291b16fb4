from __future__ import annotations

import pytest
from django.conf import settings

from ingest.store import get_redis


@pytest.fixture
def redis_client():
    client = get_redis()
    client.flushdb()
    yield client
    client.flushdb()


@pytest.fixture
def store(redis_client):
    from ingest.store import Store

    return Store(redis_client, prefix=settings.REDIS_KEY_PREFIX)
