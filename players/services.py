"""Writes about players: opt-ins (the one service every socket and page uses)."""

import uuid
from datetime import datetime
from decimal import Decimal

from django.contrib.auth import get_user_model
from django.db import DatabaseError, transaction
from django.utils import timezone
from django.utils.dateparse import parse_datetime

from players.models import OptIn, Player, RaffleTicket
from players.selectors import active_raffle_tickets, optin_event_data, ticket_count, ticket_entry
from portal import clock, live
from portal.auth import PlayerPrincipal, ServicePrincipal, StaffPrincipal, brand_in_scope
from portal.errors import DomainError, invalid_value
from portal.models import Brand
from portal.money import convert, to_currency
from portal.scoping import scope_for
from portal.selectors import currency_rates
from sources.models import InstanceCurrencyLimit, JackpotInstance
from sources.selectors import brand_allowed, in_schedule, instance_retiring


def optin_limits(*, instance: JackpotInstance, brand: Brand, currency: str) -> tuple[Decimal | None, Decimal | None, int]:
    """(min, max, exponent) of a player's contribution value in `currency`: the currency's own
    limits, else the instance currency's limits converted."""
    rates = currency_rates(*{currency, instance.currency_id}, brand=brand)
    exponent = rates[currency][1]
    limits = {lim.currency_id: lim for lim in InstanceCurrencyLimit.objects.filter(jackpot=instance)}
    if currency in limits:
        own = limits[currency]
        return own.min_value, own.max_value, exponent
    if instance.currency_id in limits:
        base = limits[instance.currency_id]
        to = rates[currency][0]
        frm = rates[instance.currency_id][0]
        return (
            convert(base.min_value, frm, to) if base.min_value is not None else None,
            convert(base.max_value, frm, to) if base.max_value is not None else None,
            exponent,
        )
    return None, None, exponent


def player_get_or_create(*, brand: Brand, player_id: str, country: str = "", currency: str = "") -> Player:
    player, created = Player.objects.get_or_create(
        brand=brand, player_id=player_id, defaults={"country": country, "currency": currency}
    )
    updates = {f: v for f, v in (("country", country), ("currency", currency)) if v and getattr(player, f) != v}
    if updates and not created:
        for name, value in updates.items():
            setattr(player, name, value)
        player.skip_history_when_saving = True  # as last seen: not a change anyone made
        player.save(update_fields=[*updates, "last_seen_at"])
    return player


# --- exclusions (responsible gambling) ------------------------------------------------------


def player_exclusion_set(*, brand: Brand, player_id: str, exclusion: str, until: datetime | None,
                         source: str, reason: str = "", actor=None) -> Player:
    """Exclude a player from jackpots, or lift the exclusion (`exclusion` ""), written to the
    player's History with who (`actor`, else the source) and why.

    A cool-off needs an end in the future and ends by itself then; a self-exclusion may have
    one (a fixed term) or none (until lifted). While excluded, the player's contributions and
    opt-ins are refused (rule PlayerExcluded) and a win that reaches them is withheld. The
    player may not have played yet: it is created."""
    if exclusion not in Player.Exclusion.values:
        raise invalid_value(f"exclusion must be one of {', '.join(repr(v) for v in Player.Exclusion.values)}")
    now = clock.now()
    if exclusion == Player.Exclusion.COOL_OFF and until is None:
        raise invalid_value("a cool-off needs `until`: the time it ends")
    if until is not None:
        if timezone.is_naive(until):
            raise invalid_value("`until` needs a time zone (e.g. 2025-03-01T00:00:00Z)")
        if exclusion == Player.Exclusion.NONE:
            raise invalid_value("`until` belongs to an exclusion; lifting one takes none")
        if until <= now:
            raise invalid_value("`until` must lie in the future")
    with transaction.atomic():
        player_get_or_create(brand=brand, player_id=player_id)
        player = Player.objects.select_for_update().get(brand=brand, player_id=player_id)
        player.exclusion, player.excluded_until = exclusion, until
        player.exclusion_source = source if exclusion else ""
        player.exclusion_changed_at = now
        if actor is not None and getattr(actor, "is_authenticated", False):
            player._history_user = actor
        what = f"{player.exclusion_text()}" if exclusion else "exclusion lifted"
        player._change_reason = f"{what} ({Player.ExclusionSource(source).label})" + (f": {reason}" if reason else "")
        player.save()
    return player


