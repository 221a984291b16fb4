"""Redis loses everything while the worker runs: noticed, rebuilt, and no wrong total on screen."""

from __future__ import annotations

import time
from decimal import Decimal

import pytest
import redis
import requests

from tests.e2e.expect import expected_payload, shown
from tests.processes import SSEClient, wait_until

pytestmark = pytest.mark.e2e


def test_a_flushed_redis_is_rebuilt_within_ten_seconds_and_never_shows_a_wrong_total(stack, request):
    table, base_url, _children = stack
    for i in range(40):
        table.put_item(
            Item={
                "id": f"d{i}",
                "email": f"donor{i % 7}@test.com",
                "platform": ["Facebook", "Phone", "Website"][i % 3],
                "amount": Decimal(10 + i) + Decimal("0.25"),
            }
        )
    expected = expected_payload(table)

    def snapshot() -> dict:
        return requests.get(f"{base_url}/c/gala/snapshot.json", timeout=5).json()

    wait_until(lambda: shown(snapshot()["metrics"]) == expected, 30, message="the first numbers")
    sse = SSEClient(f"{base_url}/c/gala/events/")
    try:
        assert sse.connected.wait(10)
        flushed = time.monotonic()
        redis.Redis.from_url(request.node.redis_server.url).flushall()

        seen: list[dict] = []

        def recovered() -> bool:
            body = snapshot()
            seen.append(body)
            return body["status"] == "live" and shown(body["metrics"]) == expected

        wait_until(recovered, 10, interval=0.2, message="the rebuilt numbers within 10 s")
        recovered_after = time.monotonic() - flushed
        wait_until(
            lambda: any(u["status"] == "recalculating" for u in sse.updates()),
            5,
            message="an SSE event saying the numbers are being recalculated",
        )
        wait_until(
            lambda: sse.updates() and sse.updates()[-1]["status"] == "live", 5, message="a live SSE event"
        )
    finally:
        sse.close()

    print(f"recovered {recovered_after:.1f}s after the flush; {len(seen)} snapshots looked at")
    assert any(body["status"] == "recalculating" for body in seen + sse.updates())
    for body in seen + sse.updates():
        if body["status"] == "recalculating":
            assert body["metrics"] == {}, "a recalculating screen is given no numbers at all"
        else:  # whatever is shown as live is the right total: never zeros, never half-built
            assert shown(body["metrics"]) == {k: v for k, v in expected.items() if k in body["metrics"]}
    states = [u["status"] for u in sse.updates()]
    assert states.index("recalculating") < len(states) - 1 - states[::-1].index("live")
