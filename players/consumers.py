"""The WebSocket API (SPEC 3): player, service and staff sockets on one consumer.

Consumers authenticate in connect() (a bad token: accepted, then closed with 4401 so the
client sees the code), re-check permission on every request through the services, and
touch the database only through services and selectors. Every failure of a request is an
`Error` message; the socket stays open.
"""

import logging
import time
from urllib.parse import parse_qs

from channels.db import database_sync_to_async
from channels.generic.websocket import AsyncWebsocketConsumer
from django.conf import settings

from players import selectors, services
from players.auth import player_authenticate_async
from players.schemas import EVENT_NAMES, SubscribeRequest, parse_request
from portal import jsonutil, live, metrics
from portal.auth import PlayerPrincipal, ServicePrincipal, StaffPrincipal, service_verify
from portal.errors import DomainError

logger = logging.getLogger(__name__)

CLOSE_UNAUTHORIZED = 4401


def clock() -> float:
    """The rate limiter's clock (tests replace it to decide what is limited)."""
    return time.monotonic()


class TokenBucket:
    def __init__(self, rate: float, burst: int) -> None:
        self.rate, self.capacity = rate, burst
        self.tokens, self.updated = float(burst), clock()

    def take(self) -> bool:
        now = clock()
        self.tokens = min(self.capacity, self.tokens + (now - self.updated) * self.rate)
        self.updated = now
        if self.tokens >= 1:
            self.tokens -= 1
            return True
        return False


class EventsConsumer(AsyncWebsocketConsumer):
    principal = None

    async def authenticate(self):
        raise NotImplementedError

    def default_envelope_ids(self) -> tuple[str | None, str | None, str | None]:
        p = self.principal
        if isinstance(p, PlayerPrincipal):
            return p.operator_id, p.brand_code, p.player_id
        if isinstance(p, ServicePrincipal):
            return p.operator_id, None, None
        return None, None, None

    # --- lifecycle ------------------------------------------------------------------------

    async def connect(self):
        self.subscriptions: set[str] = set()
        self.groups_joined: list[str] = []
        self.bucket = TokenBucket(settings.WS_RATE_PER_SECOND, settings.WS_RATE_BURST)
        try:
            self.principal = await self.authenticate()
        except Exception:  # noqa: BLE001 - an authentication backend failing is a refusal, not a crash
            logger.exception("socket authentication failed")
            self.principal = None
        await self.accept()
        if self.principal is None:
            metrics.socket_refused(self)
            await self.close(code=CLOSE_UNAUTHORIZED)
            return
        metrics.socket_opened(self)
        self.groups_joined = await database_sync_to_async(selectors.socket_groups)(self.principal)
        for group in self.groups_joined:
            await self.channel_layer.group_add(group, self.channel_name)

    async def disconnect(self, code):
        metrics.socket_closed(self)
        for group in self.groups_joined:
            await self.channel_layer.group_discard(group, self.channel_name)

    # --- requests -------------------------------------------------------------------------

    async def receive(self, text_data=None, bytes_data=None):
        name = "InvalidRequest"
        try:
            if not self.bucket.take():
                raise DomainError("RATE_LIMITED", f"At most {settings.WS_RATE_PER_SECOND:g} requests per second")
            if text_data is None:
                raise DomainError("INVALID_STRUCTURE", "Send requests as JSON text frames")
            if len(text_data) > settings.WS_MAX_FRAME_CHARS:
                raise DomainError("INVALID_STRUCTURE", f"Frame larger than {settings.WS_MAX_FRAME_CHARS} characters")
            try:
                message = jsonutil.loads(text_data)
            except (jsonutil.JSONDecodeError, jsonutil.NonFiniteNumber) as exc:
                raise DomainError("INVALID_STRUCTURE", f"Not valid JSON: {str(exc)[:200]}") from exc
            if not isinstance(message, dict) or len(message) != 1:
                raise DomainError("INVALID_STRUCTURE", 'Send exactly one request: {"<RequestName>": {...}}')
            ((name, body),) = message.items()
            name = str(name)[:64]
            request = parse_request(name, body)
            await self.handle(name, request)
        except DomainError as error:
            await self.send_error(name, error.code, error.message)
        except Exception:  # noqa: BLE001 - never drop the socket over one request
            logger.exception("request %s failed", name)
            await self.send_error(name, "SYSTEM_ERROR", "An unexpected error occurred")

    async def handle(self, name: str, request) -> None:
        if isinstance(request, SubscribeRequest):
            await self.subscribe(request)
        elif name == "PlayerOptInRequest":
            reply = await database_sync_to_async(services.optin_request)(
                principal=self.principal, request=request, origin=self.channel_name)
            await self.send_json(reply)
        elif name == "PlayerRaffleTicketsRequest":
            reply = await database_sync_to_async(services.tickets_request)(principal=self.principal, request=request)
            await self.send_json(reply)

    async def subscribe(self, request: SubscribeRequest) -> None:
        wanted = set()
        for item in request.events:
            if item.source != live.SOURCE:
                continue  # other sources (thrillgate, thrilldrops) have nothing to send here
            if item.event_type != "*" and item.event_type not in EVENT_NAMES:
                raise DomainError("INVALID_STRUCTURE", f"Unknown event_type {item.event_type[:64]!r}")
            wanted.add(item.event_type)
        new_jackpot_updates = (not self.subscribed("JackpotUpdate")) and ("*" in wanted or "JackpotUpdate" in wanted)
        self.subscriptions |= wanted
        if new_jackpot_updates:
            for operator_id, snapshot in await database_sync_to_async(selectors.visible_snapshots)(self.principal):
                _, brand_id, _ = self.default_envelope_ids()
                await self.send_json(live.envelope(msg_type="Event", msg_name="JackpotUpdate",
                                                   operator_id=operator_id, brand_id=brand_id, player_id=None,
                                                   data=snapshot))

    def subscribed(self, msg_name: str) -> bool:
        return "*" in self.subscriptions or msg_name in self.subscriptions

    # --- events from the channel layer ----------------------------------------------------

    async def live_event(self, message):
        if message.get("origin") == self.channel_name:
            return  # this socket caused it and already has the reply
        if self.subscribed(message["msg_name"]):
            await self.send(text_data=message["text"])

    # --- output ---------------------------------------------------------------------------

    async def send_json(self, content: dict) -> None:
        await self.send(text_data=jsonutil.dumps(content))

    async def send_error(self, msg_name: str, code: str, message: str) -> None:
        operator_id, brand_id, player_id = self.default_envelope_ids()
        await self.send_json(live.envelope(msg_type="Error", msg_name=msg_name, operator_id=operator_id,
                                           brand_id=brand_id, player_id=player_id,
                                           data={"code": code, "message": message}))


