"""Asynchronous contributions and webhook callbacks (SPEC 2.6), tasks run in-process."""

import socket
from decimal import Decimal as D

import pytest

from contributions import tasks
from contributions.models import Contribution, PotIncrement, WebhookAttempt, WebhookDelivery
from portal import jsonutil
from portal.models import Operator
from portal.roles import OPS_STAFF
from portal.services import operator_rotate_webhook_secret
from tests import factories
from tests.conftest import body_of
from tests.receiver import Receiver, verify_signature, with_callback
from tests.seed import seed_example

# Tasks run after commit, so these tests commit for real (and the table is flushed after each).
pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def loopback_webhooks(settings):
    """The receiving test server lives on loopback, which the guard refuses unless allow-listed."""
    settings.WEBHOOK_ALLOWED_HOSTS = ["127.0.0.1"]
    settings.WEBHOOK_RETRY_SCHEDULE = [0, 0, 0]
    return settings


@pytest.fixture
def receiver(loopback_webhooks):
    with Receiver() as server:
        yield server


EXPECTED = {
    "sitewide": ("sitewide", "0.1", None),
    "deposit": ("deposit", "0.01", None),
    "egyptian": ("egyptian", "0.005", 2),
    "game": ("game", "0.02", None),
    "direct": ("direct", "0.1", None),
    "metadata_object": ("sitewide", "0.1", None),
    "metadata_string": ("sitewide", "0.1", None),
}


@pytest.mark.parametrize("example", list(EXPECTED))
def test_async_seed_example_is_accepted_and_its_result_posted_signed(gateway, world, receiver, example):
    body = with_callback(seed_example(example), receiver.url)

    accepted = gateway.contribute(body)

    assert accepted.status_code == 200
    trace_id = body_of(accepted)["trace_id"]
    assert list(body_of(accepted)) == ["trace_id"]
    (received,) = receiver.wait_for(1)
    instance, amount, tickets = EXPECTED[example]
    payload = jsonutil.loads(received.body)
    timestamp = payload.pop("timestamp")
    assert payload == {
        "type": "data", "contribution_amount": D(amount), "contribution_currency": "EUR",
        "gameround_id": body["gameround_id"], "instance_id": str(world[instance].pk),
        "metadata": body.get("metadata"), "tickets_awarded": tickets, "win_amount": 0, "win_pot_id": None,
        "win_withheld": False, "trace_id": trace_id,
    }
    assert isinstance(timestamp, int)
    verify_signature(received, Operator.objects.get(pk="thrilltech").webhook_secret)
    assert received.headers["webhook-id"] == WebhookDelivery.objects.get().webhook_id


def test_error_reaches_the_webhook_with_the_callers_metadata(gateway, world, receiver):
    body = with_callback({**seed_example("metadata_object"), "source_id": "sitewide-casino2"}, receiver.url)

    trace_id = body_of(gateway.contribute(body))["trace_id"]

    payload = jsonutil.loads(receiver.wait_for(1)[0].body)
    assert payload == {
        "type": "error", "status_code": 404, "code": "GAME_NOT_FOUND", "message": "sitewide-casino2",
        "trace_id": trace_id, "gameround_id": "m-1", "metadata": {"value1": "some value", "value2": 1234},
    }
    assert Contribution.objects.get(trace_id=trace_id).status == Contribution.Status.REJECTED


def test_win_result_only_sends_wins_and_errors_but_not_plain_results(gateway, world, receiver, operator):
    certain = factories.make_instance(operator=operator, contribution_value=D("0.5"),
                                      pots=[factories.hit_rate_pot("jackpot", share="1", seed="10", cost="0.01",
                                                                   magic=1)])
    plain = with_callback(seed_example("direct"), receiver.url, win_result_only=True)
    winning = with_callback({**seed_example("direct"), "instance_id": str(certain.pk), "gameround_id": "w"},
                            receiver.url, win_result_only=True)
    failing = with_callback({**seed_example("direct"), "instance_id": str(certain.pk), "gameround_id": "x",
                             "base_wager": -1}, receiver.url, win_result_only=True)

    for body in (plain, winning, failing):
        assert gateway.contribute(body).status_code == 200

    kinds = [jsonutil.loads(r.body) for r in receiver.wait_for(2)]
    assert [(k["type"], k.get("win_pot_id"), k.get("code")) for k in kinds] == [
        ("data", "jackpot", None), ("error", None, "CONTRIBUTION_REJECTED")]
    assert Contribution.objects.filter(status=Contribution.Status.PROCESSED).count() == 2  # the plain one too


