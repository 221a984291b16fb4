"""The one table `make bench` prints: figure, target, measured, ratio, and the stages each figure
includes. Every suite (bench/fanout.py, bench/latency.py, bench/snapshot.py, bench/ingest.py) is a
function returning Rows; bench/all.py runs them and prints this table."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Row:
    figure: str
    target: str
    measured: str
    ratio: str  # measured against the target, "x" where more is better, "%" of a ceiling otherwise
    stages: str = ""  # what the figure includes (and leaves out)
    met: bool | None = None  # None: informative, no target

    @property
    def verdict(self) -> str:
        return {True: "met", False: "NOT met", None: ""}[self.met]


def at_most(measured: float, target: float) -> str:
    """Ratio for a ceiling (latency, memory): target / measured, >= 1.00x means within it."""
    return "inf" if measured <= 0 else f"{target / measured:.2f}x"


def at_least(measured: float, target: float) -> str:
    return f"{measured / target:.2f}x"


def render(rows: list[Row], notes: list[str] = ()) -> str:
    headers = ("figure", "target", "measured", "ratio", "")
    cells = [headers, *((r.figure, r.target, r.measured, r.ratio, r.verdict) for r in rows)]
    widths = [max(len(row[i]) for row in cells) for i in range(len(headers))]
    line = lambda row: " | ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip()  # noqa: E731
    out = [line(headers), "-+-".join("-" * w for w in widths)]
    out += [line(row) for row in cells[1:]]
    out.append("")
    out.append("stages each figure includes:")
    seen = set()
    for row in rows:
        if row.stages and row.stages not in seen:
            seen.add(row.stages)
            out.append(f"  - {row.figure.split(',')[0]}: {row.stages}")
    out += [f"  {note}" for note in notes]
    return "\n".join(out)
