"""The screens admin: which displays are online, what they show, how far behind they are, their
links, and a preview of each. It lives with the pages it manages (the configuration app does not
import them)."""

from __future__ import annotations

from typing import Any

from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.shortcuts import get_object_or_404
from django.urls import path, reverse
from django.utils import timezone
from django.utils.html import format_html
from django.utils.safestring import mark_safe

from fundraiser.access import CampaignScoped, related_only
from fundraiser.admin import StatusStyles, publish_config_change
from fundraiser.models import Screen

from .heartbeats import ago, forget, heartbeats, screen_state
from .views import render_screen, screen_events, screen_snapshot_response


@admin.register(Screen)
class ScreenAdmin(CampaignScoped, admin.ModelAdmin):
    """Screens on the event floor: which are online, what they show, how far behind they are.

    A screen's link holds a secret token, stored only as a digest: the link is shown once, when
    the screen is added or its link rotated.
    """

    Media = StatusStyles
    list_display = ("name", "campaign", "layout", "online", "state", "last_seen", "viewport", "preview")
    list_filter = (related_only("campaign"), "layout")
    list_select_related = ("campaign",)
    fields = ("campaign", "name", "layout", "show_ticker", "show_qr", "link", "online", "state", "preview")
    readonly_fields = ("link", "online", "state", "preview")
    actions = ("rotate_links", "revoke", "restore")

    # --- heartbeats, read once per page ---------------------------------------------------------
    def get_queryset(self, request):
        self._beats = None
        return super().get_queryset(request)

    def _heartbeat(self, obj: Screen) -> dict[str, Any] | None:
        if getattr(self, "_beats", None) is None:
            pairs = list(Screen.objects.values_list("campaign_id", "id"))
            try:
                self._beats = heartbeats(pairs)
            except Exception:  # noqa: BLE001 - Redis down: the list still shows, without states
                self._beats = {}
        return self._beats.get(obj.pk)

    def _state(self, obj: Screen):
        return screen_state(self._heartbeat(obj))

    @admin.display(description="Online")
    def online(self, obj: Screen) -> str:
        if not obj.pk:
            return "—"
        if obj.is_revoked:
            return mark_safe('<strong class="fr-muted">revoked</strong>')
        if self._state(obj).online:
            return mark_safe('<strong class="fr-good">● online</strong>')
        return mark_safe('<strong class="fr-bad">○ offline</strong>')

    @admin.display(description="State and lag")
    def state(self, obj: Screen) -> str:
        if not obj.pk:
            return "—"
        beat = self._heartbeat(obj) or {}
        state = self._state(obj)
        shown = beat.get("layout")
        note = (
            f" (showing {shown} layout: reloading)" if state.online and shown and shown != obj.layout else ""
        )
        return state.summary + note

    @admin.display(description="Last seen")
    def last_seen(self, obj: Screen) -> str:
        seen = self._state(obj).seen_seconds if obj.pk else None
        return "never" if seen is None else f"{ago(seen)} ago"

    @admin.display(description="Screen size")
    def viewport(self, obj: Screen) -> str:
        return (self._heartbeat(obj) or {}).get("viewport") or "—"

    @admin.display(description="Preview")
    def preview(self, obj: Screen) -> str:
        if not obj.pk:
            return "—"
        url = reverse("admin:fundraiser_screen_preview", args=[obj.pk])
        return format_html('<a href="{}" target="_blank" rel="noopener">preview</a>', url)

    @admin.display(description="Kiosk link")
    def link(self, obj: Screen) -> str:
        if not obj.pk:
            return "Shown once, when you save this screen."
        issued = obj.token_issued_at.strftime("%Y-%m-%d %H:%M UTC") if obj.token_issued_at else "—"
        return format_html(
            "/s/{}…/ (issued {}). The full link is shown only when it is issued: to set up a display "
            "again, use the <em>Rotate link</em> action (the old link stops working).",
            obj.token_hint,
            issued,
        )

    # --- saving and actions ---------------------------------------------------------------------
    def save_model(self, request, obj: Screen, form, change):
        token = None if change else obj.issue_token()
        super().save_model(request, obj, form, change)
        if token:
            self._show_link(request, obj, token)
        else:
            publish_config_change(obj.campaign.slug)

    def _show_link(self, request, screen: Screen, token: str) -> None:
        url = request.build_absolute_uri(reverse("dashboard:screen", args=[token]))
        messages.success(
            request,
            format_html(
                'Kiosk link for <strong>{}</strong>: <a href="{}" target="_blank" rel="noopener">'
                "<code>{}</code></a> — open it on the display. Copy it now: it is not shown again.",
                screen.name,
                url,
                url,
            ),
        )

    def delete_model(self, request, obj: Screen):
        self._forget(obj)
        super().delete_model(request, obj)

    def delete_queryset(self, request, queryset):
        for screen in queryset:
            self._forget(screen)
        super().delete_queryset(request, queryset)

    def _forget(self, screen: Screen) -> None:
        try:
            forget(screen.campaign_id, screen.pk)
        except Exception:  # noqa: BLE001 - a stale heartbeat expires by itself
            pass
        publish_config_change(screen.campaign.slug)

    @admin.action(description="Rotate link (the old one stops working)")
    def rotate_links(self, request, queryset):
        for screen in queryset:
            token = screen.issue_token()
            screen.save(
                update_fields=[
                    "token_digest",
                    "previous_token_digest",
                    "token_hint",
                    "token_issued_at",
                    "updated_at",
                ]
            )
            self._show_link(request, screen, token)
            publish_config_change(screen.campaign.slug)

    @admin.action(description="Revoke: switch off (shows a message on the display)")
    def revoke(self, request, queryset):
        changed = 0
        for screen in queryset.filter(revoked_at__isnull=True):
            screen.revoked_at = timezone.now()
            screen.save(update_fields=["revoked_at", "updated_at"])
            publish_config_change(screen.campaign.slug)
            changed += 1
        messages.success(request, f"Revoked {changed} screen{'' if changed == 1 else 's'}.")

    @admin.action(description="Restore: switch back on (same link)")
    def restore(self, request, queryset):
        changed = queryset.filter(revoked_at__isnull=False).update(revoked_at=None, updated_at=timezone.now())
        messages.success(request, f"Restored {changed} screen{'' if changed == 1 else 's'}.")

    # --- preview: the screen as the display shows it, for signed-in organizers --------------------
    def get_urls(self):
        wrap = self.admin_site.admin_view
        return [
            path("<int:screen_id>/preview/", wrap(self.preview_page), name="fundraiser_screen_preview"),
            path(
                "<int:screen_id>/preview/snapshot.json",
                wrap(self.preview_snapshot),
                name="fundraiser_screen_preview_snapshot",
            ),
            path(
                "<int:screen_id>/preview/events/",
                wrap(self.preview_events),
                name="fundraiser_screen_preview_events",
            ),
        ] + super().get_urls()

    def _previewed(self, request, screen_id: int) -> Screen:
        screen = get_object_or_404(Screen.objects.select_related("campaign"), pk=screen_id)
        if not self.has_view_permission(request, screen):
            raise PermissionDenied
        return screen

    def preview_page(self, request, screen_id: int):
        screen = self._previewed(request, screen_id)
        urls = {
            "snapshot": reverse("admin:fundraiser_screen_preview_snapshot", args=[screen.pk]),
            "events": reverse("admin:fundraiser_screen_preview_events", args=[screen.pk]),
        }  # no heartbeat: a preview is not a screen on the floor
        return render_screen(request, screen, urls=urls, preview=True)

    def preview_snapshot(self, request, screen_id: int):
        return screen_snapshot_response(self._previewed(request, screen_id))

    def preview_events(self, request, screen_id: int):
        return screen_events(request, self._previewed(request, screen_id))