def exclusion_in_wallet_answer(answer: dict) -> tuple[str, datetime | None] | None:
    """What a Standard Wallet `auth` answer says about exclusion, if anything: `self_excluded:
    true` or a `self_excluded` segment (optionally with `excluded_until`), or a future
    `cool_off_until` (ISO 8601). The standard answer carries `segments`; the two fields are
    the extension the reference wallet speaks. None: nothing said (a wallet never lifts one)."""
    def moment(value) -> datetime | None:
        try:
            parsed = parse_datetime(str(value)) if value else None
        except ValueError:
            return None
        return parsed if parsed is not None and timezone.is_aware(parsed) else None

    segments = answer.get("segments")
    segments = {str(s).strip().lower().replace("-", "_") for s in segments} if isinstance(segments, list) else set()
    if answer.get("self_excluded") is True or "self_excluded" in segments:
        until = moment(answer.get("excluded_until"))
        return Player.Exclusion.SELF_EXCLUDED, until if until and until > clock.now() else None
    cool_off_until = moment(answer.get("cool_off_until"))
    if cool_off_until is not None and cool_off_until > clock.now():
        return Player.Exclusion.COOL_OFF, cool_off_until
    return None


def player_exclusion_from_wallet(*, brand: Brand, player_id: str, answer: dict) -> Player | None:
    """Record an exclusion the wallet's `auth` answer reports (unless already held); the
    excluded player, or None when the answer says nothing about exclusion."""
    said = exclusion_in_wallet_answer(answer)
    if said is None:
        return None
    exclusion, until = said
    held = Player.objects.filter(brand=brand, player_id=player_id).first()
    if held is not None and held.exclusion == exclusion and held.excluded_until == until:
        return held
    return player_exclusion_set(brand=brand, player_id=player_id, exclusion=exclusion, until=until,
                                source=Player.ExclusionSource.WALLET, reason="reported at authentication")


def player_excluded_error(player: Player) -> DomainError:
    return DomainError("FORBIDDEN", f"PlayerExcluded: player {player.player_id} is {player.exclusion_text()}")


def shown(amount: Decimal, exponent: int) -> str:
    """An amount as a person reads it: at the currency's minor unit (0.10, not 0.10000000)."""
    return f"{to_currency(amount, exponent):f}"


def optin_set(
    *,
    brand: Brand,
    player_id: str,
    instance: JackpotInstance,
    opt_in: bool,
    contribution_value: Decimal | None = None,
    currency: str | None = None,
    country: str = "",
    actor=None,
    reason: str = "",
) -> OptIn:
    """Opt a player in (optionally with a chosen contribution value) or out of an instance.

    Opt-in only on Active instances inside their schedule; opt-out always works. A chosen
    value must lie within the instance's limits for the player's currency. `actor` is the
    staff user acting (written to the opt-in's History), or None for the player/service.
    """
    if not brand_allowed(instance, brand):
        raise DomainError("FORBIDDEN", f"Instance {instance.pk} does not accept brand {brand.key}")
    if opt_in and (instance.state != JackpotInstance.State.ACTIVE or not in_schedule(instance, timezone.now())):
        raise DomainError("INSTANCE_NOT_ACTIVE", f"Instance {instance.pk} is {instance.state}")
    if opt_in and instance_retiring(instance):
        raise DomainError("INSTANCE_NOT_ACTIVE", f"Instance {instance.pk} is retiring: it runs until its pots are "
                                                 "won and takes no new opt-ins (opting out still works)")

    with transaction.atomic():
        player = player_get_or_create(brand=brand, player_id=player_id, country=country, currency=currency or "")
        if opt_in and player.excluded_at(clock.now()):
            raise player_excluded_error(player)  # opting out always works
        currency = currency or player.currency or instance.currency_id
        if opt_in and contribution_value is not None:
            low, high, exponent = optin_limits(instance=instance, brand=brand, currency=currency)
            if contribution_value <= 0:
                raise DomainError("CONTRIBUTION_VALUE_OUT_OF_RANGE", "contribution_value must be positive")
            if contribution_value.as_tuple().exponent < -exponent:
                raise DomainError("CONTRIBUTION_VALUE_OUT_OF_RANGE",
                                  f"{currency} amounts have at most {exponent} decimals")
            if (low is not None and contribution_value < low) or (high is not None and contribution_value > high):
                raise DomainError(
                    "CONTRIBUTION_VALUE_OUT_OF_RANGE",
                    f"contribution_value must lie between {shown(low, exponent) if low is not None else 0} and "
                    f"{shown(high, exponent) if high is not None else 'any amount'} {currency}",
                )
        optin = OptIn.objects.select_for_update().filter(player=player, jackpot=instance).first() or OptIn(
            player=player, jackpot=instance
        )
        optin.opted_in = opt_in
        if opt_in:
            optin.preferred_contribution_value = contribution_value
            optin.currency = currency if contribution_value is not None else ""
        if actor is not None and getattr(actor, "is_authenticated", False):
            optin._history_user = actor
        optin._change_reason = reason or ("opted in" if opt_in else "opted out")
        optin.save()
    return optin


