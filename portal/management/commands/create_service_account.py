from django.core.management.base import BaseCommand, CommandError

from portal.models import Operator
from portal.services import service_account_save


class Command(BaseCommand):
    help = "Create a gateway service account for an operator (or reset its password)."

    def add_arguments(self, parser):
        parser.add_argument("--operator", required=True, help="Operator id, e.g. thrilltech")
        parser.add_argument("--username", required=True)
        parser.add_argument("--password", required=True)

    def handle(self, *args, operator, username, password, **options):
        op = Operator.objects.filter(pk=operator).first()
        if op is None:
            raise CommandError(f"No operator {operator!r}. Create it in the admin first.")
        account, created = service_account_save(operator=op, username=username, password=password)
        if account.operator_id != op.pk:
            raise CommandError(f"{username!r} belongs to operator {account.operator_id}")
        verb = "Created" if created else "Updated the password of"
        self.stdout.write(self.style.SUCCESS(f"{verb} service account {username} for operator {op.pk}."))
        self.stdout.write("Get a token with: POST /authenticate/service {\"username\": ..., \"password\": ...}")
