"""Campaign models turned into the engine's configs (ingest/config.py), for the worker and the pages."""

from __future__ import annotations

from typing import Any

from ingest.config import CampaignConfig, GoalConfig, MetricDisplay, TickerSource
from ingest.metrics import SUM, MetricSpec

from .models import Campaign, Goal, Metric, Milestone


def copied(row: Any, *names: str, **renamed: str) -> dict[str, Any]:
    """A row's attributes as an engine object's keyword arguments: the names it shares with the
    engine, and keyword=attribute where the engine names it otherwise (id="pk")."""
    sources = {name: name for name in names} | renamed
    return {keyword: getattr(row, attribute) for keyword, attribute in sources.items()}


def metric_spec(metric: Metric) -> MetricSpec:
    shared = ("slug", "aggregation", "value_path", "filter_path", "filter_value", "decimal_places")
    return MetricSpec.build(**copied(metric, *shared, group_path="group_by_path"))


def campaign_config(campaign: Campaign) -> CampaignConfig:
    metrics = list(campaign.metrics.all())
    specs = [metric_spec(m) for m in metrics]
    return CampaignConfig(
        **copied(campaign, "slug", "name", "currency", "table_name", "region", "endpoint_url", id="pk"),
        specs=tuple(specs),
        displays={spec.slug: metric_display(m, spec) for m, spec in zip(metrics, specs, strict=True)},
        goal=(goal := headline_goal(campaign, metrics)),
        ticker=ticker_source(campaign, metrics, goal),
        leaderboard=leaderboard_metric(campaign, metrics, goal),
    )


def metric_display(metric: Metric, spec: MetricSpec) -> MetricDisplay:
    """Shown in the places the engine counts in; only a sum can be money."""
    return MetricDisplay(
        spec.slug, metric.display_label, spec.decimal_places, metric.is_money and spec.aggregation == SUM
    )


def _path(path: str) -> tuple[str, ...]:
    return tuple(path.split(".")) if path else ()


def ticker_source(campaign: Campaign, metrics: list[Metric], goal: GoalConfig | None) -> TickerSource | None:
    sums = [m.slug for m in metrics if m.aggregation == Metric.SUM]
    if not sums:
        return None
    metric = goal.metric if goal is not None and goal.metric in sums else sums[0]
    return TickerSource(metric, _path(campaign.donor_name_path), _path(campaign.anonymous_path))


def leaderboard_metric(campaign: Campaign, metrics: list[Metric], goal: GoalConfig | None) -> str | None:
    grouped = [m for m in metrics if m.group_by_path]
    chosen = next((m.slug for m in grouped if m.pk == campaign.leaderboard_metric_id), None)
    if chosen:
        return chosen
    if goal is not None and any(m.slug == goal.metric for m in grouped):
        return goal.metric
    money = [m.slug for m in grouped if m.aggregation == Metric.SUM]
    return next(iter(money or [m.slug for m in grouped]), None)


def campaign_milestones(campaign: Campaign, places: int) -> list[dict[str, str]]:
    """Milestones as exact decimal text in the headline metric's places, lowest first."""
    rows: list[Milestone] = list(campaign.milestones.all())
    return [{"amount": f"{m.amount:.{places}f}", "label": m.label} for m in rows]


def headline_goal(campaign: Campaign, metrics: list[Metric]) -> GoalConfig | None:
    goal: Goal | None = campaign.headline_goal
    if goal is not None:
        places = metric_spec(goal.metric).decimal_places
        return GoalConfig(goal.metric.slug, goal.group, int(goal.target.scaleb(places)), goal.label or "Goal")
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


def campaign_config_by_slug(slug: str) -> CampaignConfig | None:
    """Any campaign's config, active or not (the engine's `manage.py backfill`)."""
    campaign = Campaign.objects.prefetch_related("metrics").filter(slug=slug).first()
    return campaign_config(campaign) if campaign is not None else None
