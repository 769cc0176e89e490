"""Live events across processes (Celery worker, Redis channel layer) and in embedded mode."""

from decimal import Decimal as D

import pytest
import requests

from portal import jsonutil
from portal.auth import player_token_issue, service_authenticate
from tests import factories
from tests.asgi import AsgiServer
from tests.receiver import Receiver, with_callback
from tests.worker import Worker, purge_broker

pytestmark = pytest.mark.django_db(transaction=True)

SUBSCRIBE_ALL = {"SubscribeRequest": {"events": [{"source": "thrillpots", "event_type": "*"}]}}


@pytest.fixture
def certain(currencies, operator, brand1, brand2):
    """An instance whose pot always hits: every contribution is a win."""
    return factories.make_instance(operator=operator, name="Certain", contribution_value=D("0.5"),
                                   pots=[factories.hit_rate_pot("jackpot", share="1", seed="10", cost="0.01",
                                                                magic=1)])


@pytest.mark.slow
@pytest.mark.services
def test_worker_processed_contribution_reaches_sockets_through_redis(certain, brand1, gateway, contribution,
                                                                     settings, tmp_path):
    settings.CELERY_TASK_ALWAYS_EAGER = False  # tasks go to Redis; the worker runs them
    settings.WEBHOOK_ALLOWED_HOSTS = ["127.0.0.1"]
    purge_broker()
    worker = Worker(beat=True, log=tmp_path / "worker.log",
                    env={"JACKPOT_UPDATE_INTERVAL_SECONDS": "1"}).start()
    try:
        with AsgiServer() as server, Receiver() as receiver:
            token = player_token_issue(brand=brand1, player_id="watcher")
            with server.socket(f"/v1/events/thrilltech/brand1?token={token}&currency=EUR") as socket:
                socket.send(SUBSCRIBE_ALL)
                socket.recv()  # the snapshot
                body = with_callback(contribution(instance_id=str(certain.pk), player_id="lucky",
                                                  base_wager=D("2")), receiver.url)
                assert gateway.contribute(body).status_code == 200  # accepted: the worker will do it
                seen = {}
                while len(seen) < 2:  # the two may come in either order
                    message = socket.recv(timeout=60)
                    if message["msg_name"] in ("WinEvent", "JackpotUpdate"):
                        seen[message["msg_name"]] = message
                win, update = seen["WinEvent"], seen["JackpotUpdate"]
    finally:
        worker.stop()
        purge_broker()

    assert (win["data"]["player_id"], win["data"]["win_amount"]) == ("lucky", D("11"))
    assert update["data"]["pots"] == [{"id": "jackpot", "is_progressive": True, "current_value": D("10")}]
    assert "Task contributions.drain_accepted" in (tmp_path / "worker.log").read_text()  # the worker did it


def test_embedded_mode_delivers_events_over_the_in_memory_layer(certain, brand1, service_account, contribution,
                                                                 settings, embedded_runtime):
    """`make run`: no Redis, in-memory channel layer, updates from the embedded scheduler."""
    settings.JACKPOT_UPDATE_INTERVAL_SECONDS = 0.3
    service_token = service_authenticate(username="integration", password="service-pass")
    with AsgiServer() as server, server.socket(f"/v1/events/service?token={service_token}") as socket:
        socket.send(SUBSCRIBE_ALL)
        socket.recv()
        response = requests.post(f"{server.http}/jackpots/contribute",
                                 data=jsonutil.dumps(contribution(instance_id=str(certain.pk), base_wager=D("4"))),
                                 headers={"Authorization": f"Bearer {service_token}",
                                          "Content-Type": "application/json"}, timeout=10)
        assert response.status_code == 200, response.text
        seen = {}
        while len(seen) < 2:  # the two may come in either order
            message = socket.recv(timeout=15)
            if message["msg_name"] in ("WinEvent", "JackpotUpdate"):
                seen[message["msg_name"]] = message
        win, update = seen["WinEvent"], seen["JackpotUpdate"]

    assert win["data"]["win_amount"] == D("12")
    assert update["data"]["id"] == str(certain.pk)
