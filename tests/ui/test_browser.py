"""The UI in a real browser: Debian's Chromium, headless, driven by Playwright against uvicorn.

Log in, search a demo customer, open the 360° page and check traits and timeline, build a
two-condition segment by clicking, see its size equal the segments API's count, save it, and
check a viewer sees masked e-mails. Each page's screenshot goes to ``test-artifacts/ui/``.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from playwright.sync_api import Browser, Page, expect, sync_playwright
from tests.ui.conftest import ADMIN_TOKEN, ARTIFACTS, Served

CHROMIUM = Path("/usr/bin/chromium")

pytestmark = pytest.mark.skipif(not CHROMIUM.exists(), reason="Debian's chromium is not installed")


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as p:
        launched = p.chromium.launch(executable_path=str(CHROMIUM), headless=True)
        yield launched
        launched.close()


@pytest.fixture
def page(browser: Browser) -> Iterator[Page]:
    context = browser.new_context(viewport={"width": 1280, "height": 900}, locale="en-GB")
    opened = context.new_page()
    yield opened
    context.close()


def _shot(page: Page, name: str) -> None:
    page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)


def _log_in(page: Page, served: Served, user: str, password: str) -> None:
    page.goto(served.url + "/")
    expect(page).to_have_url(re.compile(r"/ui/login"))
    page.get_by_label("User name").fill(user)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Log in").click()
    expect(page.get_by_role("heading", name="Overview", level=1)).to_be_visible()


def test_marketer_journey(page: Page, served: Served) -> None:
    customer = served.customer
    page.goto(served.url + "/ui/login")
    _shot(page, "01-login")
    # a wrong password is refused with a message, and nothing else
    page.get_by_label("User name").fill("demo")
    page.get_by_label("Password").fill("nope")
    page.get_by_role("button", name="Log in").click()
    expect(page.get_by_role("alert")).to_contain_text("Wrong user name or password")
    _log_in(page, served, "demo", "demo")
    profiles_total = int(served.store.scalar(served.store.table("profiles").count()))
    expect(page.locator("#kpi-profiles")).to_have_text(f"{profiles_total:,}")
    expect(page.locator("svg.chart").first).to_be_visible()
    _shot(page, "02-overview")

    # search a customer by the start of their e-mail, open the 360° page
    page.get_by_role("link", name="Profiles", exact=True).click()
    page.get_by_label("Name, e-mail, phone or any identifier").fill(customer["email"][:6])
    page.get_by_role("button", name="Search").click()
    name = f"{customer['first_name']} {customer['last_name']}"
    _shot(page, "03-search")
    page.get_by_role("link", name=name).first.click()
    expect(page.get_by_role("heading", name=name, level=1)).to_be_visible()
    expect(page.locator('#traits tr[data-trait="email"] td.value')).to_have_text(customer["email"])
    expect(page.locator('#traits tr[data-trait="last_name"] td.value')).to_have_text(
        customer["last_name"]
    )
    events = served.store.table("profile_events")
    count = int(
        served.store.scalar(events.filter(events.profile_id == customer["profile_id"]).count())
    )
    expect(page.locator("#timeline tbody tr")).to_have_count(min(count, 25))
    _shot(page, "04-profile")
    # the timeline filters on one source
    source = page.locator('.filters input[name="source"]').first
    chosen = source.get_attribute("value")
    source.check()
    page.get_by_role("button", name="Filter").click()
    cells = page.locator("#timeline tbody tr td:nth-child(2)").all_inner_texts()
    assert cells and set(cells) == {chosen}

    # build "trait country = FR and did Order Completed" by clicking
    page.get_by_role("link", name="Segments", exact=True).click()
    page.get_by_role("link", name="New segment").click()
    page.get_by_label("Name (lower case").fill("fr_buyers_ui")
    page.get_by_label("Title").fill("French buyers")
    page.get_by_role("button", name="Add condition").click()
    page.get_by_label("Condition 1 · kind").select_option("trait")
    page.get_by_label("Condition 1 · name").select_option("country")
    page.get_by_label("Condition 1 · operator").select_option("eq")
    page.get_by_label("Condition 1 · value").fill("FR")
    page.get_by_role("button", name="Add condition").click()
    page.get_by_label("Condition 2 · kind").select_option("event")
    page.get_by_label("Condition 2 · event").select_option("Order Completed")
    builder = page.locator("#builder")
    expect(builder).to_have_attribute("data-state", "ready")
    expect(page.locator("#rule-text")).to_have_text(
        'trait country = "FR" and did "Order Completed"'
    )
    estimated = int(page.locator("#size").get_attribute("data-value") or "-1")
    assert estimated > 0
    expect(page.locator("#preview tbody tr")).to_have_count(min(estimated, 10))
    _shot(page, "05-builder")
    page.get_by_role("button", name="Save segment").click()
    expect(page).to_have_url(re.compile(r"/ui/segments/fr_buyers_ui$"))
    expect(page.get_by_role("heading", name="French buyers", level=1)).to_be_visible()
    api = httpx.get(
        served.url + "/segments/fr_buyers_ui/size",
        headers={"Authorization": f"Bearer {ADMIN_TOKEN}"},
    )
    assert api.status_code == 200, api.text
    assert api.json()["members"] == estimated
    expect(builder).to_have_attribute("data-state", "ready")
    assert int(page.locator("#size").get_attribute("data-value") or "-1") == estimated
    expect(page.locator("#history tbody tr")).to_have_count(1)
    _shot(page, "06-segment")
    page.get_by_role("link", name="Segments", exact=True).click()
    expect(page.locator("#segments")).to_contain_text("French buyers")
    _shot(page, "07-segments")

    for link, shot in (
        ("Sources", "08-sources"),
        ("Destinations", "10-destinations"),
        ("Privacy", "11-privacy"),
    ):
        page.get_by_role("link", name=link, exact=True).click()
        expect(page.get_by_role("heading", name=link, level=1)).to_be_visible()
        _shot(page, shot)
        if link == "Destinations":
            expect(page.locator("#destinations tbody tr").first).to_be_visible()
        if link == "Sources":
            page.get_by_role("link", name="crm_contacts").click()
            expect(page.locator("#quality tbody tr").first).to_be_visible()
            _shot(page, "09-source")


def test_viewer_sees_masked_personal_data(page: Page, served: Served) -> None:
    customer = served.customer
    _log_in(page, served, "viewer", "viewer")
    page.goto(f"{served.url}/ui/profiles/{customer['profile_id']}")
    email = page.locator('#traits tr[data-trait="email"] td.value')
    expect(email).to_contain_text("•••")
    html = page.content()
    assert customer["email"] not in html
    assert customer["last_name"] not in html
    _shot(page, "12-viewer-profile")
    page.goto(f"{served.url}/ui/profiles?q={customer['email'][:6]}")
    expect(page.locator("#results")).to_contain_text("•••")
    assert customer["email"] not in page.content()
    # a viewer cannot save segments: the builder offers no save button
    page.goto(served.url + "/ui/segments/new")
    expect(page.get_by_role("button", name="Save segment")).to_have_count(0)


def test_keyboard_reaches_the_skip_link_and_the_menu(page: Page, served: Served) -> None:
    _log_in(page, served, "demo", "demo")
    page.keyboard.press("Tab")
    expect(page.locator(":focus")).to_have_text("Skip to content")
    page.keyboard.press("Tab")
    page.keyboard.press("Tab")
    expect(page.locator(":focus")).to_have_text("Overview")
    page.keyboard.press("Tab")
    page.keyboard.press("Enter")
    expect(page.get_by_role("heading", name="Profiles", level=1)).to_be_visible()
