"""A reference Standard Wallet server, for demos and tests (not for money).

It keeps players, balances and session tokens in memory, checks the
`X-Server-Authorization` HMAC of every call, applies transactions idempotently by id
(a repeat returns the first answer), cancels Debits, and can be told to fail:

    POST /_control/fail    {"path": "/wallet/transaction", "times": 2, "status": 500,
                            "code": "BOOM", "delay": 0, "body": null,
                            "match": {"transaction_type": "Credit"}}   next matching calls fail
                                                              (status null: only slow)
         {"path": ..., "status": null, "trickle": 0.2, "trickle_part": "headers", "trickle_for": 60}
                         the call is applied, but its answer's headers (or "body") come one
                         byte every 0.2 s, for up to 60 s or until the caller hangs up
    POST /_control/hold    {"path": "/wallet/transaction"}    calls to path wait until released
    POST /_control/release {"path": "/wallet/transaction"}
    POST /_control/players {"player_id", "token", "balance", "currency", "country",
                            "self_excluded": false, "cool_off_until": null}   (ISO 8601)
    GET  /_control/requests                                   every call received
    GET  /_control/state                                      players and transactions
    POST /_control/reset

Run it with `python manage.py run_reference_wallet` (port 8201 by default, with the demo players).
"""

import contextlib
import hashlib
import hmac
import threading
import time
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

from portal import jsonutil


@dataclass
class Player:
    player_id: str
    token: str
    balance: Decimal
    currency: str
    country: str = "MT"
    nickname: str = ""
    # Responsible gambling, said in the `auth` answer: a `self_excluded` segment (and flag), or
    # the end of a cool-off (ISO 8601).
    self_excluded: bool = False
    cool_off_until: str | None = None


@dataclass
class Recorded:
    method: str
    path: str
    headers: dict
    body: bytes

    @property
    def json(self):
        return jsonutil.loads(self.body) if self.body else None


@dataclass
class WalletState:
    secret: str
    auto_create_balance: Decimal | None = None
    players: dict[str, Player] = field(default_factory=dict)
    transactions: dict[str, dict] = field(default_factory=dict)
    failures: list[dict] = field(default_factory=list)
    requests: list[Recorded] = field(default_factory=list)
    holds: dict[str, threading.Event] = field(default_factory=dict)  # path -> set when released
    stopped: threading.Event = field(default_factory=threading.Event)  # ends trickling answers
    trickled: int = 0  # bytes of answers sent slowly
    dropped: int = 0  # trickling answers the caller hung up on
    lock: threading.Lock = field(default_factory=threading.Lock)

    def hold(self, path: str) -> threading.Event:
        with self.lock:
            return self.holds.setdefault(path, threading.Event())

    def release(self, path: str) -> None:
        with self.lock:
            gate = self.holds.pop(path, None)
        if gate is not None:
            gate.set()

    def add_player(self, player_id: str, token: str, balance, currency: str = "EUR", country: str = "MT", *,
                   self_excluded: bool = False, cool_off_until: str | None = None) -> Player:
        player = Player(player_id, token, Decimal(str(balance)), currency, country, nickname=player_id,
                        self_excluded=self_excluded, cool_off_until=cool_off_until)
        self.players[player_id] = player
        return player

    def player(self, player_id: str, currency: str) -> Player | None:
        if player_id not in self.players and self.auto_create_balance is not None:
            self.add_player(player_id, f"token-{player_id}", self.auto_create_balance, currency)
        return self.players.get(player_id)


class WalletError(Exception):
    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status, self.code, self.message = status, code, message


def _amount(text) -> Decimal:
    try:
        value = Decimal(str(text))
    except InvalidOperation as exc:
        raise WalletError(400, "INVALID_PROPERTY_VALUE", "amount is not a decimal") from exc
    if not value.is_finite() or value < 0:
        raise WalletError(400, "INVALID_PROPERTY_VALUE", "amount must be a non-negative decimal")
    return value


