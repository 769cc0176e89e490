from pathlib import Path

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from contributions.models import Contribution
from contributions.services.archive import month_archive, month_unsettled, months_archivable
from portal.errors import DomainError


class Command(BaseCommand):
    help = ("Move months of the ledger older than the kept ones out of the database: their rows to gzipped "
            "JSON Lines files (loaddata reads them back), their totals kept so that reconcile stays exact.")

    def add_arguments(self, parser):
        parser.add_argument("--keep-months", type=int, default=settings.ARCHIVE_KEEP_MONTHS,
                            help="Months kept before the current one (default: ARCHIVE_KEEP_MONTHS, %(default)s).")
        parser.add_argument("--dir", default=str(settings.ARCHIVE_DIR),
                            help="Where the files go, one folder per month (default: %(default)s).")
        parser.add_argument("--dry-run", action="store_true", help="Only list the months and what holds them back.")

    def handle(self, *args, keep_months, dir, dry_run, **options):
        if keep_months < 1:
            raise CommandError("Keep at least one month before the current one.")
        months = months_archivable(keep_months=keep_months)
        if not months:
            self.stdout.write(f"Nothing to archive: no contributions older than the {keep_months} months kept.")
            return
        refused = 0
        for month in months:
            if dry_run:
                count = Contribution.objects.filter(created_month=month).count()
                waiting = month_unsettled(month)
                self.stdout.write(f"{month:%Y-%m}: {count} contributions"
                                  + (f"; waiting for {', '.join(waiting)}" if waiting else "; ready"))
                continue
            try:
                archive = month_archive(month=month, directory=Path(dir), actor="archive_contributions")
            except DomainError as error:
                refused += 1
                self.stdout.write(self.style.WARNING(f"{month:%Y-%m}: not archived: {error.message}"))
                continue
            self.stdout.write(self.style.SUCCESS(
                f"{month:%Y-%m}: {archive.contributions} contributions and {archive.increments} increments "
                f"archived to {archive.directory} ({archive.wins_unlinked} wins kept)"))
        if refused:
            raise CommandError(f"{refused} month(s) could not be archived yet; run again once settled.")
        if not dry_run:
            self.stdout.write("Run `manage.py reconcile`: it adds the archived months' totals.")

