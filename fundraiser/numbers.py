"""Money and counts: Decimal in Python, integer minor units in Redis."""

from __future__ import annotations

from decimal import Decimal


def minor_to_decimal(value: int, places: int) -> Decimal:
    return Decimal(value).scaleb(-places)


def format_minor(value: int, places: int) -> str:
    """Exact decimal text of an integer number of minor units: (123450, 2) -> "1234.50"."""
    return f"{minor_to_decimal(value, places):.{places}f}"


def to_minor(amount: Decimal, places: int) -> int:
    return int(amount.scaleb(places).to_integral_value())
