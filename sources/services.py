"""Writes to the catalogue: pots and their seeds, drop commitments, instance lifecycle."""

import copy
import hashlib
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal

from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.db.models import F
from django.utils import timezone
from simple_history.utils import bulk_create_with_history, bulk_update_with_history

from portal import clock, jsonutil
from portal.cache import clear_all
from portal.errors import DomainError, invalid_configuration
from portal.models import Currency
from portal.money import ZERO, convert, plain
from portal.scoping import scope_for
from portal.services import checked_delete, checked_save
from sources.mechanics import mechanic_of, randomness
from sources.models import (
    POT_PARAMETERS,
    AdjustmentRequest,
    DropCommitment,
    Game,
    GameGroup,
    JackpotInstance,
    Pot,
    PotAdjustment,
    PotChange,
    PotTransfer,
    Retirement,
    RulesVersion,
    Source,
    SourceMapping,
)
from sources.rules import rules_document
from sources.selectors import rules_queryset


def _actor(actor):
    return actor if getattr(actor, "is_authenticated", False) else None


@transaction.atomic
def pot_create(*, pot: Pot, actor=None) -> Pot:
    """A new pot starts at its initial seed, booked as an `initial_seed` adjustment so the
    ledger explains every cent of it; a must-drop pot commits to its first drop at once."""
    pot.current_value = pot.initial_seed
    # History names the user; a command (seed_demo) has none and shows as "system".
    pot._history_user = _actor(actor)
    pot._change_reason = f"created with an initial seed of {pot.initial_seed}" if pot.initial_seed else "created"
    pot.save()
    if pot.initial_seed:
        PotAdjustment.objects.create(pot=pot, kind=PotAdjustment.Kind.INITIAL_SEED, value_delta=pot.initial_seed,
                                     reason="initial seed", actor=_actor(actor))
    commitment_open(pot=pot, generation=pot.generation)
    return pot


@transaction.atomic
def pot_delete(*, pot: Pot) -> None:
    """Only a pot that never took money can go (its setup rows go with it)."""
    if pot.increments.exists() or pot.wins.exists():
        raise DomainError("POT_IN_USE", f"Pot {pot.pot_id} has ledger entries and cannot be deleted")
    pot.adjustments.filter(kind=PotAdjustment.Kind.INITIAL_SEED).delete()
    pot.commitments.all().delete()
    pot.delete()


def pots_check(*, jackpot_type: str, house_share: Decimal | None, pots) -> None:
    """Pots that cannot work together are refused, with the same words in the admin (the pots
    inline) and in templates and the configuration API: shares plus the house share add up to
    exactly 1, a pot id is used once, raffles hold prize pots only. Raises ValidationError."""
    pots = list(pots)
    total = sum((pot.share for pot in pots), Decimal(0)) + (house_share or 0)
    if pots and total != 1:
        raise ValidationError(
            f"Pot shares plus the house share add up to {total}, not 1. "
            "Adjust the shares so every contribution is fully accounted for."
        )
    seen = set()
    for pot in pots:
        if pot.pot_id in seen:
            raise ValidationError(f"Pot {pot.pot_id} is listed twice: a pot id is used once per instance.")
        seen.add(pot.pot_id)
        if jackpot_type == JackpotInstance.Type.RAFFLE and pot.mechanic != Pot.Mechanic.PRIZE:
            raise ValidationError(f"Pot {pot.pot_id}: a raffle's pots are prizes.")
        if jackpot_type == JackpotInstance.Type.JACKPOT and pot.mechanic == Pot.Mechanic.PRIZE:
            raise ValidationError(f"Pot {pot.pot_id}: prize pots belong to raffles.")


# --- provably fair must-drop pots ---------------------------------------------------------


def commitment_open(*, pot: Pot, generation: int, now: datetime | None = None) -> DropCommitment | None:
    """At every (re)seed of a pot whose mechanic commits (must-drop), draw its hidden drop
    point and publish only the SHA-256 of "value:salt" (value: the drop amount with 8
    decimals, or the drop time in epoch ms)."""
    commitment = mechanic_of(pot).commit(pot, now=now or clock.now(), rng=randomness())
    if commitment is None:
        return None
    return DropCommitment.objects.create(pot=pot, generation=generation, commitment=commitment.digest,
                                         secret_text=commitment.secret_text, **commitment.fields)


# --- seed boosts and adjustments ----------------------------------------------------------


def _reason(reason: str) -> str:
    reason = (reason or "").strip()
    if len(reason) < 3:
        raise DomainError("REASON_REQUIRED", "Give a reason (it is kept in the audit trail)")
    return reason[:500]


@transaction.atomic
def pot_boost(*, pot: Pot, amount: Decimal, actor, reason: str) -> PotAdjustment:
    """Add operator money to a pot's seed fund (a seed boost). Audited with its reason."""
    reason = _reason(reason)
    if amount <= 0:
        raise DomainError("INVALID_AMOUNT", "A seed boost is a positive amount")
    Pot.objects.select_for_update().get(pk=pot.pk)
    Pot.objects.filter(pk=pot.pk).update(seed_fund=F("seed_fund") + amount, updated_at=timezone.now())
    adjustment = PotAdjustment.objects.create(pot=pot, kind=PotAdjustment.Kind.SEED_BOOST, seed_delta=amount,
                                              reason=reason, actor=_actor(actor))
    _record(pot, actor, f"seed boost +{amount}: {reason}")
    return adjustment


@transaction.atomic
def pot_adjust(*, pot: Pot, delta: Decimal, actor, reason: str) -> PotAdjustment | AdjustmentRequest:
    """Move a pot's value up or down by hand, a ledger row with who and why: a pot never
    decreases silently. An increase is booked at once. A decrease never takes the pot below
    its reset value (its seed) and, once the instance has been activated, is only asked for
    here: an AdjustmentRequest that a second person approves (`adjustment_request_approve`)."""
    reason = _reason(reason)
    locked = Pot.objects.select_for_update(of=("self",)).select_related("jackpot").get(pk=pot.pk)
    if delta == 0:
        raise DomainError("INVALID_AMOUNT", "An adjustment moves the pot")
    if delta < 0:
        if locked.jackpot.state != JackpotInstance.State.PENDING:
            return adjustment_request_create(pot=locked, delta=delta, actor=actor, reason=reason)
        _floor_check(locked, delta)
    Pot.objects.filter(pk=pot.pk).update(current_value=F("current_value") + delta, updated_at=timezone.now())
    adjustment = PotAdjustment.objects.create(pot=pot, kind=PotAdjustment.Kind.ADJUSTMENT, value_delta=delta,
                                              reason=reason, actor=_actor(actor))
    _record(pot, actor, f"value {'+' if delta > 0 else ''}{delta}: {reason}")
    return adjustment


