"""The engine's ports: where campaign configs come from, and where its updates go.

The engine defines both and imports neither app. At start-up the apps plug in (AppConfig.ready):
`fundraiser` provides the configs of active campaigns, `dashboard` publishes updates to browsers
(dashboard/events.py turns each update into a server-sent event whose JSON shape is its schema).
Entry points and tests may pass their own to a Consumer instead.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

from .config import CampaignConfig
from .store import MetricValues


@dataclass(frozen=True)
class CampaignUpdate:
    """Something the screens of one campaign should show (each Update below)."""

    config: CampaignConfig


@dataclass(frozen=True)
class MetricsChanged(CampaignUpdate):
    """New absolute values of some metrics (all of them after a rebuild went live)."""

    version: int
    epoch: str
    metrics: dict[str, MetricValues]


@dataclass(frozen=True)
class Recalculating(CampaignUpdate):
    """The campaign has no numbers to show until a rebuild completes (Redis lost them)."""

    epoch: str


@dataclass(frozen=True)
class RebuildProgress(CampaignUpdate):
    """How far the scan of a rebuild is, while nothing is live."""

    epoch: str
    items: int
    estimate: int
    done: bool


@dataclass(frozen=True)
class TickerChanged(CampaignUpdate):
    """The recent gifts list, whole (ingest/ticker.py: names, amounts, positions, refunds)."""

    listing: dict[str, Any] = field(default_factory=dict)


Update = MetricsChanged | Recalculating | RebuildProgress | TickerChanged


class UpdatePublisher(Protocol):
    def publish(self, update: Update) -> None: ...


class DiscardUpdates:
    """Until an app plugs in a publisher (a worker without pages still counts)."""

    def publish(self, update: Update) -> None:
        pass


ConfigSource = Callable[[], list[CampaignConfig]]
# One campaign's config by its slug, active or not (manage.py backfill), or None.
ConfigLookup = Callable[[str], CampaignConfig | None]
# A campaign's adjustments (ingest.adjustments.Adjustment), every one ever recorded, reversed included.
AdjustmentSource = Callable[[int], list[Any]]
# The recent gifts list as screens get it, after the organizers' moderation (hidden names, removed gifts).
TickerModeration = Callable[[int, dict[str, Any]], dict[str, Any]]
_configs: ConfigSource | None = None
_lookup: ConfigLookup | None = None
_adjustments: AdjustmentSource = lambda campaign_id: []  # noqa: E731 - until an app provides them
_moderation: TickerModeration = lambda campaign_id, listing: listing  # noqa: E731
_publisher: UpdatePublisher = DiscardUpdates()


def provide(
    *,
    configs: ConfigSource | None = None,
    lookup: ConfigLookup | None = None,
    publisher: UpdatePublisher | None = None,
    adjustments: AdjustmentSource | None = None,
    moderation: TickerModeration | None = None,
) -> None:
    """Plug an app into the engine (from its AppConfig.ready)."""
    global _configs, _lookup, _publisher, _adjustments, _moderation
    if configs is not None:
        _configs = configs
    if lookup is not None:
        _lookup = lookup
    if publisher is not None:
        _publisher = publisher
    if adjustments is not None:
        _adjustments = adjustments
    if moderation is not None:
        _moderation = moderation


def active_configs() -> list[CampaignConfig]:
    if _configs is None:
        raise RuntimeError("no campaign configs: the app that provides them (fundraiser) is not installed")
    return _configs()


def campaign_by_slug(slug: str) -> CampaignConfig | None:
    if _lookup is None:
        raise RuntimeError("no campaign configs: the app that provides them (fundraiser) is not installed")
    return _lookup(slug)


def campaign_adjustments(campaign_id: int) -> list[Any]:
    return _adjustments(campaign_id)


def moderated_ticker(campaign_id: int, listing: dict[str, Any]) -> dict[str, Any]:
    return _moderation(campaign_id, listing)


@dataclass(frozen=True)
class OrganizerInput:
    """What organizers decide on the night, as a consumer reads it: the campaign's adjustments and
    the moderation of its recent gifts. By default from the app that records them (the ports above)."""

    adjustments: AdjustmentSource = campaign_adjustments
    moderate_ticker: TickerModeration = moderated_ticker


# For a consumer whose campaigns live in a database it cannot read (tests whose web server has its
# own): no adjustments, gifts shown as they are.
NO_ORGANIZER_INPUT = OrganizerInput(lambda campaign_id: [], lambda campaign_id, listing: listing)


def publish(update: Update) -> None:
    _publisher.publish(update)
