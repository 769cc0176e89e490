"""The AsyncAPI 3.0 document of the WebSocket API (SPEC 3, seed 000).

Three channels (the player, service and staff sockets), every client request and every
server message with its JSON schema (draft 7, as AsyncAPI 3.0 asks). Served as
`/asyncapi.json` (players/api.py) and as a readable page, `/docs/websockets/`
(players/views.py). The test suite checks every message a socket sends against it
(tests/asyncapi_contract.py): a message or field sent but not written here fails the suite.
"""

import copy
import json
from functools import cache

from players.schemas import EVENT_NAMES, REQUESTS
from portal.validation import BRAND_RE, COUNTRY_RE
from sources.models import JackpotInstance

VERSION = "3.0.0"
SOURCE = "thrillpots"

CLIENT_REQUESTS = ["SubscribeRequest", "PlayerOptInRequest", "PlayerRaffleTicketsRequest"]
EVENTS = ["JackpotUpdate", "WinEvent", "RaffleWinEvent", "OptInEvent"]
REPLIES = ["PlayerRaffleTicketResponse", "PlayerRaffleTicketListResponse"]
SERVER_MESSAGES = [*EVENTS, *REPLIES, "Error"]
# Every code an Error message may carry (SPEC 3, and what the services can refuse with).
ERROR_CODES = {
    "INVALID_STRUCTURE": "not JSON, not one request object, a missing or mistyped field, a frame too large",
    "UNKNOWN_REQUEST": "the request name is not one of the requests below",
    "INSTANCE_NOT_FOUND": "no such instance of the operator (or, for tickets, not a raffle)",
    "FORBIDDEN": "the socket may not act for this player or brand (or the staff user lacks the permission)",
    "UNSUPPORTED_BRAND": "the brand is unknown or disabled",
    "CONTRIBUTION_VALUE_OUT_OF_RANGE": "contribution_value outside the instance's limits for the currency",
    "INSTANCE_NOT_ACTIVE": "opt-in to an instance that is not Active (opt-out always works)",
    "CURRENCY_MULTIPLIERS_NOT_FOUND": "no multiplier for the player's currency",
    "RATE_LIMITED": "more requests per second than the socket may send",
    "OPTIN_ERROR": "the opt-in record could not be updated",
    "SYSTEM_ERROR": "anything else unexpected",
}

assert set(CLIENT_REQUESTS) == set(REQUESTS), "every request players.schemas accepts is documented"
assert set(EVENTS) == EVENT_NAMES, "every event a socket can subscribe to is documented"


def ref(name: str) -> dict:
    return {"$ref": f"#/components/schemas/{name}"}


def nullable(schema: dict) -> dict:
    if "$ref" in schema:
        return {"oneOf": [schema, {"type": "null"}]}
    kind = schema["type"]
    return {**schema, "type": [*(kind if isinstance(kind, list) else [kind]), "null"]}


def obj(properties: dict, *, required: list[str] | None = None, closed: bool = True, **extra) -> dict:
    """An object schema; every property required unless said otherwise; `closed` refuses
    fields not written here (what the server sends is exactly this)."""
    return {"type": "object", "required": list(properties) if required is None else required,
            "properties": properties, "additionalProperties": not closed, **extra}


def text(description: str, **extra) -> dict:
    return {"type": "string", "description": description, **extra}


AMOUNT = "a JSON number, exact (never rounded through a float)"
EPOCH_MS = "epoch milliseconds"


def epoch(description: str, *, null: bool = False) -> dict:
    schema = {"type": "integer", "description": f"{description} ({EPOCH_MS})"}
    return nullable(schema) if null else schema


def amount(description: str) -> dict:
    return {"type": "number", "description": f"{description}; {AMOUNT}"}


BRAND_KEY = {"type": "string", "pattern": BRAND_RE.pattern, "description": "the brand as operator:brand",
             "examples": ["thrilltech:brand1"]}
ID = {"type": "string", "minLength": 1, "maxLength": 128}

# --- schemas ----------------------------------------------------------------------------------

