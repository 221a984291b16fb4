"""The campaign form's Preview step: the form and its metrics as typed, checked and run over the
first donations of the table, shown above the form again; nothing is saved (CampaignForm.is_valid
is False while previewing, so the admin re-renders instead of saving)."""

from __future__ import annotations

from django.contrib import messages

from .models import Metric
from .preview import Preview, preview_campaign

PREVIEW = "_preview"


def is_previewing(request) -> bool:
    return request.method == "POST" and PREVIEW in request.POST


def metric_drafts(formsets) -> list[Metric]:
    """The metrics of the form as typed (unsaved models): valid, not deleted rows of the inline."""
    drafts = []
    for formset in formsets:
        if formset.model is not Metric:
            continue
        for form in formset.forms:
            data = getattr(form, "cleaned_data", None) or {}
            if data.get("slug") and not data.get("DELETE"):
                drafts.append(form.instance)  # the form's values, not saved (a preview never saves)
    return drafts


def form_preview(form, formsets) -> Preview | None:
    data = getattr(form, "cleaned_data", {})
    check = getattr(form, "source_check", None)
    if check is not None and not check.ok:  # already said next to the fields; said again here
        return Preview(check, tuple(metric_drafts(formsets)))
    if not data.get("table_name") or any(
        name in form.errors for name in ("table_name", "region", "endpoint_url")
    ):
        return None
    extra = {
        "donor's display name": data.get("donor_name_path", ""),
        "anonymous flag": data.get("anonymous_path", ""),
    }
    return preview_campaign(
        table_name=data["table_name"],
        region=data.get("region", ""),
        endpoint_url=data.get("endpoint_url", ""),
        currency=data.get("currency") or "",
        metrics=metric_drafts(formsets),
        extra_paths={label: path for label, path in extra.items() if path},
    )


class PreviewStep:
    """Mixed into CampaignAdmin."""

    def get_form(self, request, obj=None, change=False, **kwargs):
        form = super().get_form(request, obj, change=change, **kwargs)
        if is_previewing(request):
            form = type(form.__name__, (form,), {"previewing": True})
        return form

    def render_change_form(self, request, context, add=False, change=False, form_url="", obj=None):
        if is_previewing(request):
            formsets = [inline.formset for inline in context.get("inline_admin_formsets", [])]
            context["source_preview"] = form_preview(context["adminform"].form, formsets)
        return super().render_change_form(request, context, add, change, form_url, obj)

    def warn_unmatched_paths(self, request, form) -> None:
        """After a save: attributes the metrics name that the table's first donations lack."""
        campaign = form.instance
        if not campaign.is_active:
            return
        drafts = list(campaign.metrics.all())
        try:
            preview = preview_campaign(
                table_name=campaign.table_name,
                region=campaign.region,
                endpoint_url=campaign.endpoint_url,
                currency=campaign.currency,
                metrics=drafts,
            )
        except Exception:  # noqa: BLE001 - a warning must never fail a save
            return
        for flag in preview.flags:
            self.message_user(request, f"Check this metric: {flag}", messages.WARNING)
