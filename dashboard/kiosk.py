"""Display screens (kiosks): access by token, what each layout shows, and its snapshot.

A screen is reached at /s/<token>/ with no login, ever: a TV cannot type a password, and a login
page on the event floor is a failure. An unknown, replaced or revoked token gets a full-screen
message (404/403) instead, and the page's script turns itself into that message if the token is
revoked while it runs.
"""

from __future__ import annotations

import hashlib
import json
import re
import time
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from django.utils.html import escape
from django.utils.safestring import SafeString, mark_safe

from fundraiser.adjustments import paddle_summary
from fundraiser.models import Campaign, Screen, token_digest
from fundraiser.selectors import campaign_config, campaign_milestones
from ingest.config import CampaignConfig
from ingest.ticker import TickerStore

from .heartbeats import HEARTBEAT_SECONDS
from .screens import (
    MAX_BARS,
    MAX_LEADERS,
    MAX_TICKER,
    GoalLayout,
    contrast_text,
    countdown,
    goal_layout,
    leader_rows,
    numbers_context,
    progress_scale,
    ticker_context,
    units,
)
from .snapshots import config_snapshot

TOKEN_PATTERN = r"[A-Za-z0-9_-]{16,64}"
BLOCKED = {
    "unknown": (
        404,
        "This screen link is not valid",
        "Check the address, or ask the organizers for this screen's link.",
    ),
    "replaced": (
        403,
        "This screen's link was replaced",
        "The organizers gave this screen a new link. Open the new one on this display.",
    ),
    "revoked": (
        403,
        "This screen was switched off",
        "The organizers turned this screen off. It comes back by itself when they turn it on.",
    ),
}
# A campaign switched off or past its end, unless the organizers keep showing the final total.
CLOSED = {
    "ended": ("Giving has closed", "Thank you to everyone who gave."),
    "inactive": ("This campaign is not live", "Its page comes back here when the organizers open it."),
}
BARS_BY_LAYOUT = {Screen.BREAKDOWN: 10, Screen.SPLIT: 6}


@dataclass(frozen=True)
class Access:
    state: str  # "ok", or a key of BLOCKED
    screen: Screen | None = None


def screen_access(token: str) -> Access:
    if not re.fullmatch(TOKEN_PATTERN, token or ""):
        return Access("unknown")
    digest = token_digest(token)
    screen = Screen.objects.select_related("campaign").filter(token_digest=digest).first()
    if screen is not None and screen.token_matches(token):
        return Access("revoked" if screen.is_revoked else "ok", screen)
    if Screen.objects.filter(previous_token_digest=digest).exists():
        return Access("replaced")
    return Access("unknown")


@dataclass(frozen=True)
class ScreenView:
    screen: Screen
    campaign: Campaign
    config: CampaignConfig
    layout: GoalLayout
    milestones: list[dict[str, str]]

    @property
    def fingerprint(self) -> str:
        """Changes whenever what the page was rendered with changes: open screens then reload."""
        c, s = self.campaign, self.screen
        parts = [
            s.layout,
            s.show_ticker,
            s.show_qr,
            c.name,
            c.currency,
            c.logo_url,
            c.donation_url,
            c.accent_color,
            c.bar_color,
            c.background_color,
            c.leaderboard_title,
            c.starts_at and c.starts_at.timestamp(),
            c.ends_at and c.ends_at.timestamp(),
            {slug: [d.label, d.places, d.is_money] for slug, d in self.config.displays.items()},
            self.config.goal
            and [
                self.config.goal.metric,
                self.config.goal.group,
                self.config.goal.target_minor,
                self.config.goal.label,
            ],
            self.config.leaderboard,
            self.milestones,
            asset_build(),
        ]
        encoded = json.dumps(parts, default=str, sort_keys=True).encode()
        return hashlib.blake2b(encoded, digest_size=8).hexdigest()


@lru_cache(maxsize=1)
def asset_build() -> str:
    """Names this deploy's screen script and style sheet: open screens reload when it changes."""
    from django.contrib.staticfiles import finders

    digest = hashlib.blake2b(digest_size=6)
    for name in (
        "dashboard/screen.js",
        "dashboard/base.css",
        "dashboard/screen.css",
        "dashboard/sizes.css",
    ):
        found = finders.find(name)
        if found:
            digest.update(Path(found).read_bytes())
    return digest.hexdigest()


def screen_view(screen: Screen) -> ScreenView:
    campaign = (
        Campaign.objects.select_related("headline_goal__metric")
        .prefetch_related("metrics", "milestones")
        .get(pk=screen.campaign_id)
    )
    config = campaign_config(campaign)
    layout = goal_layout(config)
    places = config.displays[layout.headline].places if layout.headline else 0
    return ScreenView(screen, campaign, config, layout, campaign_milestones(campaign, places))


