from __future__ import annotations

import datetime as dt
from typing import Any

from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.http import JsonResponse
from django.shortcuts import get_object_or_404
from django.urls import path, reverse
from django.utils import timezone
from django.utils.html import format_html, format_html_join
from django.utils.safestring import mark_safe

from ingest.health import campaign_health, overall_health
from ingest.rebuild import build_progress, rebuild_start
from ingest.records import RecordError, decode_image
from ingest.store import Store

from .models import Campaign, Goal, Metric, Milestone, Screen
from .selectors import campaign_config


class MetricInline(admin.TabularInline):
    model = Metric
    extra = 0
    fields = (
        "slug",
        "label",
        "aggregation",
        "value_path",
        "group_by_path",
        "filter_path",
        "filter_value",
        "decimal_places",
        "is_money",
    )


class MilestoneInline(admin.TabularInline):
    model = Milestone
    extra = 0
    fields = ("amount", "label")
    verbose_name = "milestone or stretch goal"
    verbose_name_plural = (
        "Milestones and stretch goals (screens celebrate each once, in the headline goal's unit)"
    )


def publish_config_change(slug: str) -> None:
    """Tell open screens to re-read their configuration (they reload if it changed)."""
    from dashboard.events import publish

    try:
        publish(slug, "config", {})
    except Exception:  # noqa: BLE001 - screens also notice within a minute; never fail a save
        pass


