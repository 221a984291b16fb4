"""Campaigns, the metrics computed over their donation table, and the goals set on metrics."""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from datetime import datetime
from decimal import Decimal

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import MaxValueValidator, MinValueValidator, RegexValidator
from django.db import models
from django.utils import timezone

from ingest.endpoints import endpoint_refusal
from ingest.metrics import MAX_MINOR_UNITS, exact_minor_units, kept_places

from .currencies import currency_refusal
from .sources import REGION_SYNTAX, region_problem

PATH_VALIDATOR = RegexValidator(
    r"^[^.\s]+(\.[^.\s]+)*$",
    "A dotted attribute path such as amount or payment.amount.",
)


def attribute_path(**options) -> models.CharField:
    """Where an item keeps a value: an attribute, dotted into nested maps (payment.amount); optional."""
    return models.CharField(max_length=255, blank=True, validators=[PATH_VALIDATOR], **options)


# Attribute names that hold contact details: never shown on a screen, whatever is configured.
CONTACT_WORDS = ("email", "mail", "phone", "mobile", "tel", "address", "postcode", "zip")


# Colours go into the screens' style sheet: only #rrggbb, so nothing else can be injected there.
COLOR_VALIDATOR = RegexValidator(r"^#[0-9a-fA-F]{6}$", "A colour as #rrggbb, e.g. #3ee08f.")


def colour_field(default: str, help_text: str) -> models.CharField:
    """A colour of the screens, #rrggbb."""
    return models.CharField(max_length=7, default=default, validators=[COLOR_VALIDATOR], help_text=help_text)


def own_row_choice(model: str, **options) -> models.ForeignKey:
    """A campaign's choice of one of its own rows (its headline goal...): optional, cleared when that
    row is deleted, and no way back from the row (related_name "+")."""
    return models.ForeignKey(
        model, null=True, blank=True, on_delete=models.SET_NULL, related_name="+", **options
    )


def validate_currency(code: str) -> None:
    refusal = currency_refusal(code)
    if refusal:
        raise ValidationError(refusal)