def _query(scope) -> dict[str, str]:
    raw = parse_qs(scope.get("query_string", b"").decode("utf-8", "replace"))
    return {k: v[0] for k, v in raw.items() if v}


class PlayerConsumer(EventsConsumer):
    """/v1/events/<operator_id>/<brand_id>?token=<player token>&currency=<ISO>"""

    async def authenticate(self):
        route = self.scope["url_route"]["kwargs"]
        query = _query(self.scope)
        currency = query.get("currency", "").upper()
        if len(currency) != 3 or not currency.isalpha():
            return None
        # Off Channels' single thread-sensitive thread: a slow wallet must not hold other connects.
        return await player_authenticate_async(
            operator_id=route["operator_id"], brand_code=route["brand_id"], token=query.get("token", ""),
            currency=currency)


class ServiceConsumer(EventsConsumer):
    """/v1/events/service?token=<service token>: every event of the operator."""

    async def authenticate(self):
        token = _query(self.scope).get("token", "")
        try:
            # Not on the single thread-sensitive thread: connects must not queue behind other work.
            return await database_sync_to_async(service_verify, thread_sensitive=False)(token)
        except DomainError:
            return None


class StaffConsumer(EventsConsumer):
    """/v1/events/staff: a logged-in staff user (portal session)."""

    async def authenticate(self):
        user = self.scope.get("user")
        if user is None or not user.is_authenticated or not user.is_active or not user.is_staff:
            return None
        return StaffPrincipal(user_id=user.pk, username=user.get_username())