SCHEMAS: dict[str, dict] = {
    # Client requests (the body inside {"<RequestName>": {...}}). Unknown fields are ignored.
    "EventFilter": obj({
        "source": text("the event source; only thrillpots has events here, others are accepted and ignored",
                       minLength=1, maxLength=64),
        "event_type": text('"*" for every event, or one event name', minLength=1, maxLength=64),
    }, closed=False, **{
        "if": {"properties": {"source": {"const": SOURCE}}},
        "then": {"properties": {"event_type": {"enum": ["*", *EVENTS]}}},
    }),
    "SubscribeRequestBody": obj({
        "events": {"type": "array", "maxItems": 20, "items": ref("EventFilter"),
                   "description": "what to receive; no reply (JackpotUpdate snapshots follow when subscribing to them)"},
    }, closed=False),
    "PlayerOptInRequestBody": obj({
        "instance_id": {**ID, "description": "the jackpot instance (UUID)"},
        "player_id": {**ID, "description": "the player; a player socket acts only for its own player"},
        "brand_id": BRAND_KEY,
        "player_country": nullable(text("ISO 3166 alpha-2 (UK is read as GB)", pattern=COUNTRY_RE.pattern)),
        "opt_in": {"type": "boolean", "description": "true to opt in, false to opt out"},
        "contribution_value": nullable({
            "type": "number", "exclusiveMinimum": 0,
            "description": "the player's chosen contribution per bet, in the socket's currency, within the "
                           "instance's limits and at most the currency's minor unit; absent: the instance's default"}),
    }, required=["instance_id", "player_id", "brand_id", "opt_in"], closed=False),
    "PlayerRaffleTicketsRequestBody": obj({
        "player_id": {**ID, "description": "the player"},
        "brand_id": BRAND_KEY,
        "instance_id": nullable({**ID, "description": "one raffle; absent: every active raffle where the "
                                                      "player holds tickets"}),
    }, required=["player_id", "brand_id"], closed=False),

    # Server message data.
    "Pot": obj({
        "id": text("the pot's id (minor, major, mega...)"),
        "is_progressive": {"type": "boolean"},
        "current_value": amount("the pot's value in the instance currency"),
        "drop_commitment": text("must-drop pots: SHA-256 of \"value:salt\" of the hidden drop point, revealed "
                                "with the win (/verify/<win id>/)", pattern="^[0-9a-f]{64}$"),
    }, required=["id", "is_progressive", "current_value"]),
    "JackpotUpdateData": obj({
        "id": text("the instance id (UUID)", format="uuid"),
        "name": text("the jackpot's name"),
        "status": {"enum": list(JackpotInstance.State.values)},
        "jackpot_type": {"enum": list(JackpotInstance.Type.values)},
        "currency": text("the instance currency, in which pot values are", pattern="^[A-Z]{3}$"),
        "allowed_brands": {"type": "array", "items": BRAND_KEY, "description": "empty: every brand of the operator"},
        "allowed_sources": {"type": "array", "items": {"type": "string"},
                            "description": "the sources mapped to the instance, best priority first"},
        "pots": {"type": "array", "items": ref("Pot")},
        "timestamp_start": epoch("when the instance starts", null=True),
        "timestamp_end": epoch("when the instance ends", null=True),
        "last_updated": epoch("the last change of the instance or its pots"),
    }),
    "WinEventData": obj({
        "brand_id": text("the winner's brand (bare code)"),
        "player_id": text("the winner"),
        "source_id": nullable(text("the source contributed through; null for a contribution by instance id")),
        "instance_id": text("the instance (UUID)", format="uuid"),
        "jackpot_name": text("the jackpot's name"),
        "timestamp": epoch("when the winning contribution was processed"),
        "win_pot_id": text("the pot won"),
        "win_amount": amount("what the player is paid, in `currency`, rounded down to its minor unit"),
        "currency": text("the player's currency", pattern="^[A-Z]{3}$"),
        "win_withheld": {"type": "boolean", "description": "true: above the withhold limit, waiting for staff approval"},
        "seed": amount("the pot's value after it was reseeded"),
        "metadata": {"description": "the winning contribution's metadata, as sent (any JSON value), or null"},
    }),
    "RaffleWinner": obj({
        "player_id": text("the winner"),
        "brand_id": text("the winner's brand (bare code)"),
        "currency": text("the currency paid in", pattern="^[A-Z]{3}$"),
        "win_amount": amount("the prize paid, rounded down to the currency's minor unit"),
    }),
    "RaffleWinEventData": obj({
        "instance_id": text("the raffle (UUID)", format="uuid"),
        "jackpot_name": text("the raffle's name"),
        "jackpot_currency": text("the raffle's currency", pattern="^[A-Z]{3}$"),
        "timestamp": epoch("when the draw was made"),
        "winners": {"type": "array", "items": ref("RaffleWinner"),
                    "description": "one per prize pot, biggest first (brand-scoped staff see their brand's only)"},
        "win_withheld": {"type": "boolean", "description": "true if any prize waits for staff approval"},
    }),
    "OptInEventData": obj({
        "instance_id": text("the instance (UUID)", format="uuid"),
        "player_id": text("the player"),
        "ext_player_id": text("the operator's id of the player (the same as player_id)"),
        "player_brand_id": text("the player's brand (bare code)"),
        "preferred_contribution_value": nullable(amount("the value the player chose; null: the instance's default")),
        "contribution_count": {"type": "integer", "minimum": 0, "description": "contributions made while opted in"},
        "contribution_value": nullable(amount("what the player's next contribution is, in the player's currency "
                                              "(Fixed instances; null for percentage instances)")),
        "opted_in": {"type": "boolean"},
        "last_updated": epoch("when the opt-in last changed"),
    }),
    "RaffleTickets": obj({
        "instance_id": text("the raffle (UUID)"),
        "ticket_count": {"type": "integer", "minimum": 0, "description": "tickets held in the current period"},
        "timestamp_start": epoch("the current period's start", null=True),
        "timestamp_end": epoch("the current period's end (the draw)", null=True),
    }),
    "RaffleTicketList": obj({
        "instance_tickets": {"type": "array", "items": ref("RaffleTickets"),
                             "description": "active raffles where the player holds tickets; empty if none"},
    }),
    "ErrorData": obj({
        "code": {"enum": list(ERROR_CODES), "description": "; ".join(f"{k}: {v}" for k, v in ERROR_CODES.items())},
        "message": text("what was wrong, in words"),
    }),
}