class Campaign(models.Model):
    name = models.CharField(max_length=200)
    slug = models.SlugField(
        "web address",
        unique=True,
        help_text="The end of the campaign's public page address, /c/<this>/: lower-case letters, "
        "digits and hyphens, e.g. spring-gala.",
    )
    currency = models.CharField(
        max_length=3,
        default="USD",
        validators=[validate_currency],
        help_text="Three capital letters (ISO 4217), e.g. USD, EUR, GBP.",
    )
    goal_amount = models.DecimalField(
        "goal",
        max_digits=14,
        decimal_places=2,
        default=Decimal("0"),
        validators=[MinValueValidator(Decimal("0"))],
        help_text="What the screens count towards, in the campaign's currency (e.g. 50000), on the "
        "first money metric below (e.g. Raised). 0: no goal. Milestones are set further down.",
    )
    starts_at = models.DateTimeField(null=True, blank=True)
    ends_at = models.DateTimeField(null=True, blank=True)
    table_name = models.CharField(
        "DynamoDB table",
        max_length=255,
        help_text="The name of the table holding the donations, exactly as in the AWS console "
        "(case matters). Its stream must be on, with “New and old images”: saving checks it.",
    )
    region = models.CharField(
        "AWS region",
        max_length=32,
        default="us-east-1",
        help_text="The region code the AWS console shows at the top right, e.g. eu-west-1 for "
        "Europe (Ireland), us-east-1 for US East (N. Virginia).",
    )
    endpoint_url = models.URLField(
        "local DynamoDB address",
        blank=True,
        help_text="Leave empty: the table is read from AWS. Only for a test copy of DynamoDB on "
        "this server's network that whoever runs the server allowed (INGEST_ALLOWED_ENDPOINTS).",
    )
    is_active = models.BooleanField(
        "active",
        default=True,
        help_text="Ingest this campaign's stream and show it. Off: its page and screens say it is not live.",
    )
    keep_final_total = models.BooleanField(
        "keep showing the final total",
        default=False,
        help_text="Once the campaign has ended (or is switched off), its page and screens keep "
        "showing the numbers. Off: they only say that giving has closed.",
    )
    public_ticker = models.BooleanField(
        "recent gifts on the public page",
        default=False,
        help_text="Show the recent gifts ticker (donors' chosen display names and amounts) on the "
        "public goal page and its event stream too. Screens show it whatever this says.",
    )
    # set from goal_amount (fundraiser/goals.py): one goal on the campaign form
    headline_goal = own_row_choice("Goal", editable=False)
    # --- how the display screens look and what they show ---
    accent_color = colour_field("#3ee08f", "Progress, percent and highlights on the screens (#rrggbb).")
    bar_color = colour_field("#5aa9ff", "Bars per group (#rrggbb).")
    background_color = colour_field(
        "#060a16", "Screen background (#rrggbb). Dark reads best on projectors; text colour follows."
    )
    logo_url = models.URLField(
        "logo address", blank=True, help_text="Logo shown in the screens' header (PNG or SVG)."
    )
    donation_url = models.URLField(
        "where to give (web address)",
        blank=True,
        help_text="Where to give: shown on the screens as a QR code.",
    )
    donor_name_path = attribute_path(
        verbose_name="donor's display name attribute",
        default="name",
        help_text="Attribute holding the name a donor chose to display in the recent gifts ticker. "
        "Empty: every gift shows as Anonymous.",
    )
    anonymous_path = attribute_path(
        verbose_name="“stay anonymous” attribute",
        help_text="Optional attribute that, when true, shows the gift as Anonymous, e.g. anonymous.",
    )
    leaderboard_metric = own_row_choice(
        "Metric",
        help_text="Metric whose groups (teams, fundraisers) leaderboard screens rank. "
        "Default: the headline metric, if it has a group-by.",
    )
    leaderboard_title = models.CharField(
        max_length=100,
        blank=True,
        help_text="e.g. Top teams. Empty: named after the group-by (Top platforms).",
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name

    def clean(self) -> None:
        if self.starts_at and self.ends_at and self.ends_at <= self.starts_at:
            raise ValidationError({"ends_at": "The campaign must end after it starts."})
        if self.headline_goal_id and self.headline_goal.metric.campaign_id != self.pk:
            raise ValidationError({"headline_goal": "Choose a goal of this campaign."})
        if self.leaderboard_metric_id:
            metric = self.leaderboard_metric
            if metric.campaign_id != self.pk:
                raise ValidationError({"leaderboard_metric": "Choose a metric of this campaign."})
            if not metric.group_by_path:
                raise ValidationError({"leaderboard_metric": "Choose a metric with a group-by (teams…)."})
        for field in ("donor_name_path", "anonymous_path"):
            if is_contact_path(getattr(self, field)):
                raise ValidationError(
                    {field: "This attribute looks like contact details: screens never show those."}
                )
        if not REGION_SYNTAX.fullmatch(self.region or ""):
            problem = region_problem(self.region or "")
            raise ValidationError(
                {"region": problem.message if problem else "An AWS region code such as eu-west-1."}
            )
        refusal = endpoint_refusal(self.endpoint_url, settings.INGEST_ALLOWED_ENDPOINTS)
        if refusal:
            raise ValidationError({"endpoint_url": refusal[:1].upper() + refusal[1:] + "."})

    def closed_state(self, now: datetime | None = None) -> str | None:
        """ "inactive" (switched off), "ended" (past its end time), or None while it is live."""
        if not self.is_active:
            return "inactive"
        now = now or timezone.now()
        if self.ends_at is not None and now >= self.ends_at:
            return "ended"
        return None

    def hides_numbers(self, now: datetime | None = None) -> str | None:
        """The closed state when the public page and screens must show no numbers, else None."""
        state = self.closed_state(now)
        return None if state is None or self.keep_final_total else state


def is_contact_path(path: str) -> bool:
    """donorEmail, contact.phone_number, e-mail... are contact details; display_name is not."""
    last = path.rsplit(".", 1)[-1]
    words = re.findall(r"[A-Z]?[a-z]+|[A-Z]+(?![a-z])|\d+", last)
    return any(word.lower() in CONTACT_WORDS for word in words)


def one_per_campaign(field: str, *, name: str) -> models.UniqueConstraint:
    """A campaign has at most one row with each value of `field` (one metric per slug...)."""
    return models.UniqueConstraint(fields=["campaign", field], name=name)


class Metric(models.Model):
    SUM = "sum"
    COUNT = "count"
    COUNT_DISTINCT = "count_distinct"
    AGGREGATIONS = [(SUM, "Sum"), (COUNT, "Count"), (COUNT_DISTINCT, "Count distinct")]

    campaign = models.ForeignKey(Campaign, on_delete=models.CASCADE, related_name="metrics")
    slug = models.SlugField("short name", help_text="e.g. raised, gifts, donors.")
    label = models.CharField(max_length=100, blank=True, help_text="Shown on screens, e.g. Raised.")
    aggregation = models.CharField(
        "counts",
        max_length=20,
        choices=AGGREGATIONS,
        default=SUM,
        help_text="Sum: adds up amounts. Count: one per donation. Count distinct: one per donor.",
    )
    value_path = attribute_path(
        verbose_name="attribute",
        help_text="The donation's attribute to add up or count once, exactly as in the table "
        "(case matters), e.g. amount; inside a map: payment.amount.",
    )
    group_by_path = attribute_path(
        verbose_name="broken down by", help_text="Optional attribute, e.g. platform or team."
    )
    filter_path = attribute_path(verbose_name="only where", help_text="Optional attribute…")
    filter_value = models.CharField("equals", max_length=255, blank=True, help_text="…has this value.")
    decimal_places = models.PositiveSmallIntegerField(
        "decimals",
        default=2,
        validators=[MaxValueValidator(6)],
        help_text="2 for cents. A donation with more decimals is not counted (and listed as rejected).",
    )
    is_money = models.BooleanField("money", default=True, help_text="Shown with the currency.")

    class Meta:
        ordering = ["campaign", "slug"]
        constraints = [one_per_campaign("slug", name="unique_metric_slug")]

    def __str__(self) -> str:
        return f"{self.campaign.slug}/{self.slug}"

    @property
    def display_label(self) -> str:
        return self.label or self.slug.replace("-", " ").replace("_", " ").title()

    def clean(self) -> None:
        if self.aggregation in (self.SUM, self.COUNT_DISTINCT) and not self.value_path:
            raise ValidationError({"value_path": "Sum and count distinct need a value attribute."})
        if bool(self.filter_path) != bool(self.filter_value):
            raise ValidationError({"filter_value": "Give both a filter attribute and its value."})
        self.decimal_places = kept_places(self.aggregation, self.decimal_places)
        refusal = self.paddle_levels_refusal()
        if refusal:
            raise ValidationError({"decimal_places": refusal})

    @property
    def counts_adjustments_amount(self) -> bool:
        """A sum without a filter: adjustments and paddles add their amount to it."""
        return self.aggregation == self.SUM and not self.filter_path

    def paddle_levels_refusal(self) -> str:
        """A paddle level of the campaign this sum could not count exactly ("" if none)."""
        if not self.counts_adjustments_amount or not self.campaign_id:
            return ""
        for level in PaddleLevel.objects.filter(campaign_id=self.campaign_id):
            if not amount_fits(level.amount, self.decimal_places):
                return (
                    f"The paddle level {level.amount.normalize():f} does not fit {self.decimal_places} "
                    "decimal places: change the paddle levels first."
                )
        return ""


def amount_fits(amount: Decimal, places: int) -> bool:
    """A sum keeping these decimal places counts this amount exactly (the engine's own bound)."""
    minor = exact_minor_units(amount, places)
    return minor is not None and abs(minor) <= MAX_MINOR_UNITS


class Goal(models.Model):
    metric = models.ForeignKey(Metric, on_delete=models.CASCADE, related_name="goals")
    group = models.CharField(
        max_length=255, blank=True, help_text="Only this group of the metric (e.g. Facebook)."
    )
    target = models.DecimalField(
        max_digits=18, decimal_places=6, validators=[MinValueValidator(Decimal("0"))]
    )
    label = models.CharField(max_length=100, blank=True)

    class Meta:
        ordering = ["metric", "target"]

    def __str__(self) -> str:
        return self.label or f"{self.metric} ≥ {self.target.normalize()}"


class Milestone(models.Model):
    """A stretch goal or a step towards the goal, on the headline goal's metric: screens celebrate it."""

    campaign = models.ForeignKey(Campaign, on_delete=models.CASCADE, related_name="milestones")
    amount = models.DecimalField(
        max_digits=18,
        decimal_places=6,
        validators=[MinValueValidator(Decimal("0.000001"))],
        help_text="In the headline goal's unit (e.g. 25000 for $25,000).",
    )
    label = models.CharField(max_length=100, help_text="e.g. Halfway there, Stretch goal: a new van.")

    class Meta:
        ordering = ["campaign", "amount"]
        constraints = [one_per_campaign("amount", name="unique_milestone_amount")]

    def __str__(self) -> str:
        return f"{self.label} ({self.amount.normalize():f})"


def token_digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


class Screen(models.Model):
    """A TV or projector: its layout and the secret token in its kiosk URL (/s/<token>/).

    Only a digest of the token is stored; the token itself is shown once, when it is issued.
    """

    THERMOMETER = "thermometer"
    BREAKDOWN = "breakdown"
    LEADERBOARD = "leaderboard"
    SPLIT = "split"
    PADDLE = "paddle"
    LAYOUTS = [
        (THERMOMETER, "Thermometer: total raised against the goal"),
        (BREAKDOWN, "Breakdown: bars per platform or team"),
        (LEADERBOARD, "Leaderboard: top teams or fundraisers"),
        (SPLIT, "Split: progress and breakdown side by side"),
        (PADDLE, "Paddle raise: levels, paddles per level and the running total"),
    ]

    campaign = models.ForeignKey(Campaign, on_delete=models.CASCADE, related_name="screens")
    name = models.CharField(max_length=100, help_text="Where it stands, e.g. Ballroom, left of the stage.")
    layout = models.CharField(max_length=20, choices=LAYOUTS, default=THERMOMETER)
    show_ticker = models.BooleanField("recent gifts ticker", default=True)
    show_qr = models.BooleanField("QR code to give", default=True)
    token_digest = models.CharField(max_length=64, unique=True, editable=False)
    previous_token_digest = models.CharField(max_length=64, blank=True, db_index=True, editable=False)
    token_hint = models.CharField(max_length=8, blank=True, editable=False)
    token_issued_at = models.DateTimeField(null=True, blank=True, editable=False)
    revoked_at = models.DateTimeField(null=True, blank=True, editable=False)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["campaign", "name"]

    def __str__(self) -> str:
        return self.name

    @property
    def is_revoked(self) -> bool:
        return self.revoked_at is not None

    def issue_token(self) -> str:
        """A new token for this screen (not saved); the previous one stops working once saved."""
        from django.utils import timezone

        token = secrets.token_urlsafe(24)
        if self.token_digest:
            self.previous_token_digest = self.token_digest
        self.token_digest = token_digest(token)
        self.token_hint = token[:4]
        self.token_issued_at = timezone.now()
        return token

    def token_matches(self, token: str) -> bool:
        return hmac.compare_digest(self.token_digest, token_digest(token))


# --- the organizers' levers on the night (issue 11): access, adjustments, paddles, moderation -----
class Membership(models.Model):
    """Who organizes a campaign: a non-superuser sees and changes only the campaigns they belong to."""

    MANAGER = "manager"
    VOLUNTEER = "volunteer"
    ROLES = [
        (MANAGER, "Manager: the campaign, its screens, adjustments, moderation and health"),
        (VOLUNTEER, "Volunteer: records adjustments and paddles only"),
    ]

    campaign = models.ForeignKey(Campaign, on_delete=models.CASCADE, related_name="memberships")
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="campaign_memberships"
    )
    role = models.CharField(max_length=20, choices=ROLES, default=VOLUNTEER)

    class Meta:
        ordering = ["campaign", "user"]
        constraints = [models.UniqueConstraint(fields=["campaign", "user"], name="unique_membership")]

    def __str__(self) -> str:
        return f"{self.user} ({self.role} of {self.campaign})"


