"""The organizers' levers on the night in the admin (issue 11): adjustments and the paddle-raise
console, moderation of the recent gifts, "Verify totals" reports, paddle levels and memberships.
Every view goes through fundraiser/access.py: an organizer reaches only their campaigns."""

from __future__ import annotations

from django import forms
from django.contrib import admin, messages
from django.db import transaction
from django.shortcuts import get_object_or_404, redirect
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils.html import format_html

from ingest.rebuild import rebuild_start
from ingest.store import Store

from . import adjustments as services
from . import moderation, verify
from .access import ANY_ROLE, CampaignScoped, campaigns_for, related_only, require
from .models import Adjustment, Campaign, GiftModeration, Membership, PaddleLevel, Verification
from .selectors import campaign_config


class CampaignAmountForm(forms.ModelForm):
    """A form with a campaign and an amount: the amount must be one the campaign's sums count exactly."""

    def clean(self):
        data = super().clean()
        if data.get("campaign") and data.get("amount") is not None:
            refusal = services.amount_refusal(data["campaign"], data["amount"])
            if refusal:
                self.add_error("amount", refusal)
        return data


class AdjustmentForm(CampaignAmountForm):
    # One token per form shown: the same form sent twice records once (and says so).
    form_token = forms.CharField(widget=forms.HiddenInput, initial=services.new_entry_token)

    class Meta:
        model = Adjustment
        fields = ("campaign", "amount", "group", "note", "counts_as_gift", "counts_as_donor")

    def clean(self):
        data = super().clean()
        if Adjustment.objects.filter(entry_token=data.get("form_token") or None).exists():
            raise forms.ValidationError(ALREADY_SENT)
        return data


ALREADY_SENT = "This form was already sent and recorded: nothing was recorded again."


class PaddleLevelForm(CampaignAmountForm):
    class Meta:
        model = PaddleLevel
        fields = ("campaign", "amount", "label")