NULLABLE_ID = {"type": ["string", "null"]}


def envelope(msg_type: str, msg_name: str | None, data: str, *, operator: dict, brand: dict, player: dict) -> dict:
    """A server message (SPEC 3): the envelope around `data`."""
    return obj({
        "msg_type": {"const": msg_type, "description": "Event (pushed), Message (a reply) or Error"},
        "source": {"const": SOURCE, "description": "the product that sent it"},
        "msg_name": {"const": msg_name, "description": "the message's name"} if msg_name else text(
            "the name of the request refused (InvalidRequest when the frame named none)", maxLength=64),
        "operator_id": operator,
        "brand_id": brand,
        "player_id": player,
        "data": ref(data),
        "timestamp": epoch("when the message was made"),
    })


OPERATOR = text("the operator")
BRAND = text("the bare brand code")
PLAYER = text("the player")
NO_PLAYER = {"type": "null"}

SCHEMAS.update({
    "JackpotUpdate": envelope("Event", "JackpotUpdate", "JackpotUpdateData", operator=OPERATOR,
                              brand=nullable(text("the brand the update is addressed to; null on service and "
                                                  "operator-wide staff sockets")), player=NO_PLAYER),
    "WinEvent": envelope("Event", "WinEvent", "WinEventData", operator=OPERATOR,
                         brand=text("the winner's brand (bare code)"), player=text("the winner")),
    "RaffleWinEvent": envelope("Event", "RaffleWinEvent", "RaffleWinEventData", operator=OPERATOR,
                               brand={"type": "null"}, player=NO_PLAYER),
    "OptInEvent": envelope("Event", "OptInEvent", "OptInEventData", operator=OPERATOR, brand=BRAND, player=PLAYER),
    "PlayerRaffleTicketResponse": envelope("Message", "PlayerRaffleTicketResponse", "RaffleTickets",
                                           operator=OPERATOR, brand=BRAND, player=PLAYER),
    "PlayerRaffleTicketListResponse": envelope("Message", "PlayerRaffleTicketListResponse", "RaffleTicketList",
                                               operator=OPERATOR, brand=BRAND, player=PLAYER),
    "Error": envelope("Error", None, "ErrorData", operator=nullable(text("the socket's operator")),
                      brand=nullable(text("the player socket's brand")),
                      player=nullable(text("the player socket's player"))),
})
for _name in CLIENT_REQUESTS:
    SCHEMAS[_name] = obj({_name: ref(f"{_name}Body")}, description=f'{{"{_name}": {{...}}}}: exactly one '
                                                                   "request per frame, a JSON text frame")