def _record(obj, actor, reason: str) -> None:
    """A row in the object's History naming the user and the reason."""
    obj._history_user = _actor(actor)
    obj._change_reason = reason
    obj.save(update_fields=["updated_at"])


# --- instance lifecycle -------------------------------------------------------------------

TRANSITIONS = {
    JackpotInstance.State.PENDING: {JackpotInstance.State.ACTIVE, JackpotInstance.State.TERMINATED},
    JackpotInstance.State.ACTIVE: {JackpotInstance.State.PAUSED, JackpotInstance.State.TERMINATED},
    JackpotInstance.State.PAUSED: {JackpotInstance.State.ACTIVE, JackpotInstance.State.TERMINATED},
    JackpotInstance.State.TERMINATED: set(),
}


@transaction.atomic
def instance_set_state(*, instance: JackpotInstance, state: str, actor, reason: str) -> JackpotInstance:
    """Pause, resume, activate or terminate (final), with a reason written to History."""
    reason = _reason(reason)
    locked = JackpotInstance.objects.select_for_update().get(pk=instance.pk)
    if state not in TRANSITIONS[locked.state]:
        raise DomainError("INVALID_STATE_CHANGE", f"A {locked.state} instance cannot become {state}")
    retirement = open_retirement(locked)
    if state == JackpotInstance.State.TERMINATED:
        liability = instance_liability(locked)
        if liability:
            raise DomainError("DISPOSITION_REQUIRED", (
                f"{locked.name}'s pots still hold {plain(liability)} {locked.currency_id}: retire it with a "
                "disposition of that money (transfer it to other pots, keep running until won, or pay it out "
                "under a recorded decision)"))
        _terminate(locked, retirement, actor=actor, reason=reason, now=timezone.now())
        return locked
    if (state == JackpotInstance.State.ACTIVE and retirement is not None
            and retirement.status == Retirement.Status.AWAITING_APPROVAL):
        raise DomainError("RETIREMENT_PENDING", f"A payout decision for {locked.name} waits for approval: "
                                                "approve or reject it first")
    locked.state = state
    if state == JackpotInstance.State.ACTIVE and locked.is_raffle and locked.raffle_period_end is None:
        raffle_period_open(locked, start=timezone.now())
    locked._history_user = _actor(actor)
    locked._change_reason = reason
    locked.save()
    if state == JackpotInstance.State.ACTIVE:
        rules_publish(instance=locked)  # announced: its rules are public from now
    return locked


def raffle_period_open(instance: JackpotInstance, *, start: datetime) -> None:
    """Set the window of the current raffle period (saved by the caller)."""
    instance.raffle_period_start = start
    if instance.raffle_period_seconds:
        end = start + timedelta(seconds=instance.raffle_period_seconds)
        instance.raffle_period_end = min(end, instance.timestamp_end) if instance.timestamp_end else end
    else:
        instance.raffle_period_end = instance.timestamp_end


def instances_follow_schedule(now: datetime | None = None) -> tuple[int, int]:
    """Pending instances whose start has come become Active; jackpots whose end has passed are
    Terminated (raffles end through their final draw instead)."""
    now = now or clock.now()
    started = ended = 0
    for instance in JackpotInstance.objects.filter(state=JackpotInstance.State.PENDING, timestamp_start__lte=now):
        if instance.timestamp_end and instance.timestamp_end <= now:
            continue
        instance_set_state(instance=instance, state=JackpotInstance.State.ACTIVE, actor=None,
                           reason="schedule: start time reached")
        started += 1
    for instance in JackpotInstance.objects.filter(
            state__in=[JackpotInstance.State.ACTIVE, JackpotInstance.State.PAUSED], timestamp_end__lte=now,
            jackpot_type=JackpotInstance.Type.JACKPOT):
        liability = instance_liability(instance)
        if liability:  # its money needs a person's disposition: it stops taking contributions meanwhile
            if instance.state == JackpotInstance.State.ACTIVE:
                instance_set_state(instance=instance, state=JackpotInstance.State.PAUSED, actor=None, reason=(
                    f"schedule: end time reached; its pots hold {plain(liability)} {instance.currency_id}, "
                    "waiting for a retirement (transfer or payout)"))
            continue
        instance_set_state(instance=instance, state=JackpotInstance.State.TERMINATED, actor=None,
                           reason="schedule: end time reached")
        ended += 1
    return started, ended


# --- catalogue configuration (the admin and the configuration API) -------------------------


@transaction.atomic
def source_save(*, source: Source, actor) -> Source:
    checked_save(source, actor=actor)
    return source


@transaction.atomic
def game_group_save(*, group: GameGroup, actor) -> GameGroup:
    checked_save(group, actor=actor)
    return group


@transaction.atomic
def source_mappings_set(*, source: Source, mappings: list[tuple[JackpotInstance, int]], actor) -> None:
    """The instances a source feeds, with their priorities, replaced by `mappings`."""
    errors = {}
    wanted: dict = {}
    for index, (instance, priority) in enumerate(mappings):
        if instance.operator_id != source.operator_id:
            errors[f"mappings[{index}]"] = [f"Instance {instance.pk} belongs to another operator."]
        elif instance.pk in wanted:
            errors[f"mappings[{index}]"] = [f"Instance {instance.pk} is listed twice."]
        wanted[instance.pk] = (instance, priority)
    if errors:
        raise invalid_configuration(ValidationError(errors))
    current = {m.jackpot_id: m for m in SourceMapping.objects.select_for_update().filter(source=source)}
    for jackpot_id, mapping in current.items():
        if jackpot_id not in wanted:
            checked_delete(mapping, actor=actor)
    for instance, priority in wanted.values():
        mapping = current.get(instance.pk) or SourceMapping(source=source, jackpot=instance)
        if mapping.pk is None or mapping.priority != priority:
            mapping.priority = priority
            checked_save(mapping, actor=actor)


