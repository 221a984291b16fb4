"""Goal pages, display screens, their JSON snapshots and health. Pages render real numbers on
first paint."""

from __future__ import annotations

import hmac
import json
import logging
from collections.abc import Callable
from urllib.parse import urlsplit

from django.conf import settings
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import render
from django.urls import reverse
from django.utils import timezone
from django.utils.cache import add_never_cache_headers, patch_cache_control
from django.views.decorators.cache import never_cache
from django.views.decorators.clickjacking import xframe_options_exempt
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST
from redis.exceptions import RedisError

from fundraiser.models import Campaign, Screen
from ingest.config import CampaignConfig
from ingest.health import overall_health
from ingest.store import Store
from ingest.ticker import TickerStore

from .configs import CampaignEntry, campaign_entry
from .events import campaign_channel, ticker_channel
from .heartbeats import record_heartbeat
from .kiosk import BLOCKED, CLOSED, Access, screen_access, screen_context, screen_snapshot, screen_view
from .limits import count_guess, guesses_blocked, too_many
from .screens import MAX_TICKER, goal_context
from .snapshots import config_snapshot
from .streams import Watch, open_stream

log = logging.getLogger(__name__)
UNAVAILABLE = {"error": "the live data store is unavailable; retry shortly"}
PUBLIC_MAX_AGE = 1  # seconds a CDN may keep a public page or snapshot (and serve it stale once more)


def campaign_snapshot(campaign: Campaign, config: CampaignConfig) -> dict:
    """What the public page shows: numbers, whether giving has closed, gifts if the organizers chose."""
    snapshot = config_snapshot(config)
    closed = campaign.closed_state()
    if closed:
        snapshot["closed"] = closed  # with "keep showing the final total": the numbers stay
    if campaign.public_ticker and config.ticker is not None:
        snapshot["ticker"] = TickerStore().snapshot(config.id, MAX_TICKER)
    return snapshot


def load_campaign(slug: str) -> CampaignEntry:
    """The campaign and its configuration, kept in memory until it changes (dashboard/configs.py)."""
    entry = campaign_entry(slug)
    if entry is None:
        raise Http404("no such campaign")
    return entry


def public_cache(response: HttpResponse) -> HttpResponse:
    """A CDN may keep a public page's answer for a second and serve it one more while it asks again:
    a telethon's page loads reach us about once a second per edge, with numbers at most ~2 s old.
    Never on kiosk (/s/<token>/) or admin URLs: a cached answer would outlive a revoked link, and
    the token would become part of someone else's cache key (docs/security.md)."""
    if response.status_code == 200:
        patch_cache_control(
            response, public=True, max_age=PUBLIC_MAX_AGE, stale_while_revalidate=PUBLIC_MAX_AGE
        )
    else:
        add_never_cache_headers(response)
    return response


def closed_response(request: HttpRequest, campaign: Campaign, state: str, *, as_json: bool = False):
    """An ended or switched-off campaign, without its numbers: 410, the page says so."""
    title, text = CLOSED[state]
    if as_json:
        return JsonResponse({"closed": state, "error": title}, status=410)
    return render(
        request,
        "dashboard/screen_message.html",
        {"title": title, "text": text, "state": state, "heading": campaign.name},
        status=410,
    )


def goal_page(request: HttpRequest, slug: str) -> HttpResponse:
    campaign, config = load_campaign(slug).pair
    if hidden := campaign.hides_numbers():
        return public_cache(closed_response(request, campaign, hidden))
    context = goal_context(config, campaign_snapshot(campaign, config))
    return public_cache(render(request, "dashboard/goal.html", {"campaign": campaign, **context}))


def snapshot_json(request: HttpRequest, slug: str) -> HttpResponse:
    """Also served without Django, from the same kept configuration: dashboard/edge.py."""
    campaign, config = load_campaign(slug).pair
    if hidden := campaign.hides_numbers():
        return public_cache(closed_response(request, campaign, hidden, as_json=True))
    try:
        return public_cache(JsonResponse(campaign_snapshot(campaign, config)))
    except RedisError:
        return public_cache(JsonResponse(UNAVAILABLE, status=503))