# --- messages ---------------------------------------------------------------------------------

SEED_INSTANCE = "209cc142-ccb2-4e28-a763-0a031b560d74"
SEED_RAFFLE = "f0dee1ae-6231-458a-ad6d-4dc0c941e5c3"
T = 1715191298453


def server_example(msg_type, msg_name, data, *, brand="brand1", player="player_00001") -> dict:
    return {"msg_type": msg_type, "source": SOURCE, "msg_name": msg_name, "operator_id": "thrilltech",
            "brand_id": brand, "player_id": player, "data": data, "timestamp": T}


MESSAGES: dict[str, dict] = {
    "SubscribeRequest": {
        "title": "Subscribe to events",
        "summary": "Receive events: every one (\"*\") or some by name. No reply; events reach subscribers only "
                   "(a socket's replies to its own requests always arrive). Subscribing to JackpotUpdate "
                   "first sends a snapshot of every jackpot the socket may see.",
        "examples": [{"name": "everything", "payload": {
            "SubscribeRequest": {"events": [{"source": SOURCE, "event_type": "*"}]}}},
            {"name": "wins only", "payload": {
                "SubscribeRequest": {"events": [{"source": SOURCE, "event_type": "WinEvent"},
                                                {"source": SOURCE, "event_type": "RaffleWinEvent"}]}}}],
    },
    "PlayerOptInRequest": {
        "title": "Opt a player in or out",
        "summary": "Opt in with the default or a chosen contribution value (only on Active instances), or opt "
                   "out (always works). Answered with an OptInEvent, also sent to the player's other sockets "
                   "and to subscribed service and staff sockets; or an Error.",
        "examples": [
            {"name": "opt in with the default value (seed)", "payload": {"PlayerOptInRequest": {
                "instance_id": SEED_INSTANCE, "player_id": "player_id_token_00001", "brand_id": "thrilltech:brand1",
                "player_country": "MT", "opt_in": True}}},
            {"name": "opt in with 0.30 (seed)", "payload": {"PlayerOptInRequest": {
                "instance_id": SEED_INSTANCE, "player_id": "player_id_token_00001", "brand_id": "thrilltech:brand1",
                "player_country": "MT", "opt_in": True, "contribution_value": 0.3}}},
            {"name": "opt out (seed)", "payload": {"PlayerOptInRequest": {
                "instance_id": SEED_INSTANCE, "player_id": "player_id_token_00001", "brand_id": "thrilltech:brand1",
                "player_country": "MT", "opt_in": False}}},
        ],
    },
    "PlayerRaffleTicketsRequest": {
        "title": "Ask for a player's raffle tickets",
        "summary": "With instance_id: one raffle (PlayerRaffleTicketResponse). Without: every active raffle "
                   "where the player holds tickets (PlayerRaffleTicketListResponse, possibly empty).",
        "examples": [
            {"name": "one raffle (seed)", "payload": {"PlayerRaffleTicketsRequest": {
                "player_id": "player_00001", "instance_id": SEED_RAFFLE, "brand_id": "thrilltech:brand1"}}},
            {"name": "every active raffle (seed)", "payload": {"PlayerRaffleTicketsRequest": {
                "player_id": "player_00001", "brand_id": "thrilltech:brand1"}}},
        ],
    },
    "JackpotUpdate": {
        "title": "A jackpot's values",
        "summary": "A snapshot of a jackpot on subscribing, then whenever its pots or status change, coalesced "
                   "(at most one per JACKPOT_UPDATE_INTERVAL_SECONDS per instance, never one per contribution).",
        "examples": [{"name": "the seed's opt-in jackpot", "payload": server_example("Event", "JackpotUpdate", {
            "id": SEED_INSTANCE, "name": "Casino Mega Jackpot", "status": "Active", "jackpot_type": "Jackpot",
            "currency": "EUR", "allowed_brands": ["thrilltech:brand1", "thrilltech:brand2"],
            "allowed_sources": ["casino-sitewide"],
            "pots": [{"id": "minor", "is_progressive": True, "current_value": 10.02125},
                     {"id": "major", "is_progressive": True, "current_value": 100.02125},
                     {"id": "mega", "is_progressive": True, "current_value": 1000.017}],
            "timestamp_start": None, "timestamp_end": None, "last_updated": T}, player=None)}],
    },
    "WinEvent": {
        "title": "A jackpot was won",
        "summary": "Sent to the players of every brand the jackpot serves (a jackpot's wins are its news), "
                   "to service sockets and to staff who see the winner's brand. One per pot won.",
        "examples": [{"name": "a minor pot", "payload": server_example("Event", "WinEvent", {
            "brand_id": "brand1", "player_id": "player_00001", "source_id": "casino-sitewide",
            "instance_id": SEED_INSTANCE, "jackpot_name": "Casino Mega Jackpot", "timestamp": T,
            "win_pot_id": "minor", "win_amount": 12.34, "currency": "EUR", "win_withheld": False, "seed": 10,
            "metadata": None})}],
    },
    "RaffleWinEvent": {
        "title": "A raffle was drawn",
        "summary": "The winners of a raffle period, one per prize pot; to the players of every brand the "
                   "raffle serves and to service sockets (brand-scoped staff see their brand's winners only).",
        "examples": [{"name": "a weekly draw", "payload": server_example("Event", "RaffleWinEvent", {
            "instance_id": SEED_RAFFLE, "jackpot_name": "Pharaoh's Raffle", "jackpot_currency": "EUR",
            "timestamp": T, "winners": [{"player_id": "player_00001", "brand_id": "brand1", "currency": "EUR",
                                         "win_amount": 104.5}], "win_withheld": False}, brand=None, player=None)}],
    },
    "OptInEvent": {
        "title": "A player's opt-in changed",
        "summary": "The reply to PlayerOptInRequest, and an event to the player's other sockets and to "
                   "subscribed service and staff sockets, whoever made the change.",
        "examples": [{"name": "opted in with 0.30", "payload": server_example("Event", "OptInEvent", {
            "instance_id": SEED_INSTANCE, "player_id": "player_id_token_00001",
            "ext_player_id": "player_id_token_00001", "player_brand_id": "brand1",
            "preferred_contribution_value": 0.3, "contribution_count": 0, "contribution_value": 0.3,
            "opted_in": True, "last_updated": T}, player="player_id_token_00001")}],
    },
    "PlayerRaffleTicketResponse": {
        "title": "A player's tickets in one raffle",
        "summary": "The reply to PlayerRaffleTicketsRequest with an instance_id.",
        "examples": [{"name": "seed", "payload": server_example("Message", "PlayerRaffleTicketResponse", {
            "instance_id": SEED_RAFFLE, "ticket_count": 8, "timestamp_start": 134857982371,
            "timestamp_end": 14384723487})}],
    },
    "PlayerRaffleTicketListResponse": {
        "title": "A player's tickets in every active raffle",
        "summary": "The reply to PlayerRaffleTicketsRequest without an instance_id; an empty list if the "
                   "player holds no tickets.",
        "examples": [
            {"name": "seed", "payload": server_example("Message", "PlayerRaffleTicketListResponse", {
                "instance_tickets": [
                    {"instance_id": "raffle_instance_a_id", "ticket_count": 8, "timestamp_start": 134857982371,
                     "timestamp_end": 14384723487},
                    {"instance_id": "raffle_instance_b_id", "ticket_count": 3, "timestamp_start": 134857982371,
                     "timestamp_end": 14384723487}]})},
            {"name": "no tickets (seed)", "payload": server_example("Message", "PlayerRaffleTicketListResponse",
                                                                    {"instance_tickets": []},
                                                                    player="player_01010")},
        ],
    },
    "Error": {
        "title": "A request was refused",
        "summary": "msg_name is the refused request's name. The socket stays open.",
        "examples": [{"name": "a chosen value out of range", "payload": server_example("Error", "PlayerOptInRequest", {
            "code": "CONTRIBUTION_VALUE_OUT_OF_RANGE",
            "message": "contribution_value must lie between 0.10 and 5.00 EUR"})}],
    },
}