@transaction.atomic
def games_save(*, group: GameGroup, games: list[dict], replace: bool, actor) -> dict[str, int]:
    """Games of a group in bulk, keyed by (provider, game_code): new ones added, names updated;
    with `replace`, games not listed are removed. All or nothing; History names `actor`."""
    errors: dict[str, list[str]] = {}
    rows: dict[tuple[str, str], Game] = {}
    for index, row in enumerate(games):
        game = Game(group=group, provider=row.get("provider", ""), game_code=row.get("game_code", ""),
                    name=row.get("name") or "")
        try:
            # The (group, provider, game_code) constraint is checked here, in memory, at once.
            game.full_clean(exclude=["group"], validate_unique=False, validate_constraints=False)
        except ValidationError as error:
            errors.update({f"games[{index}].{field}": messages for field, messages in error.message_dict.items()})
            continue
        key = (game.provider, game.game_code)
        if key in rows:
            errors[f"games[{index}]"] = [f"{game.provider}/{game.game_code} is listed twice."]
        rows[key] = game
    if errors:
        raise invalid_configuration(ValidationError(errors))
    existing = {(g.provider, g.game_code): g for g in Game.objects.select_for_update().filter(group=group)}
    new = [game for key, game in rows.items() if key not in existing]
    changed = []
    for key, game in rows.items():
        if key in existing and existing[key].name != game.name:
            existing[key].name = game.name
            changed.append(existing[key])
    removed = [game for key, game in existing.items() if replace and key not in rows]
    user = _actor(actor)
    if new:
        bulk_create_with_history(new, Game, default_user=user)
    if changed:
        bulk_update_with_history(changed, Game, ["name"], default_user=user)
    for game in removed:
        checked_delete(game, actor=actor)
    if new or changed:
        # Bulk writes send no post_save: this process forgets its cached routes as a save would.
        transaction.on_commit(clear_all)
    return {"created": len(new), "updated": len(changed), "removed": len(removed),
            "unchanged": len(rows) - len(new) - len(changed)}


# --- rules disclosure ---------------------------------------------------------------------


def rules_publish(*, instance: JackpotInstance, now: datetime | None = None) -> tuple[RulesVersion | None, bool]:
    """Record the instance's rules document (`sources.rules`) as its next version if the text
    differs from the latest; returns (the current version, whether it is new). A Pending
    instance publishes nothing: its rules are a draft until it is announced.

    Called after every configuration change the admin saves, on activation, and before the
    current rules are served (so a change made any other way is published at the latest when
    someone reads them). Safe from any process at any time: the version number is unique per
    instance, and a writer that loses the race for it compares with the winner's text again."""
    instance = rules_queryset().get(pk=instance.pk)
    if instance.state == JackpotInstance.State.PENDING:
        return None, False
    text = jsonutil.dumps(rules_document(instance))
    digest = hashlib.sha256(text.encode()).hexdigest()
    for _ in range(5):
        latest = RulesVersion.objects.filter(jackpot=instance).order_by("-version").first()
        if latest is not None and latest.digest == digest:
            return latest, False
        try:
            with transaction.atomic():
                return RulesVersion.objects.create(
                    jackpot=instance, version=latest.version + 1 if latest else 1, document=text, digest=digest,
                    published_at=now or timezone.now()), True
        except IntegrityError:
            continue  # another writer took that number: compare with its text
    raise DomainError("DB_ERROR", f"Could not publish the rules of instance {instance.pk}")


# --- changes to live jackpots: each pot's parameters change at its next generation ---------

LIVE_STATES = (JackpotInstance.State.ACTIVE, JackpotInstance.State.PAUSED)


def _as_json(value):
    """A parameter as a PotChange keeps it and a person reads it: decimals as plain text."""
    if isinstance(value, Decimal):
        return f"{plain(value):f}"
    return value.isoformat() if hasattr(value, "isoformat") else value


def pot_parameters(pot: Pot) -> dict:
    return {name: getattr(pot, name) for name in POT_PARAMETERS}


def pot_future_parameters(pot: Pot) -> dict:
    """The parameters the pot plays with from its next generation: its own, its pending change on top."""
    parameters = pot_parameters(pot)
    if pot.pending_change_id:
        parameters.update(pot.pending_change.values())
    return parameters


def live_shares_check(*, house_share: Decimal, shares: list[tuple[Decimal, Decimal]]) -> None:
    """The shares of a live instance, `(in force, from the next generation)` per pot. Each pot
    changes at its own next win, in an order nobody knows: once all have changed, pots plus
    house add up to exactly 1; and on the way, whatever the order, the pots never take more
    than the whole contribution (the house takes what they do not, as the split always does)."""
    final = sum((future for _, future in shares), ZERO) + (house_share or ZERO)
    if final != 1:
        raise DomainError("INVALID_CONFIGURATION", f"Pot shares plus the house share add up to {plain(final)}, "
                                                   "not 1. Adjust the shares so every contribution is fully "
                                                   "accounted for.")
    worst = sum((max(now, future) for now, future in shares), ZERO)
    if worst > 1:
        raise DomainError("INVALID_CONFIGURATION", (
            f"While the pots change one by one (each at its next win), their shares could add up to "
            f"{plain(worst)}, more than the whole contribution. Lower shares first; raise them once the "
            "lowered ones have taken effect."))


def may_change(actor, instance: JackpotInstance) -> bool:
    """The admin's rule for the catalogue (ScopedAdmin.may_change), kept by services that move
    money: a user changes what belongs to an operator of their scope or to one of its brands.
    `None` is the portal itself (the schedule, the engine, a command)."""
    if actor is None:
        return True
    scope = scope_for(actor)
    return scope.owns_operator(instance.operator_id) or bool(instance.brand_id and scope.sees_brand(instance.brand_id))


def _require_scope(actor, instance: JackpotInstance) -> None:
    if not may_change(actor, instance):
        raise DomainError("FORBIDDEN", f"{instance.name} is outside your scope")


# What saving an edited pot writes: never its money (moved only by the engine and the
# services, on locked rows), which the edited object may hold from before.
POT_CONFIGURATION = [f.name for f in Pot._meta.concrete_fields
                     if f.name not in ("id", "current_value", "seed_fund", "seed_deficit", "generation")]


def pots_frozen(instance: JackpotInstance) -> bool:
    """A terminated or retiring instance: its pots' parameters no longer change."""
    return instance.state == JackpotInstance.State.TERMINATED or open_retirement(instance) is not None


