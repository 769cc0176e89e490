"""Asynchronous contributions (SPEC 2.6) and their webhook outbox.

Accept stores the request durably and queues it; processing runs the same engine as the
synchronous path exactly once; the outcome and its WebhookDelivery commit together, and
deliveries are attempted, retried on a backoff schedule, and marked failed -- every
attempt on record.
"""

import contextlib
import logging
import threading
import time
from collections import Counter, deque
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from datetime import timedelta

from django.conf import settings
from django.db import IntegrityError, connection, transaction
from django.db.models import Count, F
from django.utils import timezone

from contributions import tasks
from contributions.models import Contribution, WebhookAttempt, WebhookDelivery
from contributions.schemas import ContributionIn
from contributions.services import payments
from contributions.services.apply import Item, batch_apply
from contributions.services.engine import outcome_of
from contributions.services.plan import (
    Outcome,
    contribution_find,
    contribution_new,
    contribution_plan,
    contributions_stored,
    replay,
)
from contributions.webhooks import signature_headers, webhook_post, webhook_url_check
from players.services import players_ensure
from portal import jsonutil, metrics
from portal.db import bulk_insert, bulk_update
from portal.errors import DomainError
from portal.logs import log_bind, log_within
from portal.selectors import brand_for_operator

logger = logging.getLogger(__name__)


MAX_PROCESS_ATTEMPTS = 5


def contribution_accept(*, operator_id: str, request: ContributionIn) -> Outcome:
    """Store a structurally valid async contribution durably and queue it; answer {trace_id}.

    Synchronous failures: authentication and brand (the request cannot be attributed),
    a refused callback URL, and a repeated key with a different amount (409). Everything
    else -- routing, rules, currencies -- reaches the webhook as an error payload.
    """
    brand_for_operator(brand_key=request.brand_id, operator_id=operator_id)
    webhook_url_check(request.callback.web_hook)
    (outcome,) = contributions_accept([(operator_id, request, None)])
    if isinstance(outcome, BaseException):
        raise outcome
    return outcome


def contributions_accept(requests: list[tuple[str, ContributionIn, dict | None]]) -> list:
    """Accept a batch of async contributions (their callback URLs already checked): one
    insert for the new ones, repeats replayed, one drain scheduled. One result per request:
    an `Outcome` or the exception to answer with."""
    results: list = [None] * len(requests)
    fresh: dict[tuple, tuple[int, Contribution]] = {}  # idempotency key -> (index, new row)
    repeats: list[tuple[int, tuple]] = []  # a key sent twice in this batch
    for index, (operator_id, request, log) in enumerate(requests):
        with log_within(log):
            try:
                brand = brand_for_operator(brand_key=request.brand_id, operator_id=operator_id)
            except DomainError as error:
                results[index] = error
                continue
            key = (brand.pk, request.player_id, request.gameround_id, request.target_kind, request.target_id)
            if key in fresh:
                repeats.append((index, key))
                continue
            contribution = _accepted_new(brand=brand, request=request)
            fresh[key] = (index, contribution)
            log_bind(trace_id=contribution.trace_id)
    stored = contributions_stored(fresh)
    for key, existing in stored.items():
        index, _ = fresh.pop(key)
        results[index] = _replayed(existing, requests[index])
    if fresh:
        rows = [contribution for _, contribution in fresh.values()]
        try:
            with transaction.atomic():
                players = players_ensure([(row.brand, requests[index][1]) for index, row in fresh.values()])
                for row in rows:
                    row.player_id = players[(row.brand_id, row.player_ref)]
                bulk_insert(rows)
                tasks.enqueue_processing(rows[0].pk)
        except IntegrityError:  # a repeat stored meanwhile by another process: each on its own
            for row in rows:
                row.pk = None
            for index, _ in fresh.values():
                results[index] = _accept_alone(requests[index])
        else:
            for index, row in fresh.values():
                results[index] = Outcome(contribution=row, body=jsonutil.dumps({"trace_id": str(row.trace_id)}))
    for index, key in repeats:
        first = stored.get(key) or fresh[key][1]
        results[index] = _replayed(first, requests[index])
    return results


def _accepted_new(*, brand, request: ContributionIn) -> Contribution:
    """The unsaved accepted row of an async request."""
    return contribution_new(brand=brand, request=request, status=Contribution.Status.ACCEPTED, is_async=True,
                            callback_url=request.callback.web_hook, win_result_only=request.callback.win_result_only)


