"""Traffic for demos and soak tests, through the public APIs only.

A `Simulation` is an operator's backend seen from outside: it authenticates as a service
account, finds the jackpots its brands reach through each source (HTTP read endpoints), opts
players in over the service WebSocket, sends bets as contributions over HTTP from a pool of
threads, listens to the events the socket pushes meanwhile, and finally asks the socket for
every player's raffle tickets. Nothing here touches the database: what it reports is what an
operator would see.
"""

import queue
import random
import secrets
import statistics
import threading
import time
from collections import Counter, defaultdict
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from decimal import Decimal
from urllib.parse import quote

import requests
from websockets.exceptions import ConnectionClosed, InvalidHandshake
from websockets.sync.client import connect

from portal import jsonutil

WAGER_STEPS = [Decimal("0.10") * n for n in range(1, 51)]  # 0.10 .. 5.00
RETRIES = 5  # a 503 ("retry") is sent again after a pause, as an operator's backend would
# Why a refusal happens in a simulation, for the summary.
REFUSAL_HINTS = {
    "OptInRequired": "players left out by --opt-in-share bet on an opt-in jackpot",
    "WalletRequired": "the brand has no wallet and does not record side bets without one (admin -> Brands)",
    "InstanceNotActive": "the jackpot was paused or ended during the run",
    "OutsideScheduleWindow": "the jackpot is closed at this hour (its schedule window)",
    "CountryNotAllowed": "--country is not allowed by the jackpot",
    "MinBaseWager": "wagers below the jackpot's minimum",
    "MaxBaseWager": "wagers above the jackpot's maximum",
}


class SimulationError(Exception):
    """The simulation cannot start (bad URL, credentials, no reachable jackpot)."""


@dataclass
class Player:
    brand_id: str  # operator:brand
    player_id: str
    country: str
    currency: str

    @property
    def token(self) -> str:
        # The reference wallet creates unknown players on first use with this session token.
        return f"token-{self.player_id}"


@dataclass
class Tally:
    players: int = 0
    routes: dict = field(default_factory=dict)  # (brand_id, source_id) -> instance id
    opt_ins: Counter = field(default_factory=Counter)  # "opted in" / error code
    sent: int = 0
    accepted: int = 0
    refused: Counter = field(default_factory=Counter)  # "CODE (Rule)" -> count
    refusal_messages: dict = field(default_factory=dict)  # "CODE (Rule)" -> the first message
    retried: Counter = field(default_factory=Counter)  # "503 CODE" -> retries (the portal said: try again)
    contributed: dict = field(default_factory=lambda: defaultdict(Decimal))  # currency -> amount
    wins: list = field(default_factory=list)  # (player_id, pot_id, amount, currency, withheld)
    tickets_awarded: int = 0
    tickets_held: int = 0
    events: Counter = field(default_factory=Counter)  # msg_name -> count pushed to the socket
    latencies_ms: list = field(default_factory=list)
    seconds: float = 0.0

    def percentile(self, p: float) -> float:
        if len(self.latencies_ms) < 2:
            return self.latencies_ms[0] if self.latencies_ms else 0.0
        return statistics.quantiles(self.latencies_ms, n=100, method="inclusive")[int(p) - 1]