def pots_edit_check(*, instance: JackpotInstance, pots: list[Pot], deleted: list[Pot] = ()) -> None:
    """What an edit of a live instance's pots must respect besides `pots_check` (the admin's
    pots form asks before saving; `pots_update` holds it): its pots are neither added nor
    removed, and the shares hold whichever pot is won first (`live_shares_check`). `pots`
    carry the values wanted from their next generation."""
    if instance.pk is None or instance.state == JackpotInstance.State.PENDING:
        return
    if deleted or any(pot.pk is None for pot in pots):
        raise DomainError("INVALID_CONFIGURATION", "A jackpot that has been live keeps its pots: add or remove pots "
                                                   "only while it is Pending")
    in_force = dict(Pot.objects.filter(jackpot=instance).values_list("pk", "share"))
    live_shares_check(house_share=instance.house_share,
                      shares=[(in_force[pot.pk], pot.share) for pot in pots if pot.pk in in_force])


def _future_pot(pot: Pot, parameters: dict) -> Pot:
    future = copy.copy(pot)
    for name, value in parameters.items():
        setattr(future, name, value)
    return future


@transaction.atomic
def pots_update(*, instance: JackpotInstance, pots: list[Pot], actor, reason: str = "") -> list[PotChange]:
    """Save edited pots of an instance (`pots` carry the wanted values), as the admin's pots do.

    1. A draft (Pending: never activated) changes at once.
    2. On a live instance (Active or Paused) names and tiers change at once; the mechanic
       parameters (POT_PARAMETERS: share, seed, cap, ceiling, odds...) are scheduled for each
       pot's next generation: a PotChange, applied by `pot_next_generation` when the pot is
       reseeded after its next win. Editing a pot back to the values in force withdraws it.
    3. The shares are checked for every order in which the pots may be won (`live_shares_check`).
    4. A terminated or retiring instance's parameters no longer change.
    Returns the changes scheduled."""
    locked = JackpotInstance.objects.select_for_update().get(pk=instance.pk)
    current = {p.pk: p for p in Pot.objects.select_for_update().filter(jackpot_id=locked.pk).order_by("pk")}
    if locked.state == JackpotInstance.State.PENDING:
        for pot in pots:
            pot._history_user = _actor(actor)
            pot._change_reason = reason or None
            pot.save(update_fields=POT_CONFIGURATION)
        return []
    edited = {pot.pk: pot for pot in pots if pot.pk in current}
    if locked.state == JackpotInstance.State.TERMINATED or open_retirement(locked) is not None:
        for pk, pot in edited.items():
            if pot_parameters(pot) not in (pot_parameters(current[pk]), pot_future_parameters(current[pk])):
                terminated = locked.state == JackpotInstance.State.TERMINATED
                raise DomainError("INSTANCE_TERMINATED" if terminated else "INSTANCE_RETIRING",
                                  f"{locked.name} is {'terminated' if terminated else 'retiring'}: its pots no "
                                  "longer change")
            for name in POT_PARAMETERS:
                setattr(pot, name, getattr(current[pk], name))
            pot.pending_change_id = current[pk].pending_change_id
            pot._history_user = _actor(actor)
            pot._change_reason = reason or None
            pot.save(update_fields=POT_CONFIGURATION)
        return []
    wanted = {pk: pot_parameters(edited[pk]) if pk in edited else pot_future_parameters(pot)
              for pk, pot in current.items()}
    diffs = {pk: {name: value for name, value in wanted[pk].items() if value != getattr(current[pk], name)}
             for pk in edited}
    if any(diffs.values()) or any(current[pk].pending_change_id for pk in edited):
        live_shares_check(house_share=locked.house_share,
                          shares=[(pot.share, wanted[pk]["share"]) for pk, pot in current.items()])
        for pk in edited:
            try:
                _future_pot(current[pk], wanted[pk]).clean()
            except ValidationError as error:
                raise invalid_configuration(error) from error
    now = timezone.now()
    scheduled = []
    for pk, pot in edited.items():
        in_force = current[pk]
        for name in POT_PARAMETERS:  # what players play against until the pot's next win
            setattr(pot, name, getattr(in_force, name))
        diff = {name: _as_json(value) for name, value in diffs[pk].items()}
        old = in_force.pending_change if in_force.pending_change_id else None
        note = reason or None
        if old is not None and old.changes == diff:
            pot.pending_change = old
        else:
            if old is not None:
                _change_close(old, PotChange.Status.SUPERSEDED if diff else PotChange.Status.CANCELLED,
                              actor=actor, now=now, reason="replaced by a later edit" if diff else "edited back")
                note = f"change #{old.pk} withdrawn (edited back to the values in force)"
            pot.pending_change = None
            if diff:
                change = PotChange(pot=in_force, changes=diff, reason=reason,
                                   previous={name: _as_json(getattr(in_force, name)) for name in diff},
                                   requested_by=_actor(actor), scheduled_generation=in_force.generation)
                change._history_user = _actor(actor)
                change.save()
                pot.pending_change = change
                scheduled.append(change)
                note = f"scheduled for its next generation (after its next win): {change.summary}"
        pot._history_user = _actor(actor)
        pot._change_reason = note
        pot.save(update_fields=POT_CONFIGURATION)
    return scheduled


def _change_close(change: PotChange, status: str, *, actor, now, reason: str) -> None:
    change.status = status
    change.decided_at = now
    change._history_user = _actor(actor)
    change._change_reason = reason
    change.save(update_fields=["status", "decided_at"])


@transaction.atomic
def pot_change_cancel(*, change: PotChange, actor, reason: str) -> PotChange:
    """Withdraw a pending change before it takes effect (History keeps it)."""
    reason = _reason(reason)
    locked = PotChange.objects.select_for_update(of=("self",)).select_related("pot__jackpot").get(pk=change.pk)
    _require_scope(actor, locked.pot.jackpot)
    if locked.status != PotChange.Status.PENDING:
        raise DomainError("NOT_PENDING", f"Change #{locked.pk} is {locked.get_status_display().lower()}")
    if locked.closes:
        raise DomainError("INSTANCE_RETIRING", "A retirement's closing change ends with another disposition, "
                                               "not on its own")
    pot = Pot.objects.select_for_update().get(pk=locked.pot_id)
    _change_close(locked, PotChange.Status.CANCELLED, actor=actor, now=timezone.now(), reason=reason)
    pot.pending_change = None
    pot._history_user = _actor(actor)
    pot._change_reason = f"change #{locked.pk} cancelled: {reason}"
    pot.save(update_fields=["pending_change", "updated_at"])
    return locked