# --- channels and operations -------------------------------------------------------------------

CHANNELS = {
    "player": {
        "address": "/v1/events/{operator_id}/{brand_id}",
        "title": "Player socket",
        "description": "One player of one brand, from a casino front end (any origin). `token` is a player "
                       "session token: one the portal issued (`POST /v1/players/token` with a service token) is "
                       "checked locally; any other is checked once with the brand's wallet (`auth`). A bad token: "
                       "the socket is accepted and closed with code 4401. The socket acts only for its own "
                       "player; it receives the brand's public events and the player's own OptInEvents.",
        "parameters": {"operator_id": {"description": "the operator, as in operator:brand"},
                       "brand_id": {"description": "the bare brand code"}},
        "query": {"token": text("the player session token"),
                  "currency": text("the player's currency (ISO 4217): opt-in values are in it",
                                   pattern="^[A-Za-z]{3}$")},
    },
    "service": {
        "address": "/v1/events/service",
        "title": "Service socket",
        "description": "An operator's backend: `token` is a service token (`POST /authenticate/service`). "
                       "Receives every event of the operator and may act for any player of its brands. A bad "
                       "token: closed with code 4401.",
        "query": {"token": text("the service token")},
    },
    "staff": {
        "address": "/v1/events/staff",
        "title": "Staff socket",
        "description": "What the staff pages use: the portal session cookie authenticates it, and only trusted "
                       "origins may open it (the portal's own host, or DJANGO_CSRF_TRUSTED_ORIGINS). Acts for "
                       "players of the brands in the user's scope, with the user's permissions; every change is "
                       "written to the History of the object it changed, naming the user.",
    },
}