class ServiceSocket:
    """The service WebSocket: one reader thread counts pushed events and hands replies over."""

    REPLY_TIMEOUT = 10.0

    def __init__(self, url: str, token: str, tally: Tally) -> None:
        ws_url = url.replace("http", "ws", 1) + f"/v1/events/service?token={quote(token)}"
        try:
            self.connection = connect(ws_url, open_timeout=10, max_size=None)
        except (OSError, InvalidHandshake, TimeoutError) as exc:
            raise SimulationError(f"The service WebSocket {ws_url.split('?')[0]} refused us: {exc}") from exc
        self.tally = tally
        self.replies: queue.Queue = queue.Queue()
        self.pending: tuple | None = None  # what the current request waits for
        self.closed = threading.Event()
        self.lock = threading.Lock()
        self.reader = threading.Thread(target=self._read, daemon=True)
        self.reader.start()

    def _read(self) -> None:
        try:
            for text in self.connection:
                try:
                    message = jsonutil.loads(text)
                    if not isinstance(message, dict):
                        continue
                    with self.lock:
                        pending = self.pending
                    if pending is not None and self._answers(message, pending):
                        self.replies.put(message)
                    elif message.get("msg_type") == "Event":
                        self.tally.events[str(message.get("msg_name"))] += 1
                except ValueError:
                    continue  # one unreadable frame is not the end of the socket
        except ConnectionClosed:
            pass
        finally:
            self.closed.set()

    @staticmethod
    def _answers(message: dict, pending: tuple) -> bool:
        request_name, player_id, instance_id = pending
        if message.get("msg_type") == "Error":
            return True  # one request at a time: an error is its answer (RATE_LIMITED names no request)
        data = message.get("data") or {}
        if request_name == "PlayerOptInRequest":
            return message.get("msg_name") == "OptInEvent" and data.get("player_id") == player_id \
                and data.get("instance_id") == instance_id
        return message.get("msg_type") == "Message" and message.get("player_id") == player_id

    def request(self, name: str, body: dict) -> dict:
        """Send one request and wait for its answer; RATE_LIMITED answers are retried after a pause."""
        while True:
            if self.closed.is_set():
                raise SimulationError("The portal closed the service WebSocket")
            while not self.replies.empty():  # a late answer to an earlier request is not this one's
                self.replies.get_nowait()
            with self.lock:
                self.pending = (name, body.get("player_id"), body.get("instance_id"))
            try:
                self.connection.send(jsonutil.dumps({name: body}))
                reply = self.replies.get(timeout=self.REPLY_TIMEOUT)
            except ConnectionClosed as exc:
                raise SimulationError("The portal closed the service WebSocket") from exc
            except queue.Empty:
                reply = {"msg_type": "Error", "data": {"code": "NO_REPLY", "message": f"{name}: no answer"}}
            finally:
                with self.lock:
                    self.pending = None
            if reply.get("msg_type") == "Error" and (reply.get("data") or {}).get("code") == "RATE_LIMITED":
                time.sleep(0.25)
                continue
            return reply

    def subscribe(self) -> None:
        self.connection.send(jsonutil.dumps({"SubscribeRequest": {"events": [{"source": "thrillpots",
                                                                               "event_type": "*"}]}}))

    def close(self) -> None:
        self.connection.close()
        self.reader.join(timeout=5)


