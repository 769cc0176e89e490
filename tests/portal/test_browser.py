"""The staff portal in a real browser: headless Chromium (Debian's) driven by Playwright
against the real ASGI server, 1366 px wide. Screenshots of every page go to
artifacts/screenshots/ (git-ignored: CI keeps them as artifacts)."""

import os
import re
import shutil
from decimal import Decimal as D
from pathlib import Path

import pytest
import requests
from django.contrib.auth.models import Group, User

from contributions.models import WalletTransaction, WebhookAttempt, WebhookDelivery, Win
from players.models import OptIn, Player
from portal import jsonutil, live
from portal.models import StaffScope
from portal.roles import OPS_STAFF
from sources.models import JackpotInstance, Pot
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
    shot(page, "dashboard-before")

    for n in range(40):  # 40 × 0.10 EUR, 25% to minor of which 85% to its value: +0.85
        contribute(portal, service_token, contribution(instance_id=str(jackpot.pk), gameround_id=f"dash-{n}"))
    live.publish_jackpot_updates()  # the beat tick

    page.wait_for_function(
        f"document.querySelector('[data-pot=\"{jackpot.pk}:minor\"]').textContent === '10.85'", timeout=15000)
    assert minor.inner_text() == "10.85"


def odd_cents(world, **fields) -> JackpotInstance:
    """Every contribution (1.95% of the wager, all to the pot) wins its pot of 5.0195 EUR: the
    player is paid 5.01, rounded down; rounded to the nearest cent it would read 5.02."""
    fields.setdefault("name", "Odd Cents")
    return factories.make_instance(operator=world["jackpot"].operator, contribution_value=D("0.0195"),
                                   pots=[factories.hit_rate_pot("daily", share="1", seed="5", cost="0.01", magic=1)],
                                   **fields)