class ReferenceWallet:
    """The wallet's behaviour, independent of HTTP."""

    def __init__(self, state: WalletState) -> None:
        self.state = state

    def authenticate(self, body: dict) -> dict:
        token = body.get("player_token")
        player = next((p for p in self.state.players.values() if p.token == token), None)
        if player is None:
            raise WalletError(401, "INVALID_TOKEN", "Unknown or expired session token")
        return {"id": player.player_id, "token": player.token, "currency": player.currency,
                "balance": str(player.balance), "operator_id": body.get("operator_id"),
                "brand_id": body.get("brand_id"), "nickname": player.nickname, "gender": "?",
                "country": player.country, "date_of_birth": None, "jurisdiction": "MT",
                "segments": ["self_excluded"] if player.self_excluded else [],
                "self_excluded": player.self_excluded, "cool_off_until": player.cool_off_until}

    def balance(self, player_id: str) -> dict:
        player = self.state.players.get(player_id)
        if player is None:
            raise WalletError(404, "PLAYER_NOT_FOUND", f"No player {player_id}")
        return {"balance": str(player.balance), "currency": player.currency}

    def transaction(self, body: dict) -> tuple[int, dict]:
        tx_id = body.get("transaction_id")
        kind = body.get("transaction_type")
        if not isinstance(tx_id, str) or kind not in ("Debit", "Credit", "None"):
            raise WalletError(400, "INVALID_STRUCTURE", "transaction_id and transaction_type are required")
        known = self.state.transactions.get(tx_id)
        if known is not None:
            if known["status"] == "cancelled":
                raise WalletError(409, "TRANSACTION_CANCELLED", f"{tx_id} was cancelled")
            return 200, known["answer"]  # idempotent: the first answer again
        amount = _amount(body.get("amount"))
        player = self.state.player(str(body.get("player_id")), str(body.get("currency")))
        if player is None:
            raise WalletError(404, "PLAYER_NOT_FOUND", f"No player {body.get('player_id')}")
        if body.get("currency") != player.currency:
            raise WalletError(400, "CURRENCY_MISMATCH", f"The player plays in {player.currency}")
        if kind == "Debit":
            if player.balance < amount:
                raise WalletError(402, "INSUFFICIENT_FUNDS", "Not enough money for this side bet")
            player.balance -= amount
        elif kind == "Credit":
            player.balance += amount
        answer = {"transaction_id": tx_id, "balance": str(player.balance), "currency": player.currency}
        self.state.transactions[tx_id] = {"body": body, "answer": answer, "status": "done", "kind": kind,
                                          "amount": amount, "player_id": player.player_id}
        return 200, answer

    def cancel(self, body: dict) -> dict:
        tx_id = body.get("transaction_id")
        known = self.state.transactions.get(tx_id)
        if known is None:
            raise WalletError(404, "TRANSACTION_NOT_FOUND", f"No transaction {tx_id}")
        if known["kind"] == "Credit":
            raise WalletError(400, "CANNOT_CANCEL_CREDIT", "Credits are never cancelled")
        player = self.state.players[known["player_id"]]
        if known["status"] != "cancelled":
            player.balance += known["amount"]
            known["status"] = "cancelled"
        return {"balance": str(player.balance), "currency": player.currency}


