"""The contribution pipeline (SPEC 2.3-2.8): plan -> apply -> outcome.

1. `plan.contribution_plan`: brand, idempotency, routing, rules, amounts;
2. a player-funded contribution is debited at the wallet (`payments`): network before the
   transaction, never inside it;
3. `apply.batch_apply`: the ledger, for a batch of one instance's contributions in one
   transaction; each request is answered once its batch has committed;
4. the outcome: the stored SPEC 2.5 body; after commit, live events and wallet Credits.

Two ways in, one pipeline:

- `contributions_run` is the gateway's: a batch of requests taken from the database lane
  (`lane.py`, one thread per process), planned one by one, applied per instance in one
  transaction each, async ones accepted in one insert. A contribution that must be debited
  at a wallet first is handed back (`AtWallet`): the network is never waited on in the lane.
- `contribution_record` is one synchronous contribution on the caller's thread (wallet side
  bets, commands, other services); requests to one instance that arrive together on such
  threads share a transaction too (`group`).
"""

import logging
from dataclasses import dataclass

from django.conf import settings
from django.db import DatabaseError, IntegrityError, close_old_connections, connection, transaction

from contributions import tasks
from contributions.schemas import ContributionIn
from contributions.services import payments
from contributions.services.apply import Applied, Item, batch_apply, players_batch_touch
from contributions.services.group import committer
from contributions.services.lane import Lane
from contributions.services.plan import (
    Outcome,
    Plan,
    contribution_find,
    contribution_new,
    contribution_plan,
    replay,
)
from portal import clock, metrics
from portal.db import commit_unflushed
from portal.errors import DomainError
from portal.logs import log_bind, log_within
from portal.selectors import brand_for_operator

logger = logging.getLogger(__name__)


def contribution_record(*, operator_id: str, request: ContributionIn, plan: Plan | None = None) -> Outcome:
    """A synchronous contribution: the whole of SPEC 2.4, answered with SPEC 2.5 (`plan`: the
    request's, when the caller planned it already)."""
    brand = brand_for_operator(brand_key=request.brand_id, operator_id=operator_id)
    plan = plan or _planned(brand=brand, request=request)
    if isinstance(plan, Outcome):
        return plan
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
        # The players first, in a statement of their own: their upsert is then not part of what
        # waits on, and holds, the instance's locks. Their exclusion is read as it stands now,
        # before the contributions' `processed_at` is taken (a player excluded later than that
        # is excluded after these contributions, as the ledger's times say).
        now = clock.now()
        with commit_unflushed():  # made durable by the batch's own commit, which waits for the WAL
            players = players_batch_touch(items)
        with transaction.atomic():
            results = batch_apply(items[0].plan.instance, items, now=now, players=players)
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

    for result in results:
        for credit in result.credits:
            tasks.enqueue_credit(credit)
    return results


def _alone(item: Item) -> Applied:
    """An item of a failed batch, applied on its own; its own failure stays its own."""
    try:
        return apply_batch([item])[0]
    except Exception as exc:  # reported to this request alone, as the API reports any unexpected error
        return Applied(contribution=item.contribution, error=_answerable(exc, item.plan.request))


# --- the gateway's way in: batches from the database lane -------------------------------------

@dataclass
class AtWallet:
    """A lane result: this contribution is debited at a wallet first, on a thread of its own."""

    plan: Plan


@dataclass
class Request:
    """A parsed request waiting in the lane, with the log context of the HTTP request."""

    operator_id: str
    request: ContributionIn
    log: dict | None = None


def connection_release(idle: bool) -> None:
    """After a lane batch: when the lane is idle, or its connection failed, the connection goes
    back to the pool (checked when taken again). Under load the lane keeps it from one batch to
    the next: a checkout and the pool's check of the connection cost a round trip per batch."""
    if (idle or connection.errors_occurred) and not connection.in_atomic_block:
        close_old_connections()


def contributions_run(requests: list[Request]) -> list:
    """The lane's work: one result per request, in order -- an `Outcome`, an exception to
    answer with, or `AtWallet`. Synchronous contributions are planned one by one and applied
    per instance (one transaction each); asynchronous ones are accepted in one insert."""
    # Not at the top: callbacks answers its processed rows with this module's `outcome_of`.
    from contributions.services.callbacks import contributions_accept

    results: list = [None] * len(requests)
    by_instance: dict[object, list[tuple[int, Item]]] = {}
    accepts: list[tuple[int, Request]] = []
    for index, work in enumerate(requests):
        with log_within(work.log):
            try:
                if work.request.callback is not None:
                    accepts.append((index, work))
                    continue
                planned = _prepare(operator_id=work.operator_id, request=work.request)
                if isinstance(planned, Item):
                    by_instance.setdefault(planned.plan.instance.pk, []).append((index, planned))
                else:
                    results[index] = planned
            except Exception as exc:
                results[index] = _answerable(exc, work.request)
    for entries in by_instance.values():
        try:
            applied = apply_batch([item for _, item in entries])
        except Exception as exc:
            for index, _ in entries:
                results[index] = _answerable(exc, requests[index].request)
            continue
        for (index, item), one in zip(entries, applied, strict=True):
            with log_within(requests[index].log):
                try:
                    results[index] = outcome_of(one, request=item.plan.request)
                except Exception as exc:
                    results[index] = _answerable(exc, item.plan.request)
    if accepts:
        outcomes = contributions_accept([(work.operator_id, work.request, work.log) for _, work in accepts])
        for (index, _), outcome in zip(accepts, outcomes, strict=True):
            results[index] = outcome
    return results


def _prepare(*, operator_id: str, request: ContributionIn):
    """A planned `Item`, a replayed `Outcome`, or `AtWallet`; refusals raise."""
    brand = brand_for_operator(brand_key=request.brand_id, operator_id=operator_id)
    plan = _planned(brand=brand, request=request)
    if isinstance(plan, Outcome):
        return plan
    if plan.player_funded and payments.wallet_of(brand) is not None:
        return AtWallet(plan)
    debit = payments.debit_for(plan)  # no wallet: nothing to debit, or WalletRequired
    contribution = contribution_new(brand=brand, request=request)
    log_bind(trace_id=contribution.trace_id)
    return Item(plan=plan, contribution=contribution, debit=debit)


def _planned(*, brand, request: ContributionIn) -> Plan | Outcome:
    """The request's plan; refused, a repeat returns the first outcome even if the rules have
    changed since (SPEC 2.8), anything else raises the refusal."""
    try:
        return contribution_plan(brand=brand, request=request)
    except DomainError:
        existing = contribution_find(brand=brand, request=request)
        if existing is not None:
            return replay(existing, request)
        raise


def _answerable(exc: Exception, request: ContributionIn) -> Exception:
    """An exception as its request answers it: a DomainError as it is; anything else logged
    here, with the request's context, and answered as the API answers unexpected errors."""
    if isinstance(exc, DomainError):
        return exc
    logger.error("contribution %s/%s failed", request.player_id, request.gameround_id, exc_info=exc)
    if isinstance(exc, DatabaseError):
        return DomainError("DB_ERROR", "A database error occurred; nothing was recorded")
    return DomainError("SYSTEM_ERROR", "An unexpected error occurred")


def _lane_batch_max() -> int:
    return settings.GROUP_COMMIT_MAX


lane = Lane(contributions_run, batch_max=_lane_batch_max, on_batch=metrics.sync_batch, after_batch=connection_release)
