"""Issue 10's screen glitches, measured in the page at 720p, 1080p, 4K and portrait, with screenshots:
the last ticker row is never cut, a milestone near the start is not clipped at the left, donor names
of ordinary length show in full, and a long milestone label stays on two lines on *split*. And an
admin page still loads while five screens are open in the same browser."""

from __future__ import annotations

import time
from decimal import Decimal

import pytest
from playwright.sync_api import expect

from tests.factories import make_table

from .conftest import ADMIN_PASSWORD, ADMIN_USER, SCREENSHOTS, Donations
from .layout import layout_problems

pytestmark = pytest.mark.browser

SIZES = [(1280, 720), (1920, 1080), (3840, 2160), (1080, 1920)]
NEAR_START = "First hundred!"
LONG_LABEL = "Stretch goal: a brand-new accessible minibus for the youth club"
NAMES = ["The Okafor-Brennan Family", "María José Fernández", "Dr. Jean-Baptiste Zorg"]  # 20-25 chars
GIFTS = [{"name": f"Guest {i}", "platform": "Text-to-give", "amount": Decimal("5.00")} for i in range(14)] + [
    {"name": NAMES[0], "platform": "Website", "amount": Decimal("800.00")},
    {"name": NAMES[1], "platform": "Gala auction", "amount": Decimal("120.00")},
    {"name": NAMES[2], "platform": "Facebook", "amount": Decimal("45.50")},
]  # the named gifts last: newest, at the top of the ticker

GLITCHES = """
({nearStart, longLabel, names}) => {
  const problems = [];
  const view = {left: 0, right: innerWidth, top: 0, bottom: innerHeight};
  const shown = (el) => el && el.getClientRects().length > 0 && getComputedStyle(el).visibility !== "hidden";
  // 1. every ticker row that is painted is whole: inside its list, its card and the screen
  const list = document.querySelector("#ticker");
  if (shown(list)) {
    const box = list.getBoundingClientRect();
    const card = list.closest(".gifts").getBoundingClientRect();
    for (const row of list.querySelectorAll(".gift")) {
      const r = row.getBoundingClientRect();
      const beside = r.left >= box.right - 1;  // wrapped into the unpainted second column
      if (beside) continue;
      const bottom = Math.min(box.bottom, card.bottom, view.bottom);
      if (r.bottom > bottom + 1 || r.top < box.top - 1) problems.push("ticker row cut: " + row.textContent.trim());
    }
  }
  // 2. milestone labels are entirely on screen (none clipped at the left edge)
  for (const label of document.querySelectorAll(".tick-label, .tick-amount")) {
    if (!shown(label)) continue;
    const r = label.getBoundingClientRect();
    if (r.left < view.left - 1 || r.right > view.right + 1) problems.push("milestone clipped: " + label.textContent);
    for (let node = label.parentElement; node; node = node.parentElement) {
      if (getComputedStyle(node).overflow === "visible") continue;
      const clip = node.getBoundingClientRect();
      if (r.left < clip.left - 1 || r.right > clip.right + 1) { problems.push("milestone clipped: " + label.textContent); break; }
    }
  }
  // 3. donor names of ordinary length are not cut
  for (const name of document.querySelectorAll(".gift-name")) {
    const cut = name.scrollWidth > name.clientWidth + 1 || name.scrollHeight > name.clientHeight + 1;
    if (names.includes(name.textContent) && cut) problems.push("name cut: " + name.textContent);
  }
  // 4. a long milestone label takes at most two lines
  for (const label of document.querySelectorAll(".next-label, .next .milestone-label, .next-name")) {
    if (!shown(label) || label.textContent.trim() !== longLabel) continue;
    const lines = Math.round(label.getBoundingClientRect().height / parseFloat(getComputedStyle(label).lineHeight));
    if (lines > 2) problems.push("long milestone label on " + lines + " lines");
  }
  return problems;
}
"""


@pytest.fixture(scope="module")
def milestones(kiosk):
    kiosk.run_django(
        "from decimal import Decimal\nfrom fundraiser.models import Milestone\n"
        f"Milestone.objects.create(campaign_id={kiosk.config.id}, amount=Decimal('20'), label={NEAR_START!r})\n"
        f"Milestone.objects.filter(campaign_id={kiosk.config.id}, amount=Decimal('1500')).update(label={LONG_LABEL!r})\n"
    )


def test_the_four_glitches_are_fixed_at_every_size(kiosk, milestones, open_page, moto, store, consumer):
    table = make_table(moto.url)
    Donations(table, consumer, store, kiosk.config).give(*GIFTS)  # $1,035.50: the long label is next
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    found = {}
    for layout in ("thermometer", "split"):  # the ticker, the scale and the next card; both aside widths
        for width, height in SIZES:
            page = open_page(kiosk.screen_url(layout), width=width, height=height)
            expect(page.locator("#screen")).to_have_attribute("data-connection", "live")
            page.wait_for_timeout(300)
            page.screenshot(path=SCREENSHOTS / f"fit-{layout}-{width}x{height}.png")
            problems = page.evaluate(
                GLITCHES, {"nearStart": NEAR_START, "longLabel": LONG_LABEL, "names": NAMES}
            )
            problems += layout_problems(page)
            if problems:
                found[f"{layout} {width}x{height}"] = problems
            page.context.close()
    assert found == {}, "\n".join(f"{k}: {v}" for k, v in found.items())


def transport(page) -> str | None:
    return page.locator("#screen").get_attribute("data-transport")


def log_in(page, url: str) -> None:
    page.goto(url)
    page.fill("#id_username", ADMIN_USER)
    page.fill("#id_password", ADMIN_PASSWORD)
    page.click("input[type=submit]")


def test_an_admin_page_loads_while_five_screens_are_open_in_the_same_browser(kiosk, browser):
    context = browser.new_context(viewport={"width": 1280, "height": 720})  # one browser profile
    try:
        admin = context.new_page()
        log_in(admin, kiosk.url("/admin/login/?next=/admin/"))
        screens = []
        for name in ("thermometer", "breakdown", "leaderboard", "split", "thermometer-2"):
            page = context.new_page()
            page.goto(kiosk.screen_url(name))
            screens.append(page)
        for screen_id in kiosk.ids.values():  # and a preview of each, from the admin
            page = context.new_page()
            page.goto(kiosk.url(f"/admin/fundraiser/screen/{screen_id}/preview/"))
            screens.append(page)
        goal = context.new_page()
        goal.goto(kiosk.url("/c/gala/"))
        screens.append(goal)
        for page in screens:
            expect(page.locator("#screen")).to_have_attribute("data-connection", "live", timeout=15000)
        transports = [page.locator("#screen").get_attribute("data-transport") for page in screens]
        assert transports[:5] == ["stream"] * 5, transports  # event-floor screens never poll
        assert all(t == "polling" for t in transports[5:10]), transports  # previews never stream
        assert transports[10] == "polling", transports  # the kiosks took the goal page's slots

        started = time.monotonic()
        admin.goto(kiosk.url("/admin/fundraiser/campaign/"), timeout=10000)
        expect(admin.locator("#result_list")).to_be_visible(timeout=10000)
        loaded = time.monotonic() - started
        admin.screenshot(path=SCREENSHOTS / "admin-with-eleven-screens-open.png")
        assert loaded < 5, f"the admin took {loaded:.1f} s"
        # Closing kiosks frees their slots: the goal page takes one over within ~10 s.
        for page in screens[1:5]:
            page.close()
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline and transport(goal) != "stream":
            time.sleep(0.5)
        assert transport(goal) == "stream"
        assert transport(screens[0]) == "stream"
    finally:
        context.close()
