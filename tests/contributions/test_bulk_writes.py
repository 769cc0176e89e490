"""The bulk writes of the pipeline (`portal/db.py`): COPY inserts and VALUES updates behave as
the ORM's own would -- keys filled from related objects, refusals as errors, nothing cut short
-- and an unflushed commit never changes an enclosing transaction."""

import pytest
from django.db import DataError, connection, transaction

from contributions.models import Contribution, WebhookDelivery
from portal.db import bulk_insert, bulk_update, commit_unflushed

postgresql_only = pytest.mark.skipif("connection.vendor != 'postgresql'", reason="PostgreSQL's COPY and settings")


@pytest.fixture
def stored(world, gateway, contribution) -> Contribution:
    assert gateway.contribute(contribution(source_id="casino-sitewide")).status_code == 200
    return Contribution.objects.get()


def unsaved_like(stored: Contribution, gameround_id: str) -> Contribution:
    return Contribution(brand=stored.brand, player=stored.player, player_ref=stored.player_ref,
                        gameround_id=gameround_id, target_kind="source", target_id="casino-sitewide",
                        player_country="MT", currency="EUR", base_wager=1)


def test_a_one_to_one_key_is_taken_from_its_related_object_saved_since(stored):
    later = unsaved_like(stored, "later")
    delivery = WebhookDelivery(contribution=later, brand_id=stored.brand_id, url="http://127.0.0.1:9/",
                               kind="data", payload="{}")
    bulk_insert([later])  # the contribution gets its id after the delivery was built

    bulk_insert([delivery])

    assert WebhookDelivery.objects.get(pk=delivery.pk).contribution_id == later.pk


def test_a_relation_to_an_unsaved_object_is_refused(stored):
    unsaved = unsaved_like(stored, "never-saved")
    delivery = WebhookDelivery(contribution=unsaved, brand_id=stored.brand_id, url="http://127.0.0.1:9/",
                               kind="data", payload="{}")

    with pytest.raises(ValueError, match="unsaved related object"):
        bulk_insert([delivery])
    assert not WebhookDelivery.objects.exists()


def test_an_update_counts_its_rows(stored):
    stored.result_json = '{"changed": true}'
    assert bulk_update([stored], ["result_json"], match=("created_month",)) == 1
    assert Contribution.objects.get().result_json == '{"changed": true}'


@postgresql_only  # SQLite does not enforce a column's length
def test_an_update_refuses_a_value_too_long_for_its_column(stored):
    stored.status = "x" * 20  # the column holds 10
    with pytest.raises(DataError), transaction.atomic():
        bulk_update([stored], ["status"], match=("created_month",))
    assert Contribution.objects.get().status == Contribution.Status.PROCESSED


def synchronous_commit() -> str:
    with connection.cursor() as cursor:
        cursor.execute("SHOW synchronous_commit")
        return cursor.fetchone()[0]


@postgresql_only
def test_an_unflushed_commit_inside_a_transaction_leaves_that_transactions_setting_alone(db):
    with transaction.atomic():
        with commit_unflushed():
            pass
        assert synchronous_commit() == "on"  # the enclosing commit still waits for the WAL


@postgresql_only
@pytest.mark.django_db(transaction=True)
def test_an_unflushed_commit_of_its_own_does_not_wait_for_the_wal():
    with commit_unflushed():
        assert synchronous_commit() == "off"
    assert synchronous_commit() == "on"  # for that transaction only