# --- requests from the WebSocket API (every socket kind goes through these) --------------


def acting_brand(principal, brand_key: str, player_id: str, *, permission: str) -> tuple[Brand, object]:
    """The brand a socket may act for on this player, and the staff user acting (or None).

    A player acts only for itself and its brand; a service for its operator's brands; a
    staff user for the brands of their scope, with the permission, re-read per request.
    """
    if isinstance(principal, PlayerPrincipal):
        if brand_key != principal.brand_key or player_id != principal.player_id:
            raise DomainError("FORBIDDEN", "A player socket acts only for its own player")
        return brand_in_scope(principal, brand_key), None
    if isinstance(principal, ServicePrincipal):
        return brand_in_scope(principal, brand_key), None
    if isinstance(principal, StaffPrincipal):
        user = get_user_model().objects.filter(pk=principal.user_id, is_active=True, is_staff=True).first()
        if user is None or not user.has_perm(permission):
            raise DomainError("FORBIDDEN", "You do not have permission to do this")
        operator_id, _, code = brand_key.partition(":")
        brand = Brand.objects.filter(operator_id=operator_id, code=code).first()
        if brand is None or not scope_for(user).sees_brand(brand.pk):
            raise DomainError("FORBIDDEN", f"Brand {brand_key} is outside your scope")
        return brand, user
    raise DomainError("FORBIDDEN", "Unknown caller")


def instance_for(brand: Brand, instance_id: str) -> JackpotInstance:
    try:
        pk = uuid.UUID(instance_id)
    except ValueError as exc:
        raise DomainError("INSTANCE_NOT_FOUND", instance_id) from exc
    instance = JackpotInstance.objects.select_related("currency").filter(pk=pk, operator_id=brand.operator_id).first()
    if instance is None:
        raise DomainError("INSTANCE_NOT_FOUND", instance_id)
    return instance


def optin_request(*, principal, request, origin: str | None = None) -> dict:
    """PlayerOptInRequest -> the OptInEvent envelope for the requester; the event also goes to
    the player's other sockets and to service and staff subscribers (after commit)."""
    brand, actor = acting_brand(principal, request.brand_id, request.player_id, permission="players.change_optin")
    instance = instance_for(brand, request.instance_id)
    currency = getattr(principal, "currency", "") or None
    try:
        optin = optin_set(
            brand=brand, player_id=request.player_id, instance=instance, opt_in=request.opt_in,
            contribution_value=request.contribution_value, currency=currency,
            country=request.player_country or "", actor=actor,
            reason=f"{'opted in' if request.opt_in else 'opted out'} over the {principal.kind} socket",
        )
    except DatabaseError as exc:
        raise DomainError("OPTIN_ERROR", "The opt-in record could not be updated") from exc
    optin = OptIn.objects.select_related("player__brand", "jackpot__currency").get(pk=optin.pk)
    data = optin_event_data(optin)
    transaction.on_commit(lambda: live.publish_optin(operator_id=brand.operator_id, brand_code=brand.code,
                                                     player_id=request.player_id, data=data, origin=origin),
                          robust=True)
    return live.envelope(msg_type="Event", msg_name="OptInEvent", operator_id=brand.operator_id,
                         brand_id=brand.code, player_id=request.player_id, data=data)


