"""Goal pages, the JSON snapshot and health. Pages render real numbers on first paint."""

from __future__ import annotations

import time

from django.conf import settings
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import get_object_or_404, render
from django.views.decorators.cache import never_cache

from fundraiser.models import Campaign
from fundraiser.selectors import CampaignConfig, campaign_config
from ingest.store import Store

from .payloads import update_payload
from .screens import goal_context


def config_snapshot(config: CampaignConfig) -> dict:
    snapshot = Store().snapshot(config.id, config.displays)
    return update_payload(
        config,
        snapshot.version,
        snapshot.metrics,
        epoch=snapshot.epoch,
        status=snapshot.meta.get("status", "live"),
    )


def campaign_snapshot(campaign: Campaign) -> dict:
    return config_snapshot(campaign_config(campaign))


def load_campaign(slug: str) -> Campaign:
    return get_object_or_404(
        Campaign.objects.select_related("headline_goal__metric").prefetch_related("metrics"),
        slug=slug,
    )


@never_cache
def goal_page(request: HttpRequest, slug: str) -> HttpResponse:
    campaign = load_campaign(slug)
    config = campaign_config(campaign)
    context = goal_context(config, config_snapshot(config))
    return render(request, "dashboard/goal.html", {"campaign": campaign, **context})


@never_cache
def snapshot_json(request: HttpRequest, slug: str) -> JsonResponse:
    return JsonResponse(campaign_snapshot(load_campaign(slug)))


@never_cache
def healthz(request: HttpRequest) -> JsonResponse:
    store = Store()
    now = time.time()
    campaigns = {}
    healthy = True
    for campaign in Campaign.objects.filter(is_active=True):
        meta = store.meta(campaign.pk)
        last_record = float(meta["last_record_at"]) if meta.get("last_record_at") else None
        status = meta.get("status", "starting")
        problem = status in ("needs_rebuild", "no_stream", "bad_stream")
        campaigns[campaign.slug] = {
            "status": status,
            "records": int(meta.get("records", 0)),
            "rejected": int(meta.get("rejected", 0)),
            "last_record_age_seconds": None if last_record is None else round(now - last_record, 1),
            "last_error": meta.get("last_error", ""),
        }
        healthy = healthy and not problem
    consumers = len(store.live_consumers())
    healthy = healthy and consumers > 0
    body = {
        "ok": healthy,
        "consumers": consumers,
        "campaigns": campaigns,
        "max_lag_seconds": settings.INGEST_MAX_LAG_SECONDS,
    }
    return JsonResponse(body, status=200 if healthy else 503)
