"""Staff pages about players. Opt-ins and raffle tickets go over the staff WebSocket (the
same PlayerOptInRequest / PlayerRaffleTicketsRequest an operator's front end sends)."""

from django.db.models import Q
from django.shortcuts import get_object_or_404, render
from django.utils.html import escape
from django.utils.safestring import mark_safe

from players.asyncapi import document, reference
from players.models import Player
from players.selectors import optin_event_data, optins_of
from portal import clock
from portal.money import iso_exponent
from portal.scoping import filter_by_brand
from portal.staffviews import int_param, paginate, querystring_without_page, staff_page
from sources.models import JackpotInstance
from sources.selectors import brand_allowed, live_instances


@staff_page
def player_list(request, scope):
    players = filter_by_brand(Player.objects.all(), scope).select_related("brand__operator").order_by(
        "brand_id", "player_id")
    q = request.GET.get("q", "").strip()
    if q:
        players = players.filter(Q(player_id=q) | Q(player_id__istartswith=q))
    brand = int_param(request, "brand")
    if brand is not None:
        players = players.filter(brand_id=brand)
    page = paginate(request, players)
    return render(request, "players/player_list.html", {
        "page": page, "q": q, "brands": scope.brands().select_related("operator"), "brand": "" if brand is None else str(brand),
        "query": querystring_without_page(request),
    })


@staff_page
def player_detail(request, scope, player_pk):
    player = get_object_or_404(filter_by_brand(Player.objects.all(), scope).select_related("brand__operator"),
                               pk=player_pk)
    optins = optins_of(player)
    # Each row's values are in the opt-in's currency (as optin_event_data computes them).
    optin_rows = [(o, optin_event_data(o), o.currency or player.currency or o.jackpot.currency_id) for o in optins]
    offered = [i for i in live_instances(brand=player.brand) if not i.is_raffle]
    raffles = [i for i in live_instances(brand=player.brand) if i.is_raffle]
    known = {o.jackpot_id for o in optins}
    return render(request, "players/player_detail.html", {
        "player": player, "optin_rows": optin_rows,
        "player_json": {"player_id": player.player_id, "brand_code": player.brand.code, "brand_key": player.brand.key,
                        "country": player.country, "digits": iso_exponent(player.currency or "EUR")},
        # The ledger app sits above this one: its wins are reached through the relation, not imported.
        "wins": player.wins.select_related("jackpot", "pot").order_by("-id")[:10],
        "offered": [i for i in offered if i.pk not in known and brand_allowed(i, player.brand)],
        "raffles": raffles, "can_change": request.user.has_perm("players.change_optin"),
        "excluded_now": player.excluded_at(clock.now()),
        "instance_names": {str(i.pk): i.name for i in JackpotInstance.objects.filter(
            Q(pk__in=known) | Q(pk__in=[i.pk for i in offered + raffles]))},
    })


def _code(text: str):
    """The document's `code` spans as <code> (the text escaped first)."""
    parts = escape(text).split("`")
    return mark_safe("".join(f"<code>{part}</code>" if i % 2 else part for i, part in enumerate(parts)))


def websocket_docs(request):
    """The WebSocket API's AsyncAPI document as a page (public, as /docs is)."""
    ref = reference(document(host=request.get_host(), secure=request.is_secure()))
    ref["description"] = _code(ref["info"]["description"])
    for item in ref["channels"] + ref["messages"]:
        item["html"] = _code(item.get("description") or item.get("summary", ""))
    return render(request, "players/websocket_docs.html", {"ref": ref})