@dataclass(frozen=True)
class NextGeneration:
    """What a pot's next generation brings besides its reseed (see `pot_next_generation`)."""

    released: Decimal = ZERO  # a retiring pot's reserve, paid with its final win
    ended: bool = False  # that was the instance's last open pot: the instance is now Terminated


def pot_next_generation(pot: Pot, *, now: datetime) -> NextGeneration:
    """Called when a pot has been won, before it is reseeded (the engine's `batch_apply` and the
    raffle draw): its pending change takes effect, so the next generation (reseed value, drop
    commitment, odds, share) is played with the new parameters. No query unless one is pending.

    A closing change (retirement: keep running until won) also releases the pot's reserve
    (its seed fund) into this final win -- booked as a `reserve_release` adjustment -- and
    leaves the pot closed at zero; when no open pot is left, the instance terminates. The pot
    object is changed in place (the caller writes its value and seed fund with the batch)."""
    if pot.pending_change_id is None:
        return NextGeneration()
    change = PotChange.objects.select_for_update(of=("self",)).select_related("requested_by").get(pk=pot.pending_change_id)
    released = ZERO
    retirement = None
    if change.closes:
        retirement = open_retirement(pot.jackpot_id)
        if pot.seed_fund > 0:
            released = pot.seed_fund
            PotAdjustment.objects.create(
                pot=pot, kind=PotAdjustment.Kind.RESERVE_RELEASE, value_delta=released, seed_delta=-released,
                retirement=retirement, reason="retirement: the pot's reserve goes with its final win")
            pot.current_value += released
            pot.seed_fund = ZERO
    for name, value in change.values().items():
        setattr(pot, name, value)
    pot.pending_change = None
    who = change.requested_by.get_username() if change.requested_by else "the portal"
    pot._history_user = None  # the engine did it; the reason names who scheduled it
    pot._change_reason = (f"change #{change.pk} took effect with generation {pot.generation + 1} "
                          f"(scheduled by {who}): {change.summary}")
    pot.save(update_fields=[*POT_PARAMETERS, "current_value", "seed_fund", "pending_change", "updated_at"])
    change.applied_generation = pot.generation + 1
    change.save(update_fields=["applied_generation"])
    _change_close(change, PotChange.Status.APPLIED, actor=None, now=now,
                  reason=f"took effect with generation {pot.generation + 1}")
    ended = False
    if change.closes and not Pot.objects.filter(jackpot_id=pot.jackpot_id).exclude(
            mechanic=Pot.Mechanic.CLOSED).exists():
        instance = JackpotInstance.objects.select_for_update().get(pk=pot.jackpot_id)
        why = retirement.reason if retirement else "retired"
        _terminate(instance, retirement, actor=None, reason=f"{why} (every pot won)", now=now)
        ended = True
    return NextGeneration(released=released, ended=ended)


# --- decreases: four eyes, never below the reset value ------------------------------------


def _floor_check(pot: Pot, delta: Decimal) -> None:
    if pot.current_value + delta < pot.initial_seed:
        raise DomainError("BELOW_RESET_VALUE", (
            f"Pot {pot.pot_id} holds {plain(pot.current_value)}; a decrease of {plain(-delta)} would take it "
            f"below its reset value {plain(pot.initial_seed)}, and a pot cannot go below its reset value"))


def _second_person(actor, requested_by_id: int | None, what: str) -> None:
    """Four eyes: the approver is another person, holding `sources.approve_pot_decrease`."""
    if not getattr(actor, "is_authenticated", False):
        raise DomainError("FORBIDDEN", f"{what} needs a person's approval")
    if actor.pk == requested_by_id:
        raise DomainError("FOUR_EYES", f"{what} needs a second person: whoever asked for it cannot approve it")
    if not actor.has_perm("sources.approve_pot_decrease"):
        raise DomainError("FORBIDDEN", f"Approving {what.lower()} needs the permission to approve pot decreases")


def adjustment_request_create(*, pot: Pot, delta: Decimal, actor, reason: str) -> AdjustmentRequest:
    """A decrease asked for: nothing moves until a second person approves it. (In `pot_adjust`'s
    transaction, the pot locked.)"""
    _floor_check(pot, delta)
    request = AdjustmentRequest(pot=pot, value_delta=delta, reason=reason, requested_by=_actor(actor))
    request._history_user = _actor(actor)
    request.save()
    _record(pot, actor, f"decrease of {plain(-delta)} asked for (request #{request.pk}, waiting for a second "
                        f"person's approval): {reason}")
    return request


@transaction.atomic
def adjustment_request_approve(*, request: AdjustmentRequest, actor, reason: str = "") -> PotAdjustment:
    """The second person approves a decrease: booked now, if the pot still stays at or above
    its reset value (it may have been won since it was asked for)."""
    locked = AdjustmentRequest.objects.select_for_update(of=("self",)).select_related(
        "pot__jackpot", "requested_by").get(pk=request.pk)
    _require_scope(actor, locked.pot.jackpot)
    if locked.status != AdjustmentRequest.Status.PENDING:
        raise DomainError("NOT_PENDING", f"Request #{locked.pk} is {locked.get_status_display().lower()}")
    _second_person(actor, locked.requested_by_id, "A decrease")
    pot = Pot.objects.select_for_update().get(pk=locked.pot_id)
    _floor_check(pot, locked.value_delta)
    Pot.objects.filter(pk=pot.pk).update(current_value=F("current_value") + locked.value_delta,
                                         updated_at=timezone.now())
    adjustment = PotAdjustment.objects.create(
        pot=pot, kind=PotAdjustment.Kind.ADJUSTMENT, value_delta=locked.value_delta, reason=locked.reason,
        actor=locked.requested_by, approved_by=actor)
    note = (reason or "").strip()[:500]
    _decide(locked, AdjustmentRequest.Status.APPROVED, actor=actor, reason=note, adjustment=adjustment)
    asked = locked.requested_by.get_username() if locked.requested_by else "the portal"
    _record(pot, actor, f"value {plain(locked.value_delta)}: {locked.reason} (asked by {asked}, approved by "
                        f"{actor.get_username()}{': ' + note if note else ''})")
    return adjustment


