"""Where the portal leans on a library's internals or on a hook of its own, a test says what it
relies on, so an upgrade that changes it fails here, loudly, and not in production.

* portal/db.py: psycopg_pool's `ConnectionPool._check`, swapped for ours on the pool Django built;
* portal/postgresql/: Django's compiler asks the backend's features whether a model may be
  grouped by its primary key alone (partitioned ledger tables may not);
* portal/middleware.py: WhiteNoise's middleware, called as any Django middleware is;
* portal/runtime.py: Celery's eager setting (the test suite's tasks) read live from the settings.
"""

import pytest
from django.db import connection, connections
from django.db.models import Count
from psycopg_pool import ConnectionPool

from contributions.models import Contribution, WalletTransaction
from portal.db import SweepingCheck, insert_new
from tests import factories


def test_psycopg_pool_keeps_its_check_as_check_and_calls_it_for_each_connection_handed_out():
    conninfo = " ".join(f"{key}={value}" for key, value in (
        ("dbname", connection.settings_dict["NAME"]), ("host", connection.settings_dict["HOST"] or "127.0.0.1"),
        ("port", connection.settings_dict["PORT"] or 5432), ("user", connection.settings_dict["USER"] or "postgres")))
    pool = ConnectionPool(conninfo, min_size=1, max_size=1, open=False, check=ConnectionPool.check_connection)
    assert pool._check is ConnectionPool.check_connection  # what portal.db replaces
    checked = []
    pool._check = checked.append
    pool.open(wait=True)
    try:
        with pool.connection() as conn:
            assert checked == [conn]  # the check ran on the connection handed out
        pool.check()  # the public sweep SweepingCheck relies on
    finally:
        pool.close()


@pytest.mark.django_db(transaction=True)
def test_django_builds_its_pool_with_the_default_check_and_ours_replaces_it():
    settings = {**connection.settings_dict, "OPTIONS": {**connection.settings_dict["OPTIONS"],
                                                         "pool": {"min_size": 1, "max_size": 1}},
                "CONN_HEALTH_CHECKS": True, "CONN_MAX_AGE": 0}
    wrapper = type(connections["default"])(settings, alias="seam-test")
    try:
        assert wrapper.pool._check is ConnectionPool.check_connection  # Django passes check= itself
        wrapper.ensure_connection()  # connection_created: portal.db swaps its check in
        assert isinstance(wrapper.pool._check, SweepingCheck) and wrapper.pool._check.pool is wrapper.pool
    finally:
        wrapper.close()
        wrapper.close_pool()


@pytest.mark.django_db
def test_a_partitioned_model_is_grouped_by_every_selected_column():
    """portal/postgresql: Django groups by the primary key alone when the backend allows it;
    a partitioned table's key is (id, created_month), so it must not."""
    features = connection.features
    if connection.vendor != "postgresql":
        pytest.skip("partitioned tables are PostgreSQL's")
    assert type(features).__module__ == "portal.postgresql.base"
    assert features.allows_group_by_selected_pks_on_model(WalletTransaction)
    assert not features.allows_group_by_selected_pks_on_model(Contribution)

    query = str(Contribution.objects.annotate(n=Count("increments")).query)
    group_by = query.split("GROUP BY", 1)[1]
    assert '"contributions_contribution"."gameround_id"' in group_by  # not the id alone
    assert list(Contribution.objects.annotate(n=Count("increments"))) == []  # and PostgreSQL accepts it


@pytest.mark.django_db
def test_insert_new_saves_a_new_row_and_refuses_a_duplicate_key(currencies, operator, brand1):
    instance = factories.make_instance(operator=operator, pots=[factories.hit_rate_pot("p", share="1")])

    def row() -> WalletTransaction:
        return WalletTransaction(transaction_id="dbt-seam-1", round_key="seam", kind=WalletTransaction.Kind.DEBIT,
                                 brand=brand1, player_ref="p1", token="t", amount=1, currency="EUR",
                                 gameround_id="g1", jackpot=instance, metadata_json="null", round_closed=False)

    first, again = row(), row()

    assert insert_new(first) and first.pk is not None and not first._state.adding
    assert not insert_new(again) and again.pk is None
    assert WalletTransaction.objects.filter(transaction_id="dbt-seam-1").count() == 1
    first.save(update_fields=["token"])  # the saved object is an ordinary saved row


def test_whitenoise_answers_static_paths_through_the_portal_middleware(client):
    served = client.get("/static/portal/live.js")
    passed_on = client.get("/static/portal/no-such-file.js")

    assert served.status_code == 200 and "javascript" in served.headers["Content-Type"]
    assert passed_on.status_code == 404


def test_celery_reads_the_eager_setting_live(settings):
    from portal.celery import app

    assert app.conf.task_always_eager is True  # settings_test.py
    settings.CELERY_TASK_ALWAYS_EAGER = False  # what the tests with a real worker do
    assert app.conf.task_always_eager is False
