"""Async contributions on a real Celery worker process with Redis as the broker."""

from decimal import Decimal as D

import pytest
from django.test import Client

from contributions import tasks
from contributions.models import Contribution, PotIncrement, WebhookDelivery
from contributions.selectors import reconcile_instance
from portal import jsonutil
from portal.models import Operator
from sources.models import Pot
from tests import factories
from tests.conftest import body_of
from tests.receiver import Receiver, verify_signature, with_callback
from tests.seed import seed_example
from tests.worker import Worker, purge_broker, wait_until

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.slow, pytest.mark.services]


@pytest.fixture
def real_tasks(settings, tmp_path):
    """Tasks go to Redis; a worker started by the test runs them."""
    settings.CELERY_TASK_ALWAYS_EAGER = False
    settings.WEBHOOK_ALLOWED_HOSTS = ["127.0.0.1"]
    purge_broker()
    workers: list[Worker] = []

    def start(**kwargs) -> Worker:
        worker = Worker(log=tmp_path / f"worker-{len(workers)}.log", **kwargs).start()
        workers.append(worker)
        return worker

    yield start
    for worker in workers:
        worker.stop()
    purge_broker()


def test_seed_examples_reach_the_webhook_through_a_real_worker(gateway, world, real_tasks):
    real_tasks()
    names = ["sitewide", "deposit", "egyptian", "game", "direct", "metadata_object", "metadata_string"]
    with Receiver() as receiver:
        traces = {}
        for name in names:
            response = gateway.contribute(with_callback(seed_example(name), receiver.url))
            assert response.status_code == 200
            traces[body_of(response)["trace_id"]] = seed_example(name)
        received = receiver.wait_for(len(names), timeout=60)

    secret = Operator.objects.get(pk="thrilltech").webhook_secret
    for request in received:
        verify_signature(request, secret)
        payload = jsonutil.loads(request.body)
        sent = traces[payload["trace_id"]]
        assert payload["type"] == "data"
        assert payload["gameround_id"] == sent["gameround_id"]
        assert payload["metadata"] == sent.get("metadata")
    assert Contribution.objects.filter(status="processed").count() == len(names)


def test_error_payload_through_a_real_worker(gateway, world, real_tasks):
    real_tasks()
    with Receiver() as receiver:
        body = with_callback({**seed_example("metadata_string"), "source_id": "sitewide-casino2"}, receiver.url)
        trace_id = body_of(gateway.contribute(body))["trace_id"]
        payload = jsonutil.loads(receiver.wait_for(1, timeout=60)[0].body)

    assert payload == {"type": "error", "status_code": 404, "code": "GAME_NOT_FOUND", "message": "sitewide-casino2",
                       "trace_id": trace_id, "gameround_id": "m-2", "metadata": "This is an arbitrary string value"}


def test_receiver_failing_twice_gets_three_attempts_from_worker_and_beat(gateway, world, real_tasks):
    real_tasks(beat=True, env={"WEBHOOK_RETRY_SCHEDULE": "1,1,1"})
    with Receiver(statuses=[500, 500, 200]) as receiver:
        gateway.contribute(with_callback(seed_example("direct"), receiver.url))
        received = receiver.wait_for(3, timeout=60)

    assert len({r.headers["webhook-id"] for r in received}) == 1
    delivery = wait_until(lambda: WebhookDelivery.objects.filter(status="delivered").first(), timeout=30)
    assert [(a.status_code, a.success) for a in delivery.attempts.order_by("number")] == [
        (500, False), (500, False), (200, True)]
    assert Contribution.objects.count() == 1 and PotIncrement.objects.count() == 1


def test_worker_killed_mid_batch_processes_every_contribution_exactly_once(
        gateway, currencies, operator, brand1, contribution, real_tasks, settings):
    instance = factories.make_instance(operator=operator, contribution_value=D("0.5"), pots=[
        factories.hit_rate_pot("minor", share="0.3", seed="10", cost="0.5", magic=20, tier=1),
        factories.hit_rate_pot("major", share="0.3", seed="100", cost="0.5", magic=200, tier=2),
        factories.hit_rate_pot("mega", share="0.2", seed="1000", cost="0.5", magic=2000, tier=3),
    ])
    total = 300
    worker_env = {"WEBHOOK_CLAIM_SLACK_SECONDS": "1", "WEBHOOK_TIMEOUT_SECONDS": "2"}
    with Receiver() as receiver:
        # Given a batch waiting in the broker,
        for n in range(total):
            body = contribution(instance_id=str(instance.pk), player_id=f"p{n % 17}", gameround_id=f"batch-{n}",
                                base_wager=D("3"))
            assert gateway.contribute(with_callback(body, receiver.url)).status_code == 200
        # when a worker is killed (SIGKILL) while it works through it,
        first = real_tasks(concurrency=2, env=worker_env)
        wait_until(lambda: Contribution.objects.filter(status="processed").count() >= 25, timeout=60, every=0.02)
        first.kill()
        processed_at_kill = Contribution.objects.filter(status="processed").count()
        assert processed_at_kill < total, "the worker finished before it could be killed"

        # and another worker takes over, with the sweepers re-queueing what was lost,
        real_tasks(concurrency=2, env=worker_env)
        settings.ASYNC_REQUEUE_AFTER_SECONDS = 0

        def sweep():
            tasks.sweep_accepted()
            tasks.sweep_webhooks()

        wait_until(lambda: WebhookDelivery.objects.filter(status="delivered").count() == total,
                   timeout=120, every=1.0, tick=sweep)
        webhook_ids = {r.headers["webhook-id"] for r in receiver.received}

    # then every accepted contribution was processed exactly once.
    assert Contribution.objects.filter(status="processed").count() == total
    assert PotIncrement.objects.filter(pot__jackpot=instance).count() == 3 * total
    assert WebhookDelivery.objects.count() == total and len(webhook_ids) == total
    report = reconcile_instance(instance)
    assert report.ok and report.contributions == total
    contributed_to_pots = sum(p.current_value for p in Pot.objects.filter(jackpot=instance))
    assert contributed_to_pots > D("1110")  # the pots moved: seeds plus the batch, minus any wins


def test_messages_lost_with_the_broker_are_recovered_by_the_sweeper(gateway, world, real_tasks, settings):
    with Receiver() as receiver:
        for n in range(20):
            body = with_callback({**seed_example("direct"), "gameround_id": f"lost-{n}"}, receiver.url)
            assert gateway.contribute(body).status_code == 200
        purge_broker()  # Redis restarted empty: the queued messages are gone
        real_tasks()
        settings.ASYNC_REQUEUE_AFTER_SECONDS = 0

        tasks.sweep_accepted()
        receiver.wait_for(20, timeout=60)

    assert Contribution.objects.filter(status="processed").count() == 20
    assert PotIncrement.objects.count() == 20


def test_the_sync_path_needs_no_worker(gateway, world, real_tasks):
    response = Client().post("/jackpots/contribute", jsonutil.dumps(seed_example("direct")),
                             content_type="application/json", HTTP_AUTHORIZATION=gateway.headers()["HTTP_AUTHORIZATION"])
    assert response.status_code == 200 and body_of(response)["contribution_amount"] == D("0.1")
