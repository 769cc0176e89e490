import uuid
from datetime import date

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError

from contributions.models import DailyClose
from contributions.reports import business_zone, parse_date
from contributions.services.closing import Step, close_problems, day_close, days_close
from portal.errors import DomainError
from sources.models import JackpotInstance


def business_date(text: str) -> date:
    try:
        return parse_date(text)
    except ValueError as exc:
        raise CommandError(f"--date {text!r}: give a date as YYYY-MM-DD") from exc


def instance_uuids(texts: list[str]) -> list[uuid.UUID]:
    try:
        return [uuid.UUID(text) for text in texts]
    except ValueError as exc:
        raise CommandError(f"Instance ids are UUIDs: {', '.join(texts)}") from exc


class Command(BaseCommand):
    help = ("Close business days: for each instance, every day that is over and not closed yet, in order, up to "
            "--date (default: the last day that is over). A closed day is final; --force --by USER --reason TEXT "
            "computes --date again as a new revision and keeps the one it replaces.")

    def add_arguments(self, parser):
        parser.add_argument("instance_ids", nargs="*", help="Instance ids (default: every instance).")
        parser.add_argument("--date", type=business_date, help="The last business day to close (YYYY-MM-DD).")
        parser.add_argument("--force", action="store_true", help="Compute --date again (a new revision).")
        parser.add_argument("--by", help="With --force: the username of who asks for it.")
        parser.add_argument("--reason", default="", help="With --force: why (kept with the revision).")

    def handle(self, *args, instance_ids, date, force, by, reason, **options):
        instances = JackpotInstance.objects.order_by("created_at", "pk")
        if instance_ids:
            instances = instances.filter(pk__in=instance_uuids(instance_ids))
            if instances.count() != len(set(instance_ids)):
                raise CommandError("Unknown instance id among: " + ", ".join(instance_ids))
        self.problems = 0
        if force:
            self.recompute(instances, date, by, reason)
        else:
            steps = days_close(trigger=DailyClose.Trigger.COMMAND, until=date, instances=instances,
                               progress=self.report)
            if not steps:
                self.stdout.write("Nothing to close: every day that is over is closed.")
        if self.problems:
            raise CommandError(f"{self.problems} day(s) refused or not adding up; see above.")
        self.stdout.write(self.style.SUCCESS("Done."))

    def recompute(self, instances, day, by, reason) -> None:
        if day is None or not by:
            raise CommandError("--force needs --date, --by USERNAME and --reason.")
        actor = get_user_model().objects.filter(username=by).first()
        if actor is None:
            raise CommandError(f"--by {by!r}: no such user")
        for instance in instances:
            before = DailyClose.objects.filter(jackpot=instance, business_date=day, superseded_at__isnull=True).first()
            try:
                close = day_close(instance=instance, business_date=day, trigger=DailyClose.Trigger.COMMAND,
                                  actor=actor, reason=reason, force=True)
            except DomainError as error:
                self.report(Step(instance=instance, business_date=day, error=error))
                continue
            self.report(Step(instance=instance, business_date=day, close=close, problems=close_problems(close)))
            if before is not None:
                same = before.digest == close.digest
                self.stdout.write(f"      revision {before.revision} kept (superseded); revision {close.revision}: "
                                  + ("the same figures" if same else self.style.WARNING("the figures differ")))

    def report(self, step: Step) -> None:
        where = f"{step.instance.name} ({step.instance.pk}) {step.business_date} ({business_zone(step.instance.operator_id).key})"
        if step.skipped:
            self.stdout.write(f"  -  {where}: skipped, {step.skipped}")
            return
        if step.error is not None:
            self.problems += 1
            self.stdout.write(f"  {self.style.ERROR('!')}  {where}: {step.error.code}: {step.error.message}")
            return
        close = step.close
        pots = list(close.pots.all())
        currency = step.instance.currency_id
        liability = sum(p.closing_liability for p in pots)
        contributions = sum(line.contributions for line in close.lines.all())
        wins = sum(p.wins for p in pots)
        mark = self.style.ERROR("BAD") if step.problems else self.style.SUCCESS("OK ")
        self.stdout.write(f"  {mark} {where}: closed (revision {close.revision}), liability {liability:f} {currency}, "
                          f"{contributions} contributions, {wins} wins")
        for problem in step.problems:
            self.stdout.write(f"      {problem}")
        self.problems += bool(step.problems)
