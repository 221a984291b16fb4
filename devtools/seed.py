"""What the demo writes before its servers start: the demo campaign dressed for its screens, one
screen per layout, and the admin login. Run again, it keeps what an organizer changed in the admin."""

from __future__ import annotations

import json
from decimal import Decimal
from pathlib import Path
from typing import TYPE_CHECKING

from .campaign import DemoCampaign

if TYPE_CHECKING:
    from fundraiser.models import Campaign

MILESTONES = ((10_000, "First ten thousand"), (25_000, "Halfway"), (75_000, "Stretch: a new van"))


def ensure_campaign(*, table: str, region: str, endpoint_url: str, fresh_table: bool) -> Campaign:
    campaign = DemoCampaign(table_name=table, region=region, endpoint_url=endpoint_url).ensure()
    if fresh_table:
        forget_campaign_state(campaign.pk)
    return campaign


def forget_campaign_state(campaign_id: int) -> None:
    """A new (empty) table: totals kept in Redis from an earlier run's table no longer apply."""
    from ingest.store import Store

    Store().forget_campaign(campaign_id)


def dress_for_screens(campaign: Campaign, *, base_url: str) -> None:
    """A donation link and a logo for the screens, and milestones to celebrate, unless set already."""
    from fundraiser.models import Milestone

    if not campaign.donation_url:
        campaign.donation_url = "https://example.org/give"
        campaign.logo_url = f"{base_url}/static/dashboard/demo-logo.svg"
        campaign.save(update_fields=["donation_url", "logo_url"])
    if not campaign.milestones.exists():
        for amount, label in MILESTONES:
            Milestone.objects.create(campaign=campaign, amount=Decimal(amount), label=label)


def ensure_screens(campaign: Campaign, *, base_url: str, run_dir: Path) -> list[tuple[str, str]]:
    """One display screen per layout; returns (layout, kiosk URL).

    Only a digest of each token is stored, so the tokens are kept in the run directory and reused
    while they still match (a screen's link then survives a restart of the demo).
    """
    from fundraiser.models import Screen

    saved_path = run_dir / "screens.json"
    saved = json.loads(saved_path.read_text()) if saved_path.exists() else {}
    urls = []
    for layout, _ in Screen.LAYOUTS:
        screen = Screen.objects.filter(campaign=campaign, layout=layout).first() or Screen(
            campaign=campaign, name=f"Demo {layout}", layout=layout
        )
        token = saved.get(layout, "")
        if not screen.pk or not token or not screen.token_matches(token) or screen.is_revoked:
            token = screen.issue_token()
            screen.revoked_at = None
            screen.save()
        saved[layout] = token
        urls.append((layout, f"{base_url}/s/{token}/"))
    saved_path.write_text(json.dumps(saved))
    saved_path.chmod(0o600)
    return urls


def ensure_admin(username: str, password: str) -> None:
    from django.contrib.auth import get_user_model

    user, _ = get_user_model().objects.get_or_create(username=username)
    user.is_staff = user.is_superuser = user.is_active = True
    user.set_password(password)
    user.save()
