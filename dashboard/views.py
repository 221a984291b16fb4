"""Goal pages, the JSON snapshot and health. Pages render real numbers on first paint."""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import get_object_or_404, render
from django.views.decorators.cache import never_cache

from fundraiser.models import Campaign
from fundraiser.selectors import CampaignConfig, campaign_config
from ingest.health import overall_health
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
        status=snapshot.status,
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
    """Ingestion health (ingest/health.py): 503 when a campaign lags, needs a rebuild, has no
    stream, or no consumer runs."""
    active = dict(Campaign.objects.filter(is_active=True).values_list("slug", "pk"))
    body = overall_health(Store(), active)
    return JsonResponse(body, status=200 if body["ok"] else 503)