class Simulation:
    def __init__(self, *, url: str, username: str, password: str, brands: list[str], players: int,
                 contributions: int, concurrency: int = 8, opt_in_share: float = 1.0, sources: list[str] = (),
                 currency: str = "EUR", country: str = "MT", seed: int | None = None, progress=None) -> None:
        self.url = url.rstrip("/")
        self.username, self.password = username, password
        self.brands = brands
        self.player_count, self.contributions, self.concurrency = players, contributions, concurrency
        self.opt_in_share = opt_in_share
        self.source_ids = list(sources)
        self.currency, self.country = currency, country
        self.random = random.Random(seed)
        self.run_id = secrets.token_hex(4)
        self.progress = progress or (lambda stage, total: _Silent())
        self.tally = Tally()
        self.warnings: list[str] = []
        self.local = threading.local()
        self.tally_lock = threading.Lock()
        self.token = ""

    # --- HTTP -----------------------------------------------------------------------------

    def session(self) -> requests.Session:
        session = getattr(self.local, "session", None)
        if session is None:
            session = self.local.session = requests.Session()
            session.headers["Authorization"] = f"Bearer {self.token}"
        return session

    def authenticate(self) -> None:
        try:
            response = requests.post(f"{self.url}/authenticate/service", timeout=10,
                                     data=jsonutil.dumps({"username": self.username, "password": self.password}),
                                     headers={"Content-Type": "application/json"})
        except requests.RequestException as exc:
            raise SimulationError(f"The portal at {self.url} does not answer: {exc}") from exc
        if response.status_code != 200:
            raise SimulationError(f"Service login refused ({response.status_code}): {response.text[:200]}")
        self.token = jsonutil.loads(response.content)["token"]

    def discover(self) -> None:
        """Which jackpot each brand reaches through each source (sources: the operator's, unless given)."""
        if not self.source_ids:
            response = self.session().get(f"{self.url}/v1/thrillpots/sources", timeout=10)
            if response.status_code != 200:
                raise SimulationError(f"Listing sources failed ({response.status_code}): {response.text[:200]}")
            self.source_ids = [s["source_id"] for s in jsonutil.loads(response.content)]
        for brand_id in self.brands:
            for source_id in self.source_ids:
                response = self.session().get(
                    f"{self.url}/v1/thrillpots/instances/source/{quote(source_id)}/brand/{quote(brand_id)}",
                    params={"country_code": self.country}, timeout=10)
                if response.status_code == 200:
                    self.tally.routes[(brand_id, source_id)] = jsonutil.loads(response.content)["id"]
        unreachable = [b for b in self.brands if not any(brand == b for brand, _ in self.tally.routes)]
        if len(unreachable) == len(self.brands):
            raise SimulationError(f"No jackpot is reachable from {', '.join(self.source_ids) or 'any source'} "
                                  f"for {', '.join(self.brands)}.")
        if unreachable:  # their players would have nothing to bet on
            self.warnings.append(f"no jackpot reachable for {', '.join(unreachable)}: no players there")
            self.brands = [b for b in self.brands if b not in unreachable]

    def contribute(self, number: int, player: Player, source_id: str, wager: Decimal) -> None:
        body = {
            "token": player.token, "brand_id": player.brand_id, "player_id": player.player_id,
            "player_country": player.country, "source_id": source_id,
            "gameround_id": f"sim-{self.run_id}-{number}", "currency": player.currency, "base_wager": wager,
        }
        for attempt in range(RETRIES + 1):
            started = time.perf_counter()
            try:
                response = self.session().post(f"{self.url}/jackpots/contribute", data=jsonutil.dumps(body),
                                               headers={"Content-Type": "application/json"}, timeout=30)
            except requests.RequestException:
                with self.tally_lock:
                    self.tally.refused["NO_RESPONSE"] += 1
                return
            elapsed = (time.perf_counter() - started) * 1000
            try:
                result = jsonutil.loads(response.content) if response.content else {}
            except ValueError:  # not JSON (a proxy's error page, say): counted by its status
                result = {}
            if response.status_code != 503 or attempt == RETRIES:
                break
            with self.tally_lock:  # same gameround: a retry can never count twice (SPEC 2.8)
                self.tally.retried[f"503 {result.get('code') or 'unavailable'}"] += 1
            time.sleep(0.1 * 2 ** attempt)
        status = response.status_code
        if status == 200 and "contribution_amount" not in result:
            status = 502  # not an answer of the contribution API
        with self.tally_lock:
            self.tally.latencies_ms.append(elapsed)
            if status != 200:
                reason = refusal(status, result)
                self.tally.refused[reason] += 1
                self.tally.refusal_messages.setdefault(reason, str(result.get("message") or response.reason))
                return
            self.tally.accepted += 1
            self.tally.contributed[result["contribution_currency"]] += result["contribution_amount"]
            self.tally.tickets_awarded += result.get("tickets_awarded") or 0
            if result.get("win_pot_id"):
                self.tally.wins.append((player.player_id, result["win_pot_id"], result["win_amount"],
                                        result["contribution_currency"], result["win_withheld"]))

    # --- the run --------------------------------------------------------------------------

    def make_players(self) -> list[Player]:
        return [Player(self.brands[n % len(self.brands)], f"sim-{self.run_id}-{n:05d}", self.country, self.currency)
                for n in range(self.player_count)]

    def opt_in(self, socket: ServiceSocket, players: list[Player]) -> None:
        chosen = players[: round(len(players) * self.opt_in_share)]
        work = [(p, instance) for p in chosen for (brand_id, _), instance in sorted(self.tally.routes.items())
                if brand_id == p.brand_id]
        work = list(dict.fromkeys((p.player_id, p.brand_id, instance) for p, instance in work))
        with self.progress("opt-ins", len(work)) as bar:
            for player_id, brand_id, instance_id in work:
                reply = socket.request("PlayerOptInRequest", {
                    "instance_id": instance_id, "player_id": player_id, "brand_id": brand_id,
                    "player_country": self.country, "opt_in": True})
                if reply.get("msg_type") == "Error":
                    self.tally.opt_ins[reply["data"]["code"]] += 1
                else:
                    self.tally.opt_ins["opted in" if reply["data"].get("opted_in") else "not opted in"] += 1
                bar.update(1)

    def bet(self, players: list[Player]) -> None:
        by_brand = defaultdict(list)
        for brand_id, source_id in self.tally.routes:
            by_brand[brand_id].append(source_id)
        plan = []
        for number in range(self.contributions):
            player = self.random.choice(players)
            plan.append((number, player, self.random.choice(sorted(by_brand[player.brand_id])),
                         self.random.choice(WAGER_STEPS)))
        with self.progress("contributions", len(plan)) as bar, ThreadPoolExecutor(self.concurrency) as pool:
            for _ in pool.map(lambda job: self.contribute(*job), plan):
                bar.update(1)
        self.tally.sent = len(plan)

    def count_tickets(self, socket: ServiceSocket, players: list[Player]) -> None:
        with self.progress("raffle tickets", len(players)) as bar:
            for player in players:
                reply = socket.request("PlayerRaffleTicketsRequest", {"player_id": player.player_id,
                                                                      "brand_id": player.brand_id})
                if reply.get("msg_type") != "Error":
                    self.tally.tickets_held += sum(e["ticket_count"] for e in reply["data"]["instance_tickets"])
                bar.update(1)

    def run(self, settle_seconds: float = 2.0) -> Tally:
        self.authenticate()
        self.discover()
        players = self.make_players()
        self.tally.players = len(players)
        socket = ServiceSocket(self.url, self.token, self.tally)
        try:
            socket.subscribe()
            time.sleep(0.2)  # the subscription is in place before the first change
            self.opt_in(socket, players)
            started = time.perf_counter()
            self.bet(players)
            self.tally.seconds = time.perf_counter() - started
            time.sleep(settle_seconds)  # the last coalesced JackpotUpdate and WinEvents arrive
            self.count_tickets(socket, players)
        finally:
            socket.close()
        return self.tally


