"""Reads about players worth a name: opt-in event data, raffle tickets."""

from django.contrib.auth import get_user_model

from players.models import OptIn, Player, RaffleTicket
from portal import live
from portal.auth import PlayerPrincipal, ServicePrincipal
from portal.clock import epoch_ms
from portal.errors import DomainError
from portal.models import Brand, Operator
from portal.money import plain
from portal.scoping import scope_for
from portal.selectors import currency_rates
from sources.models import JackpotInstance
from sources.selectors import (
    brand_allowed,
    fixed_contribution_value,
    instance_snapshot,
    live_instances,
)


def effective_contribution_value(optin: OptIn, currency: str):
    """What the player's next contribution to a Fixed instance would be, in `currency`."""
    instance = optin.jackpot
    if instance.contribution_type != JackpotInstance.ContributionType.FIXED:
        return None
    codes = {currency, instance.currency_id} | ({optin.currency} if optin.currency else set())
    try:
        rates = currency_rates(*codes, brand=optin.player.brand)
    except DomainError:
        return None
    return fixed_contribution_value(instance, currency, rates=rates, preferred=optin.preferred_contribution_value,
                                    preferred_currency=optin.currency or None)


def optin_event_data(optin: OptIn) -> dict:
    """The OptInEvent data of SPEC 3."""
    player = optin.player
    currency = optin.currency or player.currency or optin.jackpot.currency_id
    value = effective_contribution_value(optin, currency)
    preferred = optin.preferred_contribution_value
    return {
        "instance_id": str(optin.jackpot_id),
        "player_id": player.player_id,
        "ext_player_id": player.player_id,
        "player_brand_id": player.brand.code,
        "preferred_contribution_value": plain(preferred) if preferred is not None else None,
        "contribution_count": optin.contribution_count,
        "contribution_value": plain(value) if value is not None else None,
        "opted_in": optin.opted_in,
        "last_updated": epoch_ms(optin.last_updated),
    }


def raffle_window(instance: JackpotInstance) -> tuple[int | None, int | None]:
    """The current period's window (the instance's own timestamps until a period is open)."""
    return (epoch_ms(instance.raffle_period_start or instance.timestamp_start),
            epoch_ms(instance.raffle_period_end or instance.timestamp_end))


def ticket_entry(instance: JackpotInstance, ticket_count: int) -> dict:
    start, end = raffle_window(instance)
    return {"instance_id": str(instance.pk), "ticket_count": ticket_count, "timestamp_start": start,
            "timestamp_end": end}


def ticket_count(*, instance: JackpotInstance, brand, player_id: str) -> int:
    ticket = RaffleTicket.objects.filter(jackpot=instance, period=instance.raffle_period, player__brand=brand,
                                         player__player_id=player_id).first()
    return ticket.ticket_count if ticket else 0


def active_raffle_tickets(*, brand, player_id: str) -> list[dict]:
    """Tickets in the current period of every active raffle where the player has any."""
    tickets = (
        RaffleTicket.objects.filter(player__brand=brand, player__player_id=player_id, ticket_count__gt=0,
                                    jackpot__state=JackpotInstance.State.ACTIVE,
                                    jackpot__jackpot_type=JackpotInstance.Type.RAFFLE)
        .select_related("jackpot")
        .order_by("jackpot__name")
    )
    return [ticket_entry(t.jackpot, t.ticket_count) for t in tickets if t.period == t.jackpot.raffle_period]


def optins_of(player) -> list[OptIn]:
    return list(OptIn.objects.filter(player=player).select_related("jackpot__currency", "player__brand")
                .order_by("jackpot__name"))


def socket_groups(principal) -> list[str]:
    """The channel-layer groups a socket joins (see portal.live)."""
    if isinstance(principal, PlayerPrincipal):
        return [live.brand_group(principal.operator_id, principal.brand_code),
                live.player_group(principal.operator_id, principal.brand_code, principal.player_id)]
    if isinstance(principal, ServicePrincipal):
        return [live.operator_group(principal.operator_id)]
    scope = scope_for(_staff_user(principal))
    if scope.everything:
        return [live.operator_group(op) for op in Operator.objects.values_list("pk", flat=True)]
    groups = [live.operator_group(op) for op in sorted(scope.operator_ids)]
    for operator_id, code in Brand.objects.filter(pk__in=scope.brand_ids).exclude(
            operator_id__in=scope.operator_ids).values_list("operator_id", "code"):
        groups.append(live.staff_brand_group(operator_id, code))
    return groups


def _staff_user(principal):
    return get_user_model().objects.filter(pk=principal.user_id, is_active=True).first()


def visible_snapshots(principal) -> list[tuple[str, dict]]:
    """(operator, JackpotUpdate data) of every active instance this socket may see."""
    if isinstance(principal, PlayerPrincipal):
        brand = Brand.objects.get(operator_id=principal.operator_id, code=principal.brand_code)
        instances = live_instances(brand=brand)
    elif isinstance(principal, ServicePrincipal):
        instances = live_instances(operator_ids=[principal.operator_id])
    else:
        scope = scope_for(_staff_user(principal))
        if scope.everything:
            instances = live_instances()
        else:
            brands = list(Brand.objects.filter(pk__in=scope.brand_ids))
            instances = [i for i in live_instances(operator_ids=sorted(scope.visible_operator_ids))
                         if i.operator_id in scope.operator_ids or any(brand_allowed(i, b) for b in brands)]
    return [(i.operator_id, instance_snapshot(i)) for i in instances]


def optin_states(*, instances: list[JackpotInstance], brand, player_id: str) -> dict:
    """{instance pk: the player's own opt-in state} (OptInEvent data), for the player's view of
    the public instance reads; a player who never opted in reads as not opted in, count 0."""
    player = Player.objects.filter(brand=brand, player_id=player_id).first() or Player(brand=brand,
                                                                                          player_id=player_id)
    player.brand = brand
    optins = ({o.jackpot_id: o for o in OptIn.objects.filter(player=player, jackpot__in=[i.pk for i in instances])}
              if player.pk else {})
    states = {}
    for instance in instances:
        optin = optins.get(instance.pk) or OptIn(jackpot=instance, opted_in=False)
        optin.player, optin.jackpot = player, instance
        states[instance.pk] = optin_event_data(optin)
    return states