@transaction.atomic
def adjustment_request_reject(*, request: AdjustmentRequest, actor, reason: str) -> AdjustmentRequest:
    """Refuse a decrease (a second person), or withdraw it (whoever asked for it)."""
    reason = _reason(reason)
    locked = AdjustmentRequest.objects.select_for_update(of=("self",)).select_related("pot__jackpot").get(pk=request.pk)
    _require_scope(actor, locked.pot.jackpot)
    if locked.status != AdjustmentRequest.Status.PENDING:
        raise DomainError("NOT_PENDING", f"Request #{locked.pk} is {locked.get_status_display().lower()}")
    if getattr(actor, "pk", None) != locked.requested_by_id:
        _second_person(actor, locked.requested_by_id, "A decrease")
    _decide(locked, AdjustmentRequest.Status.REJECTED, actor=actor, reason=reason)
    _record(locked.pot, actor, f"decrease of {plain(-locked.value_delta)} (request #{locked.pk}) rejected: {reason}")
    return locked


def _decide(obj, status: str, *, actor, reason: str, **fields) -> None:
    """A decision on a request or a retirement, written to its History."""
    obj.status = status
    obj.decided_by = _actor(actor)
    obj.decided_at = timezone.now()
    obj.decision_reason = reason
    for name, value in fields.items():
        setattr(obj, name, value)
    obj._history_user = _actor(actor)
    obj._change_reason = f"{status}{': ' + reason if reason else ''}"
    obj.save()


# --- retirement: the money in a terminated instance's pots goes somewhere ------------------


def open_retirement(instance) -> Retirement | None:
    """The instance's disposition in progress (a payout awaiting approval, or running until won)."""
    instance_id = getattr(instance, "pk", instance)
    return Retirement.objects.filter(jackpot_id=instance_id, status__in=Retirement.OPEN).first()


def _liability(pots: list[Pot]) -> Decimal:
    return sum((pot.current_value + pot.seed_fund for pot in pots), ZERO)


def instance_liability(instance: JackpotInstance) -> Decimal:
    """What the instance's pots hold, values and seed funds (instance currency; summed here as
    Decimals, exact on every database)."""
    return _liability(list(Pot.objects.filter(jackpot=instance).only("current_value", "seed_fund")))


def _terminate(instance: JackpotInstance, retirement: Retirement | None, *, actor, reason: str, now) -> None:
    """The final state change (the instance row locked by the caller), closing its retirement."""
    instance.state = JackpotInstance.State.TERMINATED
    instance._history_user = _actor(actor)
    instance._change_reason = reason
    instance.save()
    if retirement is not None:
        retirement.status = Retirement.Status.DONE
        retirement.completed_at = now
        retirement._history_user = _actor(actor)
        retirement._change_reason = f"done: {reason}"
        retirement.save()
    for change in PotChange.objects.filter(pot__jackpot=instance, status=PotChange.Status.PENDING):
        _change_close(change, PotChange.Status.CANCELLED, actor=actor, now=now, reason="instance terminated")
    Pot.objects.filter(jackpot=instance, pending_change__isnull=False).update(pending_change=None)


def _multiplier(instance: JackpotInstance) -> Decimal:
    return Currency.objects.values_list("multiplier", flat=True).get(pk=instance.currency_id)


def transfer_target_check(*, source: Pot, target: Pot, actor) -> None:
    """A pot that may take a retiring pot's money: another live or draft jackpot of the same
    operator (the liability stays with whoever owes it), in the user's scope, open, not retiring."""
    name = f"{target.jackpot.name} / {target.pot_id}"
    if target.jackpot_id == source.jackpot_id:
        raise DomainError("INVALID_TARGET", f"{name}: money goes to a pot of another jackpot")
    if target.jackpot.operator_id != source.jackpot.operator_id:
        raise DomainError("INVALID_TARGET", f"{name}: money stays with the operator that owes it")
    if target.jackpot.state == JackpotInstance.State.TERMINATED or target.mechanic == Pot.Mechanic.CLOSED:
        raise DomainError("INVALID_TARGET", f"{name} is closed")
    if open_retirement(target.jackpot_id) is not None:
        raise DomainError("INVALID_TARGET", f"{name} is retiring itself")
    _require_scope(actor, target.jackpot)


def _transfer(retirement: Retirement, source: Pot, target: Pot, *, actor, reason: str,
              multipliers: dict) -> PotTransfer:
    """Paired ledger rows: the source's value and seed fund out, the same amounts (converted at
    the multipliers of the moment when the currencies differ) into the target's value -- up to
    its cap, and not at all where a jump would pass a hidden drop point -- and seed fund."""
    m_source, m_target = multipliers[source.jackpot_id], multipliers[target.jackpot_id]
    value, seed = convert(source.current_value, m_source, m_target), convert(source.seed_fund, m_source, m_target)
    mechanic = mechanic_of(target)
    into_value = value if target.is_progressive and mechanic.value_may_jump else ZERO
    cap = mechanic.cap(target)
    if cap is not None:
        into_value = max(ZERO, min(into_value, cap - target.current_value))
    transfer = PotTransfer.objects.create(
        retirement=retirement, source=source, target=target, value_out=source.current_value,
        seed_out=source.seed_fund, value_in=into_value, seed_in=seed + value - into_value,
        source_currency=source.jackpot.currency_id, target_currency=target.jackpot.currency_id,
        source_multiplier=m_source, target_multiplier=m_target, actor=_actor(actor), reason=reason)
    PotAdjustment.objects.bulk_create([
        PotAdjustment(pot=source, kind=PotAdjustment.Kind.TRANSFER_OUT, value_delta=-transfer.value_out,
                      seed_delta=-transfer.seed_out, transfer=transfer, retirement=retirement,
                      actor=_actor(actor), reason=f"to {target.jackpot.name} / {target.pot_id}: {reason}"),
        PotAdjustment(pot=target, kind=PotAdjustment.Kind.TRANSFER_IN, value_delta=transfer.value_in,
                      seed_delta=transfer.seed_in, transfer=transfer, retirement=retirement,
                      actor=_actor(actor), reason=f"from {source.jackpot.name} / {source.pot_id}: {reason}"),
    ])
    now = timezone.now()
    Pot.objects.filter(pk=source.pk).update(current_value=ZERO, seed_fund=ZERO, updated_at=now)
    Pot.objects.filter(pk=target.pk).update(current_value=F("current_value") + transfer.value_in,
                                            seed_fund=F("seed_fund") + transfer.seed_in, updated_at=now)
    target.current_value += transfer.value_in  # the next transfer to it sees its room under the cap
    target.seed_fund += transfer.seed_in
    source.current_value = source.seed_fund = ZERO
    amount = f"{plain(transfer.value_out + transfer.seed_out)} {transfer.source_currency}"
    _record(source, actor, f"transferred {amount} to {target.jackpot.name} / {target.pot_id}: {reason}")
    _record(target, actor, f"received {plain(transfer.value_in + transfer.seed_in)} {transfer.target_currency} "
                           f"from {source.jackpot.name} / {source.pot_id} (retired): {reason}")
    return transfer