def _replayed(existing: Contribution, request: tuple):
    with log_within(request[2]):
        try:
            return replay(existing, request[1])
        except DomainError as error:
            return error


def _accept_alone(request: tuple):
    """One request of a batch whose insert conflicted: inserted alone, or its repeat replayed."""
    operator_id, body, log = request
    with log_within(log):
        brand = brand_for_operator(brand_key=body.brand_id, operator_id=operator_id)
        row = _accepted_new(brand=brand, request=body)
        try:
            with transaction.atomic():
                row.player_id = players_ensure([(brand, body)])[(brand.pk, body.player_id)]
                row.save(force_insert=True)
                tasks.enqueue_processing(row.pk)
        except IntegrityError:
            existing = contribution_find(brand=brand, request=body)
            if existing is None:
                raise
            return _replayed(existing, request)
        return Outcome(contribution=row, body=jsonutil.dumps({"trace_id": str(row.trace_id)}))


def request_of(contribution: Contribution) -> ContributionIn:
    """The validated request an accepted row was made from."""
    fields = {
        "token": contribution.token, "brand_id": contribution.brand.key, "player_id": contribution.player_ref,
        "player_country": contribution.player_country, "gameround_id": contribution.gameround_id,
        "currency": contribution.currency, "base_wager": contribution.base_wager, "callback": None,
        "metadata": jsonutil.loads(contribution.metadata_json) if contribution.metadata_json is not None else None,
        "source_id": None, "instance_id": None,
    }
    fields[f"{contribution.target_kind}_id"] = contribution.target_id
    return ContributionIn.model_construct(**fields)


def contribution_process(contribution_id: int | None) -> int:
    """Process an accepted async contribution exactly once (safe to call any number of times),
    together with up to `ASYNC_BATCH_SIZE - 1` others that are waiting: one transaction, one
    commit for the batch. Rows are claimed with FOR UPDATE SKIP LOCKED and their status is
    checked under the lock, so a second worker (a redelivered task, the sweeper) skips them.
    Player-funded contributions of brands with a wallet are debited first, one by one (no
    network call inside a transaction). Returns how many were processed."""
    batch_size = max(1, settings.ASYNC_BATCH_SIZE)
    debited: list[int] = []
    done = 0
    with transaction.atomic():
        # This task's own row first, then the oldest waiting (the id index, no sort of the
        # backlog); rows another worker holds are skipped while locking, so concurrent workers
        # take disjoint batches.
        waiting = (Contribution.objects.select_for_update(skip_locked=True, of=("self",))
                   .select_related("brand__operator", "player").filter(status=Contribution.Status.ACCEPTED))
        rows = list(waiting.filter(pk=contribution_id)) if contribution_id is not None else []
        if batch_size > len(rows):
            rows += list(waiting.exclude(pk=contribution_id).order_by("id")[:batch_size - len(rows)])
        metrics.async_batch(len(rows))
        Contribution.objects.filter(pk__in=[row.pk for row in rows]).update(
            process_attempts=F("process_attempts") + 1)
        deliveries = []
        batches: dict = {}  # instance -> its rows, in order: one batch apply each
        for row in rows:
            row.process_attempts += 1
            try:
                if row.process_attempts > MAX_PROCESS_ATTEMPTS:
                    raise DomainError("SYSTEM_ERROR", "The contribution could not be processed")
                plan = contribution_plan(brand=row.brand, request=request_of(row))
            except DomainError as error:
                deliveries.append(_reject_locked(row, error))
                done += 1
                continue
            if plan.player_funded and payments.wallet_of(plan.brand) is not None:
                debited.append(row.pk)  # Debit first, outside this transaction
                continue
            batches.setdefault(plan.instance.pk, []).append(Item(plan=plan, contribution=row))
        for _, items in sorted(batches.items()):  # instances in key order, as every writer
            done += _apply_locked(items, deliveries)
        if deliveries:
            tasks.enqueue_deliveries()
    for pk in debited:
        done += bool(_process_with_debit(pk))
    return done


