"""DynamoDB (moto server) → Celery worker process → Redis → uvicorn SSE → client, for real."""

from __future__ import annotations

from decimal import Decimal

import pytest
import requests

from tests.e2e.expect import expected_payload, shown
from tests.processes import SSEClient, wait_until

pytestmark = pytest.mark.e2e


@pytest.mark.parametrize("stack", [1, 2], indirect=True, ids=["one-worker", "two-workers"])
def test_a_donation_reaches_the_sse_client_and_totals_equal_a_recount(stack):
    table, base_url, children = stack
    sse = SSEClient(f"{base_url}/c/gala/events/")
    try:
        assert sse.connected.wait(10), "SSE stream did not open"
        table.put_item(
            Item={
                "id": "1",
                "email": "a@test.com",
                "donatedAt": "2019-08-07T07:26:56",
                "platform": "Facebook",
                "amount": 10,
            }
        )
        table.put_item(
            Item={"id": "2", "email": "b@test.com", "platform": "Phone", "amount": Decimal("25.50")}
        )
        table.put_item(Item={"id": "3", "email": "a@test.com", "platform": "Website", "amount": 5})
        table.put_item(Item={"id": "4", "email": "c@test.com", "platform": "Text", "amount": 7})

        def facebook_seen():
            return any(
                g["name"] == "Facebook" and g["value"] == "10.00"
                for u in sse.updates()
                for g in u["metrics"].get("raised", {}).get("groups", [])
            )

        wait_until(facebook_seen, 30, message="an SSE update with Facebook 10.00")

        table.update_item(
            Key={"id": "2"},
            UpdateExpression="SET amount = :a, platform = :p",
            ExpressionAttributeValues={":a": Decimal("30.25"), ":p": "Website"},
        )
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
