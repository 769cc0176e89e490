"""The AsyncAPI document of the WebSocket API: served, linked from /docs, readable, and held
by every message the sockets send (tests/asyncapi_contract.py checks each one the suite
sees; the last test here makes every server message of the document on its own)."""

from datetime import timedelta
from decimal import Decimal as D

import jsonschema
import pytest
from django.test import Client
from django.utils import timezone

from contributions import tasks
from players import asyncapi
from players.schemas import REQUESTS
from portal import jsonutil
from portal.auth import player_token_issue, service_authenticate
from portal.roles import AUDITORS
from sources.models import JackpotInstance, Pot
from tests import factories
from tests.asgi import AsgiServer
from tests.asyncapi_contract import CONTRACT, Contract


def test_docs_link_to_the_asyncapi_document(db):
    docs = Client().get("/docs").content.decode()
    described = jsonutil.loads(Client().get("/openapi.json").content)["info"]["description"]

    assert 'href="/docs/websockets/"' in docs and 'href="/asyncapi.json"' in docs
    assert "swagger-ui-bundle.js" in docs and "cdn" not in docs.lower()  # the bundled Swagger UI
    assert "(/asyncapi.json)" in described and "(/docs/websockets/)" in described


def test_the_document_is_asyncapi_3_with_the_three_sockets(db, settings):
    settings.ALLOWED_HOSTS = ["casino-api.example"]
    response = Client().get("/asyncapi.json", HTTP_HOST="casino-api.example")
    doc = jsonutil.loads(response.content)

    assert response.status_code == 200 and response["Content-Type"] == "application/json"
    assert doc["asyncapi"] == "3.0.0"
    assert doc["servers"]["portal"] == {"host": "casino-api.example", "protocol": "ws",
                                        "description": doc["servers"]["portal"]["description"]}
    assert {c["address"] for c in doc["channels"].values()} == {
        "/v1/events/{operator_id}/{brand_id}", "/v1/events/service", "/v1/events/staff"}
    assert doc["channels"]["player"]["bindings"]["ws"]["query"]["required"] == ["token", "currency"]
    assert set(doc["components"]["messages"]) == {*REQUESTS, *asyncapi.SERVER_MESSAGES}
    # Every operation's reply names messages the channel carries.
    for operation in doc["operations"].values():
        for message in operation["messages"] + operation.get("reply", {}).get("messages", []):
            _, channel, _, name = message["$ref"].lstrip("#/").split("/")
            assert name in doc["channels"][channel]["messages"]


def test_the_readable_page_shows_every_channel_message_and_field(db):
    page = Client().get("/docs/websockets/").content.decode()

    for text in ["/v1/events/{operator_id}/{brand_id}", "/v1/events/service", "/v1/events/staff",
                 *REQUESTS, *asyncapi.SERVER_MESSAGES, "data.pots[].current_value", "preferred_contribution_value",
                 "instance_tickets[].ticket_count", "CONTRIBUTION_VALUE_OUT_OF_RANGE", 'href="/asyncapi.json"']:
        assert text in page, text


def test_request_schemas_name_every_field_the_server_reads():
    doc = asyncapi.document()
    for name, model in REQUESTS.items():
        body = doc["components"]["schemas"][f"{name}Body"]
        required = {field for field, info in model.model_fields.items() if info.is_required()}
        assert set(body["properties"]) == set(model.model_fields), name
        assert set(body["required"]) == required, name


def request_validator(doc: dict, name: str) -> jsonschema.Draft7Validator:
    """A client request's schema, its references resolved in the document's components."""
    return jsonschema.Draft7Validator({**doc["components"]["schemas"][name], "components": doc["components"]})


def test_every_example_matches_its_schema():
    doc = asyncapi.document()
    contract = Contract(doc)
    for name, message in doc["components"]["messages"].items():
        for example in message["examples"]:
            if name in REQUESTS:
                request_validator(doc, name).validate(example["payload"])
            else:
                assert contract.problems(jsonutil.dumps(example["payload"])) == (name, []), example["name"]


def test_the_seeds_requests_match_the_request_schemas():
    """Seed 000's requests, as pasted (what a client sends must be what the document says)."""
    from tests.players.test_websocket import (
        SEED_OPTIN_DEFAULT,
        SEED_OPTIN_VALUE,
        SEED_OPTOUT,
        SEED_TICKETS_ALL,
        SEED_TICKETS_ONE,
    )

    doc = asyncapi.document()
    for text in (SEED_OPTIN_DEFAULT, SEED_OPTIN_VALUE, SEED_OPTOUT, SEED_TICKETS_ONE, SEED_TICKETS_ALL):
        request = jsonutil.loads(text)
        (name,) = request
        request_validator(doc, name).validate(request)


