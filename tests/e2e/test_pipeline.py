"""DynamoDB (moto server) → Celery worker process → Redis → uvicorn SSE → client, for real."""

from __future__ import annotations

from decimal import Decimal

import pytest
import requests

from ingest.metrics import MetricSpec, recount
from tests.embedded import EmbeddedRedis
from tests.factories import make_table, scan_all
from tests.processes import (
    SSEClient,
    migrate,
    process_env,
    seed_campaign,
    start_web,
    start_worker,
    wait_until,
)

pytestmark = pytest.mark.e2e

SPECS = (  # what tests.factories.make_campaign configures
    MetricSpec.build(slug="raised", aggregation="sum", value_path="amount", group_path="platform",
                     decimal_places=2),
    MetricSpec.build(slug="gifts", aggregation="count", group_path="platform"),
    MetricSpec.build(slug="donors", aggregation="count_distinct", value_path="email"),
)


def as_text(values: dict[str, int], places: int) -> dict[str, str]:
    return {name: f"{Decimal(v).scaleb(-places):.{places}f}" for name, v in values.items()}


def expected_payload(table) -> dict:
    """The snapshot's metrics as a recount of the table would show them."""
    counted = recount(SPECS, scan_all(table))
    out = {}
    for spec in SPECS:
        places = spec.decimal_places
        out[spec.slug] = {
            "total": as_text({"t": counted.totals[spec.slug]}, places)["t"],
            "groups": as_text(counted.groups[spec.slug], places),
        }
    return out


def shown(metrics: dict) -> dict:
    return {slug: {"total": m["total"], "groups": {g["name"] if g["name"] != "Other" else "": g["value"]
                                                   for g in m["groups"]}}
            for slug, m in metrics.items()}


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
    yield table, base_url, children
    for child in children:
        child.stop()
        print(f"----- {child.name} -----\n{child.output()[-6000:]}")  # shown when a test fails


@pytest.mark.parametrize("stack", [1, 2], indirect=True, ids=["one-worker", "two-workers"])
def test_a_donation_reaches_the_sse_client_and_totals_equal_a_recount(stack):
    table, base_url, children = stack
    sse = SSEClient(f"{base_url}/c/gala/events/")
    try:
        assert sse.connected.wait(10), "SSE stream did not open"
        table.put_item(Item={"id": "1", "email": "a@test.com", "donatedAt": "2019-08-07T07:26:56",
                             "platform": "Facebook", "amount": 10})
        table.put_item(Item={"id": "2", "email": "b@test.com", "platform": "Phone", "amount": Decimal("25.50")})
        table.put_item(Item={"id": "3", "email": "a@test.com", "platform": "Website", "amount": 5})
        table.put_item(Item={"id": "4", "email": "c@test.com", "platform": "Text", "amount": 7})

        def facebook_seen():
            return any(g["name"] == "Facebook" and g["value"] == "10.00"
                       for u in sse.updates() for g in u["metrics"].get("raised", {}).get("groups", []))

        wait_until(facebook_seen, 30, message="an SSE update with Facebook 10.00")

        table.update_item(Key={"id": "2"}, UpdateExpression="SET amount = :a, platform = :p",
                          ExpressionAttributeValues={":a": Decimal("30.25"), ":p": "Website"})
        table.delete_item(Key={"id": "3"})
        expected = expected_payload(table)
        assert expected["raised"]["total"] == "47.25"

        def snapshot_matches():
            snap = requests.get(f"{base_url}/c/gala/snapshot.json", timeout=5).json()
            return shown(snap["metrics"]) == expected

        wait_until(snapshot_matches, 30, message="the snapshot to equal a recount")

        def last_events_match():
            latest: dict = {}
            for update in sorted(sse.updates(), key=lambda u: u["version"]):
                latest.update(shown(update["metrics"]))
            return latest == expected

        wait_until(last_events_match, 10, message="the SSE stream to converge on the recount")
        page = requests.get(f"{base_url}/c/gala/", timeout=5).text
        assert "47.25" in page
        assert "a@test.com" not in page and all("a@test.com" not in str(u) for u in sse.updates())
    finally:
        sse.close()
