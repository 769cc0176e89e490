"""The staff portal in a real browser: headless Chromium (Debian's) driven by Playwright
against the real ASGI server. Screenshots of the main pages go to artifacts/screenshots/."""

import os
import shutil
from decimal import Decimal as D
from pathlib import Path

import pytest
import requests
from django.contrib.auth.models import Group, User

from contributions.models import Win
from players.models import OptIn, Player
from portal import jsonutil, live
from portal.models import StaffScope
from portal.roles import OPS_STAFF
from sources.models import JackpotInstance
from tests import factories
from tests.asgi import AsgiServer

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
SCREENSHOTS = Path(__file__).resolve().parents[2] / "artifacts" / "screenshots"

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.slow,
    pytest.mark.skipif(not Path(CHROMIUM).exists(), reason="Debian's chromium is not installed (.ci/system-packages)"),
]


@pytest.fixture(scope="module")
def browser():
    # Playwright's sync API keeps an event loop in this thread; the test's own ORM calls are sync.
    os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=CHROMIUM, headless=True,
            args=["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-sync",
                  "--disable-background-networking", "--disable-component-update"])
        yield browser
        browser.close()
    os.environ.pop("DJANGO_ALLOW_ASYNC_UNSAFE", None)


@pytest.fixture
def world(roles, currencies, operator, brand1, brand2):
    jackpot = factories.three_pot_instance(
        operator=operator, name="Casino Mega Jackpot", opt_in_required=True,
        contribution_type=JackpotInstance.ContributionType.FIXED, contribution_value=D("0.10"))
    jackpot.currency_limits.create(currency_id="EUR", min_value=D("0.10"), max_value=D("5"), default_value=D("0.10"))
    from sources.models import Pot

    Pot.objects.filter(jackpot=jackpot).update(max_magic_number=10**9)  # no surprise wins mid-test
    Player.objects.create(brand=brand1, player_id="player_00042", country="MT", currency="EUR")
    user = User.objects.create_user("ops", password="ops-pass-123", is_staff=True)
    user.groups.add(Group.objects.get(name=OPS_STAFF))
    StaffScope.objects.create(user=user).operators.add(operator)
    return {"jackpot": jackpot, "user": user}


@pytest.fixture
def portal(world):
    with AsgiServer() as server:
        yield server


@pytest.fixture
def page(browser, portal):
    context = browser.new_context(viewport={"width": 1366, "height": 900}, base_url=portal.http)
    page = context.new_page()
    yield page
    context.close()


def contribute(portal, token: str, body: dict) -> dict:
    """Over HTTP to the live server (the test client cannot run async views beside Playwright's loop)."""
    response = requests.post(f"{portal.http}/jackpots/contribute", data=jsonutil.dumps(body), timeout=10,
                             headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"})
    assert response.status_code == 200, response.text
    return jsonutil.loads(response.content)


def log_in(page, username="ops", password="ops-pass-123"):
    page.goto("/login/")
    page.fill("#id_username", username)
    page.fill("#id_password", password)
    page.click("button[type=submit]")
    page.wait_for_url("**/")


def shot(page, name: str) -> None:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / f"{name}.png"), full_page=True)


def test_ops_user_opts_a_player_in_live_and_the_next_contribution_uses_it(page, portal, world, contribution,
                                                                          service_token):
    log_in(page)
    page.click("nav >> text=Players")
    page.fill("input[name=q]", "player_00042")
    page.click("button:has-text('Find')")
    page.click("a:has-text('player_00042')")
    page.wait_for_selector("#live-status.in")  # the staff socket is connected
    shot(page, "player-before")

    page.select_option("#offer", str(world["jackpot"].pk))
    page.fill("#offer-form input[name=contribution_value]", "0.30")
    page.click("#offer-form button[value=in]")

    row = page.locator(f'#optins tr[data-instance="{world["jackpot"].pk}"]')
    row.locator("text=opted in").wait_for()  # the OptInEvent, shown without a reload
    assert row.locator('[data-field="preferred"]').inner_text() == "0.30"
    shot(page, "player-opted-in")

    result = contribute(portal, service_token, contribution(instance_id=str(world["jackpot"].pk),
                                                             player_id="player_00042"))
    assert result["contribution_amount"] == D("0.3")

    optin = OptIn.objects.get(player__player_id="player_00042")
    assert optin.history.first().history_user.username == "ops"
    page.goto(f"/admin/players/optin/{optin.pk}/history/")
    assert "ops" in page.content() and "opted in over the staff socket" in page.content()
    shot(page, "admin-optin-history")

    # A change made anywhere else (here: the operator's service socket) shows up too.
    page.goto(f"/players/{optin.player_id}/")
    page.wait_for_selector("#live-status.in")
    with portal.socket(f"/v1/events/service?token={service_token}") as service:
        service.request({"PlayerOptInRequest": {"instance_id": str(world["jackpot"].pk), "player_id": "player_00042",
                                                "brand_id": "thrilltech:brand1", "opt_in": False}})
    row.locator("text=opted out").wait_for()


def test_dashboard_pot_value_changes_when_a_contribution_is_made(page, portal, world, contribution, service_token):
    jackpot = world["jackpot"]
    jackpot.opt_in_required = False
    jackpot.save()
    log_in(page)
    page.wait_for_selector("#live-status.in")
    minor = page.locator(f'[data-pot="{jackpot.pk}:minor"]')
    assert minor.inner_text() == "10.00"
    shot(page, "dashboard")

    for n in range(40):  # 40 × 0.10 EUR, 25% to minor of which 85% to its value: +0.85
        contribute(portal, service_token, contribution(instance_id=str(jackpot.pk), gameround_id=f"dash-{n}"))
    live.publish_jackpot_updates()  # the beat tick

    page.wait_for_function(
        f"document.querySelector('[data-pot=\"{jackpot.pk}:minor\"]').textContent === '10.85'", timeout=15000)
    assert minor.inner_text() == "10.85"


def test_screenshots_of_the_main_pages(page, portal, world, contribution, service_token):
    """Every staff page opens without error; the screenshots are CI artifacts."""
    jackpot = world["jackpot"]
    jackpot.opt_in_required = False
    jackpot.withhold_limit = D("1")
    jackpot.save()
    certain = factories.make_instance(operator=jackpot.operator, name="Daily Drop", contribution_value=D("0.5"),
                                      withhold_limit=D("1"),
                                      pots=[factories.hit_rate_pot("daily", share="1", seed="5", cost="0.01",
                                                                   magic=1)])
    for n in range(5):
        contribute(portal, service_token, contribution(instance_id=str(jackpot.pk), gameround_id=f"s{n}"))
    contribute(portal, service_token, contribution(instance_id=str(certain.pk), gameround_id="w1"))
    assert Win.objects.filter(status=Win.Status.WITHHELD).exists()
    log_in(page)
    pages = {
        "jackpots": "/jackpots/", "jackpot-detail": f"/jackpots/{jackpot.pk}/", "contributions": "/contributions/",
        "callbacks": "/callbacks/", "withheld-wins": "/wins/withheld/", "pending-credits": "/wins/pending-credits/",
        "players": "/players/", "verify": "/verify/", "admin": "/admin/",
    }
    for name, url in pages.items():
        response = page.goto(url)
        assert response.status == 200, url
        shot(page, name)
    assert (SCREENSHOTS / "jackpot-detail.png").stat().st_size > 10_000
