"""The engine's input: what ingestion needs to know about a campaign, as plain data.

`fundraiser` turns its models into these (fundraiser/selectors.py); the engine never reads models.
The pages use the same objects to show what the engine counts.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from .metrics import MetricSpec


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
    ticker: TickerSource | None = None  # what the recent gifts ticker shows (None: no sum metric)
    leaderboard: str | None = None  # metric whose groups leaderboard screens rank


@dataclass(frozen=True)
class TickerSource:
    """A gift in the ticker: its amount as this sum metric counts it, and the donor's chosen name."""

    metric: str
    name_path: tuple[str, ...]
    anonymous_path: tuple[str, ...] = ()


@dataclass(frozen=True)
class GoalConfig:
    metric: str
    group: str
    target_minor: int
    label: str


def format_minor(value: int, places: int) -> str:
    """Exact decimal text of an integer number of minor units: (123450, 2) -> "1234.50"."""
    return f"{Decimal(value).scaleb(-places):.{places}f}"