def test_a_message_outside_the_document_is_caught():
    contract = Contract(asyncapi.document())
    good = asyncapi.MESSAGES["OptInEvent"]["examples"][0]["payload"]

    unknown = contract.problems(jsonutil.dumps({**good, "msg_name": "SurpriseEvent"}))
    extra_field = contract.problems(jsonutil.dumps({**good, "data": {**good["data"], "bonus": 1}}))
    wrong_type = contract.problems(jsonutil.dumps({**good, "data": {**good["data"], "opted_in": "yes"}}))
    unknown_code = contract.problems(jsonutil.dumps(
        {**good, "msg_type": "Error", "data": {"code": "OOPS", "message": "?"}}))

    assert unknown[0] is None and "'SurpriseEvent' is not in the AsyncAPI document" in unknown[1][0]
    assert extra_field[0] == "OptInEvent" and "'bonus' was unexpected" in extra_field[1][0]
    assert wrong_type[1] == ["OptInEvent at data/opted_in: 'yes' is not of type 'boolean'"]
    assert unknown_code[0] == "Error" and "'OOPS' is not one of" in unknown_code[1][0]


SUBSCRIBE_ALL = {"SubscribeRequest": {"events": [{"source": "thrillpots", "event_type": "*"}]}}


def named(name):
    return lambda message: message["msg_name"] == name


def subscribe(socket) -> None:
    """Subscribe to everything; its snapshots have all arrived when a later request's answer does."""
    socket.send(SUBSCRIBE_ALL)
    ask(socket, {"PlayerRaffleTicketsRequest": {"player_id": "nobody", "brand_id": "x:y"}},
        "PlayerRaffleTicketsRequest")


def ask(socket, request, answer: str) -> dict:
    """Send a request; its answer (requests are answered in order; events in between are skipped)."""
    socket.send(request)
    return socket.recv_until(named(answer))


@pytest.mark.django_db(transaction=True)
def test_every_server_message_of_the_document_is_sent_and_valid(currencies, operator, brand1, brand2,
                                                                service_account, gateway, contribution,
                                                                staff_client):
    """Drives the three sockets through every server message the document lists; the
    contract plugin validates each as it is sent (a violation fails this test)."""
    certain = factories.make_instance(
        operator=operator, name="Certain", contribution_value=D("0.5"),
        pots=[factories.hit_rate_pot("jackpot", share="1", seed="10", cost="0.01", magic=1)])
    raffle = factories.make_instance(
        operator=operator, name="Raffle", jackpot_type=JackpotInstance.Type.RAFFLE, contribution_value=D("0.01"),
        ticket_cost=D("0.5"), ticket_basis=JackpotInstance.TicketBasis.BASE_WAGER,
        pots=[{"pot_id": "prize", "tier": 1, "share": D("0.9"), "initial_seed": D("10"),
               "mechanic": Pot.Mechanic.PRIZE}])
    tasks.draw_raffles()  # opens the raffle's first period
    before = CONTRACT.seen.copy()
    auditor = staff_client("auditor", AUDITORS, everything=True)  # may read, not opt anyone in
    service_token = service_authenticate(username="integration", password="service-pass")
    player_token = player_token_issue(brand=brand1, player_id="p1")

    with AsgiServer() as server, \
            server.socket(f"/v1/events/service?token={service_token}") as service, \
            server.socket(f"/v1/events/thrilltech/brand1?token={player_token}&currency=EUR") as player, \
            server.socket("/v1/events/staff", additional_headers={
                "Cookie": f"sessionid={auditor.cookies['sessionid'].value}",
                "Origin": f"http://127.0.0.1:{server.port}"}) as staff:
        for socket in (service, player, staff):
            subscribe(socket)
        ask(player, {"PlayerOptInRequest": {"instance_id": str(certain.pk), "player_id": "p1",
                                            "brand_id": "thrilltech:brand1", "opt_in": True}}, "OptInEvent")
        service.recv_until(named("OptInEvent"))
        ask(player, {"PlayerRaffleTicketsRequest": {"player_id": "p1", "brand_id": "thrilltech:brand1"}},
            "PlayerRaffleTicketListResponse")
        ask(service, {"PlayerRaffleTicketsRequest": {"player_id": "p1", "brand_id": "thrilltech:brand1",
                                                     "instance_id": str(raffle.pk)}}, "PlayerRaffleTicketResponse")
        assert ask(service, {"PlayerBalanceRequest": {}}, "PlayerBalanceRequest")["data"]["code"] == "UNKNOWN_REQUEST"
        assert ask(staff, {"PlayerOptInRequest": {"instance_id": str(certain.pk), "player_id": "p1",
                                                  "brand_id": "thrilltech:brand1", "opt_in": False}},
                   "PlayerOptInRequest")["data"]["code"] == "FORBIDDEN"
        assert ask(player, "not json", "InvalidRequest")["data"]["code"] == "INVALID_STRUCTURE"

        assert gateway.contribute(contribution(instance_id=str(certain.pk), player_id="p1")).status_code == 200
        for socket in (service, player, staff):
            socket.recv_until(named("WinEvent"))
        assert gateway.contribute(contribution(instance_id=str(raffle.pk), player_id="p1",
                                               base_wager=D("5"))).status_code == 200
        JackpotInstance.objects.filter(pk=raffle.pk).update(raffle_period_end=timezone.now() - timedelta(seconds=1))
        assert tasks.draw_raffles() == 1
        for socket in (service, player, staff):
            socket.recv_until(named("RaffleWinEvent"))

    sent_here = {name for name, count in CONTRACT.seen.items() if count > before[name]}
    assert sent_here >= set(asyncapi.SERVER_MESSAGES), set(asyncapi.SERVER_MESSAGES) - sent_here
