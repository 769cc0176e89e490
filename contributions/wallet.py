"""The Standard Wallet API client (SPEC 4): the HTTP half of talking to an operator's wallet.

Every call is signed (`X-Server-Authorization`: hex HMAC-SHA256 of the raw body with the
brand's secret), times out after the configured seconds, and is retried up to the retry
limit with an exponential backoff -- unless an error rule `"<status>:<CODE>"` says
`must_retry: false` -- all within `WALLET_CALL_DEADLINE_SECONDS`. Each attempt has a hard
deadline (portal/deadline.py): it ends on time however slowly the wallet trickles its answer,
and one cut off counts as a timeout. Failures come back as
`WalletError` carrying the wallet's own status and code (or 504 WALLET_UNAVAILABLE when it
could not be reached), plus whether the rules want a failed Debit cancelled. A 2xx answer
that carries an error code or lacks the fields the endpoint must return is a failure too
(502, the wallet's code or INVALID_WALLET_RESPONSE), handled by the same rules.

Bulkheads: a slow wallet must not stall other tenants, so the wallet work of one process is
bounded per brand and in all (`calls` for contributions, `auths` for player sockets); beyond
the bound a request is refused at once with 503 WALLET_UNAVAILABLE instead of waiting.
"""

import hashlib
import hmac
import logging
import threading
import time
from collections import Counter
from contextlib import contextmanager
from dataclasses import dataclass
from decimal import Decimal
from urllib.parse import urljoin

import requests
from django.conf import settings
from django.db import connection

from contributions.models import WalletConfig
from players.auth import NotResponsible
from players.services import player_exclusion_from_wallet
from portal import jsonutil, metrics
from portal.auth import PlayerPrincipal
from portal.cache import catalogue_seconds, ttl_cached
from portal.deadline import DeadlineExceeded, deadline_session, hard_deadline
from portal.errors import DomainError, RelayedError

logger = logging.getLogger(__name__)


@dataclass
class WalletError(Exception):
    status: int
    code: str
    message: str
    must_cancel: bool = True
    attempts: int = 1

    def __str__(self) -> str:
        return f"{self.status} {self.code}: {self.message}"

    def as_domain_error(self) -> DomainError:
        """Passed through to the contribution's caller with the wallet's status and code."""
        return RelayedError(self.code, self.message, self.status)


def sign(secret: str, body: bytes) -> str:
    return hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def amount_text(amount: Decimal, exponent: int) -> str:
    """Amounts travel as decimal strings in the player's currency, at its minor unit."""
    return f"{amount:.{exponent}f}"


def wallet_busy(brand_key: str) -> DomainError:
    return DomainError("WALLET_UNAVAILABLE", f"Too many calls to the wallet of {brand_key} are in flight; retry")


class Bulkhead:
    """Wallet work in flight in this process, counted per brand and in all. Beyond either
    limit a slot is refused at once (503 WALLET_UNAVAILABLE): the threads (and database
    connections) a slow wallet can hold are bounded, whatever it does. Re-entrant per thread."""

    def __init__(self, per_brand_setting: str, total_setting: str) -> None:
        self.per_brand_setting, self.total_setting = per_brand_setting, total_setting
        self.lock = threading.Lock()
        self.in_flight: Counter = Counter()
        self.held = threading.local()

    @contextmanager
    def slot(self, brand_key: str):
        held = self.held.__dict__.setdefault("keys", set())
        if brand_key in held:  # this thread already holds the brand's slot (a nested call)
            yield
            return
        with self.lock:
            if (self.in_flight[brand_key] >= getattr(settings, self.per_brand_setting)
                    or self.in_flight[None] >= getattr(settings, self.total_setting)):
                raise wallet_busy(brand_key)
            self.in_flight[brand_key] += 1
            self.in_flight[None] += 1
        held.add(brand_key)
        try:
            yield
        finally:
            held.discard(brand_key)
            with self.lock:
                self.in_flight[brand_key] -= 1
                self.in_flight[None] -= 1
                if not self.in_flight[brand_key]:
                    del self.in_flight[brand_key]


calls = Bulkhead("WALLET_MAX_CALLS_PER_BRAND", "WALLET_MAX_CALLS")  # Debits of contributions
auths = Bulkhead("WALLET_AUTH_MAX_PER_BRAND", "WALLET_AUTH_MAX_CALLS")  # player sockets' `auth`

# A 2xx whose body has one of these (truthy, other than a success word) is an error answer.
ERROR_FIELDS = ("code", "error", "error_code")
SUCCESS_WORDS = {"OK", "SUCCESS", "0"}