REPLIES_TO = {
    "PlayerOptInRequest": ["OptInEvent", "Error"],
    "PlayerRaffleTicketsRequest": ["PlayerRaffleTicketResponse", "PlayerRaffleTicketListResponse", "Error"],
}


def _channel(key: str, spec: dict) -> dict:
    channel = {"address": spec["address"], "title": spec["title"], "description": spec["description"],
               "messages": {name: {"$ref": f"#/components/messages/{name}"}
                            for name in [*CLIENT_REQUESTS, *SERVER_MESSAGES]}}
    if "parameters" in spec:
        channel["parameters"] = spec["parameters"]
    if "query" in spec:
        channel["bindings"] = {"ws": {"method": "GET", "query": obj(spec["query"], closed=False),
                                      "bindingVersion": "0.1.0"}}
    return channel


def _operations() -> dict:
    operations = {}
    for key in CHANNELS:
        channel = {"$ref": f"#/channels/{key}"}

        def messages(names, key=key):
            return [{"$ref": f"#/channels/{key}/messages/{name}"} for name in names]

        for name in CLIENT_REQUESTS:
            operation = {"action": "receive", "channel": channel, "title": f"{CHANNELS[key]['title']}: {name}",
                         "summary": MESSAGES[name]["summary"], "messages": messages([name])}
            if name in REPLIES_TO:
                operation["reply"] = {"channel": channel, "messages": messages(REPLIES_TO[name])}
            operations[f"{key}.{name}"] = operation
        operations[f"{key}.events"] = {
            "action": "send", "channel": channel, "title": f"{CHANNELS[key]['title']}: events",
            "summary": "Events for the socket's subscriptions, and an Error for any refused frame.",
            "messages": messages([*EVENTS, "Error"])}
    return operations


@cache
def _base() -> dict:
    messages = {}
    for name, spec in MESSAGES.items():
        message = {"name": name, "title": spec["title"], "summary": spec["summary"],
                   "contentType": "application/json", "payload": ref(name), "examples": spec["examples"]}
        messages[name] = message
    return {
        "asyncapi": VERSION,
        "info": {
            "title": "Jackpot portal WebSocket API",
            "version": "1.0",
            "description": (
                "Live jackpot values, wins and opt-ins over WebSockets (JSON text frames). Clients send "
                '`{"<RequestName>": {...}}`; the server sends `{"msg_type": "Event"|"Message"|"Error", '
                '"source": "thrillpots", "msg_name", "operator_id", "brand_id" (bare), "player_id" (or null), '
                '"data", "timestamp" (epoch ms)}`. Numbers are exact decimals written as JSON numbers: read '
                "money without passing through a float. Every refused request gets an Error and the socket "
                "stays open; at most WS_RATE_PER_SECOND (20) requests per second (RATE_LIMITED beyond). "
                "The HTTP API is described by /openapi.json (browsable at /docs)."),
            "externalDocs": {"description": "HTTP API (OpenAPI)", "url": "/docs"},
        },
        "defaultContentType": "application/json",
        "channels": {key: _channel(key, spec) for key, spec in CHANNELS.items()},
        "operations": _operations(),
        "components": {"schemas": SCHEMAS, "messages": messages},
    }


