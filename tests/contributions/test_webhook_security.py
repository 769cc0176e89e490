"""Webhooks under a hostile or slow receiver (issue 11, items 4 and 22): every attempt ends by
its deadline however slowly the receiver trickles, claims outlive attempts, attempts are
numbered once each, one operator's slow receiver does not hold back another operator's
webhooks, and callback hosts that name a private address in disguise are refused."""

import contextlib
import functools
import socket
import threading
import time
import uuid
from collections import Counter, deque
from concurrent.futures import ThreadPoolExecutor
from decimal import Decimal as D

import pytest
from django.db import IntegrityError, connection
from django.test import Client
from django.utils import timezone

from contributions import tasks
from contributions.models import WebhookAttempt, WebhookDelivery
from contributions.services import callbacks as services
from contributions.webhooks import DeadlineExceeded, webhook_post
from portal.auth import service_authenticate
from tests import factories
from tests.conftest import Gateway, body_of
from tests.receiver import Receiver, TricklingReceiver, with_callback

pytestmark = pytest.mark.django_db(transaction=True)  # sending threads and on-commit tasks


@pytest.fixture
def tenants(currencies, settings):
    """Two operators, each with a brand, a service account and an instance to contribute to."""
    settings.WEBHOOK_ALLOWED_HOSTS = ["127.0.0.1"]
    found = {}
    for name in ("slowop", "fastop"):
        operator = factories.OperatorFactory(id=name)
        factories.BrandFactory(operator=operator, code="main", side_bets_without_wallet=True)
        factories.ServiceAccountFactory(operator=operator, username=f"{name}-service")
        instance = factories.make_instance(operator=operator, pots=[factories.hit_rate_pot("main", share="1",
                                                                                             magic=10**9)])
        gateway = Gateway(Client(), service_authenticate(username=f"{name}-service", password="service-pass"))
        found[name] = (gateway, instance)
    return found


@pytest.fixture
def held_deliveries(monkeypatch):
    """Contributions are processed at once, but their webhooks wait for the test's sender."""
    monkeypatch.setattr(tasks, "enqueue_deliveries", lambda: None)


def contribute(tenants, name: str, url: str) -> str:
    gateway, instance = tenants[name]
    body = with_callback({"token": "t", "brand_id": f"{name}:main", "player_id": "p1", "player_country": "MT",
                          "gameround_id": uuid.uuid4().hex, "currency": "EUR", "base_wager": D("1"),
                          "instance_id": str(instance.pk)}, url)
    response = gateway.contribute(body)
    assert response.status_code == 200, response.content
    return body_of(response)["trace_id"]


class Sender:
    """The sending task (what a Celery worker runs), on a thread of its own."""

    def __init__(self):
        self.thread = threading.Thread(target=self.run, daemon=True)
        self.started = None

    @staticmethod
    def run() -> None:
        try:
            tasks.deliver_webhooks()
        finally:
            connection.close()

    def start(self) -> "Sender":
        self.started = time.monotonic()
        self.thread.start()
        return self

    def join(self, timeout: float = 30.0) -> None:
        self.thread.join(timeout)
        assert not self.thread.is_alive(), "the sending task did not finish"


def wait_for(condition, timeout: float = 10.0, message: str = ""):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(0.02)
    raise AssertionError(f"timed out: {message}")


def attempts_of(delivery: WebhookDelivery) -> list[tuple]:
    return [(a.number, a.status_code, a.success) for a in delivery.attempts.order_by("number")]


# --- the deadline ---------------------------------------------------------------------------


def test_a_trickling_receiver_is_cut_at_the_deadline_and_retried_as_attempt_two(tenants, held_deliveries,
                                                                                settings):
    settings.WEBHOOK_TIMEOUT_SECONDS = 1
    settings.WEBHOOK_RETRY_SCHEDULE = [0]
    with TricklingReceiver(slow=1) as receiver:
        contribute(tenants, "slowop", receiver.url)
        sender = Sender().start()

        # The first answer trickles on (never released); the attempt ends at its deadline anyway.
        delivery = wait_for(lambda: WebhookDelivery.objects.filter(status="delivered").first(),
                            message="the delivery never got past its trickling first attempt")
        sender.join()
        receiver.wait_until(lambda r: r.dropped == 1)  # the sender hung up on it
        assert not receiver.release.is_set()
        assert receiver.trickled >= 5  # bytes kept coming (every 0.05 s): no read ever timed out

    first, second = delivery.attempts.order_by("number")
    assert (first.number, first.status_code, first.success) == (1, None, False)
    assert "DeadlineExceeded: no complete answer within 1 s" in first.error
    assert 900 <= first.latency_ms < 3000, first.latency_ms
    assert (second.number, second.status_code, second.success) == (2, 200, True)
    assert [r.headers["webhook-id"] for r in receiver.received] == [delivery.webhook_id] * 2
    assert delivery.attempt_count == 2


