"""JackpotUpdate is sent only when an instance's values or status changed since the last one
sent (issue 13 item 16), over a real socket, with Redis and in embedded mode."""

from decimal import Decimal as D

import pytest

from portal import live
from portal.auth import player_token_issue
from sources.models import Pot
from tests import factories
from tests.asgi import AsgiServer

pytestmark = pytest.mark.django_db(transaction=True)

SUBSCRIBE_ALL = {"SubscribeRequest": {"events": [{"source": "thrillpots", "event_type": "*"}]}}


@pytest.fixture(params=["redis", "embedded"])
def mode(request, settings):
    settings.JACKPOT_UPDATE_INTERVAL_SECONDS = 60  # no tick of its own during the test: we tick by hand
    if request.param == "embedded":
        request.getfixturevalue("embedded_runtime")
    return request.param


def jackpot_updates(socket, until_instance: str) -> list[dict]:
    """The JackpotUpdates read up to and including the first one of `until_instance`."""
    updates = []
    while not updates or updates[-1]["data"]["id"] != until_instance:
        message = socket.recv_until(lambda m: m["msg_name"] == "JackpotUpdate")
        updates.append(message)
    return updates


def test_a_tick_sends_nothing_for_an_instance_whose_values_did_not_move(mode, currencies, operator, brand1,
                                                                          gateway, contribution):
    # Fixed pots keep their value while played (the share goes to the seed fund): play marks
    # the instance changed, but a player sees nothing new.
    fixed = factories.make_instance(operator=operator, name="Fixed", pots=[
        factories.hit_rate_pot("fixed", share="0.5", seed="100", magic=10**9, is_progressive=False)])
    sentinel = factories.make_instance(operator=operator, name="Sentinel", pots=[
        factories.hit_rate_pot("growing", share="0.5", seed="10", magic=10**9)])
    token = player_token_issue(brand=brand1, player_id="watcher")

    with AsgiServer() as server, server.socket(f"/v1/events/thrilltech/brand1?token={token}&currency=EUR") as socket:
        socket.send(SUBSCRIBE_ALL)
        assert {socket.recv()["data"]["id"], socket.recv()["data"]["id"]} == {str(fixed.pk), str(sentinel.pk)}

        assert gateway.contribute(contribution(instance_id=str(fixed.pk))).status_code == 200
        first = socket.recv_until(lambda m: m["msg_name"] == "JackpotUpdate")  # the leading edge
        assert gateway.contribute(contribution(instance_id=str(fixed.pk))).status_code == 200  # marked dirty
        ticked = live.publish_jackpot_updates()  # the tick: nothing moved since the update above

        assert gateway.contribute(contribution(instance_id=str(sentinel.pk))).status_code == 200  # a real change
        updates = jackpot_updates(socket, until_instance=str(sentinel.pk))

    assert first["data"]["id"] == str(fixed.pk)
    assert first["data"]["pots"] == [{"id": "fixed", "is_progressive": False, "current_value": D("100")}]
    assert Pot.objects.get(pot_id="fixed").seed_fund > 0  # the two contributions were booked
    # Nothing for the fixed instance came before the sentinel's update: no duplicate was sent.
    assert [u["data"]["id"] for u in updates] == [str(sentinel.pk)]
    assert ticked == 0
    assert updates[0]["data"]["pots"][0]["current_value"] > D("10")
