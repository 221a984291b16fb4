"""What the screens should show for a table, as a recount of it gives it."""

from __future__ import annotations

from decimal import Decimal

from devtools.campaign import specs as demo_specs
from ingest.metrics import recount
from tests.factories import scan_all

SPECS = demo_specs()  # what tests.factories.make_campaign configures


def as_text(values: dict[str, int], places: int) -> dict[str, str]:
    return {name: f"{Decimal(v).scaleb(-places):.{places}f}" for name, v in values.items()}


def expected_payload(table) -> dict:
    """The snapshot's metrics as a recount of the table would show them."""
    counted = recount(SPECS, scan_all(table))
    out = {}
    for spec in SPECS:
        places = spec.decimal_places
        out[spec.slug] = {
            "total": as_text({"t": counted.totals[spec.slug]}, places)["t"],
            "groups": as_text(counted.groups[spec.slug], places),
        }
    return out


def shown(metrics: dict) -> dict:
    return {
        slug: {
            "total": m["total"],
            "groups": {g["name"] if g["name"] != "Other" else "": g["value"] for g in m["groups"]},
        }
        for slug, m in metrics.items()
    }
