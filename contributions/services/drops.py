"""Clock-deadline drops: a `MustDropClock` pot whose deadline came before its drop did.

The pot commits to a drop time in [period start, deadline) (`sources.mechanics.MustDropClock`);
the first contribution at or after it wins, in `apply.batch_apply` like any must-drop. When no
contribution comes between the drop time and the deadline, the last contribution before the
deadline wins: a win decided at the deadline for a contribution already recorded, settled here.

1. `settle_due` runs inside `batch_apply`, with the instance and its pots locked, before any
   contribution is applied: no contribution made after a deadline ever joins the generation
   that deadline ended, and traffic never waits for the schedule;
2. `drops_due` / `drop_settle` (Celery beat: `contributions.settle_drops`, every few seconds)
   settle the pots no contribution reached after their deadline, with the same locks in the
   same order (the instance row, then the pot);
3. `settle` awards the pot's value to the generation's last contribution before the deadline
   (in that contribution's currency, at its rate; the instance's withhold limit applies),
   reseeds the pot from its seed fund, reveals the commitment and commits to the next period.
   The win is announced like any other: a wallet Credit, a WinEvent, and for an asynchronous
   contribution a webhook. A generation nobody contributed to ends without a win (its
   commitment revealed, its value kept) and the pot commits to the next period.

Paused instances are settled when they resume (as a paused raffle is drawn when it resumes);
terminated ones are not settled.
"""

import logging
from dataclasses import dataclass

from django.db import transaction
from django.db.models import F

from contributions import tasks
from contributions.models import PotIncrement, WebhookDelivery, Win
from contributions.services import payments
from contributions.services.outcome import announce, result_payload
from portal import clock, jsonutil
from portal.money import ledger, payout
from portal.selectors import currency_rates
from sources import services as catalogue
from sources.mechanics import mechanic_of, randomness
from sources.models import DropCommitment, JackpotInstance, Pot
from sources.selectors import with_config

logger = logging.getLogger(__name__)

CLOCK = Pot.Mechanic.MUST_DROP_CLOCK
RULE = "the last contribution before the deadline"


@dataclass
class Settled:
    """What a deadline did to a pot: its win (None: nobody had contributed), its next
    commitment, and whether that win was a retiring instance's last (it is now Terminated)."""

    win: Win | None
    commitment: DropCommitment | None
    ended: bool = False


def is_due(commitment: DropCommitment | None, now) -> bool:
    return commitment is not None and commitment.drop_deadline is not None and commitment.drop_deadline <= now


def settle_due(instance: JackpotInstance, pots: list[Pot], commitments: dict, *, now) -> tuple[set[int], bool]:
    """Inside a transaction that holds the instance and its pots: settle every clock pot whose
    deadline has passed. Returns the pots changed in memory (the caller writes them) and
    whether the instance ended (a retiring instance's last pot won); `commitments` then holds
    the pots' new commitments. No query when nothing is due."""
    settled, ended = set(), False
    for pot in pots:
        commitment = commitments.get(pot.pk)
        if pot.mechanic == CLOCK and is_due(commitment, now):
            outcome = settle(instance, pot, commitment, now=now)
            commitments[pot.pk] = outcome.commitment
            settled.add(pot.pk)
            ended = ended or outcome.ended
    return settled, ended


def settle(instance: JackpotInstance, pot: Pot, commitment: DropCommitment, *, now) -> Settled:
    """Step 3 of the module, for one locked pot (changed in memory, saved by the caller)."""
    last = (PotIncrement.objects.filter(pot_id=pot.pk, generation=commitment.generation,
                                        contribution__processed_at__lt=commitment.drop_deadline)
            .select_related("contribution__brand", "contribution__player", "contribution__source")
            .order_by("-pk").first())
    win, ended = None, False
    if last is not None:
        # As for any win: the pot's scheduled parameter change takes effect with its next
        # generation (a retiring pot's reserve goes with its final win).
        ended = catalogue.pot_next_generation(pot, now=now).ended
        win = _award(instance, pot, commitment, last.contribution, now=now)
    else:
        logger.info("pot %s of %s: deadline %s passed with no contribution", pot.pot_id, instance.pk,
                    commitment.drop_deadline)
    DropCommitment.objects.filter(pk=commitment.pk).update(revealed_at=now)
    pot.generation += 1
    opened = mechanic_of(pot).commit(pot, now=now, rng=randomness(),
                                     dropped_at=last.contribution.processed_at if last is not None else None)
    new = None
    if opened is not None:  # (a changed or closed pot may commit to nothing)
        new = DropCommitment.objects.create(pot=pot, generation=pot.generation, commitment=opened.digest,
                                            secret_text=opened.secret_text, **opened.fields)
    return Settled(win=win, commitment=new, ended=ended)


