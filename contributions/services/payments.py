"""Money at the operator's wallet (SPEC 4): Debits for side bets, Credits for wins.

* A player-funded contribution is debited before its transaction, with a transaction id
  derived from the contribution's idempotency key (so retries and concurrent duplicates
  reuse it). A refusal changes nothing and is passed through with the wallet's status and
  code. If the contribution cannot be recorded after a successful Debit, the Debit is
  cancelled (unless an error rule says not); the sweeper cancels Debits left without a
  contribution by a crash. The transaction that records a contribution locks its Debit
  and links it, so no contribution exists without its Debit and no Debit survives without
  a contribution.
* Concurrent duplicates of a side bet take turns (`debit_turn`: a lock on the round): the
  first debits and records, the others then find its contribution and replay it (SPEC
  2.8). Whatever still races on one Debit row (a redelivered async task, the sweeper) is
  settled by conditional status updates: a success one caller saw is never undone by a
  duplicate that saw it too.
* A win is credited after commit, from a Credit row written with the win. A Credit is never
  cancelled: after its retries it stays pending and is retried periodically and by staff,
  always with the same transaction id, so it is never paid twice.
"""

import hashlib
import logging
import threading
from contextlib import contextmanager
from datetime import timedelta

from django.conf import settings
from django.db import OperationalError, connection, transaction
from django.db.models import F
from django.utils import timezone

from contributions.models import Contribution, WalletConfig, WalletTransaction, Win
from contributions.wallet import (
    WalletClient,
    WalletError,
    amount_text,
    calls,
    wallet_busy,
    wallet_of,
)
from players.services import player_exclusion_from_wallet
from portal import clock, jsonutil
from portal.db import insert_new
from portal.errors import DomainError, rejected
from portal.models import Brand, Currency
from portal.money import iso_exponent

logger = logging.getLogger(__name__)
Status = WalletTransaction.Status
# Outcomes after which a transaction is never sent again (a cancel names no token).
TOKEN_SPENT = (Status.SUCCEEDED, Status.FAILED, Status.CANCELLED)


def round_key(*, brand: Brand, player_ref: str, gameround_id: str, target_kind: str, target_id: str) -> str:
    raw = "\x1f".join([str(brand.pk), player_ref, gameround_id, target_kind, target_id])
    return hashlib.sha256(raw.encode()).hexdigest()[:40]


def transaction_body(tx: WalletTransaction, exponent: int) -> dict:
    """The Standard Wallet transaction body; metadata goes through verbatim."""
    return {
        "transaction_id": tx.transaction_id,
        "transaction_type": tx.kind,
        "player_id": tx.player_ref,
        "token": tx.token,
        "amount": amount_text(tx.amount, exponent),
        "currency": tx.currency,
        "gameround_id": tx.gameround_id,
        "instance_id": str(tx.jackpot_id),
        "round_closed": tx.round_closed,
        "metadata": jsonutil.Raw(tx.metadata_json) if tx.metadata_json is not None else None,
    }


def _exponent(code: str) -> int:
    return Currency.objects.filter(pk=code).values_list("exponent", flat=True).first() or iso_exponent(code)


def _mark(tx: WalletTransaction, status: str, *, error: WalletError | None = None, attempts: int = 0,
          only_from: tuple = (), **extra) -> bool:
    """Record an outcome (only over one of the `only_from` statuses, if given); False if the
    row had moved on meanwhile."""
    fields = {"status": status, "claimed_until": None, "updated_at": timezone.now(), **extra}
    if status in TOKEN_SPENT:
        fields["token"] = ""  # the player's session token is not kept after its last use
    if error is not None:
        fields.update(error_status=error.status, error_code=error.code, error_message=error.message)
    if attempts:
        fields["attempts"] = F("attempts") + attempts
    rows = WalletTransaction.objects.filter(pk=tx.pk)
    if only_from:
        rows = rows.filter(status__in=only_from)
    if not rows.update(**fields):
        return False
    tx.status = status
    return True


# --- Debits -------------------------------------------------------------------------------


@contextmanager
def debit_turn(plan):
    """Around a side bet debited at the brand's wallet, from before its Debit until its
    transaction ends: a slot of the brand's wallet bulkhead (503 at once when the brand has
    too many in flight), then the round's lock, so a concurrent duplicate waits for the
    first and replays its outcome instead of racing it at the wallet. Yields whether this
    request had to wait for another one of the same round."""
    if not plan.player_funded or wallet_of(plan.brand) is None:
        yield False
        return
    request = plan.request
    key = round_key(brand=plan.brand, player_ref=request.player_id, gameround_id=request.gameround_id,
                    target_kind=request.target_kind, target_id=request.target_id)
    with calls.slot(plan.brand.key), _round_lock(key, brand_key=plan.brand.key) as waited:
        yield waited


