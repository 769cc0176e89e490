"""Writes to the catalogue: pots and their seeds, drop commitments, instance lifecycle."""

from datetime import datetime, timedelta
from decimal import Decimal

from django.db import transaction
from django.db.models import F
from django.utils import timezone

from portal.errors import DomainError
from portal.money import ZERO
from sources.mechanics import mechanic_of, randomness
from sources.models import DropCommitment, JackpotInstance, Pot, PotAdjustment


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
        raise DomainError("POT_IN_USE", f"Pot {pot.pot_id} has ledger entries and cannot be deleted", status=400)
    pot.adjustments.filter(kind=PotAdjustment.Kind.INITIAL_SEED).delete()
    pot.commitments.all().delete()
    pot.delete()


# --- provably fair must-drop pots ---------------------------------------------------------


def commitment_open(*, pot: Pot, generation: int, now: datetime | None = None) -> DropCommitment | None:
    """At every (re)seed of a pot whose mechanic commits (must-drop), draw its hidden drop
    point and publish only the SHA-256 of "value:salt" (value: the drop amount with 8
    decimals, or the drop time in epoch ms)."""
    commitment = mechanic_of(pot).commit(pot, now=now or timezone.now(), rng=randomness())
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
def pot_adjust(*, pot: Pot, delta: Decimal, actor, reason: str) -> PotAdjustment:
    """Move a pot's value up or down by hand. The pot never goes below zero, and the change is
    a ledger row with who and why: a pot never decreases silently."""
    reason = _reason(reason)
    locked = Pot.objects.select_for_update().get(pk=pot.pk)
    if delta == 0:
        raise DomainError("INVALID_AMOUNT", "An adjustment moves the pot")
    if locked.current_value + delta < ZERO:
        raise DomainError("INVALID_AMOUNT", f"The pot holds {locked.current_value}; it cannot go below zero")
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
    locked.state = state
    if state == JackpotInstance.State.ACTIVE and locked.is_raffle and locked.raffle_period_end is None:
        raffle_period_open(locked, start=timezone.now())
    locked._history_user = _actor(actor)
    locked._change_reason = reason
    locked.save()
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
    now = now or timezone.now()
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
        instance_set_state(instance=instance, state=JackpotInstance.State.TERMINATED, actor=None,
                           reason="schedule: end time reached")
        ended += 1
    return started, ended
