import argparse

from django.core.management.base import BaseCommand, CommandError

from portal.models import Operator
from portal.services import service_account_save


class Command(BaseCommand):
    help = "Create a gateway service account for an operator (or reset its password)."

    def add_arguments(self, parser):
        parser.add_argument("--operator", required=True, help="Operator id, e.g. thrilltech")
        parser.add_argument("--username", required=True)
        parser.add_argument("--password", required=True)
        parser.add_argument("--configure", action=argparse.BooleanOptionalAction, default=None,
                            help="Grant (--configure) or withdraw (--no-configure) the configuration API "
                                 "permission (/v1/config/); unchanged if not given.")

    def handle(self, *args, operator, username, password, configure, **options):
        op = Operator.objects.filter(pk=operator).first()
        if op is None:
            raise CommandError(f"No operator {operator!r}. Create it in the admin first.")
        account, created = service_account_save(operator=op, username=username, password=password,
                                                can_configure=configure)
        if account.operator_id != op.pk:
            raise CommandError(f"{username!r} belongs to operator {account.operator_id}")
        verb = "Created" if created else "Updated the password of"
        self.stdout.write(self.style.SUCCESS(f"{verb} service account {username} for operator {op.pk}."))
        if account.can_configure:
            self.stdout.write("It may use the configuration API (/v1/config/).")
        self.stdout.write("Get a token with: POST /authenticate/service {\"username\": ..., \"password\": ...}")
