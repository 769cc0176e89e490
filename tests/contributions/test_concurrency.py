"""Real concurrent requests on PostgreSQL: idempotency and exact ledgers under contention."""

import threading
from collections import Counter
from decimal import Decimal as D

import pytest
import requests
from django.db import connection

from contributions.models import Contribution, PotIncrement, Win
from contributions.selectors import reconcile_instance
from portal import jsonutil
from sources.models import Pot
from tests import factories
from tests.asgi import AsgiServer

pytestmark = pytest.mark.django_db(transaction=True)


def run_concurrently(count: int, work) -> list:
    """Start `count` threads at the same instant; each runs work(i) with its own connection."""
    barrier = threading.Barrier(count)
    results: list = [None] * count
    errors: list = []

    def runner(i: int) -> None:
        try:
            barrier.wait(timeout=30)
            results[i] = work(i)
        except Exception as exc:  # noqa: BLE001 - surfaced below
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=runner, args=(i,)) for i in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert not errors, errors
    return results


@pytest.fixture
def instance(currencies, operator, brand1):
    return factories.three_pot_instance(operator=operator)


@pytest.fixture(scope="module", autouse=True)
def server():
    """The production ASGI application under uvicorn: the gateway's own path, its database lane."""
    with AsgiServer() as running:
        SERVER["url"] = running.http
        yield running


SERVER: dict = {}
_sessions = threading.local()


def post(token: str, body: dict):
    session = getattr(_sessions, "session", None) or requests.Session()  # kept alive, as a backend would
    _sessions.session = session
    response = session.post(SERVER["url"] + "/jackpots/contribute", data=jsonutil.dumps(body),
                            headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"},
                            timeout=60)
    return response.status_code, response.content, response.headers.get("Idempotent-Replayed")


def test_twenty_concurrent_duplicates_make_one_contribution(instance, service_token, contribution):
    body = contribution(instance_id=str(instance.pk), gameround_id="same-round", base_wager=D("10"))

    results = run_concurrently(20, lambda i: post(service_token, body))

    assert {status for status, _, _ in results} == {200}
    assert len({content for _, content, _ in results}) == 1  # identical bodies, one trace_id
    assert Counter(replayed for _, _, replayed in results) == {"true": 19, None: 1}
    assert Contribution.objects.count() == 1
    assert PotIncrement.objects.count() == 3  # one increment per pot, once
    assert reconcile_instance(instance).ok


def test_eight_threads_contributing_reconcile_exactly(instance, service_token, contribution):
    """High hit rates so pots are won and reseeded while other threads contribute."""
    Pot.objects.filter(jackpot=instance).update(max_magic_number=3, cost_per_attempt=D("0.5"))
    per_thread = 25

    def work(i: int):
        statuses = []
        for n in range(per_thread):
            body = contribution(instance_id=str(instance.pk), player_id=f"player-{i}",
                                gameround_id=f"t{i}-{n}", base_wager=D("7.77"), currency="GBP" if n % 2 else "EUR")
            statuses.append(post(service_token, body)[0])
        return statuses

    results = run_concurrently(8, work)

    assert [s for statuses in results for s in statuses] == [200] * (8 * per_thread)
    report = reconcile_instance(instance)
    assert report.contributions == 8 * per_thread
    assert report.contributed == report.to_pots + report.to_seed_funds + report.to_house
    assert report.ok, report
    wins = Win.objects.filter(jackpot=instance)
    assert wins.exists(), "the test needs wins to prove reseeding under contention"
    # At most one win per pot per generation, and every generation before the current one was won.
    for pot in Pot.objects.filter(jackpot=instance):
        generations = sorted(wins.filter(pot=pot).values_list("generation", flat=True))
        assert generations == list(range(1, pot.generation))


def test_thirty_two_clients_over_several_instances_with_wins_share_commits_and_reconcile(
        currencies, operator, brand1, service_token, contribution):
    """Group commit under contention: batches of several requests form, every pot is won at
    most once per generation, nothing deadlocks, and every ledger reconciles exactly."""
    from contributions.services.engine import lane
    from contributions.services.group import committer

    instances = [factories.three_pot_instance(operator=operator, name=f"Busy {n}") for n in range(3)]
    Pot.objects.filter(jackpot__in=instances).update(max_magic_number=4, cost_per_attempt=D("0.5"))
    committer.largest = lane.largest = 0
    per_client = 12

    def work(i: int):
        return [post(service_token, contribution(
            instance_id=str(instances[(i + n) % 3].pk), player_id=f"player-{i}", gameround_id=f"c{i}-{n}",
            base_wager=D("9.99"), currency="GBP" if n % 2 else "EUR"))[0] for n in range(per_client)]

    statuses = run_concurrently(32, work)

    assert Counter(s for client in statuses for s in client) == {200: 32 * per_client}
    assert Contribution.objects.count() == 32 * per_client
    # the database lane's batches; side bets at a wallet share theirs on their own threads
    assert max(lane.largest, committer.largest) > 1, "no two requests ever shared a commit"
    wins = Win.objects.filter(jackpot__in=instances)
    assert wins.count() > 3
    assert wins.values("pot", "generation").distinct().count() == wins.count()
    for instance in instances:
        assert reconcile_instance(instance).ok, reconcile_instance(instance)


def test_a_pause_in_the_middle_refuses_exactly_the_contributions_applied_after_it(
        currencies, operator, brand1, service_token, contribution):
    """Every answer is consistent with the ledger: a 200 is stored before the pause took
    effect, an InstanceNotActive refusal stored nothing."""
    from sources import services as catalogue

    instance = factories.three_pot_instance(operator=operator)
    paused = threading.Event()

    def work(i: int):
        if i == 0:
            while Contribution.objects.filter(jackpot=instance).count() < 40:
                paused.wait(0.005)  # let contributions flow first (polls the count)
            catalogue.instance_set_state(instance=instance, state="Paused", actor=None, reason="mid-traffic")
            paused.set()
            return []
        answers = []
        for n in range(20):
            status, content, _ = post(service_token, contribution(
                instance_id=str(instance.pk), player_id=f"p{i}", gameround_id=f"m{i}-{n}"))
            answers.append((f"m{i}-{n}", status, jsonutil.loads(content)))
            if paused.is_set() and status != 200:
                break
        return answers

    answers = [a for client in run_concurrently(16, work) for a in client]

    stored = set(Contribution.objects.filter(jackpot=instance).values_list("gameround_id", flat=True))
    accepted = {g for g, status, _ in answers if status == 200}
    refused = {g for g, status, body in answers if status != 200}
    assert accepted == stored
    assert refused and all(body["message"].startswith("InstanceNotActive") for g, s, body in answers if s != 200)
    assert not refused & stored
    assert reconcile_instance(instance).ok