# Idle sessions of this process, each with its kept-alive connections: a call takes one and
# gives it back, so calls reuse connections whichever thread makes them (a side bet runs on a
# thread of its own). At most as many as calls were ever in flight at once (the bulkheads).
_idle_sessions: list[requests.Session] = []


class WalletClient:
    def __init__(self, config: WalletConfig) -> None:
        self.config = config
        try:
            self.session = _idle_sessions.pop()
        except IndexError:
            self.session = deadline_session()
        self.last_attempts = 0  # HTTP calls made by the last call(), retries included

    def close(self) -> None:
        if self.session is not None:
            _idle_sessions.append(self.session)  # for the next call, with its connections
            self.session = None

    def __enter__(self) -> "WalletClient":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def call(self, method: str, path: str, body: dict | None = None, params: dict | None = None,
             final_statuses: frozenset[int] = frozenset(), required: tuple[str, ...] = (),
             attempts: int | None = None, timeout: float | None = None) -> dict:
        """One signed call, retried per the rules within the call deadline; `final_statuses`
        are answers, not failures to retry; `required` are the fields a success must carry."""
        raw = jsonutil.dumps(body).encode() if body is not None else b""
        headers = {"X-Server-Authorization": sign(self.config.secret_key, raw),
                   "User-Agent": "jackpot-portal-wallet/1.0"}
        if body is not None:
            headers["Content-Type"] = "application/json"
        url = urljoin(self.config.base_url.rstrip("/") + "/", path.lstrip("/"))
        attempts = attempts or 1 + self.config.retry_limit
        deadline = time.monotonic() + settings.WALLET_CALL_DEADLINE_SECONDS
        per_attempt = min(self.config.timeout_seconds, timeout or self.config.timeout_seconds,
                          settings.WALLET_CALL_DEADLINE_SECONDS)
        for attempt in range(1, attempts + 1):
            self.last_attempts = attempt
            started = time.monotonic()
            limit = min(per_attempt, deadline - started)
            try:
                # The timeout bounds each read; the hard deadline the whole attempt, answer read.
                with hard_deadline(limit):
                    response = self.session.request(method, url, data=raw or None, params=params, headers=headers,
                                                    allow_redirects=False, timeout=limit)
            except (requests.RequestException, DeadlineExceeded) as exc:
                metrics.wallet_call(brand=self.config.brand.key, op=path, status=None, seconds=time.monotonic() - started)
                status, code = 504, "WALLET_UNAVAILABLE"
                message = (f"The wallet did not answer within {limit:.3g} s" if isinstance(exc, DeadlineExceeded)
                           else f"The wallet did not answer: {type(exc).__name__}")
            else:
                metrics.wallet_call(brand=self.config.brand.key, op=path, status=response.status_code,
                                    seconds=time.monotonic() - started)
                if 200 <= response.status_code < 300:
                    answer, problem = self._answer_of(response, required)
                    if problem is None:
                        return answer
                    status, code, message = problem
                else:
                    status, code, message = self._error_of(response)
            rule = self.config.rule(status, code)
            delay = settings.WALLET_RETRY_BASE_SECONDS * self.config.backoff_factor ** (attempt - 1)
            if (not rule["must_retry"] or attempt == attempts or status in final_statuses
                    or time.monotonic() + delay >= deadline):
                raise WalletError(status, code, message, must_cancel=rule["must_cancel"], attempts=attempt)
            logger.info("wallet %s %s: %s %s, retry %d in %.2fs", method, path, status, code, attempt, delay)
            time.sleep(delay)
        raise AssertionError("unreachable")

    @staticmethod
    def _answer_of(response, required: tuple[str, ...]) -> tuple[dict, tuple[int, str, str] | None]:
        """A 2xx answer, or why it is not a success: not a JSON object, an error code in it, or
        a field the endpoint must return missing (a 201 with an error body is no Debit)."""
        try:
            body = jsonutil.loads(response.content) if response.content else {}
        except (jsonutil.JSONDecodeError, jsonutil.NonFiniteNumber):
            body = None
        if not isinstance(body, dict):
            return {}, (502, "INVALID_WALLET_RESPONSE", f"The wallet answered {response.status_code} "
                                                        "without a JSON object")
        error = next((body[f] for f in ERROR_FIELDS if body.get(f) and str(body[f]).upper() not in SUCCESS_WORDS),
                     None)
        if error is not None:
            code = str(error)[:64]
            message = str(body.get("message") or code)[:500]
            return body, (502, code, f"The wallet answered {response.status_code} with an error: {message}")
        missing = [f for f in required if body.get(f) in (None, "")]
        if missing:
            return body, (502, "INVALID_WALLET_RESPONSE",
                          f"The wallet answered {response.status_code} without {', '.join(missing)}")
        return body, None

    @staticmethod
    def _error_of(response) -> tuple[int, str, str]:
        try:
            body = jsonutil.loads(response.content)
        except (jsonutil.JSONDecodeError, jsonutil.NonFiniteNumber):
            body = {}
        if not isinstance(body, dict):
            body = {}
        code = str(body.get("code") or f"HTTP_{response.status_code}")[:64]
        message = str(body.get("message") or response.reason or code)[:500]
        return response.status_code, code, message

    # --- the Standard Wallet endpoints ------------------------------------------------------

    def authenticate(self, *, player_token: str, currency: str, source_id: str | None = None,
                     once: bool = False) -> dict:
        """The wallet's player for a session token. A 401/403 is the wallet's answer, never
        retried; `once` (player sockets): a single short attempt, nothing retried."""
        brand = self.config.brand
        return self.call("POST", self.config.auth_path, {
            "operator_id": brand.operator_id, "brand_id": brand.code, "player_token": player_token,
            "source_id": source_id, "currency": currency,
        }, final_statuses=frozenset({401, 403}), required=("id",), attempts=1 if once else None,
            timeout=settings.WALLET_AUTH_TIMEOUT_SECONDS if once else None)

    def balance(self, *, player_id: str) -> dict:
        return self.call("GET", self.config.balance_path, params={"player_id": player_id})

    def transaction(self, body: dict) -> dict:
        # A Standard Wallet answers a transaction with the player's balance after it.
        return self.call("POST", self.config.transaction_path, body, required=("balance",))

    def cancel(self, *, transaction_id: str, player_id: str) -> dict:
        # 404: the wallet never recorded the Debit -- a final answer, nothing to give back.
        return self.call("DELETE", self.config.cancel_path, {"transaction_id": transaction_id, "player_id": player_id},
                         final_statuses=frozenset({404}))