def test_failing_receiver_is_retried_until_it_answers(gateway, world, loopback_webhooks):
    with Receiver(statuses=[500, 500, 200]) as server:
        gateway.contribute(with_callback(seed_example("direct"), server.url))
        tasks.sweep_webhooks()
        tasks.sweep_webhooks()
        tasks.sweep_webhooks()  # nothing left to do
        received = server.wait_for(3)

    assert len(received) == 3 and len({r.headers["webhook-id"] for r in received}) == 1
    delivery = WebhookDelivery.objects.get()
    assert delivery.status == WebhookDelivery.Status.DELIVERED and delivery.attempt_count == 3
    attempts = list(delivery.attempts.order_by("number"))
    assert [(a.number, a.status_code, a.success) for a in attempts] == [(1, 500, False), (2, 500, False),
                                                                        (3, 200, True)]
    assert len(attempts[0].response_excerpt) == 1024  # the first 1 KiB of the answer
    assert attempts[2].response_excerpt == '{"ok": true}'
    assert Contribution.objects.count() == 1 and PotIncrement.objects.count() == 1  # processed once


def test_delivery_fails_after_the_schedule_is_exhausted(gateway, world, loopback_webhooks):
    with Receiver(statuses=[503] * 10) as server:
        gateway.contribute(with_callback(seed_example("direct"), server.url))
        for _ in range(5):
            tasks.sweep_webhooks()

    delivery = WebhookDelivery.objects.get()
    assert delivery.status == WebhookDelivery.Status.FAILED
    assert delivery.attempts.count() == 4  # the first attempt and three retries
    assert delivery.last_error == "HTTP 503"


def test_redirects_are_not_followed(gateway, world, loopback_webhooks):
    with Receiver(redirect_to="http://127.0.0.1:9/elsewhere") as server:
        server.statuses = [302]
        gateway.contribute(with_callback(seed_example("direct"), server.url))

    attempt = WebhookAttempt.objects.order_by("number").first()  # (the zero backoff retries at once)
    assert (attempt.status_code, attempt.success) == (302, False), attempt.error


def test_duplicate_async_request_is_answered_with_the_first_trace_and_sent_once(gateway, world, receiver):
    body = with_callback(seed_example("direct"), receiver.url)

    first, second = gateway.contribute(body), gateway.contribute(body)
    different = gateway.contribute({**body, "base_wager": 5})

    assert body_of(first) == body_of(second) and second.headers["Idempotent-Replayed"] == "true"
    assert (different.status_code, body_of(different)["code"]) == (409, "DUPLICATE_GAMEROUND")
    receiver.wait_for(1)
    assert len(receiver.received) == 1 and WebhookDelivery.objects.count() == 1


def test_processing_twice_changes_nothing(gateway, world, receiver):
    """A redelivered task or the sweeper finds the contribution processed and does nothing."""
    trace_id = body_of(gateway.contribute(with_callback(seed_example("direct"), receiver.url)))["trace_id"]
    contribution = Contribution.objects.get(trace_id=trace_id)

    tasks.process_contribution(contribution.pk)
    tasks.process_contribution(contribution.pk)

    assert PotIncrement.objects.count() == 1 and WebhookDelivery.objects.count() == 1


def test_stalled_accepted_contribution_is_picked_up_by_the_sweeper(gateway, world, receiver, settings,
                                                                  monkeypatch):
    """The message to the worker is lost (broker restart): the sweeper queues it again."""
    monkeypatch.setattr(tasks, "enqueue_processing", lambda contribution_id: None)
    settings.ASYNC_REQUEUE_AFTER_SECONDS = 0
    trace_id = body_of(gateway.contribute(with_callback(seed_example("direct"), receiver.url)))["trace_id"]
    assert Contribution.objects.get(trace_id=trace_id).status == Contribution.Status.ACCEPTED

    assert tasks.sweep_accepted() == 1

    assert Contribution.objects.get(trace_id=trace_id).status == Contribution.Status.PROCESSED
    receiver.wait_for(1)


REFUSED_URLS = [
    "http://127.0.0.1:8080/hook",
    "http://10.0.0.7/hook",
    "http://169.254.169.254/latest/meta-data/",
    "http://[::1]/hook",
    "http://[::ffff:127.0.0.1]/hook",
    "http://0.0.0.0/hook",
    "http://224.0.0.1/hook",
    "http://internal.example/hook",  # resolves to 10.20.30.40 below
    "ftp://example.com/hook",
    "http://user:pass@example.com/hook",
    "not a url",
]


@pytest.fixture
def fake_dns(monkeypatch):
    """DNS cannot be reached from here: answer for the test names, pass the rest through."""
    real = socket.getaddrinfo
    answers = {"internal.example": "10.20.30.40", "public.example": "93.184.216.34"}

    def getaddrinfo(host, port, *args, **kwargs):
        if host in answers:
            return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", (answers[host], port))]
        return real(host, port, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)
    return answers


@pytest.mark.parametrize("url", REFUSED_URLS)
def test_callback_urls_into_private_networks_are_refused(gateway, world, fake_dns, url):
    response = gateway.contribute(with_callback(seed_example("direct"), url))

    assert (response.status_code, body_of(response)["code"]) == (400, "INVALID_PROPERTY_VALUE")
    assert not Contribution.objects.exists()