def _award(instance: JackpotInstance, pot: Pot, commitment: DropCommitment, contribution, *, now) -> Win:
    """The pot's value to `contribution`, as `apply._award` pays a win; the pot is reseeded."""
    exponent = currency_rates(contribution.currency, brand=contribution.brand)[contribution.currency][1]
    exact = ledger(pot.current_value * contribution.rate)
    paid = payout(exact, exponent)
    seed_used = min(pot.seed_fund, pot.initial_seed)
    over_limit = instance.withhold_limit is not None and pot.current_value > instance.withhold_limit
    # A player excluded since that contribution does not receive the win (issue 15): withheld.
    excluded = contribution.player is not None and contribution.player.excluded_at(now)
    withheld = over_limit or excluded
    win = Win.objects.create(
        contribution=contribution, jackpot=instance, pot=pot, player=contribution.player, generation=pot.generation,
        amount_base=pot.current_value, amount=paid, payout_remainder=exact - paid, currency=contribution.currency,
        rate=contribution.rate, reseed_value=pot.initial_seed, seed_used=seed_used,
        seed_deficit=pot.initial_seed - seed_used, withheld=withheld,
        status=Win.Status.WITHHELD if withheld else Win.Status.RECORDED, commitment=commitment,
        evidence={"draw": None, **({"withheld_because": f"PlayerExcluded: player {contribution.player.player_id} is "
                                                       f"{contribution.player.exclusion_text()}"} if excluded else {}),
                  "deadline": {"rule": RULE, "deadline": commitment.drop_deadline.isoformat(),
                               "settled_at": now.isoformat()},
                  "revealed": {"commitment": commitment.commitment, "secret": commitment.secret_text}},
    )
    pot.current_value = pot.initial_seed
    pot.seed_fund -= seed_used
    pot.seed_deficit += win.seed_deficit
    _announce(instance, win, contribution)
    return win


def _announce(instance: JackpotInstance, win: Win, contribution) -> None:
    """The Credit, the webhook and the WinEvent of a settled win, each sent after commit."""
    # Not at the top: callbacks applies batches (`apply`), which settles drops through this module.
    from contributions.services import callbacks

    if not win.withheld:
        credit = payments.credit_prepare(
            win=win, contribution=contribution, brand=contribution.brand, player_ref=contribution.player_ref,
            token=contribution.token, gameround_id=contribution.gameround_id,
            metadata_json=contribution.metadata_json)
        if credit is not None:
            tasks.enqueue_credit(credit.pk)
    if contribution.is_async and contribution.callback_url:
        if WebhookDelivery.objects.filter(contribution=contribution).exists():
            # The outbox holds one delivery per contribution: its first outcome was sent already.
            logger.warning("win %s of contribution %s: no second webhook (one delivery per contribution); "
                           "announced by WinEvent and Credit", win.pk, contribution.pk)
        else:
            body = result_payload(contribution, win=win, pot_id=win.pot.pot_id)
            body["deadline_drop"] = True  # won at the deadline, after the contribution was answered
            callbacks.delivery_create(contribution=contribution, kind="data",
                                      payload=callbacks.typed_payload("data", jsonutil.dumps(body)))
    announce(instance, [(contribution, [win])])


def drops_due(now=None) -> list[int]:
    """Pots of Active instances whose current clock commitment's deadline has passed."""
    now = now or clock.now()
    return list(DropCommitment.objects.filter(
        kind=DropCommitment.Kind.CLOCK, revealed_at__isnull=True, drop_deadline__lte=now,
        generation=F("pot__generation"), pot__mechanic=CLOCK, pot__jackpot__state=JackpotInstance.State.ACTIVE,
    ).order_by("drop_deadline").values_list("pot_id", flat=True))


def drop_settle(pot_id: int, *, now=None) -> Settled | None:
    """Settle one pot whose deadline passed (None: nothing to do, e.g. a contribution did it)."""
    now = now or clock.now()
    with transaction.atomic():
        instance_id = Pot.objects.filter(pk=pot_id).values_list("jackpot_id", flat=True).first()
        # The instance row first, then the pot: the order `batch_apply` takes them in.
        state = JackpotInstance.objects.select_for_update(no_key=True).filter(pk=instance_id).values_list(
            "state", flat=True).first()
        if state != JackpotInstance.State.ACTIVE:
            return None
        pot = Pot.objects.select_for_update().get(pk=pot_id)
        commitment = DropCommitment.objects.filter(pot=pot, generation=pot.generation,
                                                   revealed_at__isnull=True).first()
        if pot.mechanic != CLOCK or not is_due(commitment, now):
            return None
        instance = with_config(JackpotInstance.objects.filter(pk=instance_id)).get()
        pot.jackpot = instance
        settled = settle(instance, pot, commitment, now=now)
        Pot.objects.filter(pk=pot.pk).update(current_value=pot.current_value, seed_fund=pot.seed_fund,
                                             seed_deficit=pot.seed_deficit, generation=pot.generation,
                                             updated_at=now)
    return settled