def make_handler(state: WalletState):
    wallet = ReferenceWallet(state)

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        disable_nagle_algorithm = True  # headers and body go in two writes: no 40 ms delayed-ACK stall

        def log_message(self, *args):
            pass

        def _answer(self, status: int, payload) -> None:
            data = jsonutil.dumps(payload).encode()
            if self.trickle:
                return self._trickle(status, data, **self.trickle)
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            with contextlib.suppress(BrokenPipeError, ConnectionResetError):  # the client gave up (timeout)
                self.wfile.write(data)

        def _trickle(self, status: int, data: bytes, every: float, part: str, seconds: float) -> None:
            """A slow wallet: no single read of the caller ever waits `every` long, yet the
            answer takes up to `seconds` (unless the caller hangs up first)."""
            self.close_connection = True
            ends = time.monotonic() + seconds
            body = b" " * int(seconds / every + 1) + data  # JSON allows leading whitespace
            head = (f"HTTP/1.1 {status} Trickle\r\nContent-Type: application/json\r\n"
                    f"Content-Length: {len(body)}\r\nConnection: close\r\n").encode()
            slow = b"X-Trickle: " + b"a" * len(body) if part == "headers" else body
            sent = 0
            with contextlib.suppress(OSError):  # the caller hung up
                self.wfile.write(head if part == "headers" else head + b"\r\n")
                while sent < len(slow) and time.monotonic() < ends and not state.stopped.wait(every):
                    self.wfile.write(slow[sent:sent + 1])
                    sent += 1
                    with state.lock:
                        state.trickled += 1
                self.wfile.write(b"\r\n\r\n" + body if part == "headers" else body[sent:])
                return
            with state.lock:
                state.dropped += 1

        def _handle(self, method: str) -> None:
            self.trickle = None
            length = int(self.headers.get("Content-Length") or 0)
            raw = self.rfile.read(length) if length else b""
            url = urlsplit(self.path)
            if url.path.startswith("/_control/"):
                return self._control(method, url.path, raw)
            try:
                fields = jsonutil.loads(raw) if raw else {}
            except (jsonutil.JSONDecodeError, jsonutil.NonFiniteNumber):
                fields = {}
            fields = fields if isinstance(fields, dict) else {}
            with state.lock:
                state.requests.append(Recorded(method, url.path, {k.lower(): v for k, v in self.headers.items()}, raw))
                failure = next((f for f in state.failures if f["path"] == url.path and f["times"] > 0
                                and all(fields.get(k) == v for k, v in f.get("match", {}).items())), None)
                if failure:
                    failure["times"] -= 1
                    if failure.get("trickle"):
                        self.trickle = {"every": failure["trickle"], "part": failure.get("trickle_part", "headers"),
                                        "seconds": failure.get("trickle_for", 60)}
                gate = state.holds.get(url.path)
            if gate is not None:
                gate.wait(timeout=120)  # held until the test (or /_control/release) lets it go
            if failure:
                time.sleep(failure.get("delay", 0))
                if failure.get("status"):
                    answer = failure.get("body")  # a whole body instead (e.g. a 201 carrying an error)
                    return self._answer(failure["status"], answer if answer is not None else {
                        "code": failure.get("code", "FAILURE"), "message": "injected failure"})
            expected = hmac.new(state.secret.encode(), raw, hashlib.sha256).hexdigest()
            if not hmac.compare_digest(self.headers.get("X-Server-Authorization", ""), expected):
                return self._answer(401, {"code": "INVALID_SIGNATURE", "message": "X-Server-Authorization mismatch"})
            try:
                body = jsonutil.loads(raw) if raw else {}
                with state.lock:  # applied under the lock, answered outside it (answers may trickle)
                    if method == "POST" and url.path.endswith("/authenticate"):
                        answer = 200, wallet.authenticate(body)
                    elif method == "GET" and url.path.endswith("/balance"):
                        answer = 200, wallet.balance(parse_qs(url.query).get("player_id", [""])[0])
                    elif method == "POST" and url.path.endswith("/transaction"):
                        answer = wallet.transaction(body)
                    elif method == "DELETE" and url.path.endswith("/cancel"):
                        answer = 200, wallet.cancel(body)
                    else:
                        answer = 404, {"code": "NOT_FOUND", "message": url.path}
                return self._answer(*answer)
            except WalletError as error:
                return self._answer(error.status, {"code": error.code, "message": error.message})
            except (jsonutil.JSONDecodeError, jsonutil.NonFiniteNumber, AttributeError):
                return self._answer(400, {"code": "INVALID_STRUCTURE", "message": "Body is not a JSON object"})

        def _control(self, method: str, path: str, raw: bytes) -> None:
            body = jsonutil.loads(raw) if raw else {}
            with state.lock:
                if path == "/_control/fail" and method == "POST":
                    state.failures.append({"path": body["path"], "times": int(body.get("times", 1)),
                                           "status": body.get("status"), "code": body.get("code", "FAILURE"),
                                           "delay": float(body.get("delay", 0)), "match": body.get("match", {}),
                                           "body": body.get("body"), "trickle": body.get("trickle"),
                                           "trickle_part": body.get("trickle_part", "headers"),
                                           "trickle_for": float(body.get("trickle_for", 60))})
                    return self._answer(200, {"ok": True})
                if path in ("/_control/hold", "/_control/release") and method == "POST":
                    state.holds.setdefault(body["path"], threading.Event())
                    if path.endswith("release"):
                        state.holds.pop(body["path"]).set()
                    return self._answer(200, {"ok": True})
                if path == "/_control/players" and method == "POST":
                    state.add_player(body["player_id"], body["token"], body.get("balance", "1000"),
                                     body.get("currency", "EUR"), body.get("country", "MT"),
                                     self_excluded=bool(body.get("self_excluded")),
                                     cool_off_until=body.get("cool_off_until"))
                    return self._answer(200, {"ok": True})
                if path == "/_control/requests":
                    return self._answer(200, [{"method": r.method, "path": r.path, "body": r.json}
                                              for r in state.requests])
                if path == "/_control/state":
                    return self._answer(200, {
                        "players": {p.player_id: {"balance": str(p.balance), "currency": p.currency}
                                    for p in state.players.values()},
                        "transactions": {k: {"status": v["status"], "kind": v["kind"]}
                                         for k, v in state.transactions.items()},
                    })
                if path == "/_control/reset" and method == "POST":
                    state.transactions.clear()
                    state.failures.clear()
                    state.requests.clear()
                    return self._answer(200, {"ok": True})
            return self._answer(404, {"code": "NOT_FOUND", "message": path})

        def do_GET(self):  # noqa: N802
            self._handle("GET")

        def do_POST(self):  # noqa: N802
            self._handle("POST")

        def do_DELETE(self):  # noqa: N802
            self._handle("DELETE")

    return Handler