def instance_retire(*, instance: JackpotInstance, disposition: str, actor, reason: str, reference: str = "",
                    targets: dict[int, Pot] | None = None) -> Retirement | None:
    """Terminate an instance, saying what becomes of the money its pots still hold.

    - `transfer`: each pot holding money goes to the pot `targets[pot.pk]` names (PotTransfer:
      paired ledger rows); the instance terminates at once.
    - `run_until_won`: the instance stays live (no new opt-ins) and each pot closes at its next
      win, that win paying its reserve too; the last one terminates the instance.
    - `payout`: a decision recorded with its reference; the instance is paused until a second
      person approves it (`retirement_approve`), which books the payouts and terminates it.
    An instance whose pots hold nothing simply terminates (returns None). A transfer or payout
    replaces a run-until-won in progress."""
    reason = _reason(reason)
    reference = (reference or "").strip()[:200]
    targets = targets or {}
    now = timezone.now()
    with transaction.atomic():
        target_instances = {pot.jackpot_id for pot in targets.values()}
        locked_all = {i.pk: i for i in JackpotInstance.objects.select_for_update().filter(
            pk__in={instance.pk, *target_instances}).select_related("currency").order_by("pk")}
        locked = locked_all[instance.pk]
        _require_scope(actor, locked)
        if locked.state == JackpotInstance.State.TERMINATED:
            raise DomainError("INVALID_STATE_CHANGE", f"{locked.name} is already terminated")
        current = open_retirement(locked)
        if current is not None and current.status == Retirement.Status.AWAITING_APPROVAL:
            raise DomainError("RETIREMENT_PENDING", f"A payout decision for {locked.name} waits for approval: "
                                                    "approve or reject it first")
        pot_ids = {p for p in Pot.objects.filter(jackpot=locked).values_list("pk", flat=True)}
        pots_all = {p.pk: p for p in Pot.objects.select_for_update(of=("self",)).filter(
            pk__in=pot_ids | {pot.pk for pot in targets.values()}).select_related("jackpot").order_by("pk")}
        pots = [pots_all[pk] for pk in sorted(pot_ids)]
        liability = _liability(pots)
        if not liability:
            if current is not None:
                _retirement_withdraw(current, actor=actor, reason="nothing left to dispose of")
            instance_set_state(instance=locked, state=JackpotInstance.State.TERMINATED, actor=actor,
                               reason=f"{reason} (its pots held nothing)")
            return None
        retirement = Retirement(jackpot=locked, disposition=disposition, reason=reason, reference=reference,
                                liability=liability, requested_by=_actor(actor))
        retirement._history_user = _actor(actor)
        if disposition == Retirement.Disposition.TRANSFER:
            funded = [pot for pot in pots if pot.current_value or pot.seed_fund]
            missing = [pot.pot_id for pot in funded if pot.pk not in targets]
            if missing:
                raise DomainError("TARGET_REQUIRED", f"Name the pot that takes the money of {', '.join(missing)}")
            chosen = {pot.pk: pots_all[targets[pot.pk].pk] for pot in funded}
            for pot in funded:
                transfer_target_check(source=pot, target=chosen[pot.pk], actor=actor)
            if current is not None:
                _retirement_withdraw(current, actor=actor, reason="replaced by a transfer")
            retirement.status = Retirement.Status.DONE
            retirement.save()
            multipliers = {pk: _multiplier(i) for pk, i in locked_all.items()}
            moved = [_transfer(retirement, pot, chosen[pot.pk], actor=actor, reason=reason, multipliers=multipliers)
                     for pot in funded]
            where = ", ".join(dict.fromkeys(f"{t.target.jackpot.name} / {t.target.pot_id}" for t in moved))
            _terminate(locked, retirement, actor=actor, now=now,
                       reason=f"{reason} (retired: {plain(liability)} {locked.currency_id} transferred to {where})")
        elif disposition == Retirement.Disposition.RUN_UNTIL_WON:
            if locked.state not in LIVE_STATES:
                raise DomainError("INVALID_STATE_CHANGE", f"{locked.name} never ran: transfer its money or pay it out")
            if locked.timestamp_end and not locked.is_raffle:
                raise DomainError("END_TIME_SET", f"{locked.name} ends at {locked.timestamp_end:%Y-%m-%d %H:%M} UTC, "
                                                  "which would stop it before its pots are won: clear its end time "
                                                  "first")
            if current is not None:
                raise DomainError("INSTANCE_RETIRING", f"{locked.name} already runs until won")
            retirement.status = Retirement.Status.RUNNING
            retirement.save()
            pots_close_at_next_win(pots=pots, actor=actor, reason=reason)
            _record(locked, actor, f"retiring, runs until every pot is won (no new opt-ins): {reason}")
        elif disposition == Retirement.Disposition.PAYOUT:
            if not reference:
                raise DomainError("REFERENCE_REQUIRED", "A payout is made under a recorded decision: give its reference")
            if current is not None:
                _retirement_withdraw(current, actor=actor, reason="replaced by a payout decision")
            retirement.status = Retirement.Status.AWAITING_APPROVAL
            retirement.save()
            if locked.state == JackpotInstance.State.ACTIVE:
                instance_set_state(instance=locked, state=JackpotInstance.State.PAUSED, actor=actor,
                                   reason=f"payout of {plain(liability)} {locked.currency_id} under decision "
                                          f"{reference} waits for a second person's approval: {reason}")
            else:
                _record(locked, actor, f"payout under decision {reference} waits for approval: {reason}")
        else:
            raise DomainError("INVALID_DISPOSITION", f"Unknown disposition {disposition!r}")
    return retirement


