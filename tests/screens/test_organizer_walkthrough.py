"""Acceptance 3: a new organizer, from an empty database to a live screen, through the admin alone.

Real parts: uvicorn over its own SQLite file (migrated, nothing in it but the organizer's login), a
real consumer process (`manage.py consume`, as a worker runs), the donations table in moto, and
headless Chromium. Each step's screenshot is kept in artifacts/walkthrough/.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import tempfile
from decimal import Decimal
from pathlib import Path

import pytest
from playwright.sync_api import expect

from tests.dashboard.conftest import ARTIFACTS, ROOT, WebServer, child_env
from tests.factories import make_table

from .conftest import ADMIN_PASSWORD, ADMIN_USER

pytestmark = pytest.mark.browser
STEPS = ARTIFACTS / "walkthrough"
GIFTS = [
    {
        "id": "d1",
        "email": "ada@mail.test",
        "name": "Ada L.",
        "platform": "Website",
        "amount": Decimal("25.00"),
    },
    {
        "id": "d2",
        "email": "grace@mail.test",
        "name": "Grace H.",
        "platform": "Gala",
        "amount": Decimal("100"),
    },
    {"id": "d3", "email": "sam@mail.test", "name": "Sam", "platform": "Website", "amount": Decimal("12.50")},
]


@pytest.fixture
def empty_site(moto):
    workdir = Path(tempfile.mkdtemp(prefix="fr-walkthrough-"))
    env = child_env(workdir)
    subprocess.run(
        [sys.executable, "manage.py", "migrate", "-v", "0"], cwd=ROOT, env=env, check=True, timeout=120
    )
    user = (
        "import django; django.setup()\nfrom django.contrib.auth import get_user_model\n"
        f"get_user_model().objects.create_superuser({ADMIN_USER!r}, 'o@example.org', {ADMIN_PASSWORD!r})"
    )
    subprocess.run([sys.executable, "-c", user], cwd=ROOT, env=env, check=True, timeout=120)
    server = WebServer(workdir, env).start()
    worker = subprocess.Popen(  # the worker a deployment runs; it finds new campaigns by itself
        [sys.executable, "manage.py", "consume", "--seconds", "180", "--id", "walkthrough"],
        cwd=ROOT,
        env=env,
        stdout=open(workdir / "worker.log", "w"),  # noqa: SIM115 - closed with the process
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    try:
        yield server
    finally:
        os.killpg(worker.pid, signal.SIGTERM)
        worker.wait(20)
        server.stop()


def shot(page, name: str) -> None:
    STEPS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=STEPS / f"{name}.png", full_page=True)


def fill_campaign(page, *, table: str, region: str, currency: str, value_path: str, endpoint: str) -> None:
    page.fill("#id_table_name", table)
    page.fill("#id_region", region)
    page.fill("#id_currency", currency)
    page.fill("#id_endpoint_url", endpoint)
    page.fill("#id_metrics-0-value_path", value_path)


def test_a_new_organizer_sets_up_a_live_screen_through_the_admin(empty_site, moto, open_page):
    table = make_table(moto.url)  # the table exists in AWS, with its stream (the organizer's own)
    for gift in GIFTS:
        table.put_item(Item=gift)
    site = empty_site

    page = open_page(site.url("/admin/"), width=1440, height=900)
    shot(page, "01-login")
    page.fill("#id_username", ADMIN_USER)
    page.fill("#id_password", ADMIN_PASSWORD)
    page.click("input[type=submit]")
    expect(page.locator("#site-name")).to_be_visible()
    shot(page, "02-admin-home")

    page.goto(site.url("/admin/fundraiser/campaign/add/"))
    expect(page.locator("fieldset h2", has_text="Health")).to_have_count(0)  # none before it exists
    expect(page.locator("text=waiting for records")).to_have_count(0)
    page.fill("#id_name", "Spring Gala")
    page.fill("#id_goal_amount", "1000")
    page.locator("#metrics-group .add-row a").click()
    page.fill("#id_metrics-0-slug", "raised")
    page.fill("#id_metrics-0-label", "Raised")
    page.fill("#id_metrics-0-group_by_path", "platform")
    shot(page, "03-add-campaign")

    # Mistakes a new organizer makes: a region name, the table's name in the wrong case.
    fill_campaign(
        page, table="donations", region="Ireland", currency="usd", value_path="amount", endpoint=moto.url
    )
    page.click("input[name=_save]")
    expect(page.locator(".errornote")).to_be_visible()
    expect(page.locator("text=“Ireland” is not an AWS region code. Did you mean eu-west-1?")).to_be_visible()
    expect(page.locator("text=Currency codes are written in capitals: USD.")).to_be_visible()
    shot(page, "04-mistakes-refused")

    fill_campaign(
        page, table="donations", region="us-east-1", currency="USD", value_path="amount", endpoint=moto.url
    )
    page.click("input[name=_save]")
    expect(page.locator("text=There is no table named donations in us-east-1.").first).to_be_visible()
    shot(page, "05-table-not-found")

    fill_campaign(
        page, table="Donations", region="us-east-1", currency="USD", value_path="Amount", endpoint=moto.url
    )
    page.click("#fr-preview-button")
    expect(page.locator("#fr-preview-flags")).to_contain_text("Did you mean “amount”?")
    shot(page, "06-preview-flags-a-wrong-attribute")

    page.fill("#id_metrics-0-value_path", "amount")
    page.click("#fr-preview-button")
    expect(page.locator("#fr-preview-table")).to_contain_text("$100.00 · Gala")
    expect(page.locator("#fr-preview-flags")).to_have_count(0)
    shot(page, "07-preview-shows-the-values")

    page.click("input[name=_save]")
    expect(page.locator(".messagelist")).to_contain_text("was added successfully")
    shot(page, "08-campaign-saved")

    page.goto(site.url("/admin/fundraiser/screen/add/"))
    page.select_option("#id_campaign", label="Spring Gala")
    page.fill("#id_name", "Ballroom, left of the stage")
    page.click("input[name=_save]")
    link = page.locator(".messagelist a").first
    expect(link).to_be_visible()
    shot(page, "09-screen-added-with-its-link")
    kiosk_url = link.get_attribute("href")

    screen = open_page(kiosk_url, width=1920, height=1080)
    expect(screen.get_by_test_id("raised")).to_have_text("$137.50", timeout=30000)
    expect(screen.locator("#screen")).to_have_attribute("data-connection", "live")
    expect(screen.locator(".live-pill")).to_be_visible()
    screen.wait_for_timeout(500)
    shot(screen, "10-live-screen")

    page.goto(site.url("/admin/fundraiser/campaign/"))
    expect(page.locator("#result_list")).to_contain_text("live")
    shot(page, "11-campaign-list-live")
    page.locator("#result_list a", has_text="Spring Gala").click()
    expect(page.locator(".field-health_detail")).to_contain_text("live")
    shot(page, "12-campaign-health")