ISO_UTC = re.compile(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d")


def test_a_refused_opt_in_shows_its_error_and_the_form_can_be_used_again(page, world):
    player = Player.objects.get(player_id="player_00042")
    log_in(page)
    page.goto(f"/players/{player.pk}/")
    page.wait_for_selector("#live-status.in")
    page.locator("#tickets td", has_text="No tickets").wait_for()  # the tickets request ended too

    page.select_option("#offer", str(world["jackpot"].pk))
    page.fill("#offer-form input[name=contribution_value]", "99")  # the jackpot takes 0.10 to 5 EUR
    page.click("#offer-form button[value=in]")

    message = page.locator("#live-message.error")
    message.wait_for(timeout=5000)
    assert "Opt-in refused" in message.inner_text() and "CONTRIBUTION_VALUE_OUT_OF_RANGE" in message.inner_text()
    assert page.locator("#offer-form button[value=in]").is_enabled()
    assert not OptIn.objects.filter(player=player).exists()
    shot(page, "player-opt-in-refused")

    page.fill("#offer-form input[name=contribution_value]", "0.50")
    page.click("#offer-form button[value=in]")
    page.locator("#live-message.success").wait_for(timeout=5000)
    row = page.locator(f'#optins tr[data-instance="{world["jackpot"].pk}"]')
    assert row.locator('[data-field="preferred"]').inner_text() == "0.50"
    assert ISO_UTC.fullmatch(row.locator('[data-field="updated"]').inner_text())  # as the server writes times


def test_the_same_win_shows_the_same_amount_on_the_dashboard_and_the_jackpot_page(page, portal, world, contribution,
                                                                                  service_token):
    instance = odd_cents(world)
    log_in(page)
    page.wait_for_selector("#live-status.in")

    result = contribute(portal, service_token, contribution(instance_id=str(instance.pk), player_id="player_00042"))
    win = Win.objects.get(jackpot=instance)
    assert result["win_amount"] == D("5.01") and win.amount_base == D("5.0195")

    row = page.locator(f'#recent-wins tr[data-win="{win.pk}"]')
    row.wait_for(timeout=10000)  # added live, from the staff socket's WinEvent
    cells = row.locator("td")
    on_dashboard = cells.nth(4).inner_text()
    assert ISO_UTC.fullmatch(cells.nth(0).inner_text())
    assert row.locator(f'a[href="/players/{win.player_id}/"]').inner_text().replace("\xa0", " ") == (
        "brand1 / player_00042")
    assert row.locator(".pill").inner_text() == win.get_status_display()
    shot(page, "dashboard-live-win")

    page.goto(f"/jackpots/{instance.pk}/")
    jackpot_row = page.locator("#jackpot-wins tbody tr").first
    assert on_dashboard == jackpot_row.locator("td").nth(3).inner_text() == "5.01 EUR"
    assert jackpot_row.locator("td").nth(4).inner_text() == "5.0195"  # the exact base, in its labelled column
    assert "5.02" not in page.locator("main").inner_text()


def test_dashboard_tiles_move_live(page, portal, world, contribution, service_token):
    instance = odd_cents(world, withhold_limit=D("1"))  # its wins wait for staff
    log_in(page)
    page.wait_for_selector("#live-status.in")

    def tile(name):
        return page.locator(f'[data-kpi="{name}"]').inner_text()

    assert (tile("contributions_24h"), tile("withheld")) == ("0", "0")
    contribute(portal, service_token, contribution(instance_id=str(instance.pk)))

    page.wait_for_function("document.querySelector('[data-kpi=withheld]').textContent === '1'", timeout=10000)
    assert tile("contributions_24h") == "1"
    shot(page, "dashboard-tiles-moved")

    # A change without an event of its own (a Credit left pending) shows with the next contribution.
    Win.objects.filter(jackpot=instance).update(status=Win.Status.PENDING_CREDIT)
    JackpotInstance.objects.filter(pk=world["jackpot"].pk).update(opt_in_required=False)
    contribute(portal, service_token, contribution(instance_id=str(world["jackpot"].pk)))
    page.wait_for_function("document.querySelector('[data-kpi=pending_credits]').textContent === '1'",
                           timeout=10000)
    assert (tile("contributions_24h"), tile("withheld")) == ("2", "0")


def every_page_reads_right(page) -> list[str]:
    """What must hold on every page at 1366 px: dates on one line, long values inside their card,
    nothing wider than the window."""
    return page.evaluate("""() => {
      const problems = [];
      document.querySelectorAll("td.when").forEach(td => {
        const range = document.createRange(); range.selectNodeContents(td);
        const lines = range.getBoundingClientRect().height / parseFloat(getComputedStyle(td).lineHeight);
        if (td.textContent.trim() && lines > 1.5) problems.push("date wraps: " + td.textContent.trim());
      });
      document.querySelectorAll(".card code, .card .pot-value").forEach(el => {
        const card = el.closest(".card").getBoundingClientRect(), box = el.getBoundingClientRect();
        if (box.right > card.right + 0.5) problems.push("spills out of its card: " + el.textContent.slice(0, 20));
      });
      if (document.documentElement.scrollWidth > window.innerWidth) problems.push("wider than the window");
      return problems;
    }""")


def test_screenshots_of_every_page(page, portal, world, contribution, service_token, brand1):
    """Every staff page opens, reads right at 1366 px, and is photographed (CI artifacts)."""
    jackpot = world["jackpot"]
    jackpot.opt_in_required = False
    jackpot.save()
    certain = odd_cents(world, withhold_limit=D("1"))
    paid = odd_cents(world, name="Daily Drop")
    drop = factories.make_instance(operator=jackpot.operator, name="Must Drop", contribution_value=D("0.05"), pots=[
        {"pot_id": "drop", "share": D("1"), "initial_seed": D("10"), "mechanic": Pot.Mechanic.MUST_DROP_AMOUNT,
         "drop_ceiling": D("12")}])
    raffle = factories.make_instance(
        operator=jackpot.operator, name="Weekly raffle", jackpot_type=JackpotInstance.Type.RAFFLE,
        contribution_value=D("0.01"), ticket_cost=D("0.5"), ticket_basis=JackpotInstance.TicketBasis.BASE_WAGER,
        raffle_recurring=True, raffle_period_seconds=7 * 86400,
        pots=[{"pot_id": "first", "tier": 2, "share": D("0.6"), "initial_seed": D("100"), "mechanic": Pot.Mechanic.PRIZE},
              {"pot_id": "second", "tier": 1, "share": D("0.3"), "initial_seed": D("20"), "mechanic": Pot.Mechanic.PRIZE}])
    for n in range(5):
        contribute(portal, service_token, contribution(instance_id=str(jackpot.pk), gameround_id=f"s{n}",
                                                       player_id="player_00042"))
        contribute(portal, service_token, contribution(instance_id=str(raffle.pk), gameround_id=f"r{n}",
                                                       player_id="player_00042", base_wager=D("2")))
    contribute(portal, service_token, contribution(instance_id=str(certain.pk), gameround_id="w1"))
    contribute(portal, service_token, contribution(instance_id=str(paid.pk), gameround_id="w2",
                                                   player_id="player_00042"))
    for _ in range(10):  # the drop point lies below the 12 EUR ceiling: reached within 2 contributions
        if Win.objects.filter(jackpot=drop).exists():
            break
        contribute(portal, service_token, contribution(instance_id=str(drop.pk), base_wager=D("20")))
    contribute(portal, service_token, contribution(instance_id=str(drop.pk), base_wager=D("20")))  # a new commitment
    pending = Win.objects.get(jackpot=paid)
    Win.objects.filter(pk=pending.pk).update(status=Win.Status.PENDING_CREDIT)
    WalletTransaction.objects.create(
        transaction_id="credit-demo-1", round_key="k", kind=WalletTransaction.Kind.CREDIT, brand=brand1,
        player_ref="player_00042", amount=pending.amount, currency="EUR", gameround_id="w2", jackpot=paid,
        win=pending, attempts=3, error_status=503, error_code="WALLET_DOWN", error_message="maintenance")
    contributions = list(pending.player.contributions.order_by("id")[:2])
    delivered = WebhookDelivery.objects.create(
        contribution=contributions[0], brand=brand1, url="https://hooks.operator.example/jackpots", kind="data",
        payload=contributions[0].result_json, status=WebhookDelivery.Status.DELIVERED, attempt_count=1)
    WebhookAttempt.objects.create(delivery=delivered, number=1, started_at=delivered.created_at, status_code=200,
                                  latency_ms=41, response_excerpt="ok", success=True)
    WebhookDelivery.objects.create(
        contribution=contributions[1], brand=brand1, url="https://hooks.operator.example/jackpots", kind="data",
        payload=contributions[1].result_json, status=WebhookDelivery.Status.PENDING, attempt_count=2,
        next_attempt_at=delivered.created_at)
    drop_win = Win.objects.filter(jackpot=drop).first()

    page.goto("/login/")
    shot(page, "login")
    log_in(page)
    page.wait_for_selector("#live-status.in")
    page.locator("#recent-wins tr[data-win]").first.wait_for()
    assert every_page_reads_right(page) == []
    shot(page, "dashboard")
    pages = {
        "jackpots": "/jackpots/", "jackpot-detail": f"/jackpots/{jackpot.pk}/",
        "jackpot-detail-must-drop": f"/jackpots/{drop.pk}/", "jackpot-detail-raffle": f"/jackpots/{raffle.pk}/",
        "jackpot-detail-win": f"/jackpots/{paid.pk}/",
        "contributions": "/contributions/", "contribution-detail": f"/contributions/{pending.contribution.trace_id}/",
        "callbacks": "/callbacks/", "callback-detail": f"/callbacks/{delivered.pk}/",
        "withheld-wins": "/wins/withheld/", "pending-credits": "/wins/pending-credits/",
        "players": "/players/", "player-detail": f"/players/{pending.player_id}/",
        "verify": "/verify/", "verify-win": f"/verify/{drop_win.pk}/", "admin": "/admin/",
    }
    for name, url in pages.items():
        response = page.goto(url)
        assert response.status == 200, url
        if name == "player-detail":
            page.locator("#tickets td.num").first.wait_for()
        shot(page, name)
        assert every_page_reads_right(page) == [], url
    page.goto(f"/jackpots/{drop.pk}/")
    assert page.locator("code.hash").inner_text() == page.locator("code.hash").inner_text().strip()
    assert len(page.locator("code.hash").inner_text()) == 64
    assert (SCREENSHOTS / "jackpot-detail.png").stat().st_size > 10_000
