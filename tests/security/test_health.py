"""Finding 3: /healthz tells a load balancer ok or not ok, and nothing else; the details need the
admin or the health token."""

from __future__ import annotations

import json

import pytest
from django.contrib.auth import get_user_model

from tests.factories import make_campaign

pytestmark = pytest.mark.django_db

FOREIGN = "db_password=hunter2"


@pytest.fixture
def failing_campaign(store):
    campaign = make_campaign(slug="secret-gala", table_name="PrivateDonations")
    store.ensure_meta(campaign.pk)
    store.heartbeat_consumer("c1", 30)
    shard = {"seq": "4900000000000000000000001", "read_at": 1, "created": 1, "rps": 3}
    store.set_meta(
        campaign.pk,
        **{"shard:shardId-00000001-secret": json.dumps(shard)},
        status="needs_rebuild",
        rebuild_reason="records were trimmed",
        last_error=f"discover: 500: {FOREIGN}",
    )
    return campaign


def test_healthz_says_only_whether_all_is_well(client, failing_campaign):
    response = client.get("/healthz")
    assert response.status_code == 503
    assert response.json() == {"ok": False}
    body = response.content.decode()
    for secret in ("secret-gala", "PrivateDonations", "shardId", "4900000000", FOREIGN, "trimmed"):
        assert secret not in body


def test_details_need_the_health_token(client, failing_campaign, settings):
    settings.HEALTH_TOKEN = ""
    assert client.get("/healthz?detail=1").status_code == 403  # no token set: the admin only
    settings.HEALTH_TOKEN = "operator-token"
    assert client.get("/healthz?detail=1", headers={"Authorization": "Bearer guess"}).status_code == 403
    detailed = client.get("/healthz?detail=1", headers={"Authorization": "Bearer operator-token"})
    assert detailed.status_code == 503
    assert "shardId-00000001-secret" in detailed.json()["campaigns"]["secret-gala"]["shards"]


def test_the_admin_shows_the_details_to_organizers_only(client, failing_campaign):
    assert client.get("/admin/fundraiser/campaign/health.json").status_code == 302  # to the login
    user = get_user_model().objects.create_superuser("o", "o@example.org", "a-long-passphrase-9")
    client.force_login(user)
    response = client.get("/admin/fundraiser/campaign/health.json")
    assert response.status_code == 200
    assert response.json()["campaigns"]["secret-gala"]["status"] == "needs_rebuild"