def _when(epoch: str | None) -> str:
    if not epoch:
        return "—"
    return dt.datetime.fromtimestamp(float(epoch), tz=dt.UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def _keys(raw: Any) -> str:
    """A rejected record's primary key as an organizer reads it: id=donation-17."""
    try:
        keys = decode_image(raw) or {}
    except (RecordError, AttributeError):
        return str(raw)
    return ", ".join(f"{name}={value}" for name, value in keys.items()) or "—"


class StatusStyles:
    css = {"all": ["fundraiser/admin.css"]}  # the CSP allows no inline style: see docs/security.md


@admin.register(Campaign)
class CampaignAdmin(admin.ModelAdmin):
    Media = StatusStyles
    list_display = (
        "name",
        "slug",
        "table_name",
        "is_active",
        "ingestion_status",
        "rejected_records",
        "live_page",
    )
    prepopulated_fields = {"slug": ("name",)}
    inlines = [MetricInline, MilestoneInline]
    readonly_fields = (
        "ingestion_status",
        "records_read",
        "rejected_records",
        "last_record",
        "last_error",
        "rebuild_progress",
        "shards",
        "recent_rejects",
        "live_page",
        "screens_link",
    )
    actions = ["rebuild_aggregates"]
    fieldsets = [
        (
            None,
            {
                "fields": (
                    "name",
                    "slug",
                    "currency",
                    "goal_amount",
                    "headline_goal",
                    "starts_at",
                    "ends_at",
                    "is_active",
                    "keep_final_total",
                )
            },
        ),
        ("Source table", {"fields": ("table_name", "region", "endpoint_url")}),
        (
            "Ingestion health",
            {
                "fields": (
                    "ingestion_status",
                    "records_read",
                    "rejected_records",
                    "last_record",
                    "last_error",
                    "rebuild_progress",
                    "shards",
                    "recent_rejects",
                    "live_page",
                )
            },
        ),
        (
            "Display screens",
            {
                "fields": (
                    "screens_link",
                    "accent_color",
                    "bar_color",
                    "background_color",
                    "logo_url",
                    "donation_url",
                    "donor_name_path",
                    "anonymous_path",
                    "leaderboard_metric",
                    "leaderboard_title",
                    "public_ticker",
                )
            },
        ),
    ]

    def get_urls(self):
        health = self.admin_site.admin_view(self.health_json)
        return [path("health.json", health, name="fundraiser_campaign_health")] + super().get_urls()

    def health_json(self, request):
        """/healthz with its details (campaigns, shards, lag, errors): for signed-in organizers only."""
        if not self.has_view_permission(request):
            raise PermissionDenied
        active = dict(Campaign.objects.filter(is_active=True).values_list("slug", "pk"))
        return JsonResponse(overall_health(Store(), active), json_dumps_params={"indent": 2})

    @admin.action(description="Rebuild aggregates from the table (screens keep their numbers meanwhile)")
    def rebuild_aggregates(self, request, queryset) -> None:
        store = Store()
        for campaign in queryset.prefetch_related("metrics"):
            store.ensure_meta(campaign.pk)
            gen = rebuild_start(
                store=store,
                config=campaign_config(campaign),
                replace=True,
                reason=f"requested by {request.user.get_username()} in the admin",
            )
            self.message_user(
                request,
                f"{campaign}: rebuilding into generation {gen}. The screens "
                "show the current numbers until the new ones are complete.",
            )

    @admin.display(description="Shards")
    def shards(self, obj: Campaign) -> str:
        if not obj.pk:
            return "—"
        health = campaign_health(Store(), obj.pk)
        if not health["shards"]:
            return "none read yet"
        rows = format_html_join(
            "",
            "<tr><td><code>{}</code></td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
            (
                (
                    shard_id,
                    "finished" if s["finished"] else "reading",
                    s["last_sequence_number"],
                    f"{s['lag_seconds']:.1f} s",
                    s["records_per_second"],
                )
                for shard_id, s in sorted(health["shards"].items())
            ),
        )
        problems = "; ".join(health["problems"]) or "healthy"
        return format_html(
            "<p>{}</p><table><thead><tr><th>Shard</th><th>State</th><th>Last sequence number</th>"
            "<th>Lag</th><th>Records/s</th></tr></thead><tbody>{}</tbody></table>",
            problems,
            rows,
        )

    @admin.display(description="Backfill / rebuild")
    def rebuild_progress(self, obj: Campaign) -> str:
        if not obj.pk:
            return "—"
        meta = self._meta(obj)
        progress = build_progress(Store(), obj.pk)
        if progress is None:
            if meta.get("rebuilt_at"):
                return f"last rebuilt {_when(meta['rebuilt_at'])}: {meta.get('last_rebuild_reason', '')}"
            return "none yet"
        total = max(progress.estimate, progress.items)
        percent = f" ({100 * progress.items / total:.1f}%)" if total else ""
        state = "scan done, catching up with the stream" if progress.done else "scanning"
        return (
            f"generation {progress.gen}, {state}: {progress.items:,} of about {total:,} items"
            f"{percent}, {sum(s.done for s in progress.segments)}/{len(progress.segments)} "
            f"segments done, started {_when(progress.started_at)}. "
            f"Reason: {meta.get('rebuild_reason', '—')}"
        )

    def formfield_for_foreignkey(self, db_field, request, **kwargs):
        if db_field.name == "headline_goal":
            object_id = request.resolver_match.kwargs.get("object_id")
            kwargs["queryset"] = Goal.objects.filter(metric__campaign_id=object_id).select_related(
                "metric__campaign"
            )
        if db_field.name == "leaderboard_metric":
            object_id = request.resolver_match.kwargs.get("object_id")
            kwargs["queryset"] = Metric.objects.filter(campaign_id=object_id).exclude(group_by_path="")
        return super().formfield_for_foreignkey(db_field, request, **kwargs)

    def save_related(self, request, form, formsets, change):
        super().save_related(request, form, formsets, change)
        if change:
            publish_config_change(form.instance.slug)

    @admin.display(description="Screens")
    def screens_link(self, obj: Campaign) -> str:
        if not obj.pk:
            return "—"
        url = reverse("admin:fundraiser_screen_changelist") + f"?campaign__id__exact={obj.pk}"
        count = obj.screens.count()
        return format_html(
            '<a href="{}">{} screen{}</a> (add, preview, rotate or revoke them there)',
            url,
            count,
            "" if count == 1 else "s",
        )

    def _meta(self, obj: Campaign) -> dict[str, str]:
        if not obj.pk:
            return {}
        cache = getattr(self, "_meta_cache", {})
        if obj.pk not in cache:
            cache[obj.pk] = Store().meta(obj.pk)
            self._meta_cache = cache
        return cache[obj.pk]

    def get_queryset(self, request):
        self._meta_cache = {}
        return super().get_queryset(request)

    @admin.display(description="Status")
    def ingestion_status(self, obj: Campaign) -> str:
        meta = self._meta(obj)
        status = meta.get("status") or ("live" if meta.get("records") else "waiting for records")
        if status == "needs_rebuild":
            return format_html(
                "<strong class='fr-bad'>needs rebuild</strong>: {}", meta.get("rebuild_reason", "")
            )
        return status

    @admin.display(description="Records read")
    def records_read(self, obj: Campaign) -> int:
        return int(self._meta(obj).get("records", 0))

    @admin.display(description="Rejected records")
    def rejected_records(self, obj: Campaign) -> int:
        return int(self._meta(obj).get("rejected", 0))

    @admin.display(description="Newest record")
    def last_record(self, obj: Campaign) -> str:
        return _when(self._meta(obj).get("last_record_at"))

    @admin.display(description="Last error")
    def last_error(self, obj: Campaign) -> str:
        return self._meta(obj).get("last_error") or "—"

    @admin.display(description="Recent rejected records")
    def recent_rejects(self, obj: Campaign) -> str:
        if not obj.pk:
            return "—"
        rejects = Store().recent_rejects(obj.pk, limit=25)
        if not rejects:
            return "none"
        rows = format_html_join(
            "",
            "<tr><td>{}</td><td>{}</td><td>{}</td><td><code>{}</code></td><td>{}</td></tr>",
            (
                (_when(r.get("at")), r.get("event"), r.get("reason"), _keys(r.get("keys")), r.get("sequence"))
                for r in rejects
            ),
        )
        return format_html(
            "<table><thead><tr><th>When</th><th>Event</th><th>Reason</th><th>Keys</th>"
            "<th>Sequence</th></tr></thead><tbody>{}</tbody></table>",
            rows,
        )

    @admin.display(description="Live page")
    def live_page(self, obj: Campaign) -> str:
        if not obj.pk:
            return "—"
        url = reverse("dashboard:goal", args=[obj.slug])
        return format_html('<a href="{}" target="_blank">{}</a>', url, url)


@admin.register(Metric)
class MetricAdmin(admin.ModelAdmin):
    list_display = ("__str__", "aggregation", "value_path", "group_by_path", "filter_path")
    list_filter = ("campaign", "aggregation")


@admin.register(Goal)
class GoalAdmin(admin.ModelAdmin):
    list_display = ("__str__", "metric", "group", "target")
    list_filter = ("metric__campaign",)


@admin.register(Screen)
class ScreenAdmin(admin.ModelAdmin):
    """Screens on the event floor: which are online, what they show, how far behind they are.

    A screen's link holds a secret token, stored only as a digest: the link is shown once, when
    the screen is added or its link rotated.
    """

    Media = StatusStyles
    list_display = ("name", "campaign", "layout", "online", "state", "last_seen", "viewport", "preview")
    list_filter = ("campaign", "layout")
    list_select_related = ("campaign",)
    fields = ("campaign", "name", "layout", "show_ticker", "show_qr", "link", "online", "state", "preview")
    readonly_fields = ("link", "online", "state", "preview")
    actions = ("rotate_links", "revoke", "restore")

    # --- heartbeats, read once per page ---------------------------------------------------------
    def get_queryset(self, request):
        self._beats = None
        return super().get_queryset(request)

    def _heartbeat(self, obj: Screen) -> dict[str, Any] | None:
        from dashboard.heartbeats import heartbeats

        if getattr(self, "_beats", None) is None:
            pairs = list(Screen.objects.values_list("campaign_id", "id"))
            try:
                self._beats = heartbeats(pairs)
            except Exception:  # noqa: BLE001 - Redis down: the list still shows, without states
                self._beats = {}
        return self._beats.get(obj.pk)

    def _state(self, obj: Screen):
        from dashboard.heartbeats import screen_state

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
        from dashboard.heartbeats import ago

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
        from dashboard.heartbeats import forget

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
        from dashboard.views import render_screen

        screen = self._previewed(request, screen_id)
        urls = {
            "snapshot": reverse("admin:fundraiser_screen_preview_snapshot", args=[screen.pk]),
            "events": reverse("admin:fundraiser_screen_preview_events", args=[screen.pk]),
        }  # no heartbeat: a preview is not a screen on the floor
        return render_screen(request, screen, urls=urls, preview=True)

    def preview_snapshot(self, request, screen_id: int):
        from dashboard.views import screen_snapshot_response

        return screen_snapshot_response(self._previewed(request, screen_id))

    def preview_events(self, request, screen_id: int):
        from dashboard.views import screen_events

        return screen_events(request, self._previewed(request, screen_id))