def campaign_watch(campaign: Campaign, *, unchanged: Callable[[Campaign], bool], key: tuple) -> Watch:
    """Ends a stream once its campaign hides its numbers (switched off, or past its end), or once
    unchanged(campaign) says the stream no longer matches what its page shows."""
    campaign_id, ends, keep = campaign.pk, campaign.ends_at, campaign.keep_final_total
    deadline = None if keep or ends is None or ends <= timezone.now() else ends.timestamp()

    def still_open() -> bool:
        current = Campaign.objects.filter(pk=campaign_id).first()
        if current is None or current.hides_numbers():
            return False
        # A new end time needs a new deadline: the page's next stream gets it.
        return (current.ends_at, current.keep_final_total) == (ends, keep) and unchanged(current)

    # Streams with the same key see the same answer: one check serves them all (streams.WatchChecks).
    return Watch(still_open, deadline, key=(campaign_id, ends, keep, *key))


def campaign_events(request: HttpRequest, slug: str) -> HttpResponse:
    """The public stream: the campaign's numbers, and its gifts only if the organizers chose so.
    (Also opened without Django, from the same kept configuration: dashboard/edge.py.)"""
    campaign = load_campaign(slug).campaign
    if hidden := campaign.hides_numbers():
        return closed_response(request, campaign, hidden, as_json=True)
    channels, watch = public_stream(campaign)
    return open_stream(request, channels=channels, watch=watch)


def public_stream(campaign: Campaign) -> tuple[list[str], Watch]:
    channels = [campaign_channel(campaign.slug)]
    if campaign.public_ticker:
        channels.append(ticker_channel(campaign.slug))
    public_ticker = campaign.public_ticker
    watch = campaign_watch(
        campaign,
        unchanged=lambda current: current.public_ticker == public_ticker,
        key=("public", public_ticker),
    )
    return channels, watch


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


def refuse_guess(request: HttpRequest, *, as_json: bool) -> HttpResponse | None:
    """Count an unknown token; the answer for a client past its limit (None while under it)."""
    try:
        wait = guesses_blocked(request)
        if not wait:
            count_guess(request)
    except RedisError:
        wait = 0  # the limiter is down: screens keep working
        log.warning("kiosk token limiter unavailable (Redis)")
    if not wait:
        return None
    if as_json:
        return too_many("too many unknown screen links from this address", wait)
    context = {
        "title": "Too many attempts",
        "text": "This address tried too many screen links. Try again in a few minutes.",
        "state": "throttled",
    }
    response = render(request, "dashboard/screen_message.html", context, status=429)
    response["Retry-After"] = str(wait)
    return response


def kiosk_access(request: HttpRequest, token: str, *, as_json: bool = False) -> Access | HttpResponse:
    """The screen of this token, or the answer to give instead (429 for a client that keeps guessing).

    A known token (live, replaced or revoked) is always answered: tokens are 192 bits, so blocking
    them protects nothing, while TVs left on old links share an address with the live screens.
    """
    access = screen_access(token)
    if access.state == "unknown":
        refusal = refuse_guess(request, as_json=as_json)
        if refusal is not None:
            return refusal
    if access.state != "ok":
        return blocked(request, access, as_json=as_json)
    if hidden := access.screen.campaign.hides_numbers():
        return closed_response(request, access.screen.campaign, hidden, as_json=as_json)
    return access


def render_screen(
    request: HttpRequest, screen: Screen, *, urls: dict[str, str], preview: bool = False
) -> HttpResponse:
    if hidden := screen.campaign.hides_numbers():
        return closed_response(request, screen.campaign, hidden)
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
    response = render(request, "dashboard/screen.html", context)
    logo = urlsplit(screen.campaign.logo_url) if screen.campaign.logo_url else None
    if logo and logo.scheme in ("http", "https") and logo.netloc:
        response._csp_update = {"img-src": [f"{logo.scheme}://{logo.netloc}"]}  # django-csp, per response
    return response