def tickets_request(*, principal, request) -> dict:
    """PlayerRaffleTicketsRequest -> PlayerRaffleTicketResponse (one raffle) or
    PlayerRaffleTicketListResponse (every active raffle where the player has tickets)."""
    brand, _ = acting_brand(principal, request.brand_id, request.player_id, permission="players.view_raffleticket")
    if request.instance_id is not None:
        instance = instance_for(brand, request.instance_id)
        if not instance.is_raffle:
            raise DomainError("INSTANCE_NOT_FOUND", f"{request.instance_id} is not a raffle")
        name = "PlayerRaffleTicketResponse"
        data = ticket_entry(instance, ticket_count(instance=instance, brand=brand, player_id=request.player_id))
    else:
        name = "PlayerRaffleTicketListResponse"
        data = {"instance_tickets": active_raffle_tickets(brand=brand, player_id=request.player_id)}
    return live.envelope(msg_type="Message", msg_name=name, operator_id=brand.operator_id, brand_id=brand.code,
                         player_id=request.player_id, data=data)


# --- the engine's player writes (inside a contribution batch's transaction) ---------------


def players_touch(entries) -> dict[tuple[int, str], Player]:
    """Insert or refresh the batch's players (country and currency as last seen) in one
    statement; {(brand pk, player id): Player}."""
    now = timezone.now()
    rows = {}
    for brand, request, _ in entries:
        rows[(brand.pk, request.player_id)] = Player(
            brand=brand, player_id=request.player_id, country=request.player_country, currency=request.currency,
            created_at=now, last_seen_at=now)
    ordered = sorted(rows.values(), key=lambda p: (p.brand_id, p.player_id))  # a fixed lock order
    Player.objects.bulk_create(ordered, update_conflicts=True, unique_fields=["brand", "player_id"],
                               update_fields=["country", "currency", "last_seen_at"])
    # The upsert returns each player's id and exclusion (their fields' database defaults make
    # them RETURNING columns); backends that cannot return rows from an upsert read them here.
    missing = [p for p in ordered if p.pk is None]
    if missing:
        known = {(p.brand_id, p.player_id): p for p in Player.objects.filter(
            brand_id__in={p.brand_id for p in missing}, player_id__in=[p.player_id for p in missing]).only(
            "pk", "brand_id", "player_id", "exclusion", "excluded_until")}
        for p in missing:
            stored = known[(p.brand_id, p.player_id)]
            p.pk, p.exclusion, p.excluded_until = stored.pk, stored.exclusion, stored.excluded_until
    return rows


def players_ensure(entries) -> dict[tuple[int, str], int]:
    """The batch's players made if new, existing ones left as they are (no row lock: an accepted
    async contribution must not wait for a worker's batch that holds its player); {(brand pk,
    player id): player pk}. Processing refreshes them (`players_touch`)."""
    now = timezone.now()
    rows = {}
    for brand, request in entries:
        rows[(brand.pk, request.player_id)] = Player(
            brand=brand, player_id=request.player_id, country=request.player_country, currency=request.currency,
            created_at=now, last_seen_at=now)
    Player.objects.bulk_create(sorted(rows.values(), key=lambda p: (p.brand_id, p.player_id)), ignore_conflicts=True)
    found = Player.objects.filter(brand_id__in={b for b, _ in rows}, player_id__in={p for _, p in rows})
    return {(brand_pk, player_id): pk for pk, brand_pk, player_id in found.values_list("pk", "brand_id", "player_id")
            if (brand_pk, player_id) in rows}


class TicketBook:
    """A raffle period's ticket accounts of the batch's players, locked and kept in memory."""

    def __init__(self, instance: JackpotInstance, period: int) -> None:
        self.instance, self.period = instance, period
        self.rows: dict[int, RaffleTicket] = {}

    def accrue(self, player, cost: Decimal) -> int:
        """Add `cost` to the player's account; the new whole tickets."""
        row = self.rows.get(player.pk)
        if row is None:
            row = (RaffleTicket.objects.select_for_update().filter(
                jackpot=self.instance, period=self.period, player_id=player.pk).first()
                or RaffleTicket(jackpot=self.instance, period=self.period, player_id=player.pk))
            self.rows[player.pk] = row
        before = int(row.accumulated_cost // self.instance.ticket_cost)
        row.accumulated_cost += cost
        row.ticket_count = int(row.accumulated_cost // self.instance.ticket_cost)
        return row.ticket_count - before

    def save(self, now) -> None:
        for row in self.rows.values():
            row.updated_at = now
        RaffleTicket.objects.bulk_create([r for r in self.rows.values() if r.pk is None])
        existing = [r for r in self.rows.values() if r.pk is not None]
        if existing:
            RaffleTicket.objects.bulk_update(existing, ["accumulated_cost", "ticket_count", "updated_at"])
