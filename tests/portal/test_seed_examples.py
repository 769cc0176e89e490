"""Every example of the two seed documents, read from the documents themselves and sent as
written to the demo data (`manage.py seed_demo`), is answered as the document shows
(issue 13: the demo data *is* the seeds).

HTTP examples go to the gateway with the demo service account's token; WebSocket requests go
over a real client to the real ASGI server, on the service socket and on the player's own
socket. Draws are decided (`use_randomness`) so that no pot wins by luck: every answer is
deterministic apart from trace ids and timestamps.
"""

import re
from decimal import Decimal as D
from urllib.parse import quote

import pytest
from django.core.management import call_command
from django.test import Client

from demo.world import (
    DEPOSIT_ID,
    DIRECT_ID,
    GAME_RAFFLE_ID,
    MEGA_ID,
    RAFFLE_ID,
    SERVICE,
)
from portal import jsonutil
from portal.models import Operator
from tests.asgi import AsgiServer
from tests.receiver import Receiver, verify_signature
from tests.seed import (
    CONTRIBUTIONS_DOC,
    ORIGINAL_SEEDS,
    SEEDS,
    WEBSOCKET_DOC,
    Example,
    demo_world,
    examples_of,
)

HTTP = examples_of(CONTRIBUTIONS_DOC)
SOCKET = examples_of(WEBSOCKET_DOC)
REQUESTS = [e for e in HTTP if isinstance(e.value, dict) and "brand_id" in e.value]
RESULT_TYPES, ERROR_TYPES = (next(e.types for e in HTTP if e.types and e.heading == h)
                             for h in ("Successful contribution result", "Error result"))
RESULT_EXAMPLE, ERROR_EXAMPLE = (next(e.value for e in HTTP if e.heading == h)
                                 for h in ("Contribution Result", "Error Result"))

# What the demo answers for each target of the seed's examples: (instance, amount, tickets).
ANSWERS = {
    "casino-sitewide": (MEGA_ID, "0.1", None),  # opt-in side bet, Fixed 0.10 EUR, debited at the wallet
    "deposit": (DEPOSIT_ID, "0.01", None),  # operator-funded 1% of 1 EUR
    "egyptian-games": (RAFFLE_ID, "0.005", 1),  # raffle: 0.5%, a ticket per EUR wagered
    "provider-game-code": (GAME_RAFFLE_ID, "0.01", 1),  # the game code's own source: a raffle, 1%
    DIRECT_ID: (DIRECT_ID, "0.04", None),  # by id: the must-drop jackpot, 2% of 2 EUR
}
PYTHON_TYPES = {"Number": (int, D), "String": (str,), "Object": (dict, str, int, D, list, bool),
                "Boolean": (bool,), "null": (type(None),)}


@pytest.fixture
def demo(settings):
    settings.WEBHOOK_ALLOWED_HOSTS = ["127.0.0.1"]  # our receiver stands for the seed's your.host
    with demo_world() as wallet:
        yield wallet


def service_token(client: Client) -> str:
    response = client.post("/authenticate/service", {"username": SERVICE[0], "password": SERVICE[1]},
                           content_type="application/json")
    assert response.status_code == 200, response.content
    return jsonutil.loads(response.content)["token"]


def typed_like(payload: dict, types: dict[str, set[str]]) -> None:
    """A payload has the fields of a seed structure, each of one of its types (or fixed value)."""
    for name, allowed in types.items():
        value = payload[name]
        if any(t.startswith('"') for t in allowed):
            assert f'"{value}"' in allowed, (name, value)
        else:
            assert isinstance(value, tuple(t for n in allowed for t in PYTHON_TYPES[n])), (name, value, allowed)
            assert not (isinstance(value, bool) and "Boolean" not in allowed), (name, value)


def test_every_block_of_the_seeds_is_covered_and_the_copies_are_the_originals():
    """Nothing is silently skipped: each JSON block is a request sent below, a structure or
    example its answers are checked against, or the callback fragment of a request."""
    kinds = []
    for example in HTTP:
        value = example.value
        if example.types:
            kinds.append("structure")
        elif isinstance(value, dict) and "brand_id" in value:
            kinds.append("request")
        elif isinstance(value, dict) and value.get("type") in ("data", "error"):
            kinds.append("webhook example")
        elif isinstance(value, dict) and set(value) == {"web_hook", "win_result_only"}:
            assert any(e.value.get("callback") == value for e in REQUESTS)
            kinds.append("callback")
    assert kinds.count("request") == 8 and len(kinds) == len(HTTP) == 13
    socket_kinds = [next(iter(e.value)) if len(e.value) == 1 else e.value["msg_name"] for e in SOCKET]
    assert socket_kinds == ["PlayerOptInRequest"] * 3 + [
        "PlayerRaffleTicketsRequest", "PlayerRaffleTicketResponse", "PlayerRaffleTicketsRequest",
        "PlayerRaffleTicketListResponse", "PlayerRaffleTicketListResponse"]
    if ORIGINAL_SEEDS.is_dir():
        for doc in (WEBSOCKET_DOC, CONTRIBUTIONS_DOC):
            assert (SEEDS / doc).read_bytes() == (ORIGINAL_SEEDS / doc).read_bytes(), doc


