"""The lobby widget on the demo casino page, in a real browser (headless Chromium) against the
real ASGI server and seed_demo's world: the jackpots show, values move without a reload
(public reads polled for a visitor, the player socket for a logged-in player), a demo player
opts in with 0.30 and their next bet contributes 0.30, and wins are announced. Screenshot:
artifacts/screenshots/demo-casino.png (kept in the repository)."""

import io
from decimal import Decimal as D
from pathlib import Path

import pytest
import requests
from django.core.management import call_command
from django.test import Client

from contributions.models import Contribution, WalletConfig
from demo.reference_wallet import WalletServer
from demo.world import DEMO_PLAYERS, DEMO_SECRET
from players.models import OptIn
from portal import jsonutil
from portal.auth import service_authenticate
from portal.models import Operator
from sources.models import Pot
from tests import factories
from tests.asgi import AsgiServer
from tests.portal.test_browser import CHROMIUM, SCREENSHOTS, browser  # noqa: F401 - the browser fixture

MEGA = "209cc142-ccb2-4e28-a763-0a031b560d74"  # seed_demo: opt-in side bet, 0.10 EUR or the player's choice
DEPOSIT = "a49ff35f-6ecd-491f-b373-85e6caabacf1"  # seed_demo: operator-funded, 1 % of the deposit, 90 % to its pot

needs_chromium = pytest.mark.skipif(not Path(CHROMIUM).exists(),
                                    reason="Debian's chromium is not installed (.ci/system-packages)")


@pytest.fixture
def demo(roles, settings):
    """seed_demo's world, its brand1 wallet a reference wallet of this test, demo mode on."""
    settings.DEMO_MODE = True
    call_command("seed_demo", stdout=io.StringIO())
    with WalletServer(secret=DEMO_SECRET, auto_create_balance=D("1000")) as wallet:
        for player_id, token, balance, currency, country in DEMO_PLAYERS:
            wallet.state.add_player(player_id, token, balance, currency, country)
        WalletConfig.objects.filter(brand__code="brand1").update(base_url=wallet.url)
        # No surprise wins of the opt-in jackpot during the test.
        Pot.objects.filter(jackpot_id=MEGA).update(max_magic_number=10**9)
        yield wallet


@pytest.fixture
def portal(demo):
    with AsgiServer() as server:
        yield server


@pytest.fixture
def page(browser, portal):  # noqa: F811 - the browser fixture imported above
    context = browser.new_context(viewport={"width": 1366, "height": 900}, base_url=portal.http, locale="en-GB")
    page = context.new_page()
    yield page
    context.close()


