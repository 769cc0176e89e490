"""The contribution pipeline (SPEC 2.3-2.8): plan -> apply -> outcome.

1. `plan.contribution_plan`: brand, idempotency, routing, rules, amounts;
2. a player-funded contribution is debited at the wallet (`payments`): network before the
   transaction, never inside it;
3. `apply.batch_apply`: the ledger, for a batch of one instance's contributions in one
   transaction. Synchronous requests to one instance that arrive together share that
   transaction (`group`: group commit); each is answered once its batch has committed;
4. the outcome: the stored SPEC 2.5 body; after commit, live events and wallet Credits.
"""

import logging

from django.db import DatabaseError, IntegrityError, transaction

from contributions.schemas import ContributionIn
from contributions.services import payments
from contributions.services.apply import Applied, Item, batch_apply
from contributions.services.group import committer
from contributions.services.plan import (
    Outcome,
    contribution_find,
    contribution_new,
    contribution_plan,
    replay,
)
from portal.errors import DomainError
from portal.logs import log_bind
from portal.selectors import brand_for_operator

logger = logging.getLogger(__name__)


def contribution_record(*, operator_id: str, request: ContributionIn) -> Outcome:
    """A synchronous contribution: the whole of SPEC 2.4, answered with SPEC 2.5."""
    brand = brand_for_operator(brand_key=request.brand_id, operator_id=operator_id)
    try:
        plan = contribution_plan(brand=brand, request=request)
    except DomainError:
        # A repeat returns the first outcome even if the rules have changed since.
        existing = contribution_find(brand=brand, request=request)
        if existing is not None:
            return replay(existing, request)
        raise
    with payments.debit_turn(plan) as waited:
        if waited:  # a duplicate that waited for the first: its outcome is the answer (SPEC 2.8)
            existing = contribution_find(brand=brand, request=request)
            if existing is not None:
                return replay(existing, request)
        contribution = contribution_new(brand=brand, request=request)
        log_bind(trace_id=contribution.trace_id)  # its id from here on, the wallet's Debit included
        debit = payments.debit_for(plan)
        try:
            applied = committer.submit(plan.instance.pk, Item(plan=plan, contribution=contribution, debit=debit),
                                       apply_batch)
        except Exception as exc:
            if debit is not None:
                payments.debit_cancel(debit, cause=exc if isinstance(exc, DomainError) else None)
            raise
        return outcome_of(applied, request=request, debit=debit)


def outcome_of(applied: Applied, *, request: ContributionIn, debit=None) -> Outcome:
    """One item of a committed batch, as its caller answers it."""
    if applied.duplicate_of is not None:
        return replay(applied.duplicate_of, request)  # its Debit is the first request's: keep it
    if applied.error is not None:
        if debit is not None:
            payments.debit_cancel(debit, cause=applied.error)
        raise applied.error
    return Outcome(contribution=applied.contribution, body=applied.contribution.result_json, wins=applied.wins)


def apply_batch(items: list[Item]) -> list[Applied]:
    """Apply one instance's batch in one transaction and queue its Credits after commit.

    A unique-key conflict (a duplicate stored meanwhile under another route) breaks the
    batch's transaction: then each contribution is applied alone, so it alone is a repeat."""
    new = [item.contribution for item in items if item.contribution.pk is None]
    try:
        with transaction.atomic():
            results = batch_apply(items[0].plan.instance, items)
    except Exception as exc:
        for contribution in new:  # rolled back: not stored after all
            contribution.pk = None
        if len(items) > 1:  # one contribution never fails its batch-mates: each alone
            return [_alone(item) for item in items]
        if not isinstance(exc, IntegrityError):
            raise
        (item,) = items
        existing = contribution_find(brand=item.plan.brand, request=item.plan.request)
        if existing is None:
            raise
        return [Applied(contribution=item.contribution, duplicate_of=existing)]
    from contributions import tasks

    for result in results:
        for credit in result.credits:
            tasks.enqueue_credit(credit)
    return results


def _alone(item: Item) -> Applied:
    """An item of a failed batch, applied on its own; its own failure stays its own."""
    try:
        return apply_batch([item])[0]
    except DomainError as error:
        return Applied(contribution=item.contribution, error=error)
    except DatabaseError:
        logger.exception("contribution %s/%s failed", item.plan.request.player_id, item.plan.request.gameround_id)
        return Applied(contribution=item.contribution,
                       error=DomainError("DB_ERROR", "A database error occurred; nothing was recorded", status=500))
    except Exception:  # reported to this request alone, as the API reports any unexpected error
        logger.exception("contribution %s/%s failed", item.plan.request.player_id, item.plan.request.gameround_id)
        return Applied(contribution=item.contribution,
                       error=DomainError("SYSTEM_ERROR", "An unexpected error occurred", status=500))