def screen_snapshot_response(screen: Screen) -> JsonResponse:
    if hidden := screen.campaign.hides_numbers():
        return JsonResponse({"closed": hidden, "error": CLOSED[hidden][0]}, status=410)
    try:
        return JsonResponse(screen_snapshot(screen_view(screen)))
    except RedisError:
        return JsonResponse(UNAVAILABLE, status=503)


def screen_events(request: HttpRequest, screen: Screen, *, token: str | None = None) -> HttpResponse:
    """A screen's stream: the campaign's numbers, and its gifts only if the screen shows the ticker.

    It ends when the screen's link is revoked or replaced (token given: a kiosk), the screen is
    deleted or its ticker switched, or the campaign hides its numbers.
    """
    campaign = screen.campaign
    if hidden := campaign.hides_numbers():
        return JsonResponse({"closed": hidden, "error": CLOSED[hidden][0]}, status=410)
    channels = [campaign_channel(campaign.slug)]
    if screen.show_ticker:
        channels.append(ticker_channel(campaign.slug))
    screen_id, show_ticker = screen.pk, screen.show_ticker

    def unchanged(_: Campaign) -> bool:
        if token is not None:
            access = screen_access(token)
            return access.state == "ok" and access.screen.show_ticker == show_ticker
        return Screen.objects.filter(pk=screen_id, show_ticker=show_ticker).exists()

    watch = campaign_watch(campaign, unchanged=unchanged, key=("screen", screen_id, token, show_ticker))
    return open_stream(request, channels=channels, watch=watch)


@never_cache
@xframe_options_exempt  # signage players often show a page in a frame; a screen has nothing to click
def screen_page(request: HttpRequest, token: str) -> HttpResponse:
    access = kiosk_access(request, token)
    if not isinstance(access, Access):
        return access
    response = render_screen(request, access.screen, urls=kiosk_urls(token))
    response._csp_replace = {"frame-ancestors": None}  # as xframe_options_exempt, for the CSP
    return response


@never_cache
def screen_snapshot_json(request: HttpRequest, token: str) -> HttpResponse:
    access = kiosk_access(request, token, as_json=True)
    if not isinstance(access, Access):
        return access
    return screen_snapshot_response(access.screen)


def screen_events_stream(request: HttpRequest, token: str) -> HttpResponse:
    access = kiosk_access(request, token, as_json=True)
    if not isinstance(access, Access):
        return access
    return screen_events(request, access.screen, token=token)


@csrf_exempt  # no cookie authenticates this: the token in the URL does
@require_POST
@never_cache
def screen_heartbeat(request: HttpRequest, token: str) -> HttpResponse:
    access = kiosk_access(request, token, as_json=True)
    if not isinstance(access, Access):
        return access
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
    """For load balancers: {"ok": true} (200) or {"ok": false} (503), nothing else.

    503 when a campaign lags, needs a rebuild, has no stream, or no consumer runs (ingest/health.py).
    The details (campaigns, shards, errors) are for operators: in the admin, or here with ?detail=1
    and `Authorization: Bearer <HEALTH_TOKEN>` when that setting is set.
    """
    active = dict(Campaign.objects.filter(is_active=True).values_list("slug", "pk"))
    body = overall_health(Store(), active)
    status = 200 if body["ok"] else 503
    if request.GET.get("detail"):
        if not health_token_matches(request):
            return JsonResponse({"error": "details need the health token"}, status=403)
        return JsonResponse(body, status=status)
    return JsonResponse({"ok": body["ok"]}, status=status)


def health_token_matches(request: HttpRequest) -> bool:
    token = settings.HEALTH_TOKEN
    given = request.headers.get("Authorization", "").removeprefix("Bearer ").strip()
    return bool(token) and hmac.compare_digest(given.encode(), token.encode())
