from django.core.management.base import BaseCommand, CommandError

from contributions.models import Win
from contributions.selectors import drop_verification


class Command(BaseCommand):
    help = "Check a must-drop win against the commitment published before it (SHA-256 of value:salt)."

    def add_arguments(self, parser):
        parser.add_argument("win_id", type=int)

    def handle(self, *args, win_id, **options):
        win = Win.objects.select_related("commitment", "pot", "jackpot", "contribution").filter(pk=win_id).first()
        if win is None:
            raise CommandError(f"No win {win_id}.")
        check = drop_verification(win)
        if check is None:
            raise CommandError(f"Win {win_id} is not a must-drop win (its pot is {win.pot.get_mechanic_display()}).")
        out = self.stdout.write
        out(f"Win {win.pk}: pot {win.pot.pot_id} of {win.jackpot.name}, {win.amount_base} {win.jackpot.currency_id}")
        out(f"  {check['kind']}, commitment published {check['published_at']:%Y-%m-%d %H:%M:%S} UTC:")
        out(f"    {check['published']}")
        out(f"  revealed: value {check['value']}, salt {check['salt']}")
        out(f"  sha256(\"{check['secret_text']}\") = {check['recomputed']}")
        out(f"  won by {check['crossing']}: {check['where']}")
        if not check["matches"]:
            raise CommandError("MISMATCH: the revealed value does not hash to the published commitment.")
        if not check["consistent"]:
            raise CommandError(f"INCONSISTENT: the winning contribution is not {check['rule']}.")
        out(self.style.SUCCESS(f"VERIFIED: the drop was fixed in advance, and {check['crossing']}, "
                               f"{check['rule']}, is the one that won."))