def _apply_locked(items: list[Item], deliveries: list) -> int:
    """One instance's rows of an async batch, inside the batch's transaction (a savepoint: a
    nested atomic block, so a failure leaves the outer transaction usable)."""
    try:
        with transaction.atomic():
            results = batch_apply(items[0].plan.instance, items)
    except Exception:
        if len(items) > 1:  # find the one that fails: the others go on without it
            return sum(_apply_locked([item], deliveries) for item in items)
        # Left accepted (its attempt counted): retried by the sweeper, then refused after
        # MAX_PROCESS_ATTEMPTS.
        logger.exception("async contribution %s failed", items[0].contribution.pk)
        return 0
    outcomes = []  # the batch's webhooks, written in one insert
    for item, result in zip(items, results, strict=True):
        row = item.contribution
        if result.error is not None:
            deliveries.append(_reject_locked(row, result.error))
        elif not row.win_result_only or result.wins:
            outcomes.append(delivery_new(contribution=row, kind="data", payload=typed_payload("data", row.result_json)))
        for credit in result.credits:
            tasks.enqueue_credit(credit)
    bulk_insert(outcomes)
    deliveries += outcomes
    return len(items)


def _process_with_debit(contribution_id: int) -> Contribution | None:
    """A player-funded async contribution: Debit first (network), then its own transaction."""
    contribution = Contribution.objects.select_related("brand__operator", "player").get(pk=contribution_id)
    log_bind(trace_id=contribution.trace_id, operator=contribution.brand.operator_id, brand=contribution.brand.key)
    if contribution.status != Contribution.Status.ACCEPTED:
        return None
    try:
        plan = contribution_plan(brand=contribution.brand, request=request_of(contribution))
    except DomainError as error:
        return contribution_reject(contribution_id, error)
    debit = None
    try:
        debit = payments.debit_for(plan)
        with transaction.atomic():
            # Lock the row and re-check it is still waiting: a second worker stops here.
            status = Contribution.objects.select_for_update().filter(pk=contribution_id).values_list(
                "status", flat=True).first()
            if status != Contribution.Status.ACCEPTED:
                return None
            (applied,) = batch_apply(plan.instance, [Item(plan=plan, contribution=contribution, debit=debit)])
            outcome = outcome_of(applied, request=plan.request)  # an error raises: cancelled below
            for credit in applied.credits:
                tasks.enqueue_credit(credit)
            if not contribution.win_result_only or outcome.win is not None:
                delivery_create(contribution=contribution, kind="data", payload=typed_payload("data", outcome.body))
        return outcome.contribution
    except DomainError as error:
        if debit is not None:
            payments.debit_cancel(debit, cause=error)
        return contribution_reject(contribution_id, error)
    except Exception:
        if debit is not None:
            payments.debit_cancel(debit)
        raise


def _reject_locked(row: Contribution, error: DomainError) -> WebhookDelivery:
    """Inside a transaction that holds the row: record the error and its callback."""
    row.status = Contribution.Status.REJECTED
    row.error_code, row.error_status, row.error_message = error.code, error.status, error.message
    row.processed_at = timezone.now()
    row.token = ""  # the session token is not kept after use
    row.result_json = jsonutil.dumps({
        "type": "error", "status_code": error.status, "code": error.code, "message": error.message,
        "trace_id": str(row.trace_id), "gameround_id": row.gameround_id,
        "metadata": jsonutil.Raw(row.metadata_json) if row.metadata_json is not None else None,
    })
    row.save(update_fields=["status", "error_code", "error_status", "error_message", "processed_at",
                            "result_json", "token"])
    return delivery_create(contribution=row, kind="error", payload=row.result_json, enqueue=False)


def contribution_reject(contribution_id: int, error: DomainError) -> Contribution | None:
    with transaction.atomic():
        locked = Contribution.objects.select_for_update().get(pk=contribution_id)
        if locked.status != Contribution.Status.ACCEPTED:
            return None
        _reject_locked(locked, error)
        tasks.enqueue_deliveries()
    return locked


def typed_payload(kind: str, result_json: str) -> str:
    """`{"type": kind, ...result}` without re-encoding the result (metadata stays verbatim)."""
    assert result_json.startswith("{")
    return f'{{"type":"{kind}",{result_json[1:]}' if result_json != "{}" else f'{{"type":"{kind}"}}'


# --- webhook deliveries: an outbox ---------------------------------------------------------


