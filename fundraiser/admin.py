from __future__ import annotations

import datetime as dt
from typing import Any

from django.contrib import admin
from django.core.exceptions import PermissionDenied
from django.http import JsonResponse
from django.shortcuts import redirect
from django.urls import path, reverse
from django.utils.html import format_html, format_html_join

from ingest.health import campaign_health, campaign_state, overall_health
from ingest.rebuild import build_progress, rebuild_start
from ingest.records import RecordError, decode_image
from ingest.samples import last_hour
from ingest.store import CampaignMeta, Store

from .access import CampaignItself, CampaignScoped, InlineOfCampaign, campaign_ids, related_only
from .forms import CampaignForm
from .goals import campaign_goal_sync
from .health_display import hour_charts, state_html
from .models import Campaign, Goal, Metric, Milestone
from .preview_admin import PreviewStep
from .selectors import campaign_config
from .signals import config_changed

HEALTH = "Health"


class MetricInline(InlineOfCampaign, admin.TabularInline):
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


class MilestoneInline(InlineOfCampaign, admin.TabularInline):
    model = Milestone
    extra = 0
    fields = ("amount", "label")
    verbose_name = "milestone or stretch goal"
    verbose_name_plural = (
        "Milestones and stretch goals (screens celebrate each once, in the headline goal's unit)"
    )


def publish_config_change(slug: str) -> None:
    """Tell open screens to re-read their configuration (they reload if it changed). The pages app
    listens (dashboard/apps.py); this app does not know how screens are reached."""
    try:
        config_changed.send(sender=Campaign, slug=slug)
    except Exception:  # noqa: BLE001 - screens also notice within a minute; never fail a save
        pass


def _when(epoch: str | float | None) -> str:
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


# Where a campaign's numbers come from: only a superuser sets them (docs/security.md). A manager who
# could repoint their campaign at another table would read that campaign's totals and donors.
SOURCE_FIELDS = ("table_name", "region", "endpoint_url")

# What the worker reports about a campaign, read from Redis: shown, never edited.
HEALTH_FIELDS = (
    "health_detail",
    "last_hour",
    "records_read",
    "rejected_records",
    "last_record",
    "last_error",
    "rebuild_progress",
    "recent_rejects",
    "live_page",
)


