from django.conf import settings
from django.core.management.base import BaseCommand
from django.db import connection

from contributions import partitions


class Command(BaseCommand):
    help = ("PostgreSQL: make the ledger's monthly partitions ahead of time (the beat does it every 6 hours) "
            "and list them with their rows.")

    def add_arguments(self, parser):
        parser.add_argument("--ahead", type=int, default=settings.PARTITIONS_AHEAD_MONTHS,
                            help="Months after the current one (default: %(default)s).")

    def handle(self, *args, ahead, **options):
        if not partitions.is_partitioned():
            self.stdout.write("The ledger is not partitioned here (SQLite keeps plain tables).")
            return
        for name in partitions.partitions_ensure(ahead=ahead):
            self.stdout.write(self.style.SUCCESS(f"made {name}"))

        for table in partitions.PARTITIONED:
            with connection.cursor() as cursor:
                cursor.execute(f"SELECT count(*) FROM {table}_default")
                stray = cursor.fetchone()[0]
            months = sorted(partitions.partitions_of(table))
            self.stdout.write(f"{table}: {len(months)} months"
                              + (f", {months[0]:%Y-%m} to {months[-1]:%Y-%m}" if months else "")
                              + f"; {stray} rows in the default partition")