def _round_wait_seconds() -> float:
    # The holder makes at most three wallet calls (auth, Debit, cancel), each within its deadline.
    return 3 * settings.WALLET_CALL_DEADLINE_SECONDS + 5


_local_round_locks = [threading.Lock() for _ in range(64)]


@contextmanager
def _round_lock(key: str, *, brand_key: str):
    """One holder per round: a session advisory lock on PostgreSQL (across processes), a
    striped lock of this process elsewhere (the embedded single-process mode). Yields
    whether it had to wait. Uncontended, it costs one query to take and one to release."""
    wait = _round_wait_seconds()
    if connection.vendor != "postgresql":
        lock = _local_round_locks[int(key[:8], 16) % len(_local_round_locks)]
        waited = not lock.acquire(blocking=False)
        if waited and not lock.acquire(timeout=wait):
            raise wallet_busy(brand_key)
        try:
            yield waited
        finally:
            lock.release()
        return
    number = int(key[:15], 16)  # 60 bits: fits PostgreSQL's bigint
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_try_advisory_lock(%s)", [number])
        waited = not cursor.fetchone()[0]
        if waited:
            cursor.execute("SELECT set_config('lock_timeout', %s, false)", [f"{int(wait * 1000)}ms"])
            try:
                cursor.execute("SELECT pg_advisory_lock(%s)", [number])
            except OperationalError as exc:  # lock_timeout: the first is stuck far beyond its deadlines
                raise wallet_busy(brand_key) from exc
            finally:
                cursor.execute("RESET lock_timeout")
    try:
        yield waited
    finally:
        try:
            with connection.cursor() as cursor:
                cursor.execute("SELECT pg_advisory_unlock(%s)", [number])
        except Exception:  # noqa: BLE001 - a lost connection has released its locks with it
            logger.warning("round lock %s could not be released", key[:15], exc_info=True)


def debit_for(plan) -> WalletTransaction | None:
    """Debit the player's side bet before the contribution's transaction (None: nothing to debit)."""
    if not plan.player_funded:
        return None
    brand, request = plan.brand, plan.request
    config = wallet_of(brand)
    if config is None:
        if brand.side_bets_without_wallet:
            return None
        raise rejected("WalletRequired", f"brand {brand.key} has no wallet, so its players cannot fund side bets")
    key = round_key(brand=brand, player_ref=request.player_id, gameround_id=request.gameround_id,
                    target_kind=request.target_kind, target_id=request.target_id)

    def debit_row(attempt: int) -> WalletTransaction:
        return WalletTransaction(
            transaction_id=f"dbt-{key[:32]}-{attempt}", round_key=key, kind=WalletTransaction.Kind.DEBIT,
            brand=brand, player_ref=request.player_id, token=request.token, amount=plan.amount,
            currency=request.currency, gameround_id=request.gameround_id, jackpot=plan.instance,
            metadata_json=request.metadata_json, round_closed=False,
        )

    tx = debit_row(1)
    if not insert_new(tx):  # the round was debited before (a repeat, or a retry after a refusal)
        earlier = list(WalletTransaction.objects.filter(round_key=key, kind=WalletTransaction.Kind.DEBIT)
                       .order_by("-id"))
        latest = earlier[0]
        if latest.status == Status.SUCCEEDED:
            return latest  # the same contribution again: already paid for
        if latest.status in (Status.CANCELLING, Status.CANCEL_FAILED):
            raise DomainError("WALLET_UNAVAILABLE", "The previous debit of this round is still being cancelled; "
                              "retry")
        if latest.status in (Status.PENDING, Status.SENDING):
            tx = latest  # outcome unknown: ask again with the same transaction id
            # Touched, so the orphan sweeper does not cancel it while we ask.
            WalletTransaction.objects.filter(pk=tx.pk).update(updated_at=timezone.now())
        else:
            tx = debit_row(1 + sum(t.status in (Status.FAILED, Status.CANCELLED) for t in earlier))
            if not insert_new(tx):  # a concurrent duplicate created it first: use theirs
                tx = WalletTransaction.objects.get(transaction_id=tx.transaction_id)
    with WalletClient(config) as client:
        if config.authenticate_contributions:
            _check_player(client, request, brand=brand)
        try:
            client.transaction(transaction_body(tx, plan.request_exponent))
        except WalletError as error:
            if not _mark(tx, Status.FAILED, error=error, attempts=error.attempts,
                         only_from=(Status.PENDING, Status.SENDING)):
                if _status(tx) == Status.SUCCEEDED:
                    return tx  # a duplicate got the wallet's success for this very transaction id
                raise error.as_domain_error() from error  # someone else is settling this row
            if error.must_cancel:
                _cancel(tx, client)
            raise error.as_domain_error() from error
        if not _mark(tx, Status.SUCCEEDED, attempts=client.last_attempts, error_status=None, error_code="",
                     error_message="", only_from=(Status.PENDING, Status.SENDING)):
            if _status(tx) == Status.SUCCEEDED:
                return tx  # a concurrent duplicate recorded the same success first: it stands
            # The orphan sweeper cancelled the row while the wallet was answering. The wallet may
            # have recorded this Debit after that cancel: cancel it again (idempotent there).
            try:
                client.cancel(transaction_id=tx.transaction_id, player_id=tx.player_ref)
            except WalletError as error:
                logger.error("debit %s was cancelled during its call and could not be cancelled again at the "
                             "wallet: %s", tx.transaction_id, error)
            raise DomainError("WALLET_DEBIT_CANCELLED",
                              "The debit was cancelled before the contribution was recorded; send it again")
    return tx