@admin.register(Campaign)
class CampaignAdmin(CampaignItself, PreviewStep, admin.ModelAdmin):
    Media = StatusStyles
    form = CampaignForm
    list_display = (
        "name",
        "table_name",
        "is_active",
        "ingestion_status",
        "rejected_records",
        "live_page",
    )
    prepopulated_fields = {"slug": ("name",)}
    inlines = [MetricInline, MilestoneInline]
    readonly_fields = ("ingestion_status", *HEALTH_FIELDS, "shards", "screens_link")
    actions = ["rebuild_aggregates", "verify_totals"]
    fieldsets = [
        (
            None,
            {
                "fields": (
                    "name",
                    "slug",
                    "currency",
                    "goal_amount",
                    "starts_at",
                    "ends_at",
                    "is_active",
                    "keep_final_total",
                )
            },
        ),
        (
            "Where the donations are",
            {
                "fields": ("table_name", "region", "endpoint_url"),
                "description": "Saving checks that this table can be read and that its stream sends "
                "each donation's amount; “Preview” also shows what each metric counts.",
            },
        ),
        (HEALTH, {"fields": HEALTH_FIELDS}),
        ("Technical details (for whoever runs the server)", {"classes": ["collapse"], "fields": ("shards",)}),
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

    def get_readonly_fields(self, request, obj=None):
        fields = tuple(super().get_readonly_fields(request, obj))
        return fields if request.user.is_superuser else (*fields, *SOURCE_FIELDS)

    def save_model(self, request, obj, form, change):
        """A crafted POST cannot move the source either: refused unless a superuser sends it."""
        if not request.user.is_superuser:
            stored = Campaign.objects.filter(pk=obj.pk).values(*SOURCE_FIELDS).first() if change else None
            if stored is None or any(getattr(obj, name) != stored[name] for name in SOURCE_FIELDS):
                raise PermissionDenied("Only a superuser sets a campaign's source table.")
        super().save_model(request, obj, form, change)

    def get_fieldsets(self, request, obj=None):
        """A campaign not saved yet has no health to show (no "waiting for records" on the add form)."""
        fieldsets = super().get_fieldsets(request, obj)
        if obj is None:
            return [
                fs
                for fs in fieldsets
                if fs[0] not in (HEALTH, "Technical details (for whoever runs the server)")
            ]
        return fieldsets

    def get_urls(self):
        health = self.admin_site.admin_view(self.health_json)
        return [path("health.json", health, name="fundraiser_campaign_health")] + super().get_urls()

    def health_json(self, request):
        """/healthz with its details (campaigns, shards, lag, errors): for signed-in organizers only."""
        if not self.has_view_permission(request):
            raise PermissionDenied
        # Only the campaigns this organizer manages (the queryset is scoped: fundraiser/access.py).
        active = dict(self.get_queryset(request).filter(is_active=True).values_list("slug", "pk"))
        return JsonResponse(overall_health(Store(), active), json_dumps_params={"indent": 2})

    @admin.action(description="Recount every donation in the table (screens keep their numbers meanwhile)")
    def rebuild_aggregates(self, request, queryset) -> None:
        store = Store()
        for campaign in queryset.prefetch_related("metrics"):
            store.ensure_meta(campaign.pk)
            rebuild_start(
                store=store,
                config=campaign_config(campaign),
                replace=True,
                reason=f"requested by {request.user.get_username()} in the admin",
            )
            self.message_user(
                request,
                f"{campaign}: recounting every donation in the table. The screens "
                "show the current numbers until the new ones are complete.",
            )

    @admin.action(description="Verify totals: recount the table and compare with the live numbers")
    def verify_totals(self, request, queryset):
        from .tasks import verification_start

        runs = [verification_start(campaign=campaign, by=request.user) for campaign in queryset]
        if len(runs) == 1:
            return redirect("admin:fundraiser_verification_report", runs[0].pk)
        self.message_user(request, f"Verifying {len(runs)} campaigns: see Verifications.")
        return None

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

    @admin.display(description="Recount of the table")
    def rebuild_progress(self, obj: Campaign) -> str:
        if not obj.pk:
            return "—"
        meta = self._meta(obj)
        progress = build_progress(Store(), obj.pk)
        if progress is None:
            if meta.rebuilt_at:
                return f"last recounted {_when(meta.rebuilt_at)}: {meta.last_rebuild_reason}"
            return "no recount so far"
        return recount_text(progress, meta)

    def formfield_for_foreignkey(self, db_field, request, **kwargs):
        if db_field.name == "leaderboard_metric":
            object_id = request.resolver_match.kwargs.get("object_id")
            kwargs["queryset"] = Metric.objects.filter(campaign_id=object_id).exclude(group_by_path="")
        return super().formfield_for_foreignkey(db_field, request, **kwargs)

    def save_related(self, request, form, formsets, change):
        super().save_related(request, form, formsets, change)
        campaign_goal_sync(campaign=form.instance)
        self.warn_unmatched_paths(request, form)
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

    def _meta(self, obj: Campaign) -> CampaignMeta:
        if not obj.pk:
            return CampaignMeta({})
        cache = getattr(self, "_meta_cache", {})
        if obj.pk not in cache:
            cache[obj.pk] = Store().campaign_meta(obj.pk)
            self._meta_cache = cache
        return cache[obj.pk]

    def get_queryset(self, request):
        self._meta_cache = {}
        return super().get_queryset(request)

    @admin.display(description="Status")
    def ingestion_status(self, obj: Campaign) -> str:
        """One word for the list (live, catching up, rebuilding, needs attention, broken)."""
        if not obj.pk:
            return "—"
        if not obj.is_active:
            return format_html("<span class='fr-muted'>switched off</span>")
        return state_html(campaign_state(Store(), obj.pk), with_fix=False)

    @admin.display(description="Status")
    def health_detail(self, obj: Campaign) -> str:
        """The word, why, and what to do; for a broken table, the check of its settings, done now."""
        if not obj.is_active:
            return format_html(
                "<span class='fr-muted'>switched off</span>: its page and screens say it is not live."
            )
        state = campaign_state(Store(), obj.pk)
        if state.word != "broken":
            return state_html(state)
        return state_html(state) + source_problems_html(obj)

    @admin.display(description="Last hour")
    def last_hour(self, obj: Campaign) -> str:
        return hour_charts(last_hour(Store(), obj.pk))

    @admin.display(description="Records read")
    def records_read(self, obj: Campaign) -> int:
        return self._meta(obj).records

    @admin.display(description="Rejected records")
    def rejected_records(self, obj: Campaign) -> int:
        return self._meta(obj).rejected

    @admin.display(description="Newest record")
    def last_record(self, obj: Campaign) -> str:
        return _when(self._meta(obj).last_record_at)

    @admin.display(description="Last error from AWS")
    def last_error(self, obj: Campaign) -> str:
        return self._meta(obj).last_error.removeprefix("discover: ") or "—"

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


def recount_text(progress, meta: CampaignMeta) -> str:
    """A recount in organizer words: how far, since when, why (no generations, segments or shards)."""
    total = max(progress.estimate, progress.items)
    if progress.done:
        head = "counted every donation in the table; now catching up with the newest ones"
    elif total:
        head = (
            f"{progress.items:,} of about {total:,} donations counted ({100 * progress.items / total:.0f}%)"
        )
    else:
        head = "starting: reading the table's donations"
    return f"{head}, started {_when(progress.started_at)}. Why: {meta.rebuild_reason or '—'}"


def source_problems_html(obj: Campaign) -> str:
    from .sources import check_source

    check = check_source(table_name=obj.table_name, region=obj.region, endpoint_url=obj.endpoint_url)
    if check.ok:
        return format_html(
            "<br>The table can be read again now: the dashboard resumes by itself within a minute."
        )
    return format_html_join(
        "",
        "<br><strong>{}</strong><br>How to fix it: <code class='fr-fix'>{}</code>",
        ((p.message, p.fix) for p in check.problems),
    )


@admin.register(Metric)
class MetricAdmin(CampaignScoped, admin.ModelAdmin):
    list_display = ("__str__", "aggregation", "value_path", "group_by_path", "filter_path")
    list_filter = (related_only("campaign"), "aggregation")


@admin.register(Goal)
class GoalAdmin(CampaignScoped, admin.ModelAdmin):
    campaign_path = "metric__campaign"
    list_display = ("__str__", "metric", "group", "target")
    list_filter = (related_only("metric__campaign"),)

    def formfield_for_foreignkey(self, db_field, request, **kwargs):
        if db_field.name == "metric":
            kwargs["queryset"] = self.scoped_metrics(request)
        return super().formfield_for_foreignkey(db_field, request, **kwargs)

    def scoped_metrics(self, request):
        allowed = campaign_ids(request.user)
        metrics = Metric.objects.select_related("campaign")
        return metrics if allowed is None else metrics.filter(campaign__in=allowed)


from . import admin_levers  # noqa: E402, F401 - adjustments, paddles, moderation, verify, members