def screen_snapshot(view: ScreenView) -> dict[str, Any]:
    """The campaign snapshot plus what only screens show: recent gifts, milestones, config."""
    snapshot = config_snapshot(view.config)
    snapshot["milestones"] = view.milestones
    snapshot["config"] = view.fingerprint
    snapshot["server_time"] = round(time.time(), 3)
    if view.screen.show_ticker and view.config.ticker is not None:
        snapshot["ticker"] = TickerStore().snapshot(view.config.id, MAX_TICKER)
    if view.screen.layout == Screen.PADDLE:
        snapshot["paddle"] = paddle_summary(view.campaign)
    return snapshot


def screen_context(
    view: ScreenView, snapshot: dict[str, Any], *, urls: dict[str, str], preview: bool = False
) -> dict[str, Any]:
    """Template context of a screen: the goal page's numbers, plus its scale, leaderboard and frame."""
    screen, ticker = view.screen, view.config.ticker
    numbers = numbers_context(view.layout, snapshot, bar_limit=BARS_BY_LAYOUT.get(screen.layout, MAX_BARS))
    headline = numbers["headline"]
    return {
        **numbers,
        **ticker_context(snapshot, units(snapshot)(ticker.metric) if ticker else ""),
        **screen_frame(view.campaign, screen),
        "preview": preview,
        "urls": urls,
        "scale": headline and progress_scale(headline["value"], snapshot.get("goal"), view.milestones),
        "leaders": leaderboard(view, snapshot),
        "max_leaders": MAX_LEADERS,
        "paddle": snapshot.get("paddle"),
    }


def leaderboard(view: ScreenView, snapshot: dict[str, Any]) -> dict[str, Any] | None:
    board, metrics = view.config.leaderboard, snapshot.get("metrics", {})
    if not board or board not in metrics:
        return None
    return {
        "slug": board,
        "title": view.campaign.leaderboard_title or leaderboard_title(view.config, board),
        "currency": units(snapshot)(board),
        "rows": leader_rows(metrics[board]["groups"]),
    }


def screen_frame(campaign: Campaign, screen: Screen) -> dict[str, Any]:
    """What surrounds the numbers on a screen: colours, countdown, QR code, heartbeats."""
    starts_at, ends_at = _epoch(campaign.starts_at), _epoch(campaign.ends_at)
    return {
        "campaign": campaign,
        "screen": screen,
        "layout_name": screen.layout,
        "theme": theme_style(campaign),
        "countdown": countdown(time.time(), starts_at, ends_at),
        "starts_at": starts_at,
        "ends_at": ends_at,
        "qr": screen.show_qr and campaign.donation_url and qr_svg(campaign.donation_url),
        "donation_label": short_url(campaign.donation_url),
        "heartbeat_seconds": HEARTBEAT_SECONDS,
    }


def leaderboard_title(config: CampaignConfig, slug: str) -> str:
    """ "Top platforms", "Top teams": named after the attribute the metric groups by."""
    spec = next((s for s in config.specs if s.slug == slug), None)
    path = list(spec.group_path) if spec and spec.group_path else [config.displays[slug].label]
    if len(path) > 1 and path[-1].lower() in ("name", "id", "title", "label", "display_name"):
        path.pop()  # team.name: "Top teams"
    group = path[-1]
    group = re.sub(r"(?<=[a-z])(?=[A-Z])|_", " ", group).lower()
    return f"Top {group if group.endswith('s') else group + 's'}"


def _epoch(value) -> float | None:
    return None if value is None else value.timestamp()


def theme_style(campaign: Campaign) -> str:
    """CSS custom properties of the campaign's colours (validated #rrggbb, so safe in a style)."""
    colours = {
        "--bg": campaign.background_color,
        "--accent": campaign.accent_color,
        "--bar": campaign.bar_color,
        "--fg": contrast_text(campaign.background_color),
    }
    return "; ".join(
        f"{name}: {value}" for name, value in colours.items() if re.fullmatch(r"#[0-9a-fA-F]{6}", value)
    )


def short_url(url: str) -> str:
    """example.org/give rather than https://www.example.org/give/: what people can read and type."""
    if not url:
        return ""
    parts = urlsplit(url)
    host = parts.netloc.removeprefix("www.")
    return (host + parts.path).rstrip("/")


@lru_cache(maxsize=64)
def qr_svg(url: str) -> SafeString:
    """The donation URL as an inline SVG QR code, drawn on the server (no third-party service)."""
    import qrcode
    from qrcode.image.svg import SvgPathImage

    image = qrcode.make(
        url, image_factory=SvgPathImage, border=2, error_correction=qrcode.constants.ERROR_CORRECT_M
    )
    svg = image.to_string(encoding="unicode")
    svg = re.sub(
        r'^<svg width="[^"]*" height="[^"]*"',
        f'<svg class="qr-code" role="img" aria-label="{escape("QR code: " + url)}" '
        'shape-rendering="crispEdges"',
        svg,
    )
    return mark_safe(svg)  # noqa: S308 - generated by qrcode from path data; the URL is escaped