@admin.register(Adjustment)
class AdjustmentAdmin(CampaignScoped, admin.ModelAdmin):
    """Listed with who, when and why; recorded here or on the paddle console; reversed, never deleted."""

    class Media:
        css = {"all": ["fundraiser/admin.css"]}  # status words (the CSP allows no inline style)

    roles = ANY_ROLE
    change_roles = ANY_ROLE  # volunteers record and reverse adjustments too
    form = AdjustmentForm
    list_display = ("created_at", "campaign", "what", "amount", "counts", "note", "created_by", "state")
    list_filter = (related_only("campaign"), "kind")
    list_select_related = ("campaign", "created_by", "reversed_by")
    readonly_fields = ("created_by", "created_at", "version", "reversed_at", "reversed_by", "reversal_note")
    actions = ("reverse",)
    change_list_template = "fundraiser/adjustment_change_list.html"

    def has_change_permission(self, request, obj=None):
        return False  # an adjustment is never edited: reverse it and record another

    def has_delete_permission(self, request, obj=None):
        return False  # nor deleted: the audit list keeps every one

    def save_model(self, request, obj, form, change):
        data = form.cleaned_data
        try:
            saved = services.adjustment_record(
                campaign=data["campaign"],
                by=request.user,
                amount=data["amount"],
                group=data["group"],
                note=data["note"],
                counts_as_gift=data["counts_as_gift"],
                counts_as_donor=data["counts_as_donor"],
                entry_token=data["form_token"],
            )
        except services.AlreadyRecorded as sent:  # two copies of one form raced past clean()
            saved = sent.row
            messages.warning(request, ALREADY_SENT)
        obj.pk = saved.pk

    @admin.display(description="What")
    def what(self, obj: Adjustment) -> str:
        return f"paddle #{obj.paddle} ({obj.group})" if obj.kind == Adjustment.PADDLE else obj.group

    @admin.display(description="Also counts")
    def counts(self, obj: Adjustment) -> str:
        return (
            ", ".join(w for w, on in (("a gift", obj.counts_as_gift), ("a donor", obj.counts_as_donor)) if on)
            or "—"
        )

    @admin.display(description="State")
    def state(self, obj: Adjustment) -> str:
        if not obj.is_reversed:
            return format_html('<strong class="fr-good">counted</strong>')
        return format_html(
            '<strong class="fr-muted">reversed</strong> {} by {}: {}',
            obj.reversed_at.strftime("%H:%M:%S"),
            obj.reversed_by or "—",
            obj.reversal_note or "—",
        )

    @admin.action(description="Reverse the selected adjustments (they stay listed)")
    def reverse(self, request, queryset):
        done = sum(
            services.adjustment_reverse(adjustment=row, by=request.user, note="reversed in the admin")
            for row in queryset
        )
        self.message_user(request, f"Reversed {done} adjustment{'' if done == 1 else 's'}.")

    def changelist_view(self, request, extra_context=None):
        consoles = [
            (c, reverse("admin:fundraiser_paddle_console", args=[c.pk]))
            for c in campaigns_for(request.user, ANY_ROLE)
        ]
        return super().changelist_view(request, {**(extra_context or {}), "consoles": consoles})

    # --- the paddle-raise console ---------------------------------------------------------------
    def get_urls(self):
        wrap = self.admin_site.admin_view
        return [
            path("paddle/<int:campaign_id>/", wrap(self.paddle_console), name="fundraiser_paddle_console"),
        ] + super().get_urls()

    def paddle_console(self, request, campaign_id: int):
        """Type the paddle number, Enter: recorded at the level selected (the auctioneer's call).
        The level stays selected; "Undo last" takes back this volunteer's newest paddle."""
        require(request, campaign_id, ANY_ROLE)
        campaign = get_object_or_404(Campaign, pk=campaign_id)
        levels = list(PaddleLevel.objects.filter(campaign=campaign))
        selected = next(
            (lv for lv in levels if str(lv.pk) == request.GET.get("level")), levels[0] if levels else None
        )
        if request.method == "POST":
            return self.paddle_post(request, campaign, levels)
        context = {
            **self.admin_site.each_context(request),
            "title": f"Paddle raise: {campaign}",
            "campaign": campaign,
            "levels": levels,
            "selected": selected,
            "summary": services.paddle_summary(campaign),
            "last": services.last_paddle(campaign=campaign, by=request.user),
            "entry_token": services.new_entry_token(),
            "opts": self.model._meta,
        }
        return TemplateResponse(request, "fundraiser/paddle_console.html", context)

    def paddle_post(self, request, campaign: Campaign, levels: list[PaddleLevel]):
        url = reverse("admin:fundraiser_paddle_console", args=[campaign.pk])
        level = next((lv for lv in levels if str(lv.pk) == request.POST.get("level")), None)
        if "undo_entry" in request.POST or "undo" in request.POST:
            self.paddle_undo(request, campaign)
        else:
            self.paddle_record(request, campaign, level)
        return redirect(f"{url}?level={level.pk if level else ''}")

    def paddle_undo(self, request, campaign: Campaign) -> None:
        """Undo the entry the button named; a second click (or a stale page) changes nothing."""
        with transaction.atomic():
            entry, done = services.paddle_undo(
                campaign=campaign, entry_id=request.POST.get("undo_entry", ""), by=request.user
            )
        if entry is None:
            messages.error(request, "Nothing undone: that paddle is not on this console (reload the page).")
        elif done:
            messages.success(request, f"Undone: paddle #{entry.paddle} at {entry.amount:.2f}.")
        else:
            messages.warning(request, f"Paddle #{entry.paddle} was already undone: nothing changed.")

    def paddle_record(self, request, campaign: Campaign, level: PaddleLevel | None) -> None:
        paddle = "".join(request.POST.get("paddle", "").split())[:20]
        token = request.POST.get("form_token", "")[:64]
        if not paddle or level is None:
            messages.error(request, "Type a paddle number and pick a level.")
            return
        if not token:
            messages.error(request, "Nothing recorded: this page is out of date (reload it).")
            return
        try:
            with transaction.atomic():
                services.adjustment_record(
                    campaign=campaign, by=request.user, amount=level.amount, group=services.PADDLE_GROUP,
                    note=level.label, counts_as_gift=True, counts_as_donor=True, kind=Adjustment.PADDLE,
                    paddle=paddle, entry_token=token,
                )  # fmt: skip
        except services.AlreadyRecorded as sent:
            row = sent.row
            messages.warning(
                request, f"Paddle #{row.paddle} was already recorded (sent twice): nothing changed."
            )
            return
        messages.success(request, f"Paddle #{paddle} at {level.amount:.2f} recorded.")


@admin.register(PaddleLevel)
class PaddleLevelAdmin(CampaignScoped, admin.ModelAdmin):
    form = PaddleLevelForm
    list_display = ("campaign", "amount", "label")
    list_filter = (related_only("campaign"),)


@admin.register(Membership)
class MembershipAdmin(admin.ModelAdmin):
    """Who organizes which campaign: superusers only (Django's permissions, which organizers lack)."""

    list_display = ("campaign", "user", "role")
    list_filter = ("campaign", "role")


