"""Goal pages, display screens, their JSON snapshots and health. Pages render real numbers on
first paint."""

from __future__ import annotations

import json
import logging

import django_eventstream
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import get_object_or_404, render
from django.urls import reverse
from django.views.decorators.cache import never_cache
from django.views.decorators.clickjacking import xframe_options_exempt
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST
from redis.exceptions import RedisError

from fundraiser.models import Campaign, Screen
from fundraiser.selectors import CampaignConfig, campaign_config
from ingest.health import overall_health
from ingest.rebuild import build_progress
from ingest.store import Store

from .events import campaign_channel
from .heartbeats import record_heartbeat
from .kiosk import BLOCKED, Access, screen_access, screen_context, screen_snapshot, screen_view
from .payloads import progress_payload, update_payload
from .screens import goal_context

log = logging.getLogger(__name__)
UNAVAILABLE = {"error": "the live data store is unavailable; retry shortly"}


def config_snapshot(config: CampaignConfig) -> dict:
    store = Store()
    snapshot = store.snapshot(config.id, config.displays)
    payload = update_payload(
        config,
        snapshot.version,
        snapshot.metrics,
        epoch=snapshot.epoch,
        status=snapshot.status,
    )
    if snapshot.status == "recalculating":
        progress = recalculation_progress(store, config.id)
        if progress is not None:
            payload["progress"] = progress
    return payload


def recalculation_progress(store: Store, campaign_id: int) -> dict | None:
    """The rebuild's own progress (the same shape as the worker's `progress` events), if one runs."""
    build = build_progress(store, campaign_id)
    if build is None:
        return None
    return progress_payload(items=build.items, estimate=build.estimate, done=build.done)


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
    campaign = load_campaign(slug)
    try:
        return JsonResponse(campaign_snapshot(campaign))
    except RedisError:
        return JsonResponse(UNAVAILABLE, status=503)


# --- display screens ------------------------------------------------------------------------
def kiosk_urls(token: str) -> dict[str, str]:
    return {
        "page": reverse("dashboard:screen", args=[token]),
        "snapshot": reverse("dashboard:screen-snapshot", args=[token]),
        "events": reverse("dashboard:screen-events", args=[token]),
        "heartbeat": reverse("dashboard:screen-heartbeat", args=[token]),
    }


def blocked(request: HttpRequest, access: Access, *, as_json: bool = False) -> HttpResponse:
    """A clear message for an unknown, replaced or revoked token; never a login page."""
    status, title, text = BLOCKED[access.state]
    if as_json:
        return JsonResponse({"screen": access.state, "error": title}, status=status)
    return render(
        request,
        "dashboard/screen_message.html",
        {"title": title, "text": text, "state": access.state},
        status=status,
    )


def render_screen(
    request: HttpRequest, screen: Screen, *, urls: dict[str, str], preview: bool = False
) -> HttpResponse:
    view = screen_view(screen)
    try:
        snapshot = screen_snapshot(view)
    except RedisError:
        log.warning("screen %s rendered while Redis is unavailable", screen.pk)
        return render(
            request,
            "dashboard/screen_message.html",
            {
                "title": "Connecting…",
                "text": "The live numbers will appear in a moment.",
                "state": "unavailable",
                "retry_url": urls["snapshot"],
            },
            status=503,
        )
    context = screen_context(view, snapshot, urls=urls, preview=preview)
    return render(request, "dashboard/screen.html", context)


def screen_snapshot_response(screen: Screen) -> JsonResponse:
    try:
        return JsonResponse(screen_snapshot(screen_view(screen)))
    except RedisError:
        return JsonResponse(UNAVAILABLE, status=503)


def screen_events(request: HttpRequest, screen: Screen) -> HttpResponse:
    return django_eventstream.views.events(request, channels=[campaign_channel(screen.campaign.slug)])


@never_cache
@xframe_options_exempt  # signage players often show a page in a frame; a screen has nothing to click
def screen_page(request: HttpRequest, token: str) -> HttpResponse:
    access = screen_access(token)
    if access.state != "ok":
        return blocked(request, access)
    return render_screen(request, access.screen, urls=kiosk_urls(token))


@never_cache
def screen_snapshot_json(request: HttpRequest, token: str) -> HttpResponse:
    access = screen_access(token)
    if access.state != "ok":
        return blocked(request, access, as_json=True)
    return screen_snapshot_response(access.screen)


def screen_events_stream(request: HttpRequest, token: str) -> HttpResponse:
    access = screen_access(token)
    if access.state != "ok":
        return blocked(request, access, as_json=True)
    return screen_events(request, access.screen)


@csrf_exempt  # no cookie authenticates this: the token in the URL does
@require_POST
@never_cache
def screen_heartbeat(request: HttpRequest, token: str) -> HttpResponse:
    access = screen_access(token)
    if access.state != "ok":
        return blocked(request, access, as_json=True)
    if len(request.body) > 4096:
        return JsonResponse({"error": "heartbeat too large"}, status=413)
    try:
        report = json.loads(request.body or b"{}")
    except ValueError:
        return JsonResponse({"error": "heartbeat is not JSON"}, status=400)
    try:
        record_heartbeat(campaign_id=access.screen.campaign_id, screen_id=access.screen.pk, report=report)
    except RedisError:
        return JsonResponse(UNAVAILABLE, status=503)
    return HttpResponse(status=204)


@never_cache
def healthz(request: HttpRequest) -> JsonResponse:
    """Ingestion health (ingest/health.py): 503 when a campaign lags, needs a rebuild, has no
    stream, or no consumer runs."""
    active = dict(Campaign.objects.filter(is_active=True).values_list("slug", "pk"))
    body = overall_health(Store(), active)
    return JsonResponse(body, status=200 if body["ok"] else 503)