def refusal_lines(tally: Tally) -> list[str]:
    """One line per reason a contribution was refused: how many, the code and rule, why."""
    lines = []
    for reason, count in tally.refused.most_common():
        rule = reason.partition("(")[2].rstrip(")")
        why = REFUSAL_HINTS.get(rule) or tally.refusal_messages.get(reason, "")
        lines.append(f"refused           {count} {reason}" + (f": {why}" if why else ""))
    return lines


def refusal(status: int, body: dict) -> str:
    """The error code, with the rule that refused when the message names one ("OptInRequired: ...")."""
    code = body.get("code") or str(status)
    rule, sep, _ = str(body.get("message", "")).partition(":")
    return f"{code} ({rule})" if sep and rule.isalnum() else code


class _Silent:
    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False

    def update(self, n: int) -> None:
        pass


def summary_lines(tally: Tally) -> list[str]:
    """What an operator wants to know after a run, one line each."""
    rate = tally.sent / tally.seconds if tally.seconds else 0.0
    return [
        f"players           {tally.players} ({sum(tally.opt_ins.values())} opt-in requests: "
        f"{', '.join(f'{n} {k}' for k, n in sorted(tally.opt_ins.items())) or 'none'})",
        f"routes            {len(tally.routes)} (brand, source) pairs reach a jackpot",
        f"contributions     {tally.sent} sent in {tally.seconds:.1f} s ({rate:.0f}/s): {tally.accepted} accepted, "
        f"{sum(tally.refused.values())} refused"
        + (f" ({', '.join(f'{n} {k}' for k, n in tally.refused.most_common())})" if tally.refused else "")
        + (f"; {', '.join(f'{n} retried after {k}' for k, n in tally.retried.most_common())}"
           if tally.retried else ""),
        *refusal_lines(tally),
        f"latency           p50 {tally.percentile(50):.1f} ms · p95 {tally.percentile(95):.1f} ms · "
        f"p99 {tally.percentile(99):.1f} ms",
        "contributed       " + (", ".join(f"{amount:f} {currency}" for currency, amount in
                                          sorted(tally.contributed.items())) or "nothing"),
        f"wins              {len(tally.wins)}"
        + (" (" + ", ".join(f"{player} {pot} {amount:f} {currency}{' withheld' if withheld else ''}"
                            for player, pot, amount, currency, withheld in tally.wins[:5])
           + (", ..." if len(tally.wins) > 5 else "") + ")" if tally.wins else ""),
        f"raffle tickets    {tally.tickets_awarded} awarded by contributions; {tally.tickets_held} held "
        "by these players now",
        "socket events     " + (", ".join(f"{n} {name}" for name, n in sorted(tally.events.items())) or "none"),
    ]

