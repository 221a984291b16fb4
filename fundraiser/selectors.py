"""Reads of campaign configuration, shaped for ingestion and for the pages."""

from __future__ import annotations

from dataclasses import dataclass

from ingest.metrics import MetricSpec

from .models import Campaign, Goal, Metric


@dataclass(frozen=True)
class MetricDisplay:
    slug: str
    label: str
    places: int
    is_money: bool


@dataclass(frozen=True)
class CampaignConfig:
    """Everything the worker and the pages need about one campaign, loaded in one go."""

    id: int
    slug: str
    name: str
    currency: str
    table_name: str
    region: str
    endpoint_url: str
    specs: tuple[MetricSpec, ...]
    displays: dict[str, MetricDisplay]
    goal: GoalConfig | None


@dataclass(frozen=True)
class GoalConfig:
    metric: str
    group: str
    target_minor: int
    label: str


def metric_spec(metric: Metric) -> MetricSpec:
    return MetricSpec.build(
        slug=metric.slug,
        aggregation=metric.aggregation,
        value_path=metric.value_path,
        group_path=metric.group_by_path,
        filter_path=metric.filter_path,
        filter_value=metric.filter_value,
        decimal_places=metric.decimal_places,
    )


def campaign_config(campaign: Campaign) -> CampaignConfig:
    metrics = list(campaign.metrics.all())
    displays = {
        m.slug: MetricDisplay(m.slug, m.display_label, m.decimal_places if m.aggregation == Metric.SUM else 0,
                              m.is_money and m.aggregation == Metric.SUM)
        for m in metrics
    }
    return CampaignConfig(
        id=campaign.pk,
        slug=campaign.slug,
        name=campaign.name,
        currency=campaign.currency,
        table_name=campaign.table_name,
        region=campaign.region,
        endpoint_url=campaign.endpoint_url,
        specs=tuple(metric_spec(m) for m in metrics),
        displays=displays,
        goal=headline_goal(campaign, metrics),
    )


def headline_goal(campaign: Campaign, metrics: list[Metric]) -> GoalConfig | None:
    goal: Goal | None = campaign.headline_goal
    if goal is not None:
        places = goal.metric.decimal_places if goal.metric.aggregation == Metric.SUM else 0
        return GoalConfig(goal.metric.slug, goal.group, int(goal.target.scaleb(places)),
                          goal.label or "Goal")
    money = [m for m in metrics if m.aggregation == Metric.SUM]
    if money and campaign.goal_amount:
        metric = money[0]
        return GoalConfig(metric.slug, "", int(campaign.goal_amount.scaleb(metric.decimal_places)), "Goal")
    return None


def active_campaign_configs() -> list[CampaignConfig]:
    campaigns = (
        Campaign.objects.filter(is_active=True)
        .select_related("headline_goal__metric")
        .prefetch_related("metrics")
    )
    return [campaign_config(c) for c in campaigns]
