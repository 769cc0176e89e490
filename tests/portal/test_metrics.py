"""Seeing it (issue 11): GET /metrics for Prometheus, protected, and JSON logs that carry the
trace_id, operator and brand of the contribution they belong to."""

import io
import json
import logging
import os
import subprocess
import sys
import time
import uuid
from datetime import timedelta
from decimal import Decimal as D

import pytest
import requests
from django.test import Client
from django.utils import timezone
from prometheus_client.parser import text_string_to_metric_families
from websockets.exceptions import ConnectionClosed

from contributions.models import Contribution, WalletTransaction, WebhookDelivery
from portal import jsonutil, logs
from portal.roles import OPS_STAFF
from tests import factories
from tests.asgi import AsgiServer
from tests.conftest import body_of
from tests.receiver import Receiver, with_callback

TOKEN = "metrics-" + "s" * 40


@pytest.fixture
def metrics_token(settings):
    settings.METRICS_TOKEN = TOKEN
    return TOKEN


def parse(text: str) -> dict[tuple, float]:
    """Every sample of an exposition: (name, sorted labels) -> value."""
    samples = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            samples[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return samples


def scrape(token: str = TOKEN) -> dict[tuple, float]:
    response = Client().get("/metrics", HTTP_AUTHORIZATION=f"Bearer {token}")
    assert response.status_code == 200, response.content
    assert response["Content-Type"].startswith("text/plain")
    return parse(response.content.decode())


def value(samples: dict, name: str, **labels) -> float:
    return samples.get((name, tuple(sorted(labels.items()))), 0.0)


@pytest.fixture
def jackpot(currencies, operator, brand1):
    source = factories.SourceFactory(operator=operator, source_id="casino-sitewide")
    return factories.make_instance(operator=operator, name="Site-wide", sources=[source],
                                   pots=[factories.hit_rate_pot("main", share="0.8", magic=10**9)])


# --- protection -----------------------------------------------------------------------------


@pytest.mark.django_db
def test_metrics_refuse_a_request_without_a_token(metrics_token):
    response = Client().get("/metrics")

    assert response.status_code == 401
    assert response["WWW-Authenticate"].startswith("Bearer")
    assert b"jackpot_" not in response.content


@pytest.mark.django_db
@pytest.mark.parametrize("header", [f"Bearer {TOKEN}x", f"Bearer {TOKEN[:-1]}", "Bearer ", f"Basic {TOKEN}", TOKEN])
def test_metrics_refuse_a_wrong_token(metrics_token, header):
    response = Client().get("/metrics", HTTP_AUTHORIZATION=header)

    assert response.status_code == 401
    assert b"jackpot_" not in response.content


@pytest.mark.django_db
def test_an_empty_configured_token_accepts_nothing(settings):
    settings.METRICS_TOKEN = ""

    assert Client().get("/metrics", HTTP_AUTHORIZATION="Bearer ").status_code == 401


@pytest.mark.django_db
def test_metrics_answer_the_right_token_in_the_prometheus_format(metrics_token):
    samples = scrape()

    assert ("jackpot_async_contributions_waiting", ()) in samples
    assert any(name == "jackpot_webhook_oldest_due_seconds" for name, _ in samples)


def test_metrics_open_to_staff_who_see_everything_and_not_to_brand_scoped_staff(staff_client, brand1, metrics_token):
    superuser = staff_client("root", None)
    everything = staff_client("ops-all", OPS_STAFF, everything=True)
    brand_scoped = staff_client("ops-brand", OPS_STAFF, brands=[brand1])

    assert superuser.get("/metrics").status_code == 200
    assert everything.get("/metrics").status_code == 200
    assert brand_scoped.get("/metrics").status_code == 403


# --- contributions by outcome and code ------------------------------------------------------


def test_contribution_counters_move_by_outcome_and_code(gateway, contribution, jackpot, metrics_token):
    labels = {"endpoint": "/jackpots/contribute", "mode": "sync", "operator": "thrilltech"}
    before = scrape()
    body = contribution(source_id="casino-sitewide")

    ok = gateway.contribute(body)
    replayed = gateway.contribute(body)
    unknown_source = gateway.contribute(contribution(source_id="no-such-source"))
    unknown_brand = gateway.contribute(contribution(source_id="casino-sitewide", brand_id="thrilltech:nope"))

    assert (ok.status_code, replayed.status_code) == (200, 200)
    assert replayed["Idempotent-Replayed"] == "true"
    assert unknown_source.status_code >= 400 and unknown_brand.status_code >= 400
    after = scrape()

    def moved(name, **extra):
        return value(after, name, **labels, **extra) - value(before, name, **labels, **extra)

    assert moved("jackpot_contributions_total", outcome="ok", code="") == 1
    assert moved("jackpot_contributions_total", outcome="replayed", code="") == 1
    assert moved("jackpot_contributions_total", outcome="error", code=body_of(unknown_source)["code"]) == 1
    assert moved("jackpot_contributions_total", outcome="error", code=body_of(unknown_brand)["code"]) == 1
    assert moved("jackpot_contribution_duration_seconds_count") == 4
    assert moved("jackpot_contribution_duration_seconds_bucket", le="+Inf") == 4


def test_a_body_that_does_not_parse_is_counted_with_its_code(gateway, metrics_token):
    labels = {"endpoint": "/jackpots/contribute/source", "mode": "unknown", "operator": "thrilltech",
              "outcome": "error", "code": "INVALID_STRUCTURE"}
    before = value(scrape(), "jackpot_contributions_total", **labels)

    response = gateway.contribute(b"{not json", path="/jackpots/contribute/source")

    assert response.status_code == 400 and body_of(response)["code"] == "INVALID_STRUCTURE"
    assert value(scrape(), "jackpot_contributions_total", **labels) == before + 1


def test_an_async_contribution_is_counted_as_async(gateway, contribution, jackpot, metrics_token, settings):
    settings.WEBHOOK_ALLOWED_HOSTS = ["127.0.0.1"]
    labels = {"endpoint": "/jackpots/contribute", "mode": "async", "operator": "thrilltech", "outcome": "ok",
              "code": ""}
    before = value(scrape(), "jackpot_contributions_total", **labels)

    response = gateway.contribute(contribution(source_id="casino-sitewide",
                                               callback={"web_hook": "http://127.0.0.1:9/hook"}))

    assert response.status_code == 200 and list(body_of(response)) == ["trace_id"]
    assert value(scrape(), "jackpot_contributions_total", **labels) == before + 1


def test_wallet_calls_are_timed_by_brand_and_result(wallet, gateway, contribution, currencies, operator, brand1,
                                                    metrics_token):
    from players.services import optin_set

    side_bet = factories.make_instance(operator=operator, name="Side bet", opt_in_required=True,
                                       pots=[factories.hit_rate_pot("main", share="0.8", magic=10**9)])
    optin_set(brand=brand1, player_id="player_00001", instance=side_bet, opt_in=True, contribution_value=None,
              currency="EUR")
    path = wallet.config.transaction_path
    before = scrape()
    wallet.fail(path, times=1, status=500, code="BOOM")

    response = gateway.contribute(contribution(instance_id=str(side_bet.pk)))

    assert response.status_code == 200, response.content
    after = scrape()
    brand = {"brand": "thrilltech:brand1", "op": path}
    for result, calls in (("5xx", 1), ("2xx", 1)):
        key = ("jackpot_wallet_calls_total", dict(brand, result=result))
        assert value(after, key[0], **key[1]) - value(before, key[0], **key[1]) == calls
    assert (value(after, "jackpot_wallet_call_duration_seconds_count", **brand)
            - value(before, "jackpot_wallet_call_duration_seconds_count", **brand)) == 2


# --- backlogs, counted from the database at scrape time -------------------------------------


def test_backlog_gauges_reflect_the_rows_waiting(gateway, contribution, jackpot, brand1, metrics_token):
    answered = [body_of(gateway.contribute(contribution(source_id="casino-sitewide"))) for _ in range(3)]
    rows = [Contribution.objects.get(trace_id=a["trace_id"]) for a in answered]
    now = timezone.now()
    Contribution.objects.filter(pk=rows[0].pk).update(status=Contribution.Status.ACCEPTED,
                                                      created_at=now - timedelta(seconds=90))
    for row, status, due in ((rows[1], WebhookDelivery.Status.PENDING, now - timedelta(seconds=60)),
                             (rows[2], WebhookDelivery.Status.FAILED, None)):
        WebhookDelivery.objects.create(contribution=row, brand=brand1, url="https://hooks.example/x", kind="data",
                                       payload="{}", status=status, next_attempt_at=due)
    WalletTransaction.objects.create(
        transaction_id=str(uuid.uuid4()), round_key="r", kind=WalletTransaction.Kind.CREDIT, brand=brand1,
        player_ref="player_00001", amount=D("5"), currency="EUR", gameround_id="round-x", jackpot=jackpot,
        status=WalletTransaction.Status.PENDING)

    samples = scrape()

    assert value(samples, "jackpot_async_contributions_waiting") == 1
    assert 85 <= value(samples, "jackpot_async_oldest_waiting_seconds") < 600
    assert value(samples, "jackpot_webhook_deliveries_open", operator="thrilltech", status="pending") == 1
    assert value(samples, "jackpot_webhook_deliveries_failed") == 1
    assert 55 <= value(samples, "jackpot_webhook_oldest_due_seconds") < 600
    assert value(samples, "jackpot_wallet_transactions_open", brand="thrilltech:brand1", kind="Credit",
                 status="pending") == 1

    WebhookDelivery.objects.update(status=WebhookDelivery.Status.DELIVERED)
    Contribution.objects.update(status=Contribution.Status.PROCESSED)
    samples = scrape()
    assert value(samples, "jackpot_async_contributions_waiting") == 0
    assert value(samples, "jackpot_webhook_deliveries_open", operator="thrilltech", status="pending") == 0
    assert value(samples, "jackpot_webhook_oldest_due_seconds") == 0


# --- structured logs ------------------------------------------------------------------------


@pytest.fixture
def json_log():
    """What the production handler writes (LOGGING's json formatter and context filter)."""
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(logs.json_formatter())
    handler.addFilter(logs.ContextFilter())
    root = logging.getLogger()
    old_level = root.level
    root.addHandler(handler)
    root.setLevel(logging.DEBUG)
    try:
        yield lambda: [json.loads(line) for line in stream.getvalue().splitlines()]
    finally:
        root.removeHandler(handler)
        root.setLevel(old_level)


def test_json_log_of_a_contribution_carries_trace_id_operator_and_brand(gateway, contribution, jackpot, json_log):
    response = gateway.contribute(contribution(source_id="casino-sitewide"))

    assert response.status_code == 200
    (line,) = [r for r in json_log() if r["message"].startswith("contribution answered")]
    assert line["trace_id"] == body_of(response)["trace_id"]
    assert (line["operator"], line["brand"]) == ("thrilltech", "thrilltech:brand1")
    assert line["level"] == "DEBUG" and line["logger"] == "portal.metrics" and "time" in line


def test_json_log_from_inside_a_contribution_carries_its_context(wallet, gateway, contribution, currencies, operator,
                                                                 brand1, json_log):
    from players.services import optin_set

    side_bet = factories.make_instance(operator=operator, name="Side bet", opt_in_required=True,
                                       pots=[factories.hit_rate_pot("main", share="0.8", magic=10**9)])
    optin_set(brand=brand1, player_id="player_00001", instance=side_bet, opt_in=True, contribution_value=None,
              currency="EUR")
    wallet.fail(wallet.config.transaction_path, times=1, status=500, code="BOOM")

    response = gateway.contribute(contribution(instance_id=str(side_bet.pk)))

    assert response.status_code == 200
    (retry,) = [r for r in json_log() if r["logger"] == "contributions.wallet" and "retry" in r["message"]]
    assert (retry["operator"], retry["brand"]) == ("thrilltech", "thrilltech:brand1")
    assert retry["trace_id"] == body_of(response)["trace_id"]


def test_logs_outside_any_request_have_empty_context_and_scopes_do_not_leak(json_log):
    with logs.log_scope(operator="op1"):
        logs.log_bind(brand="op1:b", trace_id="t-1")
        logging.getLogger("x").info("inside")
    logs.log_bind(brand="leak")  # no scope: kept nowhere
    logging.getLogger("x").info("outside")

    inside, outside = json_log()
    assert (inside["operator"], inside["brand"], inside["trace_id"]) == ("op1", "op1:b", "t-1")
    assert (outside["operator"], outside["brand"], outside["trace_id"]) == (None, None, None)


# --- multiprocess mode ----------------------------------------------------------------------

WORKER = """
import os, sys
from portal import metrics
metrics.CONTRIBUTIONS.labels("/jackpots/contribute", "sync", "op", "ok", "").inc(int(sys.argv[1]))
metrics.SOCKETS.labels("player").inc(int(sys.argv[1]))
metrics.async_batch(int(sys.argv[1]))  # a metric without labels: its file is opened at import
print(os.getpid(), flush=True)
"""


def test_multiprocess_counts_add_up_across_processes_and_dead_workers_sockets_go(tmp_path, monkeypatch):
    """Two worker processes write; the scrape merges them. A third process starting later
    removes the dead ones' live gauges (sockets) but keeps their counts."""
    from portal import metrics

    env = {**os.environ, "PROMETHEUS_MULTIPROC_DIR": str(tmp_path), "DJANGO_SETTINGS_MODULE": "portal.settings_test"}

    def worker(n: int) -> None:
        subprocess.run([sys.executable, "-c", WORKER, str(n)], env=env, check=True, capture_output=True, timeout=60)

    (tmp_path / "counter_999999999.db").write_bytes(b"")  # a previous run's file: wiped at start
    worker(2)
    assert not (tmp_path / "counter_999999999.db").exists()
    monkeypatch.setattr(metrics, "MULTIPROC_DIR", str(tmp_path))
    # A live process keeps its sockets: pretend this test process is one (its marker).
    (tmp_path / f"started_{os.getpid()}.pid").write_bytes(b"")
    worker(3)

    samples = parse(metrics.exposition().decode())
    labels = {"endpoint": "/jackpots/contribute", "mode": "sync", "operator": "op", "outcome": "ok", "code": ""}
    assert value(samples, "jackpot_contributions_total", **labels) == 5
    assert value(samples, "jackpot_async_batch_size_count") == 2
    assert value(samples, "jackpot_async_batch_size_sum") == 5
    # Both workers have exited; the second one's start removed the first one's live gauge.
    assert value(samples, "jackpot_sockets_open", kind="player") == 3


# --- over the real server: the contribution gateway, sockets, webhooks, lockouts -------------


def poll(read, expected, timeout: float = 10.0):
    """Read until it gives `expected` (a socket's close is handled after the client returns)."""
    deadline = time.monotonic() + timeout
    while (got := read()) != expected and time.monotonic() < deadline:
        time.sleep(0.02)
    return got


@pytest.mark.django_db(transaction=True)
def test_production_server_counts_contributions_and_open_sockets(service_token, contribution, jackpot, metrics_token):
    """uvicorn with portal.asgi: contributions take their own ASGI app, /metrics Django's."""
    labels = {"endpoint": "/jackpots/contribute", "mode": "sync", "operator": "thrilltech", "outcome": "ok",
              "code": ""}
    with AsgiServer() as server:
        def get(path, **headers):
            return requests.get(server.http + path, headers=headers, timeout=10)

        def sockets(kind: str) -> float:
            return value(parse(get("/metrics", Authorization=f"Bearer {TOKEN}").text), "jackpot_sockets_open",
                         kind=kind)

        assert get("/metrics").status_code == 401
        before = parse(get("/metrics", Authorization=f"Bearer {TOKEN}").text)
        response = requests.post(server.http + "/jackpots/contribute", data=jsonutil.dumps(
            contribution(source_id="casino-sitewide")), headers={"Authorization": f"Bearer {service_token}",
                                                                 "Content-Type": "application/json"}, timeout=10)
        assert response.status_code == 200
        after = parse(get("/metrics", Authorization=f"Bearer {TOKEN}").text)
        assert value(after, "jackpot_contributions_total", **labels) == value(
            before, "jackpot_contributions_total", **labels) + 1

        open_before, refused_before = sockets("service"), value(before, "jackpot_sockets_refused_total",
                                                                 kind="service")
        with server.socket(f"/v1/events/service?token={service_token}"):
            assert poll(lambda: sockets("service"), open_before + 1) == open_before + 1
        assert poll(lambda: sockets("service"), open_before) == open_before
        with server.socket("/v1/events/service?token=bogus") as refused, pytest.raises(ConnectionClosed):
            refused.recv()
        refused_after = value(parse(get("/metrics", Authorization=f"Bearer {TOKEN}").text),
                              "jackpot_sockets_refused_total", kind="service")
        assert refused_after == refused_before + 1


@pytest.mark.django_db(transaction=True)
def test_webhook_attempts_and_async_batches_are_counted(gateway, contribution, jackpot, metrics_token, settings):
    settings.WEBHOOK_ALLOWED_HOSTS = ["127.0.0.1"]
    before = scrape()
    with Receiver(statuses=[503]) as receiver:
        response = gateway.contribute(with_callback(contribution(source_id="casino-sitewide"), receiver.url))
        assert response.status_code == 200
        receiver.wait_for(1)
        after = scrape()

    def moved(name, **labels):
        return value(after, name, **labels) - value(before, name, **labels)

    assert moved("jackpot_webhook_attempts_total", operator="thrilltech", result="5xx") == 1
    assert moved("jackpot_webhook_attempt_duration_seconds_count", operator="thrilltech") == 1
    assert moved("jackpot_async_batch_size_count") == 1
    assert moved("jackpot_async_batch_size_sum") >= 1
    # The delivery waits for its retry: the backlog says so.
    assert value(after, "jackpot_webhook_deliveries_open", operator="thrilltech", status="pending") == 1


def test_login_lockouts_are_counted_by_surface(service_account, metrics_token, settings):
    labels = {"surface": "service"}
    before = value(scrape(), "jackpot_login_lockouts_total", **labels)

    answers = [Client().post("/authenticate/service", jsonutil.dumps({"username": "integration", "password": "no"}),
                             content_type="application/json", REMOTE_ADDR="203.0.113.9").status_code
               for _ in range(settings.AXES_FAILURE_LIMIT)]

    assert answers[-1] == 429
    assert value(scrape(), "jackpot_login_lockouts_total", **labels) == before + 1