class Adjustment(models.Model):
    """An amount recorded by hand (cash in the room, a cheque, a paddle raised). Never deleted: a
    reversal is recorded on it (who, when, why) and bumps its version, which the engine counts by
    (ingest/adjustments.py)."""

    ADJUSTMENT = "adjustment"
    PADDLE = "paddle"
    KINDS = [(ADJUSTMENT, "Adjustment"), (PADDLE, "Paddle raise")]

    campaign = models.ForeignKey(Campaign, on_delete=models.PROTECT, related_name="adjustments")
    kind = models.CharField(max_length=20, choices=KINDS, default=ADJUSTMENT)
    amount = models.DecimalField(max_digits=18, decimal_places=6)
    group = models.CharField(
        max_length=100, help_text='Shown as a group of grouped metrics, e.g. "Cash in the room".'
    )
    note = models.CharField(max_length=500, blank=True, help_text="Why: shown in the audit list.")
    counts_as_gift = models.BooleanField(default=False, help_text="Also count one gift (count metrics).")
    counts_as_donor = models.BooleanField(
        default=False, help_text="Also count one donor (distinct count metrics)."
    )
    paddle = models.CharField(max_length=20, blank=True, help_text="Paddle number (paddle raise).")
    # One per entry form shown (the console's, the admin's add form): a form sent twice records once.
    entry_token = models.CharField(max_length=64, null=True, blank=True, unique=True, editable=False)
    version = models.PositiveIntegerField(default=1, editable=False)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+", editable=False
    )
    created_at = models.DateTimeField(auto_now_add=True)
    reversed_at = models.DateTimeField(null=True, blank=True, editable=False)
    reversed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+", editable=False
    )
    reversal_note = models.CharField(max_length=500, blank=True, editable=False)

    class Meta:
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        what = f"paddle #{self.paddle}" if self.kind == self.PADDLE else self.group
        return f"{what}: {self.amount.normalize():f}" + (" (reversed)" if self.is_reversed else "")

    @property
    def is_reversed(self) -> bool:
        return self.reversed_at is not None


