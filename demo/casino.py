"""The demo casino (`/demo/casino/`): a casino lobby page with the jackpot widget embedded as an
operator would embed it, served only in demo mode (`make run`; settings.DEMO_MODE, never in
production; the demo app is not even installed there).

Its server side plays the casino's backend: it "logs in" one of seed_demo's players, mints
their player token (as a backend would with POST /v1/players/token) for the widget's player
socket, and places their bets through the same contribution service the gateway runs, with
the demo wallet's session token of the player.
"""

import uuid

from django.conf import settings
from django.http import Http404, HttpResponse, HttpResponseRedirect
from django.shortcuts import render
from django.templatetags.static import static
from django.views.decorators.http import require_http_methods, require_POST

from contributions.schemas import parse_contribution
from contributions.services.engine import contribution_record
from demo.world import DEMO_PLAYERS
from portal import jsonutil
from portal.auth import player_token_issue
from portal.errors import DomainError
from portal.models import Brand

OPERATOR, BRAND = "thrilltech", "brand1"
# seed_demo's players of brand1 that the demo wallet knows: (player id, wallet session token, country).
PLAYERS = {player_id: (token, country) for player_id, token, _, _, country in DEMO_PLAYERS
           if player_id in ("player_id_token_00001", "player_00001")}
SESSION_KEY = "demo_casino_player"
# The lobby's games: each bet is a contribution through a source of the demo world.
GAMES = {
    "starburst": ("Starburst", "casino-sitewide", 1, "a slot: feeds the Casino Mega Jackpot for players who joined it"),
    "book-of-dead": ("Book of Dead", "book-of-dead", 1, "an Egyptian game: a ticket per 1 EUR in Pharaoh's Raffle"),
    "deposit": ("Deposit 20 EUR", "deposit", 20, "a deposit: 1 % goes to the Deposit Drop, paid by the casino"),
}


def _demo_only() -> None:
    if not settings.DEMO_MODE:
        raise Http404("The demo casino runs in demo mode only (make run).")


def _brand() -> Brand | None:
    return Brand.objects.filter(operator_id=OPERATOR, code=BRAND, enabled=True).first()


@require_http_methods(["GET", "POST"])
def casino(request):
    """The lobby. POST logs a demo player in or out (the page's server mints their token)."""
    _demo_only()
    if request.method == "POST":
        player = request.POST.get("player", "")
        if request.POST.get("action") == "login" and player in PLAYERS:
            request.session[SESSION_KEY] = player
        else:
            request.session.pop(SESSION_KEY, None)
        return HttpResponseRedirect(request.path)
    brand = _brand()
    player = request.session.get(SESSION_KEY) if brand is not None else None
    token = player_token_issue(brand=brand, player_id=player) if player else None
    widget = {
        "src": request.build_absolute_uri(static("widget/jackpot-widget.js")),
        "brand": f"{OPERATOR}:{BRAND}", "currency": "EUR", "locale": "en-GB",
        "poll_seconds": _poll_seconds(request),
        "player_id": player, "token": token, "country": PLAYERS[player][1] if player else None,
    }
    return render(request, "demo/casino.html", {
        "brand": brand, "player": player, "players": list(PLAYERS), "widget": widget,
        "games": [(key, name, wager, text) for key, (name, _, wager, text) in GAMES.items()],
    })


def _poll_seconds(request) -> int:
    """How often the anonymous widget polls (`?poll=`, 1-60 s; 5 by default)."""
    try:
        return min(60, max(1, int(request.GET.get("poll", 5))))
    except ValueError:
        return 5


@require_POST
def bet(request, game: str):
    """A bet by the logged-in demo player, contributed as the casino's backend would: the
    gateway's answer (SPEC 2.5), or its error body."""
    _demo_only()
    player = request.session.get(SESSION_KEY)
    brand = _brand()
    if player not in PLAYERS or game not in GAMES or brand is None:
        return _json(DomainError("FORBIDDEN", "Log in as a demo player first").as_body(), 403)
    _, source_id, wager, _ = GAMES[game]
    token, country = PLAYERS[player]
    body = {"token": token, "brand_id": brand.key, "player_id": player, "player_country": country,
            "source_id": source_id, "gameround_id": f"demo-casino-{uuid.uuid4().hex}", "currency": "EUR",
            "base_wager": wager}
    try:
        outcome = contribution_record(operator_id=OPERATOR, request=parse_contribution(jsonutil.dumps(body).encode()))
    except DomainError as error:
        return _json(error.as_body(), error.status)
    return HttpResponse(outcome.body, content_type="application/json")


def _json(body: dict, status: int) -> HttpResponse:
    return HttpResponse(jsonutil.dumps(body), status=status, content_type="application/json")