@pytest.mark.parametrize(("url", "setting", "value"), [
    ("http://127.0.0.1:9/hook", "WEBHOOK_ALLOWED_HOSTS", ["127.0.0.1"]),
    ("http://internal.example/hook", "WEBHOOK_ALLOWED_HOSTS", ["internal.example"]),
    ("http://internal.example/hook", "WEBHOOK_ALLOWED_NETWORKS", ["10.20.0.0/16"]),
])
def test_allow_listed_destinations_are_accepted(gateway, world, fake_dns, settings, monkeypatch, url, setting,
                                                value):
    monkeypatch.setattr(tasks, "enqueue_processing", lambda contribution_id: None)
    setattr(settings, setting, value)
    assert gateway.contribute(with_callback(seed_example("direct"), url)).status_code == 200


def test_a_name_that_turns_private_after_acceptance_is_refused_at_connect_time(gateway, world, fake_dns,
                                                                              monkeypatch):
    """DNS rebinding: public when accepted, private when called. The socket is never opened
    (and pytest-socket would fail the attempt if anything but loopback were dialled)."""
    monkeypatch.setattr(tasks, "enqueue_deliveries", lambda: None)  # hold the first attempt
    gateway.contribute(with_callback(seed_example("direct"), "http://public.example/hook"))
    fake_dns["public.example"] = "10.9.9.9"
    delivery = WebhookDelivery.objects.get()

    tasks.sweep_webhooks()

    attempt = WebhookAttempt.objects.filter(delivery=delivery).order_by("-number").first()
    assert "refused destination" in attempt.error and "10.9.9.9" in attempt.error
    assert not attempt.success


def test_staff_resend_is_delivered_again_and_recorded_in_history(gateway, world, receiver, operator,
                                                                  staff_client):
    gateway.contribute(with_callback(seed_example("direct"), receiver.url))
    receiver.wait_for(1)
    staff = staff_client("ops", OPS_STAFF, operators=[operator])
    delivery = WebhookDelivery.objects.get()

    response = staff.post("/admin/contributions/webhookdelivery/",
                          {"action": "resend", "_selected_action": [delivery.pk]})

    assert response.status_code == 302
    second = receiver.wait_for(2)[1]
    assert second.headers["webhook-id"] == delivery.webhook_id
    assert delivery.attempts.count() == 2
    history = staff.get(f"/admin/contributions/webhookdelivery/{delivery.pk}/history/").content.decode()
    assert "ops" in history and "resent by staff" in history


def test_rotated_secret_signs_alongside_the_previous_one(gateway, world, receiver, operator):
    old = Operator.objects.get(pk=operator.pk).webhook_secret
    new = operator_rotate_webhook_secret(operator=operator, actor=None)

    gateway.contribute(with_callback(seed_example("direct"), receiver.url))

    received = receiver.wait_for(1)[0]
    verify_signature(received, new)
    verify_signature(received, old)


def test_embedded_mode_answers_at_once_and_delivers_from_a_background_thread(
        gateway, world, receiver, transactional_db, embedded_runtime):
    accepted = gateway.contribute(with_callback(seed_example("direct"), receiver.url))

    assert accepted.status_code == 200
    payload = jsonutil.loads(receiver.wait_for(1, timeout=20)[0].body)
    assert payload["trace_id"] == body_of(accepted)["trace_id"]


def test_one_task_processes_a_batch_of_waiting_contributions(gateway, world, receiver, monkeypatch, settings):
    settings.ASYNC_BATCH_SIZE = 20
    monkeypatch.setattr(tasks, "enqueue_processing", lambda contribution_id: None)  # nothing runs yet
    traces = [body_of(gateway.contribute(with_callback({**seed_example("direct"), "gameround_id": f"b{n}"},
                                                       receiver.url)))["trace_id"] for n in range(12)]
    first = Contribution.objects.get(trace_id=traces[0])

    assert tasks.process_contribution(first.pk) == 12  # all of them, in one transaction

    assert Contribution.objects.filter(status=Contribution.Status.PROCESSED).count() == 12
    assert len(receiver.wait_for(12)) == 12
    assert tasks.process_contribution(first.pk) == 0  # and never twice


def test_a_failing_contribution_does_not_hold_back_its_batch(gateway, world, receiver, monkeypatch):
    from contributions.services import callbacks

    monkeypatch.setattr(tasks, "enqueue_processing", lambda contribution_id: None)
    bodies = [with_callback({**seed_example("direct"), "gameround_id": f"p{n}"}, receiver.url) for n in range(3)]
    traces = [body_of(gateway.contribute(body))["trace_id"] for body in bodies]
    poison = Contribution.objects.get(trace_id=traces[1])
    real_apply = callbacks.batch_apply

    def apply(instance, items, **kwargs):
        if any(item.contribution.pk == poison.pk for item in items):
            raise RuntimeError("a bug")
        return real_apply(instance, items, **kwargs)

    monkeypatch.setattr(callbacks, "batch_apply", apply)
    processed = tasks.process_contribution(Contribution.objects.get(trace_id=traces[0]).pk)

    assert processed == 2
    poison.refresh_from_db()
    assert (poison.status, poison.process_attempts) == (Contribution.Status.ACCEPTED, 1)  # retried later
    assert PotIncrement.objects.count() == 2
