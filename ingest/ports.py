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
class MetricsChanged:
    """New absolute values of some metrics (all of them after a rebuild went live)."""

    config: CampaignConfig
    version: int
    epoch: str
    metrics: dict[str, MetricValues]


@dataclass(frozen=True)
class Recalculating:
    """The campaign has no numbers to show until a rebuild completes (Redis lost them)."""

    config: CampaignConfig
    epoch: str


@dataclass(frozen=True)
class RebuildProgress:
    """How far the scan of a rebuild is, while nothing is live."""

    config: CampaignConfig
    epoch: str
    items: int
    estimate: int
    done: bool


@dataclass(frozen=True)
class TickerChanged:
    """The recent gifts list, whole (ingest/ticker.py: names, amounts, positions, refunds)."""

    config: CampaignConfig
    listing: dict[str, Any] = field(default_factory=dict)


Update = MetricsChanged | Recalculating | RebuildProgress | TickerChanged


class UpdatePublisher(Protocol):
    def publish(self, update: Update) -> None: ...


class DiscardUpdates:
    """Until an app plugs in a publisher (a worker without pages still counts)."""

    def publish(self, update: Update) -> None:
        pass


ConfigSource = Callable[[], list[CampaignConfig]]
_configs: ConfigSource | None = None
_publisher: UpdatePublisher = DiscardUpdates()


def provide(*, configs: ConfigSource | None = None, publisher: UpdatePublisher | None = None) -> None:
    """Plug an app into the engine (from its AppConfig.ready)."""
    global _configs, _publisher
    if configs is not None:
        _configs = configs
    if publisher is not None:
        _publisher = publisher


def active_configs() -> list[CampaignConfig]:
    if _configs is None:
        raise RuntimeError("no campaign configs: the app that provides them (fundraiser) is not installed")
    return _configs()


def publish(update: Update) -> None:
    _publisher.publish(update)