def _status(tx: WalletTransaction) -> str:
    tx.status = WalletTransaction.objects.filter(pk=tx.pk).values_list("status", flat=True).get()
    return tx.status


def _check_player(client: WalletClient, request, *, brand: Brand) -> None:
    """The session token is the player's, and the wallet does not say the player is excluded
    (if it does, the exclusion is recorded and the side bet refused: PlayerExcluded)."""
    try:
        player = client.authenticate(player_token=request.token, currency=request.currency,
                                     source_id=request.source_id)
    except WalletError as error:
        raise error.as_domain_error() from error
    if str(player.get("id")) != request.player_id:
        raise DomainError("FORBIDDEN", "The session token belongs to another player")
    excluded = player_exclusion_from_wallet(brand=brand, player_id=request.player_id, answer=player)
    if excluded is not None and excluded.excluded_at(clock.now()):
        raise rejected("PlayerExcluded", f"player {request.player_id} is {excluded.exclusion_text()}")


def debit_cancel(debit: WalletTransaction, *, cause: DomainError | None = None) -> bool:
    """Cancel a Debit whose contribution could not be recorded (unless a rule for the cause
    says must_cancel: false). Only Debits without a contribution are ever cancelled."""
    config = wallet_of(debit.brand, fresh=True)
    if config is None:
        return False
    if cause is not None and not config.rule(cause.status, cause.code)["must_cancel"]:
        return False
    with WalletClient(config) as client:
        return _cancel(debit, client)


def _cancel(tx: WalletTransaction, client: WalletClient) -> bool:
    claimed = WalletTransaction.objects.filter(
        pk=tx.pk, kind=WalletTransaction.Kind.DEBIT, contribution__isnull=True,
        status__in=[Status.PENDING, Status.SENDING, Status.SUCCEEDED, Status.FAILED, Status.CANCEL_FAILED],
    ).update(status=Status.CANCELLING, updated_at=timezone.now())
    if not claimed:
        return False
    try:
        client.cancel(transaction_id=tx.transaction_id, player_id=tx.player_ref)
    except WalletError as error:
        if error.status == 404:  # the wallet never recorded it: nothing to give back
            _mark(tx, Status.CANCELLED, error=error, attempts=error.attempts)
            return True
        logger.warning("cancel of %s failed: %s", tx.transaction_id, error)
        _mark(tx, Status.CANCEL_FAILED, error=error, attempts=error.attempts)
        return False
    _mark(tx, Status.CANCELLED, attempts=client.last_attempts)
    return True


def debits_orphaned(limit: int = 500) -> list[int]:
    """Debits without a contribution after a crash (or whose cancel failed): to cancel."""
    cutoff = timezone.now() - timedelta(seconds=settings.WALLET_ORPHAN_SECONDS)
    return list(
        WalletTransaction.objects.filter(
            kind=WalletTransaction.Kind.DEBIT, contribution__isnull=True, updated_at__lte=cutoff,
            status__in=[Status.PENDING, Status.SENDING, Status.SUCCEEDED, Status.CANCEL_FAILED],
        ).order_by("id").values_list("pk", flat=True)[:limit]
    )


def debit_cancel_orphan(tx_id: int) -> bool:
    tx = WalletTransaction.objects.select_related("brand").get(pk=tx_id)
    return debit_cancel(tx)


# --- Credits ------------------------------------------------------------------------------


