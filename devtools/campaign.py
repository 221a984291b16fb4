"""The demo campaign: one definition for `make demo`, the benchmark (bench/run.py) and the tests.

Donations are items like {"id", "email", "name", "platform", "amount", "donatedAt"} (what
devtools/simulator.py writes). The campaign counts them with three metrics: `raised` (sum of
`amount` in cents, by `platform`), `gifts` (count by `platform`) and `donors` (distinct `email`),
and has its headline goal on `raised`.

`DemoCampaign.ensure` writes it as models (the demo, tests with a database); `engine_config` gives
what fundraiser.selectors.campaign_config makes of those models, without a database (the benchmark,
pure tests). tests/test_devtools.py checks that the two agree.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from decimal import Decimal
from typing import TYPE_CHECKING, Any, ClassVar

from ingest.config import CampaignConfig, GoalConfig, MetricDisplay, TickerSource
from ingest.metrics import MetricSpec

if TYPE_CHECKING:
    from fundraiser.models import Campaign


@dataclass(frozen=True)
class MetricDefinition:
    """A metric as an organizer enters it in the admin: the fields of fundraiser.models.Metric."""

    slug: str
    label: str
    aggregation: str
    value_path: str = ""
    group_by_path: str = ""
    filter_path: str = ""
    filter_value: str = ""
    decimal_places: int = 0
    is_money: bool = False

    @property
    def spec(self) -> MetricSpec:
        """What the engine counts (its rules apply: places are kept for sums only)."""
        same_names = ("aggregation", "value_path", "filter_path", "filter_value", "decimal_places")
        fields = {name: getattr(self, name) for name in same_names}
        return MetricSpec.build(slug=self.slug, group_path=self.group_by_path, **fields)

    @property
    def display(self) -> MetricDisplay:
        return MetricDisplay(self.slug, self.label, self.spec.decimal_places, self.is_money)

    def model_fields(self) -> dict[str, Any]:
        return {k: v for k, v in dataclasses.asdict(self).items() if k != "slug"}


RAISED = MetricDefinition("raised", "Raised", "sum", "amount", "platform", decimal_places=2, is_money=True)
GIFTS = MetricDefinition("gifts", "Gifts", "count", group_by_path="platform")
DONORS = MetricDefinition("donors", "Donors", "count_distinct", value_path="email")
METRICS = (RAISED, GIFTS, DONORS)


def specs(metrics: tuple[MetricDefinition, ...] = METRICS) -> tuple[MetricSpec, ...]:
    return tuple(m.spec for m in metrics)


def displays(metrics: tuple[MetricDefinition, ...] = METRICS) -> dict[str, MetricDisplay]:
    return {m.slug: m.display for m in metrics}


@dataclass(frozen=True)
class DemoCampaign:
    """The demo campaign reading one table; tests and the benchmark give it their own slug and goal."""

    slug: str = "demo"
    name: str = "Spring Appeal (demo)"
    goal: Decimal = Decimal("50000.00")  # on RAISED, the headline metric
    table_name: str = "Donations"
    region: str = "us-east-1"
    endpoint_url: str = ""
    currency: ClassVar[str] = "USD"
    donor_name_path: ClassVar[tuple[str, ...]] = ("name",)  # the Campaign model's default

    def ensure(self) -> Campaign:
        """The campaign, its metrics and its headline goal, created or pointed at this table again.

        A second call only resets where the donations come from: edits made in the admin are kept.
        """
        from fundraiser.models import Campaign, Goal, Metric

        source = {
            "table_name": self.table_name,
            "region": self.region,
            "endpoint_url": self.endpoint_url,
            "is_active": True,
        }
        campaign, _ = Campaign.objects.update_or_create(
            slug=self.slug,
            defaults=source,
            create_defaults={
                **source,
                "name": self.name,
                "currency": self.currency,
                "goal_amount": self.goal,
            },
        )
        metrics = {
            m.slug: Metric.objects.get_or_create(campaign=campaign, slug=m.slug, defaults=m.model_fields())[0]
            for m in METRICS
        }
        if campaign.headline_goal_id is None:
            headline = metrics[RAISED.slug]
            campaign.headline_goal = Goal.objects.create(metric=headline, target=self.goal, label="Goal")
            campaign.save(update_fields=["headline_goal"])
        return campaign

    def engine_config(self, campaign_id: int) -> CampaignConfig:
        """What the engine is given for the campaign `ensure` makes, without a database."""
        headline = RAISED.spec
        in_model_order = tuple(sorted(METRICS, key=lambda m: m.slug))  # Metric.Meta.ordering
        same_names = ("slug", "name", "currency", "table_name", "region", "endpoint_url")
        return CampaignConfig(
            id=campaign_id,
            **{name: getattr(self, name) for name in same_names},
            specs=specs(in_model_order),
            displays=displays(in_model_order),
            goal=GoalConfig(headline.slug, "", int(self.goal.scaleb(headline.decimal_places)), "Goal"),
            ticker=TickerSource(headline.slug, self.donor_name_path),
            leaderboard=headline.slug,
        )