# --- moderation of the recent gifts ------------------------------------------------------------
@admin.register(GiftModeration)
class GiftModerationAdmin(CampaignScoped, admin.ModelAdmin):
    list_display = ("created_at", "campaign", "name_seen", "action", "created_by", "undone_at")
    list_filter = (related_only("campaign"), "action")
    change_list_template = "fundraiser/moderation_change_list.html"

    def has_add_permission(self, request, *args):
        return False  # from the moderation page of a campaign

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False

    def changelist_view(self, request, extra_context=None):
        pages = [
            (c, reverse("admin:fundraiser_moderation", args=[c.pk])) for c in campaigns_for(request.user)
        ]
        return super().changelist_view(request, {**(extra_context or {}), "pages": pages})

    def get_urls(self):
        wrap = self.admin_site.admin_view
        return [
            path("campaign/<int:campaign_id>/", wrap(self.moderation_page), name="fundraiser_moderation")
        ] + super().get_urls()

    def moderation_page(self, request, campaign_id: int):
        require(request, campaign_id)
        campaign = get_object_or_404(Campaign, pk=campaign_id)
        if request.method == "POST":
            return self.moderation_post(request, campaign)
        active = GiftModeration.objects.filter(campaign=campaign, undone_at__isnull=True)
        context = {
            **self.admin_site.each_context(request),
            "title": f"Recent gifts: {campaign}",
            "campaign": campaign,
            "gifts": moderation.current_gifts(campaign),
            "active": active,
            "words": getattr(campaign, "name_filter", None),
            "opts": self.model._meta,
        }
        return TemplateResponse(request, "fundraiser/moderation.html", context)

    def moderation_post(self, request, campaign: Campaign):
        action = request.POST.get("action", "")
        if action in (GiftModeration.HIDE_NAME, GiftModeration.REMOVE):
            moderation.gift_moderate(
                campaign=campaign,
                by=request.user,
                item_key=request.POST.get("key", "")[:64],
                action=action,
                name_seen=request.POST.get("name", ""),
            )
        elif action == "undo":
            row = get_object_or_404(GiftModeration, pk=request.POST.get("moderation"), campaign=campaign)
            moderation.gift_moderation_undo(moderation=row, by=request.user)
        elif action == "words":
            moderation.name_filter_save(campaign=campaign, words=request.POST.get("words", ""))
        messages.success(request, "Done: open screens show it within a second.")
        return redirect("admin:fundraiser_moderation", campaign.pk)


# --- "Verify totals" -----------------------------------------------------------------------------
@admin.register(Verification)
class VerificationAdmin(CampaignScoped, admin.ModelAdmin):
    list_display = ("created_at", "campaign", "state", "outcome", "requested_by")
    list_filter = (related_only("campaign"),)

    def has_add_permission(self, request, *args):
        return False  # the campaigns list's "Verify totals" action starts one

    def has_change_permission(self, request, obj=None):
        return False

    @admin.display(description="Outcome")
    def outcome(self, obj: Verification) -> str:
        return verify.outcome_text(obj)

    def get_urls(self):
        wrap = self.admin_site.admin_view
        return [
            path("<int:pk>/report/", wrap(self.report), name="fundraiser_verification_report"),
        ] + super().get_urls()

    def change_view(self, request, object_id, form_url="", extra_context=None):
        return redirect("admin:fundraiser_verification_report", object_id)

    def report(self, request, pk: int):
        run = get_object_or_404(self.get_queryset(request).select_related("campaign"), pk=pk)
        if request.method == "POST" and request.POST.get("rebuild"):
            self.rebuild_after_report(request, run)
            return redirect("admin:fundraiser_verification_report", pk)
        context = {
            **self.admin_site.each_context(request),
            "title": f"Verify totals: {run.campaign}",
            "run": run,
            "rows": verify.report_rows(run),
            "outcome": verify.outcome_text(run),
            "finished": run.state in (Verification.DONE, Verification.FAILED),
            "building": bool(Store().campaign_meta(run.campaign_id).building),
            "opts": self.model._meta,
        }
        return TemplateResponse(request, "fundraiser/verify_report.html", context)

    def rebuild_after_report(self, request, run: Verification) -> None:
        """The report's Rebuild button. Never restarts a rebuild under way (replace=True would throw
        its progress away, e.g. the one a metric edit started): verify again once it is live."""
        campaign = Campaign.objects.prefetch_related("metrics").get(pk=run.campaign_id)
        store = Store()
        store.ensure_meta(campaign.pk)
        if store.campaign_meta(campaign.pk).building:
            messages.warning(request, "A rebuild is already under way: verify again once it is live.")
            return
        rebuild_start(store=store, config=campaign_config(campaign), replace=True,
                      reason=f"verify found a difference; rebuild asked by {request.user.get_username()}")  # fmt: skip
        messages.success(request, "Rebuilding from the table: screens keep their numbers meanwhile.")