def test_a_kept_alive_connection_that_starts_trickling_is_cut_at_the_deadline(settings):
    settings.WEBHOOK_ALLOWED_HOSTS = ["127.0.0.1"]
    headers = {"Content-Type": "application/json"}
    # One sending thread for both posts (it keeps its connections alive); the receiver is
    # released on the way out, so a failing check cannot leave the thread hanging.
    with ThreadPoolExecutor(1) as thread, TricklingReceiver(after=1, slow=1, keep_alive=True) as receiver:
        post = functools.partial(webhook_post, receiver.url, body=b"{}", headers=headers, seconds=1)
        assert thread.submit(post).result(timeout=5) == (200, '{"ok": true}')
        started = time.monotonic()
        with pytest.raises(DeadlineExceeded):
            thread.submit(post).result(timeout=5)
        elapsed = time.monotonic() - started
        receiver.wait_until(lambda r: r.dropped == 1)

    assert 0.9 <= elapsed < 3, elapsed
    assert len({r.client for r in receiver.received}) == 1  # both over the one kept-alive connection


def test_a_tls_handshake_trickled_a_byte_at_a_time_is_cut_at_the_deadline(settings):
    """The server announces a 16 KiB handshake record and sends it a byte at a time: no read
    times out, the handshake would take 14 minutes."""
    settings.WEBHOOK_ALLOWED_HOSTS = ["127.0.0.1"]
    release = threading.Event()
    server = socket.create_server(("127.0.0.1", 0))

    def serve():
        connection, _ = server.accept()
        with connection, contextlib.suppress(OSError):
            connection.recv(4096)  # the ClientHello
            connection.sendall(bytes([0x16, 0x03, 0x03, 0x40, 0x00]))
            while not release.wait(0.05):
                connection.sendall(b"\0")

    threading.Thread(target=serve, daemon=True).start()
    try:
        started = time.monotonic()
        with pytest.raises(DeadlineExceeded):
            webhook_post(f"https://127.0.0.1:{server.getsockname()[1]}/hook", body=b"{}", headers={}, seconds=1)
        elapsed = time.monotonic() - started
    finally:
        release.set()
        server.close()

    assert 0.9 <= elapsed < 3, elapsed


def test_a_claim_is_never_taken_back_while_its_attempt_runs(tenants, held_deliveries, settings):
    """The sweeper frees claims of dead workers; a running attempt ends by its deadline, well
    before its claim does, so the sweeper never frees it and nothing is sent twice."""
    settings.WEBHOOK_TIMEOUT_SECONDS = 1
    settings.WEBHOOK_CLAIM_SLACK_SECONDS = 0.5
    settings.WEBHOOK_RETRY_SCHEDULE = [3600]
    with TricklingReceiver() as receiver:
        contribute(tenants, "slowop", receiver.url)
        sender = Sender().start()
        receiver.wait_until(lambda r: r.held == 1)

        def recorded():
            assert services.deliveries_due() == [], "a running attempt's claim was taken back"
            return WebhookAttempt.objects.exists()

        wait_for(recorded, message="the attempt never ended")
        sender.join()

    delivery = WebhookDelivery.objects.get()
    assert (delivery.status, attempts_of(delivery)) == ("pending", [(1, None, False)])
    assert len(receiver.received) == 1


def test_a_stalled_workers_attempt_and_the_retry_get_their_own_numbers(tenants, held_deliveries, settings):
    """A worker stalls past its claim (paused, not dead): the sweeper takes the delivery back
    and it is sent again. The two attempts keep their own numbers, and the stalled one, when
    it finally ends, does not overwrite the outcome of the newer one."""
    settings.WEBHOOK_TIMEOUT_SECONDS = 3
    settings.WEBHOOK_RETRY_SCHEDULE = [0, 0]
    with TricklingReceiver(slow=1) as receiver:
        contribute(tenants, "slowop", receiver.url)
        stalled = Sender().start()
        receiver.wait_until(lambda r: r.held == 1)
        WebhookDelivery.objects.update(claimed_until=timezone.now() - timezone.timedelta(seconds=1))

        tasks.sweep_webhooks()  # frees the claim and sends again (in this thread)

        delivery = WebhookDelivery.objects.get()
        assert delivery.status == "delivered"
        receiver.release.set()
        stalled.join()

    delivery.refresh_from_db()
    assert (delivery.status, delivery.attempt_count) == ("delivered", 2)
    first, second = delivery.attempts.order_by("number")
    assert (first.number, first.success, second.number, second.status_code) == (1, False, 2, 200)
    assert "abandoned" in first.error