def wallet_of(brand, *, fresh: bool = False) -> WalletConfig | None:
    """The brand's enabled wallet. The hot path keeps it per process like the rest of the
    catalogue (CATALOGUE_CACHE_SECONDS; a save clears this process's copy at once, other
    processes within that time); `fresh` reads it now (cancels, credits, sweepers)."""
    if fresh:
        return WalletConfig.objects.select_related("brand").filter(brand=brand, enabled=True).first()
    (config,) = _wallet_config(brand.pk)
    return config


def wallet_config_forget(**kwargs) -> None:
    _wallet_config.cache_clear()


@ttl_cached(catalogue_seconds)
def _wallet_config(brand_id: int) -> tuple[WalletConfig | None]:
    # A tuple, so that "no wallet" (the common case of operator-funded brands) is kept too.
    return (WalletConfig.objects.select_related("brand").filter(brand_id=brand_id, enabled=True).first(),)


def socket_authenticate(*, brand, token: str, currency: str):
    """Player sockets of brands with a wallet, for tokens the portal did not sign
    (PLAYER_AUTHENTICATORS): the wallet's `auth` decides, asked once with a short timeout;
    a refusal is final (SPEC 3). At most `WALLET_AUTH_MAX_PER_BRAND` such calls per brand
    are in flight: more bad tokens than that are refused at once."""
    config = wallet_of(brand)
    if config is None:
        raise NotResponsible
    if not connection.in_atomic_block:
        connection.close()  # the wallet may be slow: do not hold a database connection meanwhile
    try:
        with auths.slot(brand.key), WalletClient(config) as client:
            player = client.authenticate(player_token=token, currency=currency, once=True)
    except DomainError as error:
        logger.warning("player socket refused for %s: %s", brand, error)
        return None
    except WalletError as error:
        logger.info("wallet refused a player socket token for %s: %s", brand, error)
        return None
    player_id = str(player.get("id") or "")
    if not player_id:
        return None
    # An exclusion the wallet reports is recorded: the socket opens, the player's opt-ins are refused.

    player_exclusion_from_wallet(brand=brand, player_id=player_id, answer=player)
    return PlayerPrincipal(operator_id=brand.operator_id, brand_code=brand.code, player_id=player_id,
                           currency=str(player.get("currency") or currency), country=str(player.get("country") or ""))