@pytest.mark.parametrize("example", [e for e in REQUESTS if "callback" not in e.value], ids=lambda e: e.id)
def test_seed_contribution_example_gets_the_result_the_seed_describes(db, demo, example: Example):
    client = Client()
    token = service_token(client)

    response = client.post("/jackpots/contribute", example.text, content_type="application/json",
                           HTTP_AUTHORIZATION=f"Bearer {token}")

    assert response.status_code == 200, response.content
    result = jsonutil.loads(response.content)
    request = example.value
    # The fields of the seed's "Successful contribution result" (but `type`, a webhook's) and the trace id.
    assert list(result) == [*list(RESULT_TYPES)[1:], "trace_id"]
    typed_like({"type": "data", **result}, RESULT_TYPES)
    instance, amount, tickets = ANSWERS[request.get("source_id") or request.get("instance_id")]
    assert (result["instance_id"], result["contribution_amount"], result["tickets_awarded"]) == (
        instance, D(amount), tickets)
    assert (result["contribution_currency"], result["gameround_id"]) == (request["currency"], request["gameround_id"])
    assert result["metadata"] == request.get("metadata")
    assert (result["win_amount"], result["win_pot_id"], result["win_withheld"]) == (0, None, False)
    if instance == MEGA_ID:  # a side bet: the player paid it at the wallet
        assert demo.balance("player_00001") == D("1000") - D(amount)
    else:
        assert demo.balance("player_00001") == D("1000")


@pytest.mark.django_db(transaction=True)
def test_seed_async_example_is_accepted_and_its_webhooks_look_like_the_seeds(demo):
    """The async example (its web_hook pointed at our receiver: the seed's `your.host` is
    the operator's), and the same with the unknown source of the seed's error example."""
    (example,) = [e for e in REQUESTS if "callback" in e.value]
    client = Client()
    token = service_token(client)
    with Receiver() as receiver:
        text = example.text.replace("https://your.host/webhook", receiver.url)
        failing = text.replace('"casino-sitewide"', f'"{ERROR_EXAMPLE["message"]}"')
        answers = [client.post("/jackpots/contribute", body, content_type="application/json",
                               HTTP_AUTHORIZATION=f"Bearer {token}") for body in (text, failing)]
        received = receiver.wait_for(2)

    assert [a.status_code for a in answers] == [200, 200]
    traces = [jsonutil.loads(a.content) for a in answers]
    assert all(list(t) == ["trace_id"] for t in traces)
    payloads = {p["type"]: p for p in (jsonutil.loads(r.body) for r in received)}
    for delivery in received:
        verify_signature(delivery, Operator.objects.get(pk="thrilltech").webhook_secret)

    data = payloads["data"]
    typed_like(data, RESULT_TYPES)
    assert list(data) == [*RESULT_TYPES, "trace_id"]
    assert data["trace_id"] == traces[0]["trace_id"]
    # The seed's example result, but for its own gameround, instance and time.
    differ = {"gameround_id", "instance_id", "timestamp"}
    assert {k: v for k, v in data.items() if k in RESULT_EXAMPLE and k not in differ} == {
        k: v for k, v in RESULT_EXAMPLE.items() if k not in differ}
    assert (data["gameround_id"], data["instance_id"]) == ("1", MEGA_ID)

    error = payloads["error"]
    typed_like(error, ERROR_TYPES)
    assert {k: error[k] for k in ERROR_EXAMPLE} == ERROR_EXAMPLE  # 404 GAME_NOT_FOUND "sitewide-casino2"
    assert (error["trace_id"], error["gameround_id"], error["metadata"]) == (traces[1]["trace_id"], "1", None)