def test_two_attempts_of_a_delivery_cannot_share_a_number(tenants, held_deliveries):
    contribute(tenants, "fastop", "http://127.0.0.1:9/hook")
    delivery = WebhookDelivery.objects.get()
    WebhookAttempt.objects.create(delivery=delivery, number=1, started_at=timezone.now(), latency_ms=1)

    with pytest.raises(IntegrityError):
        WebhookAttempt.objects.create(delivery=delivery, number=1, started_at=timezone.now(), latency_ms=1)


def test_a_claim_too_short_for_its_attempt_is_handed_back_unsent(tenants, held_deliveries, settings):
    """A queued claim that waited too long to start (its attempt could outlive it, and the
    sweeper would give it to another sender) goes back unsent, under its previous number."""
    settings.WEBHOOK_TIMEOUT_SECONDS = 5
    with Receiver() as receiver:
        contribute(tenants, "fastop", receiver.url)
        (claimed,) = services._deliveries_claim(4, held=Counter(), holding=set(), share=1, operators=1)
        assert (claimed.status, claimed.attempt_count) == ("delivering", 1)
        claimed.claimed_until = timezone.now() + timezone.timedelta(seconds=2)  # less than one deadline left
        WebhookDelivery.objects.filter(pk=claimed.pk).update(claimed_until=claimed.claimed_until)
        running, queued = {}, {"fastop": deque([claimed])}

        services._start(services._sending_pool(4), running, queued, slots=4, share=1)

        assert running == {} and queued == {}
        claimed.refresh_from_db()
        assert (claimed.status, claimed.attempt_count, claimed.claimed_until) == ("pending", 0, None)
        assert receiver.received == []

        tasks.deliver_webhooks()  # sent afterwards as attempt 1, once
        receiver.wait_for(1)
    assert attempts_of(WebhookDelivery.objects.get()) == [(1, 200, True)]


def test_a_sender_holds_no_more_operators_than_it_can_run_at_once(tenants, held_deliveries, settings):
    """A sender whose slots one operator's slow receiver fills does not claim another
    operator's webhook to queue it behind them (where its claim could run out): another
    sender sends it at once."""
    settings.WEBHOOK_TIMEOUT_SECONDS = 30  # slowop's attempts stay held until released
    settings.WEBHOOK_CONCURRENCY = 2
    settings.WEBHOOK_OPERATOR_CONCURRENCY = 2  # so a sender holds one operator at a time
    with TricklingReceiver() as slow_receiver, Receiver() as other:
        for _ in range(4):
            contribute(tenants, "slowop", slow_receiver.url)
        contribute(tenants, "fastop", other.url)
        first = Sender().start()
        slow_receiver.wait_until(lambda r: r.held == 2)

        tasks.deliver_webhooks()  # a second sender, in this thread

        assert len(other.received) == 1
        fast = WebhookDelivery.objects.get(brand__operator_id="fastop")
        assert (fast.status, attempts_of(fast)) == ("delivered", [(1, 200, True)])
        slow_receiver.release.set()
        first.join(60)
    slow = WebhookDelivery.objects.filter(brand__operator_id="slowop")
    assert {d.status for d in slow} == {"delivered"} and all(attempts_of(d) == [(1, 200, True)] for d in slow), [(d.status, d.attempt_count, d.claimed_until, attempts_of(d), d.last_error) for d in slow]
    assert len(slow_receiver.received) == 4


# --- one operator's slow receiver, another operator's webhook -------------------------------


def deliver_other_while_slow(tenants, settings, *, slow: bool, other_arrives: str, backlog: int = 12):
    """`backlog` webhooks of slowop (to a trickling or a normal receiver), one of fastop's; returns
    fastop's latency (from the moment it was due to the moment its receiver had it), in s."""
    settings.WEBHOOK_TIMEOUT_SECONDS = 30  # slowop's attempts stay held until released
    settings.WEBHOOK_CONCURRENCY = 8
    settings.WEBHOOK_OPERATOR_CONCURRENCY = 2
    with (TricklingReceiver() if slow else Receiver()) as slow_receiver, Receiver() as other:
        for _ in range(backlog):
            contribute(tenants, "slowop", slow_receiver.url)
        if other_arrives == "queued behind":
            contribute(tenants, "fastop", other.url)
        sender = Sender().start()
        due = sender.started
        if other_arrives == "while held":
            slow_receiver.wait_until(lambda r: r.held == 2)
            contribute(tenants, "fastop", other.url)
            due = time.monotonic()
        other.wait_for(1, timeout=10)
        latency = time.monotonic() - due
        if slow:
            # slowop holds no more than its share of the slots, and nothing of it has finished.
            slow_receiver.wait_until(lambda r: r.held == 2)
            assert len(slow_receiver.received) == 2 and not slow_receiver.release.is_set()
            assert not WebhookAttempt.objects.filter(delivery__brand__operator_id="slowop").exists()
            slow_receiver.release.set()
        sender.join(60)
        received = list(slow_receiver.received)

    # Each webhook went out once, under attempt number 1.
    deliveries = WebhookDelivery.objects.all()
    assert len(deliveries) == backlog + 1 and {d.status for d in deliveries} == {"delivered"}
    assert sorted(r.headers["webhook-id"] for r in received) == sorted(
        d.webhook_id for d in deliveries if d.brand.operator_id == "slowop")
    assert len(other.received) == 1
    assert all(attempts_of(d) == [(1, 200, True)] for d in deliveries)
    return latency