def contribute(portal, **fields) -> dict:
    """As the casino's backend: over HTTP to the live server with the demo service account."""
    token = service_authenticate(username="demo-service", password="demo-service-pass")
    body = {"token": "token_00001", "brand_id": "thrilltech:brand1", "player_id": "player_00001",
            "player_country": "MT", "currency": "EUR", "base_wager": D("1"), **fields}
    response = requests.post(f"{portal.http}/jackpots/contribute", data=jsonutil.dumps(body), timeout=10,
                             headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"})
    assert response.status_code == 200, response.text
    return jsonutil.loads(response.content)


def amount(page, instance: str, pot: str):
    return page.locator(f'[data-instance="{instance}"] dd[data-pot="{pot}"] .jpw-amount')


@pytest.mark.slow
@needs_chromium
@pytest.mark.django_db(transaction=True)
def test_demo_casino_widget_shows_live_jackpots_and_a_player_opts_in_with_030(page, portal, demo):
    # A visitor: the brand's jackpots from the public reads, polled every second.
    page.goto("/demo/casino/?poll=1")
    cards = page.locator("#lobby-jackpots li.jpw-jackpot")
    cards.first.wait_for()
    page.wait_for_function("document.querySelectorAll('#lobby-jackpots li.jpw-jackpot').length === 5")
    assert sorted(cards.locator("h3").all_inner_texts()) == [
        "Casino Mega Jackpot", "Deposit Drop", "Must Drop", "Pharaoh's Raffle", "Provider Game Raffle"]
    assert amount(page, MEGA, "minor").inner_text() == "€10.00"  # en-GB, EUR
    assert amount(page, DEPOSIT, "deposit").inner_text() == "€50.00"
    assert page.locator("#snippet").inner_text().startswith('<div id="jackpots"></div>\n<script src="http')
    page.evaluate("window.notReloaded = true")

    contribute(portal, source_id="deposit", gameround_id="visitor-1", base_wager=D("100"))  # 1.00 EUR
    assert Pot.objects.get(jackpot_id=DEPOSIT).current_value == D("50.81")  # 90 % to the pot, a tenth of it to seed
    page.wait_for_function(
        f"document.querySelector('[data-instance=\"{DEPOSIT}\"] dd[data-pot=deposit] .jpw-amount')"
        ".textContent === '€50.81'", timeout=15000)
    assert page.evaluate("window.notReloaded") is True  # moved in place: no reload

    # Per locale and currency: the same widget for a Swedish page shows kronor (EUR 10 × 11.6761).
    page.evaluate("""() => {
      const box = document.createElement("div"); box.id = "swedish"; document.body.appendChild(box);
      window.swedish = JackpotWidget.mount(box, {brand: "thrilltech:brand1", currency: "SEK", locale: "sv-SE",
                                                 pollSeconds: 1});
    }""")
    swedish = page.locator(f'#swedish [data-instance="{MEGA}"] dd[data-pot="minor"] .jpw-amount')
    page.wait_for_function(f"""() => {{
      const el = document.querySelector('#swedish [data-instance="{MEGA}"] dd[data-pot="minor"] .jpw-amount');
      return el && /kr/.test(el.textContent); }}""", timeout=15000)
    assert swedish.inner_text().replace("\xa0", " ") == "116,76 kr"
    page.evaluate("window.swedish.stop(); document.getElementById('swedish').remove()")

    # A demo player logs in (the page's server mints their token): the widget goes live on the socket.
    page.select_option("#player", "player_id_token_00001")
    page.click("button[value=login]")
    page.wait_for_selector("#who")
    page.locator(".jpw-status", has_text="Live").wait_for()
    mega = page.locator(f'[data-instance="{MEGA}"]')
    mega.locator(".jpw-state", has_text="Not joined").wait_for()
    assert "between €0.10 and €5.00" in mega.locator(".jpw-range").inner_text()  # from the jackpot's rules
    assert page.locator(f'[data-instance="{DEPOSIT}"] form.jpw-optin').is_hidden()  # operator-funded

    # Opt in with 0.30, by keyboard, through the labelled field (a value out of range is refused in words).
    field = mega.get_by_label("Your contribution per bet (EUR)")
    field.fill("9")
    field.press("Enter")
    refused = mega.locator(".jpw-message.jpw-error")
    refused.wait_for()
    assert refused.inner_text() == ("contribution_value must lie between 0.10 and 5.00 EUR "
                                    "(CONTRIBUTION_VALUE_OUT_OF_RANGE)")
    field.fill("0.30")
    field.press("Enter")
    mega.locator(".jpw-message", has_text="You are in.").wait_for()
    assert mega.locator(".jpw-state").inner_text().startswith("You are in: €0.30 per bet")
    optin = OptIn.objects.get(player__player_id="player_id_token_00001", jackpot_id=MEGA)
    assert (optin.opted_in, optin.preferred_contribution_value) == (True, D("0.30"))

    # The next bet contributes 0.30 (debited at the wallet), and the jackpot moves live.
    minor_before = amount(page, MEGA, "minor").inner_text()
    page.click("button[data-game=starburst]")
    page.wait_for_function("document.getElementById('bet-result').dataset.amount !== undefined")
    assert page.locator("#bet-result").inner_text() == "Starburst: €0.30 to the jackpot."
    contribution = Contribution.objects.filter(player_ref="player_id_token_00001", jackpot_id=MEGA).get()
    assert contribution.amount == D("0.30")
    debits = [t for t in demo.state.transactions.values() if t["player_id"] == "player_id_token_00001"]
    assert [(t["kind"], t["amount"]) for t in debits] == [("Debit", D("0.30"))]
    page.wait_for_function(
        f"document.querySelector('[data-instance=\"{MEGA}\"] dd[data-pot=minor] .jpw-amount').textContent "
        f"!== '{minor_before}'", timeout=15000)

    # A win is announced: a jackpot every bet wins, new to the lobby.
    certain = factories.make_instance(
        operator=Operator.objects.get(pk="thrilltech"), name="Lucky Strike", contribution_value=D("0.5"),
        pots=[factories.hit_rate_pot("jackpot", share="1", seed="25", cost="0.01", magic=1)])
    contribute(portal, instance_id=str(certain.pk), player_id="player_id_token_00001", token="token_id_00001",
               gameround_id="lucky-1")
    page.locator(".jpw-wins li", has_text="You won €25.50 on Lucky Strike (jackpot)").wait_for(timeout=15000)
    page.locator(f'[data-instance="{certain.pk}"]').wait_for()  # its JackpotUpdate added it to the lobby

    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / "demo-casino.png"), full_page=True)

    # Live values can be paused (WCAG 2.2.2), by keyboard.
    pause = page.locator(".jpw-pause")
    pause.focus()
    page.keyboard.press("Enter")
    assert pause.get_attribute("aria-pressed") == "true" and pause.inner_text() == "Resume live values"


def test_demo_casino_is_off_outside_demo_mode(db, settings):
    settings.DEMO_MODE = False
    assert Client().get("/demo/casino/").status_code == 404
    assert Client().post("/demo/casino/bet/starburst").status_code == 404