def delivery_new(*, contribution: Contribution, kind: str, payload: str) -> WebhookDelivery:
    """The unsaved delivery of an outcome (saved in its transaction, sent after commit)."""
    return WebhookDelivery(contribution=contribution, brand_id=contribution.brand_id, url=contribution.callback_url,
                           kind=kind, payload=payload, next_attempt_at=timezone.now())


def delivery_create(*, contribution: Contribution, kind: str, payload: str, enqueue: bool = True) -> WebhookDelivery:
    """Written in the transaction of the outcome; sent after commit."""
    delivery = delivery_new(contribution=contribution, kind=kind, payload=payload)
    delivery.save(force_insert=True)
    if enqueue:
        tasks.enqueue_deliveries()
    return delivery


# While attempts run, a sending task looks for newly due deliveries this often, so one that
# becomes due is not kept waiting behind slow attempts.
CLAIM_POLL_SECONDS = 0.1
# Claims, and the record of finished attempts, are made in chunks at most this often (each is a
# transaction): at once when enough is waiting.
CLAIM_REFILL_SECONDS = 0.05
# The advisory lock claims take turns on (the two-number form: its own key space).
CLAIM_LOCK = (0x77656268, 1)
# A claimed delivery is started only if its claim lasts at least its deadline plus this long
# (at most half the claims' slack): time to put its outcome on record.
CLAIM_START_MARGIN_SECONDS = 1.0