def answer_of(socket, request: dict):
    """The reply to one request, skipping events the socket may also be sent meanwhile."""
    (name, body), = request.items()
    if name == "PlayerOptInRequest":
        return socket.recv_until(lambda m: m["msg_name"] in ("OptInEvent", "Error")
                                 and (m["msg_type"] == "Error" or m["data"]["opted_in"] == body["opt_in"]))
    return socket.recv_until(lambda m: m["msg_type"] in ("Message", "Error"))


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("kind", ["service socket", "player's own socket"])
def test_seed_websocket_examples_get_the_answers_the_seed_shows(demo, kind):
    client = Client()
    token = service_token(client)

    def player_token(player_id: str) -> str:
        response = client.post("/v1/players/token", {"brand_id": "thrilltech:brand1", "player_id": player_id},
                               content_type="application/json", HTTP_AUTHORIZATION=f"Bearer {token}")
        assert response.status_code == 200, response.content
        return quote(jsonutil.loads(response.content)["token"])

    def path(player_id: str) -> str:
        if kind == "service socket":
            return f"/v1/events/service?token={quote(token)}"
        return f"/v1/events/thrilltech/brand1?token={player_token(player_id)}&currency=EUR"

    # Each request with the answer the document shows after it (None: an OptInEvent, not
    # shown); the empty list's request is the one of its player (the document shows the answer).
    pairs = []
    for example in SOCKET:
        if "msg_type" not in example.value:
            pairs.append([example.value, example.text, None])
        elif pairs[-1][2] is None and "PlayerRaffleTicketsRequest" in pairs[-1][0]:
            pairs[-1][2] = example.value
        else:
            shown = example.value
            request = {"PlayerRaffleTicketsRequest": {"player_id": shown["player_id"],
                                                      "brand_id": f"{shown['operator_id']}:{shown['brand_id']}"}}
            pairs.append([request, jsonutil.dumps(request), shown])
    assert len(pairs) == 6

    replies = []
    with AsgiServer() as server:
        for request, text, _ in pairs:
            (body,) = request.values()
            with server.socket(path(body["player_id"])) as socket:
                socket.send(text)
                replies.append(answer_of(socket, request))

    # Opt in with the default value, with 0.30, then out: an OptInEvent each (SPEC 3).
    for (request, _, _), reply in zip(pairs[:3], replies[:3], strict=True):
        body = request["PlayerOptInRequest"]
        assert (reply["msg_type"], reply["msg_name"]) == ("Event", "OptInEvent"), reply
        assert (reply["operator_id"], reply["brand_id"], reply["player_id"]) == (
            "thrilltech", "brand1", body["player_id"])
        data = reply["data"]
        assert (data["instance_id"], data["player_id"], data["opted_in"]) == (
            body["instance_id"], body["player_id"], body["opt_in"])
    assert [r["data"]["contribution_value"] for r in replies[:2]] == [D("0.1"), D("0.3")]
    assert replies[1]["data"]["preferred_contribution_value"] == D("0.3")

    # The ticket answers: the seed's own messages, but for the times (its timestamps are not
    # even in order) and the placeholder ids of "raffle_instance_a_id"/"_b_id".
    placeholders = {"raffle_instance_a_id": RAFFLE_ID, "raffle_instance_b_id": GAME_RAFFLE_ID}
    for (_, _, shown), reply in zip(pairs[3:], replies[3:], strict=True):
        assert list(reply) == list(shown)
        assert {k: v for k, v in reply.items() if k not in ("data", "timestamp")} == {
            k: v for k, v in shown.items() if k not in ("data", "timestamp")}
        assert isinstance(reply["timestamp"], int)
        entries = reply["data"].get("instance_tickets", [reply["data"]])
        expected = shown["data"].get("instance_tickets", [shown["data"]])
        assert list(reply["data"]) == list(shown["data"])
        assert [(placeholders.get(e["instance_id"], e["instance_id"]), e["ticket_count"]) for e in expected] == [
            (e["instance_id"], e["ticket_count"]) for e in entries]
        for entry in entries:
            assert list(entry) == ["instance_id", "ticket_count", "timestamp_start", "timestamp_end"]
            assert isinstance(entry["timestamp_start"], int) and entry["timestamp_end"] > entry["timestamp_start"]
    assert replies[5]["data"] == {"instance_tickets": []} and replies[5]["player_id"] == "player_01010"


def test_seed_demo_prints_every_jackpot_and_the_webhook_secret(db, capsys):
    call_command("seed_demo")
    call_command("seed_demo")  # safe to run twice: same world, same tickets

    out = capsys.readouterr().out
    secret = Operator.objects.get(pk="thrilltech").webhook_secret
    assert out.count(secret) == 2
    jackpots = re.findall(r"^    (.+?)\s+([0-9a-f-]{36})  \(", out, flags=re.M)
    assert [pk for _, pk in jackpots[-5:]] == [MEGA_ID, DEPOSIT_ID, RAFFLE_ID, GAME_RAFFLE_ID, DIRECT_ID]
    assert len(jackpots) == 10