class PaddleLevel(models.Model):
    """A level of a paddle raise (fund-a-need), highest first: the console's keys 1, 2, 3…"""

    campaign = models.ForeignKey(Campaign, on_delete=models.CASCADE, related_name="paddle_levels")
    amount = models.DecimalField(
        max_digits=18, decimal_places=6, validators=[MinValueValidator(Decimal("0.01"))]
    )
    label = models.CharField(max_length=100, blank=True, help_text="e.g. A month of meals.")

    class Meta:
        ordering = ["campaign", "-amount"]
        constraints = [models.UniqueConstraint(fields=["campaign", "amount"], name="unique_paddle_level")]

    def __str__(self) -> str:
        return f"{self.amount.normalize():f}" + (f" ({self.label})" if self.label else "")


class GiftModeration(models.Model):
    """One gift of the recent gifts ticker, hidden ("Anonymous") or removed by an organizer."""

    HIDE_NAME = "hide_name"
    REMOVE = "remove"
    ACTIONS = [(HIDE_NAME, "Name hidden (shows Anonymous)"), (REMOVE, "Removed from the ticker")]

    campaign = models.ForeignKey(Campaign, on_delete=models.CASCADE, related_name="moderations")
    item_key = models.CharField(max_length=64, help_text="The gift's key digest (no donor data).")
    action = models.CharField(max_length=20, choices=ACTIONS)
    name_seen = models.CharField(max_length=64, blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    undone_at = models.DateTimeField(null=True, blank=True)
    undone_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    class Meta:
        ordering = ["-created_at"]


class NameFilter(models.Model):
    """Words that hide a donor's name on every screen (case-insensitive, whole words)."""

    campaign = models.OneToOneField(Campaign, on_delete=models.CASCADE, related_name="name_filter")
    words = models.TextField(blank=True, help_text="One word or phrase a line.")
    updated_at = models.DateTimeField(auto_now=True)

    def word_list(self) -> list[str]:
        return [line.strip() for line in self.words.splitlines() if line.strip()]


class Verification(models.Model):
    """A "Verify totals" run: an independent recount of the table against the live numbers."""

    QUEUED, RUNNING, DONE, FAILED = "queued", "running", "done", "failed"
    STATES = [(QUEUED, "queued"), (RUNNING, "running"), (DONE, "done"), (FAILED, "failed")]

    campaign = models.ForeignKey(Campaign, on_delete=models.CASCADE, related_name="verifications")
    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    state = models.CharField(max_length=20, choices=STATES, default=QUEUED)
    progress = models.JSONField(default=dict, blank=True)
    report = models.JSONField(default=dict, blank=True)
    error = models.TextField(blank=True)

    class Meta:
        ordering = ["-created_at"]