def deliveries_send() -> int:
    """Send due deliveries until none is left; returns how many were attempted.

    Up to WEBHOOK_CONCURRENCY attempts run at once, and no more than
    WEBHOOK_OPERATOR_CONCURRENCY of one operator's across all workers, so a slow receiver
    holds its own operator's slots only: an operator's deliveries are held by one sender at a
    time (a sender holds at most WEBHOOK_CONCURRENCY / WEBHOOK_OPERATOR_CONCURRENCY operators),
    which claims a queue of them (up to WEBHOOK_CLAIM_WAVES rounds of its share) and runs its
    share at once, operators in turn. Claims and outcomes are written in chunks, so a fast
    receiver costs a transaction per chunk, not two per webhook. Every attempt ends by its
    deadline; each claim lasts until its attempt's latest end (its place in the queue) plus a
    margin, and an attempt that could no longer end within its claim is handed back unsent,
    so no one else sends it meanwhile. On an error, claims not yet started are handed back."""
    slots = max(1, settings.WEBHOOK_CONCURRENCY)
    share = max(1, settings.WEBHOOK_OPERATOR_CONCURRENCY)
    pool = _sending_pool(slots)  # outlives the call: its threads keep their kept-alive connections
    running: dict[Future, WebhookDelivery] = {}
    queued: dict[str, deque[WebhookDelivery]] = {}  # operator -> claimed, not started yet
    finished: list[tuple[WebhookDelivery, tuple]] = []
    attempted = 0
    claimed_at = finished_since = 0.0
    try:
        while True:
            now = time.monotonic()
            if finished and (not running or len(finished) >= slots // 2
                             or now - finished_since >= CLAIM_REFILL_SECONDS):
                recording, finished = finished, []
                _attempts_record(recording)
                attempted += len(recording)
            # What this sender holds (claimed, not yet on record) per operator.
            holding = [*running.values(), *(d for d, _ in finished), *(d for q in queued.values() for d in q)]
            held = Counter(delivery.brand.operator_id for delivery in holding)
            room = 2 * slots - len(holding)
            if room > 0 and (room >= slots or now - claimed_at >= CLAIM_REFILL_SECONDS):
                claimed_at = now
                for delivery in _deliveries_claim(room, held=held, holding={d.pk for d in holding}, share=share,
                                                  operators=max(1, slots // share)):
                    queued.setdefault(delivery.brand.operator_id, deque()).append(delivery)
            _start(pool, running, queued, slots=slots, share=share)
            if not running and not finished and not queued:
                return attempted
            if not running:
                continue
            done, _ = wait(running, timeout=CLAIM_REFILL_SECONDS if finished or room >= slots else CLAIM_POLL_SECONDS,
                           return_when=FIRST_COMPLETED)
            if done and not finished:
                finished_since = time.monotonic()
            finished += [(running.pop(future), future.result()) for future in done]
    except BaseException:
        # Claims never started go back at once (not after their leases, at the cost of an
        # attempt); finished attempts are put on record if the database lets us.
        with contextlib.suppress(Exception):
            _claims_hand_back([d for q in queued.values() for d in q])
        finished += [(delivery, future.result()) for future, delivery in running.items() if future.done()]
        if finished:
            with contextlib.suppress(Exception):
                _attempts_record(finished)
        raise


def _start(pool: ThreadPoolExecutor, running: dict, queued: dict, *, slots: int, share: int) -> None:
    """Start queued deliveries while slots are free: operators in turn, each within its share,
    each operator's in order. One whose claim would end before its attempt could (it waited
    longer than its place in the queue allowed for) is handed back unsent."""
    active = Counter(delivery.brand.operator_id for delivery in running.values())
    late: list[WebhookDelivery] = []
    margin = min(CLAIM_START_MARGIN_SECONDS, max(1.0, settings.WEBHOOK_CLAIM_SLACK_SECONDS) / 2)
    deadline = timedelta(seconds=settings.WEBHOOK_TIMEOUT_SECONDS + margin)
    progress = True
    while progress and len(running) < slots:
        progress = False
        for operator_id, waiting in list(queued.items()):
            if len(running) >= slots:
                break
            if waiting and active[operator_id] < share:
                delivery = waiting.popleft()
                progress = True
                if delivery.claimed_until is None or delivery.claimed_until - deadline < timezone.now():
                    late.append(delivery)
                else:
                    running[pool.submit(_post, delivery)] = delivery
                    active[operator_id] += 1
            if not waiting:
                del queued[operator_id]
    if late:
        _claims_hand_back(late)


def _claims_hand_back(deliveries: list[WebhookDelivery]) -> None:
    """Claims this sender will not start: pending again under their previous attempt number,
    unless the sweeper or another sender has moved them on meanwhile."""
    for delivery in deliveries:
        WebhookDelivery.objects.filter(pk=delivery.pk, status=WebhookDelivery.Status.DELIVERING,
                                       attempt_count=delivery.attempt_count).update(
            status=WebhookDelivery.Status.PENDING, claimed_until=None, attempt_count=F("attempt_count") - 1)


_senders = threading.local()


def _sending_pool(slots: int) -> ThreadPoolExecutor:
    """The calling sender's own sending threads (a worker's thread, or a scheduler thread of the
    embedded runtime), made once per sender and kept: each keeps its session
    (`guarded_session`), so deliveries to a receiver reuse connections from one call to the
    next. Two senders in one process never wait on each other's slow attempts for a thread.
    They go with the sender's thread."""
    kept = getattr(_senders, "pool", None)
    if kept is None or kept[0] != slots:
        if kept is not None:
            kept[1].shutdown(wait=False)
        kept = _senders.pool = (slots, ThreadPoolExecutor(max_workers=slots, thread_name_prefix="webhook"))
    return kept[1]


def _claim_lease(place: int = 0, share: int = 1) -> timedelta:
    """How long a claim lasts: past the latest end of its attempt -- behind `place` others of
    its operator, `share` at a time, each ending by its deadline -- plus a margin."""
    rounds = place // max(1, share) + 1
    return timedelta(seconds=rounds * settings.WEBHOOK_TIMEOUT_SECONDS + max(1.0, settings.WEBHOOK_CLAIM_SLACK_SECONDS))


def _deliveries_claim(limit: int, *, held: Counter, holding: set[int], share: int,
                      operators: int) -> list[WebhookDelivery]:
    """Claim up to `limit` due deliveries, oldest first, for this sender (`held`: what it holds
    per operator; `holding`: those deliveries -- one the sweeper took back from a stalled
    attempt of this very sender is left to others): only of operators no other sender holds,
    at most WEBHOOK_CLAIM_WAVES times their share each, and of at most `operators` operators
    (so each held operator can run its share at once, which the claims' leases count on).
    Rows other senders are claiming are skipped (SKIP LOCKED); the claim numbers the attempt (attempt_count + 1), so two attempts of a delivery never share a
    number, and lasts until the attempt's latest end in this sender's queue."""
    depth = share * max(1, settings.WEBHOOK_CLAIM_WAVES)
    now = timezone.now()
    due = WebhookDelivery.objects.filter(status=WebhookDelivery.Status.PENDING, next_attempt_at__lte=now)
    picked: list[tuple[int, int]] = []  # (pk, place in its operator's queue)
    with transaction.atomic():
        if connection.vendor == "postgresql":
            # Claims take turns (a lock held to commit), so what each one reads of the others'
            # claims is exact across senders.
            with connection.cursor() as cursor:
                cursor.execute("SELECT pg_advisory_xact_lock(%s, %s)", CLAIM_LOCK)
        claimed = Counter(dict(
            WebhookDelivery.objects.filter(status=WebhookDelivery.Status.DELIVERING, claimed_until__gte=now)
            .values_list("brand__operator_id").annotate(running=Count("pk")).order_by()))
        mine = Counter(held)
        while len(picked) < limit:
            # Operators another sender holds, operators whose queue here is full, and new ones
            # once this sender holds as many as it may are passed over.
            closed = {operator_id for operator_id, count in claimed.items() if count > mine[operator_id]}
            closed |= {operator_id for operator_id, count in mine.items() if count >= depth}
            full = sum(1 for count in mine.values() if count) >= operators
            rows = due.exclude(pk__in=[*holding, *(pk for pk, _ in picked)]).exclude(brand__operator_id__in=closed)
            if full:
                rows = rows.filter(brand__operator_id__in=[op for op, count in mine.items() if count])
            rows = list(rows
                        .select_for_update(skip_locked=True, of=("self",)).order_by("next_attempt_at", "id")
                        .values_list("pk", "brand__operator_id")[:limit - len(picked)])
            if not rows:
                break
            taken = 0
            for pk, operator_id in rows:
                if mine[operator_id] < depth and (mine[operator_id] or
                                                  sum(1 for count in mine.values() if count) < operators):
                    picked.append((pk, mine[operator_id]))
                    mine[operator_id] += 1
                    claimed[operator_id] += 1
                    taken += 1
            if not taken:  # nothing more this sender may take (the rows left are of closed operators)
                break
        if not picked:
            return []
        by_lease: dict[timedelta, list[int]] = {}
        for pk, place in picked:
            by_lease.setdefault(_claim_lease(place, share), []).append(pk)
        for lease, pks in by_lease.items():
            WebhookDelivery.objects.filter(pk__in=pks).update(
                status=WebhookDelivery.Status.DELIVERING, claimed_until=timezone.now() + lease,
                attempt_count=F("attempt_count") + 1)
    order = {pk: n for n, (pk, _) in enumerate(picked)}
    return sorted(WebhookDelivery.objects.select_related("brand__operator").filter(pk__in=order),
                  key=lambda delivery: order[delivery.pk])


def _attempts_record(finished: list[tuple[WebhookDelivery, tuple]]) -> None:
    """Put finished attempts on record and move their deliveries on: delivered, retried after
    the backoff, or failed. A delivery no longer held by this claim (the sweeper took it back:
    its worker had stalled past the lease) keeps its newer state; the attempt is still kept."""
    finished_at = timezone.now()
    attempts, moved = [], []
    for delivery, (started, status_code, excerpt, error, latency_ms) in finished:
        success = status_code is not None and 200 <= status_code < 300
        metrics.webhook_attempt(operator=delivery.brand.operator_id, status=status_code, seconds=latency_ms / 1000)
        number = delivery.attempt_count  # numbered when claimed
        attempts.append(WebhookAttempt(
            delivery=delivery, number=number, started_at=started, status_code=status_code, latency_ms=latency_ms,
            response_excerpt=excerpt, error=error, success=success))
        _delivery_move_on(delivery, number=number, success=success, finished_at=finished_at,
                          error="" if success else (error or f"HTTP {status_code}"))
        moved.append(delivery)
    with transaction.atomic():
        # A number the sweeper already recorded as abandoned keeps that record.
        WebhookAttempt.objects.bulk_create(attempts, ignore_conflicts=True)
        held = set(WebhookDelivery.objects.select_for_update().filter(
            pk__in=[d.pk for d in moved], status=WebhookDelivery.Status.DELIVERING).values_list("pk", "attempt_count"))
        bulk_update([d for d in moved if (d.pk, d.attempt_count) in held], [
            "claimed_until", "last_error", "status", "delivered_at", "next_attempt_at"])


def _delivery_move_on(delivery: WebhookDelivery, *, number: int, success: bool, finished_at, error: str) -> None:
    """The state after attempt `number`: delivered, pending until the backoff, or failed."""
    schedule = settings.WEBHOOK_RETRY_SCHEDULE
    delivery.claimed_until = None
    delivery.last_error = error
    if success:
        delivery.status, delivery.delivered_at = WebhookDelivery.Status.DELIVERED, finished_at
    elif number > len(schedule):
        delivery.status, delivery.next_attempt_at = WebhookDelivery.Status.FAILED, None
    else:
        delivery.status = WebhookDelivery.Status.PENDING
        delivery.next_attempt_at = finished_at + timedelta(seconds=schedule[number - 1])


def _post(delivery: WebhookDelivery) -> tuple:
    """One signed POST within the deadline; never raises: every failure is an attempt on record."""
    now = timezone.now()
    headers = {
        "Content-Type": "application/json",
        "User-Agent": "jackpot-portal-webhooks/1.0",
        **signature_headers(webhook_id=delivery.webhook_id, body=delivery.payload,
                             secrets=delivery.brand.operator.signing_secrets(now), now=now),
    }
    status_code, excerpt, error = None, "", ""
    started = time.monotonic()
    try:
        status_code, excerpt = webhook_post(delivery.url, body=delivery.payload.encode(), headers=headers,
                                            seconds=settings.WEBHOOK_TIMEOUT_SECONDS)
    except Exception as exc:  # noqa: BLE001 - every failure is an attempt on record, then retried
        error = f"{type(exc).__name__}: {exc}"[:2000]
    return now, status_code, excerpt, error, int((time.monotonic() - started) * 1000)


def delivery_resend(*, delivery: WebhookDelivery, actor, reason: str = "resent by staff") -> WebhookDelivery:
    """Staff sends a delivery again (delivered or failed alike); recorded in its History."""
    with transaction.atomic():
        delivery = WebhookDelivery.objects.select_for_update().get(pk=delivery.pk)
        if delivery.status == WebhookDelivery.Status.DELIVERING:
            raise DomainError("DELIVERY_IN_PROGRESS", "An attempt is running; try again in a moment")
        delivery.status = WebhookDelivery.Status.PENDING
        delivery.next_attempt_at = timezone.now()
        delivery._history_user = actor
        delivery._change_reason = reason
        delivery.save(update_fields=["status", "next_attempt_at"])
        tasks.enqueue_deliveries()
    return delivery


def deliveries_due(limit: int = 1000) -> list[int]:
    """Ids of deliveries to attempt now. Claims whose lease ran out (their worker died: an
    attempt ends well within the lease) are taken back first, the lost attempt on record."""
    now = timezone.now()
    with transaction.atomic():
        abandoned = list(WebhookDelivery.objects.select_for_update(skip_locked=True).filter(
            status=WebhookDelivery.Status.DELIVERING, claimed_until__lt=now))
        lost = []
        for delivery in abandoned:
            lost.append(WebhookAttempt(delivery=delivery, number=delivery.attempt_count, latency_ms=0,
                                       started_at=delivery.claimed_until - _claim_lease(),  # its latest start
                                       error="abandoned: no outcome was recorded before its claim expired"))
            _delivery_move_on(delivery, number=delivery.attempt_count, success=False, finished_at=now,
                              error=lost[-1].error)
            if delivery.status == WebhookDelivery.Status.PENDING:
                delivery.next_attempt_at = now  # at once: its backoff has passed already
        WebhookAttempt.objects.bulk_create(lost, ignore_conflicts=True)
        bulk_update(abandoned, ["claimed_until", "last_error", "status", "next_attempt_at"])
    return list(
        WebhookDelivery.objects.filter(status=WebhookDelivery.Status.PENDING, next_attempt_at__lte=now)
        .order_by("next_attempt_at").values_list("pk", flat=True)[:limit]
    )


def contributions_stalled(*, older_than_seconds: float, limit: int = 1000) -> list[int]:
    """Accepted async contributions nobody processed (a lost message, a killed worker)."""
    cutoff = timezone.now() - timedelta(seconds=older_than_seconds)
    return list(
        Contribution.objects.filter(status=Contribution.Status.ACCEPTED, created_at__lte=cutoff)
        .order_by("created_at").values_list("pk", flat=True)[:limit]
    )
