"""Rotate an operator's webhook secret from the shell; the new secret is printed once."""

from django.core.management.base import BaseCommand, CommandError

from portal.models import WEBHOOK_SECRET_GRACE, Operator
from portal.services import operator_rotate_webhook_secret


class Command(BaseCommand):
    help = ("Issue a new webhook secret for an operator and print it (the previous one keeps signing "
            "alongside it for 24 hours, so receivers can switch over).")

    def add_arguments(self, parser):
        parser.add_argument("--operator", required=True, help="Operator id, e.g. thrilltech.")

    def handle(self, *args, operator, **options):
        found = Operator.objects.filter(pk=operator).first()
        if found is None:
            raise CommandError(f"No operator {operator!r}.")
        # The same service as the admin action; History shows no user and says it was this command.
        secret = operator_rotate_webhook_secret(operator=found, actor=None, via="manage.py rotate_webhook_secret")
        self.stdout.write(secret)
        hours = WEBHOOK_SECRET_GRACE.total_seconds() / 3600
        self.stderr.write(f"New webhook secret of {found.pk} (shown once; the previous one signs alongside it "
                          f"for {hours:g} hours).")
