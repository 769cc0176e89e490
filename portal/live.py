"""Live events: the one module that builds and sends every channel-layer payload.

Audiences are channel-layer groups:

* `brand.<op>.<brand>`   -- player sockets of a brand (public events: JackpotUpdate, and the
  WinEvent / RaffleWinEvent of every instance the brand takes part in, whoever won)
* `player.<op>.<brand>.<player>` -- one player's sockets (their OptInEvent)
* `operator.<op>`        -- service sockets and staff who see the whole operator (every event)
* `staffbrand.<op>.<brand>` -- staff scoped to single brands: JackpotUpdate of the brand's
  instances, but player data (WinEvent, raffle winners, OptInEvent) of that brand only, as
  on the staff pages

Every name carries the operator, so no socket hears another operator's events.

Sockets filter by their own subscriptions. JackpotUpdate is coalesced: the first change of
an instance in an interval is announced at once; later changes in the interval only mark it
dirty, and `publish_jackpot_updates` (the periodic table's "jackpot-updates": Celery beat, or
the embedded runtime's scheduler) sends one snapshot per dirty instance. An update whose values
and status equal the last one sent for the instance is not sent again.
"""

import hashlib
import json
import logging
import re
import threading
import time
from collections.abc import Callable, Iterable

from channels.layers import get_channel_layer
from django.conf import settings
from django.utils import timezone

from portal import jsonutil, runtime
from portal.clock import epoch_ms

logger = logging.getLogger(__name__)

SOURCE = "thrillpots"
EVENT_TYPE = "live.event"  # the consumer method that receives group messages


GROUP_PART = re.compile(r"[A-Za-z0-9_-]+")
MAX_GROUP_NAME = 99  # Channels: fewer than 100 characters of [A-Za-z0-9_.-]


def group_name(kind: str, *parts: str) -> str:
    """`kind.part.part`, readable, when every part is a plain word and the name fits; for any
    other ids (a '.', a long player id, non-ASCII) `kind..<SHA-256 of the parts>`. A readable
    name never has '..' (its parts are never empty), so two different keys never share a
    group -- cutting names short once made players with a common prefix share one."""
    parts = [str(part) for part in parts]
    name = ".".join([kind, *parts])
    if len(name) <= MAX_GROUP_NAME and all(GROUP_PART.fullmatch(part) for part in parts):
        return name
    return f"{kind}..{hashlib.sha256(json.dumps(parts).encode()).hexdigest()}"


def brand_group(operator_id: str, brand_code: str) -> str:
    return group_name("brand", operator_id, brand_code)


def player_group(operator_id: str, brand_code: str, player_id: str) -> str:
    return group_name("player", operator_id, brand_code, player_id)


def operator_group(operator_id: str) -> str:
    return group_name("operator", operator_id)


def staff_brand_group(operator_id: str, brand_code: str) -> str:
    return group_name("staffbrand", operator_id, brand_code)


def envelope(*, msg_type: str, msg_name: str, operator_id: str | None, brand_id: str | None,
             player_id: str | None, data: dict) -> dict:
    """The server message of SPEC 3 (brand_id is the bare brand)."""
    return {
        "msg_type": msg_type, "source": SOURCE, "msg_name": msg_name, "operator_id": operator_id,
        "brand_id": brand_id, "player_id": player_id, "data": data, "timestamp": epoch_ms(timezone.now()),
    }


# --- sending ------------------------------------------------------------------------------

def send(groups: list[str], message: dict) -> None:
    """Send one event to several groups, from sync code anywhere (views, tasks, workers)."""
    layer = get_channel_layer()
    if layer is None or not groups:
        return
    payload = {"type": EVENT_TYPE, **message}

    async def fan_out() -> None:
        for group in dict.fromkeys(groups):
            await layer.group_send(group, payload)

    try:
        runtime.channel_send(fan_out)
    except Exception:  # noqa: BLE001 - live events never break the business change that caused them
        logger.exception("could not publish %s", message.get("msg_name"))


def event(msg_name: str, *, operator_id: str, brand_id: str | None, player_id: str | None, data: dict,
          origin: str | None = None) -> dict:
    """A group message: the envelope, encoded once as JSON text (exact decimals survive any
    channel layer), plus who caused it (that socket already got a reply)."""
    body = envelope(msg_type="Event", msg_name=msg_name, operator_id=operator_id, brand_id=brand_id,
                    player_id=player_id, data=data)
    return {"msg_name": msg_name, "text": jsonutil.dumps(body), "origin": origin}


def audience(operator_id: str, brand_codes: list[str]) -> list[str]:
    """Everyone who may see a public event about an instance serving these brands (no player
    data: brand-scoped staff see the instances their brands take part in)."""
    groups = [operator_group(operator_id)]
    for code in brand_codes:
        groups += [brand_group(operator_id, code), staff_brand_group(operator_id, code)]
    return groups


def player_audience(operator_id: str, brand_codes: list[str]) -> list[str]:
    """Who may see an event naming players: the players of every brand the instance serves
    (a jackpot's wins are its news), services and operator-wide staff -- not brand-scoped
    staff, who get their own brand's part separately."""
    return [operator_group(operator_id), *(brand_group(operator_id, code) for code in brand_codes)]


def publish_optin(*, operator_id: str, brand_code: str, player_id: str, data: dict, origin: str | None) -> None:
    send(
        [player_group(operator_id, brand_code, player_id), operator_group(operator_id),
         staff_brand_group(operator_id, brand_code)],
        event("OptInEvent", operator_id=operator_id, brand_id=brand_code, player_id=player_id, data=data,
              origin=origin),
    )