@pytest.mark.parametrize("other_arrives", ["queued behind", "while held"])
def test_a_slow_receiver_does_not_hold_back_another_operators_webhook(tenants, held_deliveries, settings,
                                                                      other_arrives, record_property):
    latency = deliver_other_while_slow(tenants, settings, slow=True, other_arrives=other_arrives)

    record_property("other_operator_latency_ms", round(latency * 1000))
    assert latency < 2


def test_another_operators_webhook_latency_without_a_slow_receiver(tenants, held_deliveries, settings,
                                                                   record_property):
    latency = deliver_other_while_slow(tenants, settings, slow=False, other_arrives="queued behind")

    record_property("other_operator_latency_ms", round(latency * 1000))
    assert latency < 2


# --- refused hosts --------------------------------------------------------------------------


@pytest.mark.parametrize("url", [
    "http://[2002:7f00:1::]/hook",               # 6to4 of 127.0.0.1
    "http://[2002:a00:1::1]/hook",               # 6to4 of 10.0.0.1
    "http://[2002:5db8:d822::1]/hook",           # 6to4 even of a public address
    "http://[::ffff:7f00:1]/hook",               # IPv4-mapped 127.0.0.1
    "http://[::127.0.0.1]/hook",                 # IPv4-compatible
    "http://[64:ff9b::7f00:1]/hook",             # NAT64 of 127.0.0.1
    "http://[64:ff9b::a9fe:a9fe]/hook",          # NAT64 of 169.254.169.254
    "http://[2001:0:7f00:1::80ff:fffe]/hook",    # Teredo
])
def test_ipv6_forms_embedding_an_ipv4_address_are_refused(tenants, url):
    gateway, instance = tenants["fastop"]
    body = with_callback({"token": "t", "brand_id": "fastop:main", "player_id": "p1", "player_country": "MT",
                          "gameround_id": "g1", "currency": "EUR", "base_wager": 1, "instance_id": str(instance.pk)},
                         url)
    response = gateway.contribute(body)

    assert (response.status_code, body_of(response)["code"]) == (400, "INVALID_PROPERTY_VALUE")


def test_nat64_of_a_public_address_is_accepted(tenants, monkeypatch):
    monkeypatch.setattr(tasks, "enqueue_processing", lambda contribution_id: None)  # nothing is sent
    assert contribute(tenants, "fastop", "http://[64:ff9b::5db8:d822]/hook")


def test_a_name_resolving_to_6to4_loopback_is_refused_when_connecting(tenants, held_deliveries, monkeypatch):
    contribute(tenants, "fastop", "http://127.0.0.1:9/hook")  # accepted: loopback is allow-listed
    WebhookDelivery.objects.update(url="http://tunnel.example/hook")  # as if it resolved elsewhere then
    real = socket.getaddrinfo

    def getaddrinfo(host, port, *args, **kwargs):
        if host == "tunnel.example":
            return [(socket.AF_INET6, socket.SOCK_STREAM, 6, "", ("2002:7f00:1::", port, 0, 0))]
        return real(host, port, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)

    tasks.deliver_webhooks()

    attempt = WebhookAttempt.objects.get()
    assert "refused destination" in attempt.error and "6to4" in attempt.error


@pytest.mark.parametrize("host", ["a" * 300 + ".example", "a" * 64 + ".example", "a..example", "." * 5])
def test_a_malformed_host_name_is_a_400_not_a_500(tenants, host):
    gateway, instance = tenants["fastop"]
    body = with_callback({"token": "t", "brand_id": "fastop:main", "player_id": "p1", "player_country": "MT",
                          "gameround_id": "g1", "currency": "EUR", "base_wager": 1, "instance_id": str(instance.pk)},
                         f"http://{host}/hook")
    response = gateway.contribute(body)

    assert (response.status_code, body_of(response)["code"]) == (400, "INVALID_PROPERTY_VALUE")
