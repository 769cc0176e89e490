"""The Standard Wallet API client (SPEC 4): the HTTP half of talking to an operator's wallet.

Every call is signed (`X-Server-Authorization`: hex HMAC-SHA256 of the raw body with the
brand's secret), times out after the configured seconds, and is retried up to the retry
limit with an exponential backoff -- unless an error rule `"<status>:<CODE>"` says
`must_retry: false`. Failures come back as `WalletError` carrying the wallet's own status
and code (or 504 WALLET_UNAVAILABLE when it could not be reached), plus whether the
rules want a failed Debit cancelled.
"""

import hashlib
import hmac
import logging
import threading
import time
from dataclasses import dataclass
from decimal import Decimal
from urllib.parse import urljoin

import requests
from django.conf import settings

from contributions.models import WalletConfig
from portal import jsonutil
from portal.cache import catalogue_seconds, ttl_cached
from portal.errors import DomainError

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
        return DomainError(self.code, self.message, status=self.status)


def sign(secret: str, body: bytes) -> str:
    return hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def amount_text(amount: Decimal, exponent: int) -> str:
    """Amounts travel as decimal strings in the player's currency, at its minor unit."""
    return f"{amount:.{exponent}f}"


_sessions = threading.local()


def _session() -> requests.Session:
    """One session per thread: calls to the same wallet reuse their connections."""
    session = getattr(_sessions, "session", None)
    if session is None:
        session = _sessions.session = requests.Session()
        session.trust_env = False
    return session


class WalletClient:
    def __init__(self, config: WalletConfig) -> None:
        self.config = config
        self.session = _session()
        self.last_attempts = 0  # HTTP calls made by the last call(), retries included

    def close(self) -> None:
        pass  # the session stays with its thread for the next call

    def __enter__(self) -> "WalletClient":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def call(self, method: str, path: str, body: dict | None = None, params: dict | None = None,
             final_statuses: frozenset[int] = frozenset()) -> dict:
        """One signed call, retried per the rules; `final_statuses` are answers, not failures to retry."""
        raw = jsonutil.dumps(body).encode() if body is not None else b""
        headers = {"X-Server-Authorization": sign(self.config.secret_key, raw),
                   "User-Agent": "jackpot-portal-wallet/1.0"}
        if body is not None:
            headers["Content-Type"] = "application/json"
        url = urljoin(self.config.base_url.rstrip("/") + "/", path.lstrip("/"))
        attempts = 1 + self.config.retry_limit
        for attempt in range(1, attempts + 1):
            self.last_attempts = attempt
            try:
                response = self.session.request(method, url, data=raw or None, params=params, headers=headers,
                                                timeout=self.config.timeout_seconds, allow_redirects=False)
            except requests.RequestException as exc:
                status, code, message = 504, "WALLET_UNAVAILABLE", f"The wallet did not answer: {type(exc).__name__}"
            else:
                if 200 <= response.status_code < 300:
                    try:
                        return jsonutil.loads(response.content) if response.content else {}
                    except (jsonutil.JSONDecodeError, jsonutil.NonFiniteNumber):
                        return {}
                status, code, message = self._error_of(response)
            rule = self.config.rule(status, code)
            if not rule["must_retry"] or attempt == attempts or status in final_statuses:
                raise WalletError(status, code, message, must_cancel=rule["must_cancel"], attempts=attempt)
            delay = settings.WALLET_RETRY_BASE_SECONDS * self.config.backoff_factor ** (attempt - 1)
            logger.info("wallet %s %s: %s %s, retry %d in %.2fs", method, path, status, code, attempt, delay)
            time.sleep(delay)
        raise AssertionError("unreachable")

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

    def authenticate(self, *, player_token: str, currency: str, source_id: str | None = None) -> dict:
        brand = self.config.brand
        return self.call("POST", self.config.auth_path, {
            "operator_id": brand.operator_id, "brand_id": brand.code, "player_token": player_token,
            "source_id": source_id, "currency": currency,
        })

    def balance(self, *, player_id: str) -> dict:
        return self.call("GET", self.config.balance_path, params={"player_id": player_id})

    def transaction(self, body: dict) -> dict:
        return self.call("POST", self.config.transaction_path, body)

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
    """Player sockets of brands with a wallet: the wallet's `auth` decides (PLAYER_AUTHENTICATORS)."""
    from players.auth import NotResponsible
    from portal.auth import PlayerPrincipal

    config = wallet_of(brand)
    if config is None:
        raise NotResponsible
    try:
        with WalletClient(config) as client:
            player = client.authenticate(player_token=token, currency=currency)
    except WalletError as error:
        logger.info("wallet refused a player socket token for %s: %s", brand, error)
        return None
    player_id = str(player.get("id") or "")
    if not player_id:
        return None
    return PlayerPrincipal(operator_id=brand.operator_id, brand_code=brand.code, player_id=player_id,
                           currency=str(player.get("currency") or currency), country=str(player.get("country") or ""))