def pots_close_at_next_win(*, pots: list[Pot], actor, reason: str) -> None:
    """Every open pot closes at its next win (a closing PotChange, replacing a pending one):
    keep running until won, and a one-off raffle's final draw. Pots locked by the caller."""
    closing = {"mechanic": Pot.Mechanic.CLOSED, "share": "0", "seed_share": "0", "initial_seed": "0", "cap": None,
               "drop_ceiling": None, "drop_window_hours": None, "cost_per_attempt": None, "max_magic_number": None}
    now = timezone.now()
    for pot in pots:
        if pot.mechanic == Pot.Mechanic.CLOSED:
            continue
        if pot.pending_change_id:
            _change_close(PotChange.objects.get(pk=pot.pending_change_id), PotChange.Status.SUPERSEDED,
                          actor=actor, now=now, reason="replaced by the retirement")
        change = PotChange(pot=pot, changes=closing, reason=reason, requested_by=_actor(actor),
                           previous={name: _as_json(getattr(pot, name)) for name in closing},
                           scheduled_generation=pot.generation)
        change._history_user = _actor(actor)
        change.save()
        pot.pending_change = change
        pot._history_user = _actor(actor)
        pot._change_reason = f"closes at its next win, which also pays its reserve: {reason}"
        pot.save(update_fields=["pending_change", "updated_at"])


def _retirement_withdraw(retirement: Retirement, *, actor, reason: str) -> None:
    """A run-until-won replaced (by a transfer or payout): its closing changes go with it."""
    retirement.status = Retirement.Status.WITHDRAWN
    retirement._history_user = _actor(actor)
    retirement._change_reason = f"withdrawn: {reason}"
    retirement.save(update_fields=["status"])
    now = timezone.now()
    for change in PotChange.objects.filter(pot__jackpot_id=retirement.jackpot_id, status=PotChange.Status.PENDING):
        _change_close(change, PotChange.Status.CANCELLED, actor=actor, now=now, reason=f"retirement {reason}")
    Pot.objects.filter(jackpot_id=retirement.jackpot_id, pending_change__isnull=False).update(pending_change=None)


@transaction.atomic
def retirement_approve(*, retirement: Retirement, actor, reason: str = "") -> Retirement:
    """The second person approves a payout decision: each pot's value and seed fund are paid
    out (a `payout` ledger row naming both people and the reference) and the instance terminates."""
    instance = JackpotInstance.objects.select_for_update().get(pk=retirement.jackpot_id)
    locked = Retirement.objects.select_for_update(of=("self",)).select_related("requested_by").get(pk=retirement.pk)
    _require_scope(actor, instance)
    if locked.status != Retirement.Status.AWAITING_APPROVAL:
        raise DomainError("NOT_PENDING", f"This retirement is {locked.get_status_display().lower()}")
    _second_person(actor, locked.requested_by_id, "A payout")
    note = (reason or "").strip()[:500]
    pots = list(Pot.objects.select_for_update().filter(jackpot=instance).order_by("pk"))
    now = timezone.now()
    paid = ZERO
    for pot in pots:
        if not (pot.current_value or pot.seed_fund):
            continue
        paid += pot.current_value + pot.seed_fund
        PotAdjustment.objects.create(
            pot=pot, kind=PotAdjustment.Kind.PAYOUT, value_delta=-pot.current_value, seed_delta=-pot.seed_fund,
            retirement=locked, actor=locked.requested_by, approved_by=actor,
            reason=f"payout under decision {locked.reference}: {locked.reason}")
        Pot.objects.filter(pk=pot.pk).update(current_value=ZERO, seed_fund=ZERO, updated_at=now)
        _record(pot, actor, f"paid out {plain(pot.current_value + pot.seed_fund)} under decision {locked.reference}")
    locked.decided_by, locked.decided_at, locked.decision_reason = actor, now, note  # saved as it is done
    _terminate(instance, locked, actor=actor, now=now,
               reason=f"{locked.reason} (retired: {plain(paid)} {instance.currency_id} paid out under decision "
                      f"{locked.reference}, approved by {actor.get_username()})")
    return locked


@transaction.atomic
def retirement_reject(*, retirement: Retirement, actor, reason: str) -> Retirement:
    """Refuse a payout decision (a second person) or withdraw it (whoever asked): nothing is
    paid, the instance stays paused for another decision."""
    reason = _reason(reason)
    instance = JackpotInstance.objects.select_for_update().get(pk=retirement.jackpot_id)
    locked = Retirement.objects.select_for_update().get(pk=retirement.pk)
    _require_scope(actor, instance)
    if locked.status != Retirement.Status.AWAITING_APPROVAL:
        raise DomainError("NOT_PENDING", f"This retirement is {locked.get_status_display().lower()}")
    if getattr(actor, "pk", None) != locked.requested_by_id:
        _second_person(actor, locked.requested_by_id, "A payout")
    _decide(locked, Retirement.Status.REJECTED, actor=actor, reason=reason)
    _record(instance, actor, f"payout decision {locked.reference} rejected: {reason}")
    return locked


def raffle_final_draw(*, instance: JackpotInstance, reason: str) -> None:
    """Before a one-off raffle's final draw (instance row locked): its prizes close as they are
    won, each paying its reserve too -- as a jackpot kept running until won -- and the last
    one won terminates the raffle. (Already so when staff chose that disposition.)"""
    if open_retirement(instance) is not None:
        return
    pots = list(Pot.objects.select_for_update().filter(jackpot=instance).order_by("pk"))
    retirement = Retirement(jackpot=instance, disposition=Retirement.Disposition.RUN_UNTIL_WON, reason=reason,
                            status=Retirement.Status.RUNNING, liability=_liability(pots))
    retirement._change_reason = "the final draw of a one-off raffle"
    retirement.save()
    pots_close_at_next_win(pots=pots, actor=None, reason=reason)


def raffle_ended(*, instance: JackpotInstance, reason: str) -> None:
    """After a raffle's final draw: terminated already when every prize was won. Prizes nobody
    could win (fewer ticket holders than prizes) still hold their money: the raffle is paused
    until staff retire it with a transfer or a payout (or it terminates, if they hold nothing)."""
    locked = JackpotInstance.objects.select_for_update().get(pk=instance.pk)
    if locked.state == JackpotInstance.State.TERMINATED:
        return
    retirement = open_retirement(locked)
    liability = instance_liability(locked)
    if not liability:
        _terminate(locked, retirement, actor=None, reason=reason, now=timezone.now())
        return
    if retirement is not None and retirement.disposition == Retirement.Disposition.RUN_UNTIL_WON:
        _retirement_withdraw(retirement, actor=None, reason="prizes left that nobody could win")
    if locked.state == JackpotInstance.State.ACTIVE:
        instance_set_state(instance=locked, state=JackpotInstance.State.PAUSED, actor=None, reason=(
            f"{reason}; {plain(liability)} {locked.currency_id} in prizes nobody could win waits for a retirement "
            "(transfer or payout)"))
