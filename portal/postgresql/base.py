"""Django's PostgreSQL backend with one difference, for tables partitioned by PostgreSQL
(the ledger's, contributions/partitions.py).

Django groups an aggregate query by a model's primary key alone when PostgreSQL allows it:
a table's primary key determines its other columns. A partitioned table's primary key must
hold its partition key too ((id, created_month)), so the id alone determines nothing there
and such a query fails ("must appear in the GROUP BY clause"). Models that say
`db_partitioned = True` are grouped by every selected column instead, as on other databases.
It uses the backend API only (a `DatabaseFeatures` hook, `features_class`);
`tests/portal/test_framework_seams.py` checks that Django still asks the hook and that such a
query runs, so a Django upgrade that changes it fails there loudly (test_archive.py runs one too).
"""

from django.db.backends.postgresql import base, features


class DatabaseFeatures(features.DatabaseFeatures):
    def allows_group_by_selected_pks_on_model(self, model):
        return super().allows_group_by_selected_pks_on_model(model) and not getattr(model, "db_partitioned", False)


class DatabaseWrapper(base.DatabaseWrapper):
    features_class = DatabaseFeatures