def credit_prepare(*, win: Win, contribution: Contribution | None, brand: Brand, player_ref: str,
                   token: str = "", amount=None, gameround_id: str = "", metadata_json: str | None = None
                   ) -> WalletTransaction | None:
    """Inside the transaction that records a win: the Credit row (sent after commit)."""
    config = wallet_of(brand, fresh=True)
    if config is None:
        return None
    tx = WalletTransaction.objects.create(
        transaction_id=f"crd-{win.pk}", round_key="", kind=WalletTransaction.Kind.CREDIT, brand=brand,
        player_ref=player_ref, token=token, amount=win.amount if amount is None else amount, currency=win.currency,
        gameround_id=gameround_id, jackpot=win.jackpot, contribution=contribution, win=win, round_closed=True,
        metadata_json=metadata_json,
    )
    Win.objects.filter(pk=win.pk).update(status=Win.Status.PENDING_CREDIT)
    return tx


def round_close_prepare(*, contribution: Contribution, brand: Brand, token: str = "") -> WalletTransaction | None:
    """A zero Credit closing a round that did not win, when the wallet wants rounds closed."""
    config = wallet_of(brand)
    if config is None or not config.close_rounds_without_win:
        return None
    return WalletTransaction.objects.create(
        transaction_id=f"crd-round-{contribution.pk}", round_key="", kind=WalletTransaction.Kind.CREDIT,
        brand=brand, player_ref=contribution.player_ref, token=token, amount=0,
        currency=contribution.currency, gameround_id=contribution.gameround_id, jackpot=contribution.jackpot,
        contribution=contribution, round_closed=True, metadata_json=contribution.metadata_json,
    )


def credit_send(tx_id: int) -> WalletTransaction | None:
    """Send a pending Credit. Claimed with a conditional update; on failure it stays pending."""
    now = timezone.now()
    tx = WalletTransaction.objects.select_related("brand").filter(pk=tx_id, kind=WalletTransaction.Kind.CREDIT).first()
    if tx is None:
        return None
    config: WalletConfig | None = wallet_of(tx.brand, fresh=True)
    if config is None:
        return None
    hold = config.timeout_seconds * (config.retry_limit + 1) + 60
    claimed = WalletTransaction.objects.filter(pk=tx_id, status=Status.PENDING).update(
        status=Status.SENDING, claimed_until=now + timedelta(seconds=hold), updated_at=now)
    if not claimed:
        return None
    with WalletClient(config) as client:
        try:
            client.transaction(transaction_body(tx, _exponent(tx.currency)))
        except WalletError as error:
            logger.warning("credit %s still pending: %s", tx.transaction_id, error)
            _mark(tx, Status.PENDING, error=error, attempts=error.attempts)
            tx.refresh_from_db()
            return tx
        attempts = client.last_attempts
    _mark(tx, Status.SUCCEEDED, attempts=attempts, error_status=None, error_code="", error_message="")
    if tx.win_id:
        Win.objects.filter(pk=tx.win_id, status=Win.Status.PENDING_CREDIT).update(status=Win.Status.PAID)
    tx.refresh_from_db()
    return tx


def credits_due(limit: int = 500) -> list[int]:
    """Pending Credits whose last try is old enough, and Credits a dead worker left claimed."""
    now = timezone.now()
    WalletTransaction.objects.filter(kind=WalletTransaction.Kind.CREDIT, status=Status.SENDING,
                                     claimed_until__lt=now).update(status=Status.PENDING, claimed_until=None)
    cutoff = now - timedelta(seconds=settings.WALLET_CREDIT_RETRY_SECONDS)
    return list(
        WalletTransaction.objects.filter(kind=WalletTransaction.Kind.CREDIT, status=Status.PENDING,
                                         updated_at__lte=cutoff)
        .order_by("id").values_list("pk", flat=True)[:limit]
    )


def credit_retry(*, win: Win, actor, reason: str = "credit retried by staff") -> WalletTransaction | None:
    """Staff retries a pending Credit now; the request is written to the win's History."""
    with transaction.atomic():
        win = Win.objects.select_for_update().get(pk=win.pk)
        if win.status != Win.Status.PENDING_CREDIT:
            raise DomainError("NOT_PENDING", f"Win {win.pk} is {win.get_status_display().lower()}, not pending")
        win._history_user = actor
        win._change_reason = reason
        win.save(update_fields=["status"])
    tx = win.wallet_transactions.filter(kind=WalletTransaction.Kind.CREDIT).order_by("-id").first()
    if tx is None:
        raise DomainError("NOT_PENDING", f"Win {win.pk} has no credit to retry")
    WalletTransaction.objects.filter(pk=tx.pk, status=Status.SENDING, claimed_until__lt=timezone.now()).update(
        status=Status.PENDING)
    return credit_send(tx.pk)