def document(*, host: str = "127.0.0.1:8000", secure: bool = False) -> dict:
    """The AsyncAPI document, its server being the host it was asked from."""
    doc = copy.deepcopy(_base())
    doc["info"]["externalDocs"]["url"] = f"{'https' if secure else 'http'}://{host}/docs"
    doc["servers"] = {"portal": {
        "host": host, "protocol": "wss" if secure else "ws",
        "description": "This portal's ASGI server (HTTP and WebSockets on one port)."}}
    return doc


def server_message_key(message: dict) -> str:
    """The document's message for a server message: Errors by msg_type (their msg_name is
    the refused request's), everything else by msg_name."""
    return "Error" if message.get("msg_type") == "Error" else str(message.get("msg_name"))


# --- the readable page ------------------------------------------------------------------------


def resolve(schema: dict, doc: dict) -> dict:
    while "$ref" in schema:
        schema = doc["components"]["schemas"][schema["$ref"].rsplit("/", 1)[1]]
    return schema


def describe_type(schema: dict, doc: dict) -> str:
    if "const" in schema:
        return json.dumps(schema["const"])
    if "enum" in schema:
        return " | ".join(json.dumps(v) for v in schema["enum"])
    if "oneOf" in schema:
        return " | ".join(describe_type(s, doc) for s in schema["oneOf"])
    if "$ref" in schema:
        return schema["$ref"].rsplit("/", 1)[1]
    kind = schema.get("type", "any JSON value")
    if kind == "array":
        return f"array of {describe_type(schema['items'], doc)}"
    return " | ".join(kind) if isinstance(kind, list) else kind


def field_rows(schema: dict, doc: dict, prefix: str = "") -> list[dict]:
    """Every field of a schema, flattened: (path, type, required, description)."""
    rows = []
    schema = resolve(schema, doc)
    required = set(schema.get("required", []))
    for name, field in schema.get("properties", {}).items():
        path = f"{prefix}{name}"
        target = field
        if "oneOf" in field:
            target = next((s for s in field["oneOf"] if s.get("type") != "null"), field)
        rows.append({"path": path, "type": describe_type(field, doc), "required": name in required,
                     "description": field.get("description") or resolve(target, doc).get("description", "")})
        inner = resolve(target, doc)
        if inner.get("type") == "object" or "properties" in inner:
            rows += field_rows(inner, doc, f"{path}.")
        elif inner.get("type") == "array" and "$ref" in inner.get("items", {}):
            rows += field_rows(inner["items"], doc, f"{path}[].")
    return rows


def reference(doc: dict) -> dict:
    """What the readable page lists: channels, then each message with its fields and examples."""
    channels = []
    for key, channel in doc["channels"].items():
        query = channel.get("bindings", {}).get("ws", {}).get("query", {})
        channels.append({
            "key": key, "address": channel["address"], "title": channel["title"],
            "description": channel["description"],
            "parameters": [(name, p["description"]) for name, p in channel.get("parameters", {}).items()],
            "query": field_rows(query, doc) if query else [],
        })
    messages = []
    for name, message in doc["components"]["messages"].items():
        schema = resolve(message["payload"], doc)
        body = schema["properties"][name] if name in CLIENT_REQUESTS else message["payload"]
        messages.append({
            "name": name, "title": message["title"], "summary": message["summary"],
            "direction": "client → server" if name in CLIENT_REQUESTS else "server → client",
            "replies": REPLIES_TO.get(name, []),
            "fields": field_rows(body, doc),
            "examples": [(e["name"], json.dumps(e["payload"], indent=2)) for e in message["examples"]],
        })
    return {"info": doc["info"], "server": doc["servers"]["portal"], "channels": channels, "messages": messages,
            "error_codes": ERROR_CODES}
