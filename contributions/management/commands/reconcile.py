from django.core.management.base import BaseCommand, CommandError

from contributions.selectors import reconcile_instance
from sources.models import JackpotInstance


class Command(BaseCommand):
    help = ("Prove, per instance, that the ledger and the pots agree, and that every contribution's Debit "
            "stands and no Debit took money without a contribution; list what differs.")

    def add_arguments(self, parser):
        parser.add_argument("instance_ids", nargs="*", help="Instance ids (default: every instance).")

    def handle(self, *args, instance_ids, **options):
        instances = JackpotInstance.objects.order_by("name")
        if instance_ids:
            instances = instances.filter(pk__in=instance_ids)
        total = instances.count()
        failures = 0
        for number, instance in enumerate(instances, start=1):
            report = reconcile_instance(instance)
            mark = self.style.SUCCESS("OK ") if report.ok else self.style.ERROR("BAD")
            self.stdout.write(
                f"[{number}/{total}] {mark} {report.name} ({report.instance_id}): "
                f"{report.contributions} contributions, {report.contributed:f} {instance.currency_id} in = "
                f"{report.to_pots:f} pots + {report.to_seed_funds:f} seed funds + {report.to_house:f} house; "
                f"{report.won:f} won"
                + (f"; transferred {report.transferred_out:f} out, {report.transferred_in:f} in"
                   if report.transferred_out or report.transferred_in else "")
            )
            for pot in report.pots:
                if not pot.ok:
                    self.stdout.write(
                        f"      pot {pot.pot_id}: value {pot.value:f} (ledger {pot.expected_value:f}), "
                        f"seed fund {pot.seed_fund:f} (ledger {pot.expected_seed_fund:f}), "
                        f"deficit {pot.seed_deficit:f} (ledger {pot.expected_seed_deficit:f})"
                    )
                    for line in pot.explanation:
                        self.stdout.write(f"        {line}")
            for trace_id in report.unbalanced_contributions:
                self.stdout.write(f"      contribution {trace_id}: parts do not add up to its amount")
            for trace_id, tx_id, status in report.debits_not_standing:
                self.stdout.write(f"      contribution {trace_id}: its Debit {tx_id} is {status}, not standing")
            for tx_id, status in report.debits_without_contribution:
                self.stdout.write(f"      Debit {tx_id} is {status} without a contribution")
            for transfer_id in report.unpaired_transfers:
                self.stdout.write(f"      transfer {transfer_id}: its two ledger rows do not pair up")
            failures += not report.ok
        if failures:
            raise CommandError(f"{failures} of {total} instances do not reconcile.")
        self.stdout.write(self.style.SUCCESS(f"All {total} instances reconcile exactly."))
