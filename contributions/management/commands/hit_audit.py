from datetime import date

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from contributions.management.commands.close_day import instance_uuids
from contributions.reports import day_start, hit_audit, hit_rate_pots, parse_date
from sources.models import JackpotInstance


def utc_day(text: str) -> date:
    try:
        return parse_date(text)
    except ValueError as exc:
        raise CommandError(f"{text!r}: give a date as YYYY-MM-DD") from exc


class Command(BaseCommand):
    help = ("Audit every HitRate pot: observed hits against the number its stored draws make expected, with a "
            "two-sided exact test; exits non-zero when a pot is flagged (p below --alpha, or a draw recorded "
            "against its own number).")

    def add_arguments(self, parser):
        parser.add_argument("instance_ids", nargs="*", help="Instance ids (default: every instance).")
        parser.add_argument("--since", type=utc_day, help="Draws of contributions processed from this UTC day.")
        parser.add_argument("--until", type=utc_day, help="... up to this UTC day (exclusive).")
        parser.add_argument("--alpha", type=float, default=None,
                            help=f"Flag below this p-value (default HIT_AUDIT_ALPHA, {settings.HIT_AUDIT_ALPHA}).")

    def handle(self, *args, instance_ids, since, until, alpha, **options):
        instances = JackpotInstance.objects.all()
        if instance_ids:
            instances = instances.filter(pk__in=instance_uuids(instance_ids))
        pots = hit_rate_pots(instances)
        flagged = 0
        for number, pot in enumerate(pots, start=1):
            audit = hit_audit(pot, since=day_start(since), until=day_start(until), alpha=alpha)
            mark = self.style.ERROR("FLAG") if audit.flagged else self.style.SUCCESS("OK  ")
            p_value = "-" if audit.p_value is None else f"{audit.p_value:.3g}"
            self.stdout.write(
                f"[{number}/{len(pots)}] {mark} {pot.jackpot.name} / {pot.pot_id}: {audit.draws} draws, "
                f"{audit.hits} hits, {audit.expected:.2f} expected, p = {p_value} ({audit.method or 'no draws'}), "
                f"{audit.awarded} won")
            if audit.inconsistent:
                self.stdout.write(f"      {audit.inconsistent} draws recorded an outcome their drawn number contradicts")
            flagged += audit.flagged
        if flagged:
            raise CommandError(f"{flagged} of {len(pots)} HitRate pots flagged (alpha {alpha or settings.HIT_AUDIT_ALPHA}).")
        self.stdout.write(self.style.SUCCESS(f"No HitRate pot flagged among {len(pots)}."))
