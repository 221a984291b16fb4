"""A whole stack per test: moto server, its own Redis, Celery worker processes and uvicorn."""

from __future__ import annotations

import pytest

from devtools.embedded import EmbeddedRedis
from tests.factories import make_table
from tests.processes import migrate, process_env, seed_campaign, start_web, start_worker


@pytest.fixture
def stack(moto, request):
    workers = getattr(request, "param", 1)
    table = make_table(moto.url)
    redis_server = EmbeddedRedis().start()  # its own server: nothing of an earlier test can leak in
    request.addfinalizer(redis_server.close)
    env = process_env(INGEST_CONSUMERS=str(workers), REDIS_URL=redis_server.url)
    migrate(env)
    seed_campaign(env, endpoint_url=moto.url)
    children = [start_worker(env, f"worker{i}", beat=(i == 0)) for i in range(workers)]
    web, base_url = start_web(env)
    children.append(web)
    request.node.redis_server = redis_server
    yield table, base_url, children
    for child in children:
        child.stop()
        print(f"----- {child.name} -----\n{child.output()[-6000:]}")  # shown when a test fails