class WalletServer:
    """The reference wallet on a port, in a background thread."""

    def __init__(self, *, secret: str, host: str = "127.0.0.1", port: int = 0,
                 auto_create_balance: Decimal | None = None) -> None:
        self.state = WalletState(secret=secret, auto_create_balance=auto_create_balance)
        self.server = ThreadingHTTPServer((host, port), make_handler(self.state))
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, name="reference-wallet", daemon=True)

    @property
    def url(self) -> str:
        host, port = self.server.server_address[:2]
        return f"http://{host}:{port}"

    def start(self) -> "WalletServer":
        self.thread.start()
        return self

    def stop(self) -> None:
        self.state.stopped.set()
        self.server.shutdown()
        self.server.server_close()

    def __enter__(self) -> "WalletServer":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    # conveniences for tests and demos
    def fail(self, path: str, *, times: int = 1, status: int | None = 500, code: str = "FAILURE",
             delay: float = 0, match: dict | None = None, body=None, trickle: float | None = None,
             trickle_part: str = "headers", trickle_for: float = 60) -> None:
        """The next `times` calls to `path` (whose body fields equal `match`) fail with `status`
        after `delay` seconds; status None only delays (a timeout, applied late); `body`
        replaces the error body answered. `trickle` (with status None): the call is applied,
        but its answer's headers (or body) come one byte every `trickle` seconds for up to
        `trickle_for` seconds."""
        with self.state.lock:
            self.state.failures.append({"path": path, "times": times, "status": status, "code": code, "delay": delay,
                                        "match": match or {}, "body": body, "trickle": trickle,
                                        "trickle_part": trickle_part, "trickle_for": trickle_for})

    def hold(self, path: str) -> threading.Event:
        """Calls to `path` wait (recorded, unanswered) until `release(path)`."""
        return self.state.hold(path)

    def release(self, path: str) -> None:
        self.state.release(path)

    def balance(self, player_id: str) -> Decimal:
        return self.state.players[player_id].balance

    def calls(self, path: str) -> list[Recorded]:
        return [r for r in self.state.requests if r.path == path]
