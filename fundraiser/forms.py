"""The campaign form of the admin: plain checks, each with what to do, before anything is saved."""

from __future__ import annotations

from decimal import Decimal

from django import forms

from .currencies import currency_refusal
from .models import Campaign
from .sources import SourceCheck, check_source

SOURCE_FIELDS = ("table_name", "region", "endpoint_url")


class MoneyInput(forms.NumberInput):
    """12500 or 12500.50, never 12500.000000 (amounts are stored with six places)."""

    def format_value(self, value):
        if isinstance(value, Decimal):
            value = value.quantize(Decimal("0.01")) if value != value.to_integral() else value.to_integral()
            return f"{value:f}"
        return super().format_value(value)


class CampaignForm(forms.ModelForm):
    class Meta:
        model = Campaign
        fields = "__all__"
        widgets = {"goal_amount": MoneyInput(attrs={"step": "0.01", "min": "0"})}

    source_check: SourceCheck | None = None
    previewing = False

    def clean_currency(self) -> str:
        code = self.cleaned_data["currency"].strip()
        refusal = currency_refusal(code)
        if refusal:
            raise forms.ValidationError(refusal)
        return code

    def clean_region(self) -> str:
        return self.cleaned_data["region"].strip()

    def clean(self):
        cleaned = super().clean()
        if self.must_check_source(cleaned):
            self.check_source(cleaned)
        return cleaned

    def must_check_source(self, cleaned: dict) -> bool:
        """On a new campaign, a changed source or one switched on; never for a colour change (AWS
        being briefly unreachable must not block an unrelated edit). Previews always check."""
        if any(name in self.errors for name in SOURCE_FIELDS) or not cleaned.get("table_name"):
            return False
        if self.previewing:
            return True
        changed = set(self.changed_data)
        return cleaned.get("is_active") and (
            self.instance.pk is None or bool(changed & {*SOURCE_FIELDS, "is_active"})
        )

    def check_source(self, cleaned: dict) -> None:
        self.source_check = check_source(
            table_name=cleaned["table_name"],
            region=cleaned.get("region", ""),
            endpoint_url=cleaned.get("endpoint_url", ""),
        )
        for problem in self.source_check.problems:
            field = problem.field if problem.field in self.fields else None
            self.add_error(field, str(problem))
        if self.source_check.problems and not self.previewing:
            self.add_error(
                None,
                "The campaign was not saved: the dashboard could not read its donation table (see "
                "below). Fix it in AWS and save again, or untick “Active” to save it switched off.",
            )

    def is_valid(self) -> bool:
        """A preview never saves: the admin then shows the form again, with the preview."""
        valid = super().is_valid()
        return valid and not self.previewing
