"""Campaigns, the metrics computed over their donation table, and the goals set on metrics."""

from __future__ import annotations

from decimal import Decimal

from django.core.exceptions import ValidationError
from django.core.validators import MaxValueValidator, MinValueValidator, RegexValidator
from django.db import models

PATH_VALIDATOR = RegexValidator(
    r"^[^.\s]+(\.[^.\s]+)*$",
    "A dotted attribute path such as amount or payment.amount.",
)


class Campaign(models.Model):
    name = models.CharField(max_length=200)
    slug = models.SlugField(unique=True)
    currency = models.CharField(max_length=3, default="USD", help_text="ISO 4217 code, e.g. USD.")
    goal_amount = models.DecimalField(max_digits=14, decimal_places=2, default=Decimal("0"))
    starts_at = models.DateTimeField(null=True, blank=True)
    ends_at = models.DateTimeField(null=True, blank=True)
    table_name = models.CharField("DynamoDB table", max_length=255)
    region = models.CharField(max_length=32, default="us-east-1")
    endpoint_url = models.URLField(
        blank=True, help_text="Only for local DynamoDB (moto, DynamoDB Local); empty for AWS."
    )
    is_active = models.BooleanField(default=True, help_text="Ingest this campaign's stream.")
    headline_goal = models.ForeignKey(
        "Goal", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
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


class Metric(models.Model):
    SUM = "sum"
    COUNT = "count"
    COUNT_DISTINCT = "count_distinct"
    AGGREGATIONS = [(SUM, "Sum"), (COUNT, "Count"), (COUNT_DISTINCT, "Count distinct")]

    campaign = models.ForeignKey(Campaign, on_delete=models.CASCADE, related_name="metrics")
    slug = models.SlugField()
    label = models.CharField(max_length=100, blank=True)
    aggregation = models.CharField(max_length=20, choices=AGGREGATIONS, default=SUM)
    value_path = models.CharField(
        max_length=255, blank=True, validators=[PATH_VALIDATOR],
        help_text="Attribute to sum or count distinct, e.g. amount or payment.amount.",
    )
    group_by_path = models.CharField(
        max_length=255, blank=True, validators=[PATH_VALIDATOR],
        help_text="Optional attribute to break the metric down by, e.g. platform.",
    )
    filter_path = models.CharField(max_length=255, blank=True, validators=[PATH_VALIDATOR])
    filter_value = models.CharField(max_length=255, blank=True)
    decimal_places = models.PositiveSmallIntegerField(
        default=2, validators=[MaxValueValidator(6)],
        help_text="Exact precision kept for sums (2 for cents). Values with more are rejected.",
    )
    is_money = models.BooleanField(default=True, help_text="Shown with the campaign currency.")

    class Meta:
        ordering = ["campaign", "slug"]
        constraints = [
            models.UniqueConstraint(fields=["campaign", "slug"], name="unique_metric_slug"),
        ]

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
        if self.aggregation != self.SUM:
            self.decimal_places = 0


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