def publish_win(*, operator_id: str, brand_codes: list[str], winner_brand: str, player_id: str, data: dict) -> None:
    """WinEvent goes to the players of every brand of the instance, not only the winner; of
    brand-scoped staff, only the winner brand's."""
    send([*player_audience(operator_id, brand_codes), staff_brand_group(operator_id, winner_brand)],
         event("WinEvent", operator_id=operator_id, brand_id=winner_brand, player_id=player_id, data=data))


def publish_raffle_win(*, operator_id: str, brand_codes: list[str], data: dict) -> None:
    """The whole draw to players and services; brand-scoped staff get it with their brand's
    winners only."""
    send(player_audience(operator_id, brand_codes),
         event("RaffleWinEvent", operator_id=operator_id, brand_id=None, player_id=None, data=data))
    for code in sorted({*brand_codes, *(w["brand_id"] for w in data["winners"])}):
        own = [w for w in data["winners"] if w["brand_id"] == code]
        send([staff_brand_group(operator_id, code)],
             event("RaffleWinEvent", operator_id=operator_id, brand_id=None, player_id=None,
                   data={**data, "winners": own}))


# --- coalesced JackpotUpdate ----------------------------------------------------------------

DIRTY_KEY = "live:dirty-instances"
_dirty_local: set[str] = set()
_dirty_lock = threading.Lock()


_recent_local: dict[str, float] = {}


def instance_changed(instance_id) -> None:
    """The pots of an instance moved (called after commit). Leading edge: if the instance was
    not announced within the interval, announce it now; otherwise mark it dirty and the next
    tick sends one update for all changes since. Cheap: one Redis SET NX (or SADD)."""
    key = str(instance_id)
    interval = settings.JACKPOT_UPDATE_INTERVAL_SECONDS
    try:
        client = runtime.redis()  # the marks are shared by every process; embedded: this one's
        if client is not None:
            first = client.set(f"live:recent:{key}", 1, nx=True, px=max(1, int(interval * 1000)))
            if not first:
                client.sadd(DIRTY_KEY, key)
        else:
            with _dirty_lock:
                now = time.monotonic()
                first = _recent_local.get(key, 0) <= now
                if first:
                    _recent_local[key] = now + interval
                else:
                    _dirty_local.add(key)
        if first:
            publish_instances([key])
    except Exception:  # noqa: BLE001
        logger.exception("could not mark instance %s changed", instance_id)


def local_marks_clear() -> None:
    """Forget this process's marks (the embedded mode's stand-in for the Redis keys above):
    a test starts from none, as from a flushed Redis."""
    with _dirty_lock:
        _recent_local.clear()
        _dirty_local.clear()
        _sent_local.clear()


def take_dirty() -> list[str]:
    client = runtime.redis()
    if client is not None:
        with client.pipeline() as pipe:
            pipe.smembers(DIRTY_KEY)
            pipe.delete(DIRTY_KEY)
            members, _ = pipe.execute()
        return sorted(m.decode() for m in members)
    with _dirty_lock:
        taken = sorted(_dirty_local)
        _dirty_local.clear()
    return taken


def publish_jackpot_updates() -> int:
    """Send one JackpotUpdate per instance changed since the last run. Returns how many."""
    ids = take_dirty()
    return publish_instances(ids) if ids else 0


SENT_TTL_SECONDS = 24 * 3600  # an instance quiet for a day may be announced once more
_sent_local: dict[str, str] = {}


def _news(instance_id: str, snapshot: dict) -> bool:
    """Whether a snapshot differs from the last JackpotUpdate sent for its instance: values
    or status, not `last_updated` alone (a fixed pot's value stays put while it is played).
    Marked dirty is not enough: the leading-edge update may already have carried the change.
    The last digest is swapped atomically (in Redis across processes): one sender per change."""
    news = {key: value for key, value in snapshot.items() if key != "last_updated"}
    digest = hashlib.sha256(jsonutil.dumps(news).encode()).hexdigest()
    client = runtime.redis()
    if client is not None:
        previous = client.set(f"live:sent:{instance_id}", digest, ex=SENT_TTL_SECONDS, get=True)
        return previous is None or previous.decode() != digest
    with _dirty_lock:
        previous, _sent_local[instance_id] = _sent_local.get(instance_id), digest
    return previous != digest


# (operator, brand codes, snapshot) of each instance id given: what a JackpotUpdate needs.
Audiences = Callable[[list[str]], Iterable[tuple[str, list[str], dict]]]
_audiences: Audiences | None = None


def audiences_register(reader: Audiences) -> None:
    """The catalogue says how to read instances' snapshots (sources/apps.py, at start): this
    module imports no app."""
    global _audiences
    _audiences = reader


def publish_instances(ids: list[str]) -> int:
    """Send the JackpotUpdate of each instance whose snapshot is news. Returns how many."""
    if _audiences is None:
        raise RuntimeError("no snapshot reader registered: is the sources app installed?")
    sent = 0
    for operator_id, brand_codes, snapshot in _audiences(ids):
        if not _news(snapshot["id"], snapshot):
            continue
        sent += 1
        for group in audience(operator_id, []):
            send([group], event("JackpotUpdate", operator_id=operator_id, brand_id=None, player_id=None,
                                data=snapshot))
        for code in brand_codes:
            send([brand_group(operator_id, code), staff_brand_group(operator_id, code)],
                 event("JackpotUpdate", operator_id=operator_id, brand_id=code, player_id=None, data=snapshot))
    return sent
