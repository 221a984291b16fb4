"""Issue 14, acceptance 1: at more than ten gifts a second the ticker stays readable on every layout.

Four screens (and a fifth with reduced motion) follow a real consumer while a thread writes about
twelve gifts a second to the campaign's (simulated) table. For 30 s each screen is captured again
and again; in every capture every visible ticker row but the one entering is fully opaque, the
visible rows stand one under the other from the top of the list (no blank band), and no row, of
the ticker or any other card, crosses its card's box. New rows enter at a pace people can read.
"""

from __future__ import annotations

import time

import pytest
from playwright.sync_api import expect

from tests.background import GiftStream, Worker

from .conftest import SCREENSHOTS, settle
from .layout import layout_problems

pytestmark = pytest.mark.browser

LAYOUTS = ("thermometer", "breakdown", "leaderboard", "split")
CAPTURE_SECONDS = 30
GIFTS_PER_SECOND = 12
MIN_SECONDS_BETWEEN_NEW_ROWS = 0.5

# When each row was put into the ticker (page time, ms), once window.__recording is set.
RECORD_ARRIVALS = """
window.__arrivals = [];
new MutationObserver(function (mutations) {
  mutations.forEach(function (mutation) {
    if (!window.__recording || mutation.target.id !== "ticker") return;
    mutation.addedNodes.forEach(function (node) {
      if (node.nodeType === 1) window.__arrivals.push({at: performance.now(), key: node.dataset.key});
    });
  });
}).observe(document, {subtree: true, childList: true});
"""

# The ticker as it is painted in this frame: each row's box, whether any of it shows inside the
# list (rows that do not fit wrap out of it), its opacity and running animations.
TICKER_FRAME = """
() => {
  const list = document.getElementById("ticker");
  const box = list.getBoundingClientRect();
  return {
    top: box.top,
    bottom: box.bottom,
    rows: Array.from(list.children).map(function (row) {
      const b = row.getBoundingClientRect();
      return {
        name: row.querySelector(".gift-name").textContent,
        top: b.top,
        bottom: b.bottom,
        shown: b.height > 0 && b.left < box.right && b.right > box.left && b.top < box.bottom && b.bottom > box.top,
        opacity: Number(getComputedStyle(row).opacity),
        animations: row.getAnimations().length,
      };
    }),
  };
}
"""


def frame_problems(frame: dict, *, entering_allowed: bool) -> list[str]:
    rows = [row for row in frame["rows"] if row["shown"]]
    problems = []
    faded = [n for n, row in enumerate(rows) if row["opacity"] < 1]
    if faded and (not entering_allowed or faded != [0]):  # only the newest row may be entering
        problems.append(f"rows not fully opaque: {[(rows[n]['name'], rows[n]['opacity']) for n in faded]}")
    if not entering_allowed and any(row["animations"] for row in rows):
        problems.append("a row is animated although the screen asks for reduced motion")
    if not rows:
        return problems + ["no gift is shown"]
    edges = [frame["top"]] + [row["bottom"] for row in rows[:-1]]
    gaps = [round(row["top"] - edge, 1) for row, edge in zip(rows, edges, strict=True)]
    if any(abs(gap) > 2 for gap in gaps):
        problems.append(f"a blank band between rows (gaps {gaps})")
    tallest = max(row["bottom"] - row["top"] for row in rows)
    if len(frame["rows"]) > len(rows) and frame["bottom"] - rows[-1]["bottom"] > tallest + 2:
        problems.append("a blank band under the rows while more gifts wait below")
    return problems


def test_at_twelve_gifts_a_second_every_layout_shows_whole_opaque_rows_at_a_readable_pace(
    kiosk, open_page, store, consumer, sim
):
    gifts = GiftStream(sim.put, rate=GIFTS_PER_SECOND)
    gifts.give(30, name="Early donor {n}")
    settle(consumer, store, kiosk.config, sim)
    pages = {name: open_page(kiosk.screen_url(name), init=RECORD_ARRIVALS) for name in LAYOUTS}
    calm = open_page(kiosk.screen_url("thermometer-2"), reduced_motion="reduce", init=RECORD_ARRIVALS)
    for page in [*pages.values(), calm]:
        expect(page.locator("#screen")).to_have_attribute("data-connection", "live")
        page.evaluate("window.__recording = true")

    worker = Worker(consumer).start()
    gifts.start()
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    rounds, captures, problems = 0, 0, []
    started = time.monotonic()
    try:
        while time.monotonic() - started < CAPTURE_SECONDS:
            for name, page in [*pages.items(), ("reduced-motion", calm)]:
                frame = page.evaluate(TICKER_FRAME)
                found = frame_problems(frame, entering_allowed=page is not calm) + layout_problems(page)
                problems += [f"{name}, capture {captures}: {problem}" for problem in found]
                captures += 1
                if rounds % 10 == 0:
                    page.screenshot(path=SCREENSHOTS / f"busy-{name}-{rounds // 10}.png")
            rounds += 1
    finally:
        gifts.stop()
    elapsed = time.monotonic() - started
    written = len(gifts.written) - 30
    last = gifts.written[-1][1]
    for page in [*pages.values(), calm]:  # within a few seconds of the last gift, it is on top
        expect(page.locator(".gift-name").first).to_have_text(last, timeout=10000)
    worker.stop()

    print(f"{written} gifts in {elapsed:.0f} s ({written / elapsed:.1f}/s); {captures} captures")
    assert written / elapsed >= 10, "the test did not give fast enough"
    assert not problems, f"{len(problems)} problems in {captures} captures:\n" + "\n".join(problems[:20])
    for name, page in [*pages.items(), ("reduced-motion", calm)]:
        arrivals = [a["at"] for a in page.evaluate("window.__arrivals")]
        pauses = [later - earlier for earlier, later in zip(arrivals, arrivals[1:], strict=False)]
        assert len(arrivals) >= CAPTURE_SECONDS, f"{name}: only {len(arrivals)} new rows"
        assert min(pauses) >= 1000 * MIN_SECONDS_BETWEEN_NEW_ROWS, (
            f"{name}: rows came {min(pauses):.0f} ms apart"
        )
