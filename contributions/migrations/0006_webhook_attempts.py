"""Attempts are numbered when claimed, uniquely per delivery.

Before this, a claim that expired while its attempt still ran let a second worker send the
same delivery, and both attempts were recorded under one number. Such duplicates are
renumbered in the order they started before the constraint is added.
"""

from django.db import migrations, models
from django.db.models import Count, Max


def renumber_duplicates(apps, schema_editor):
    WebhookAttempt = apps.get_model("contributions", "WebhookAttempt")
    WebhookDelivery = apps.get_model("contributions", "WebhookDelivery")
    clashing = (WebhookAttempt.objects.values("delivery_id", "number").annotate(n=Count("id"))
                .filter(n__gt=1).values_list("delivery_id", flat=True).distinct())
    for delivery_id in set(clashing):
        attempts = list(WebhookAttempt.objects.filter(delivery_id=delivery_id).order_by("started_at", "id"))
        for number, attempt in enumerate(attempts, start=1):
            attempt.number = number
        WebhookAttempt.objects.bulk_update(attempts, ["number"])
        last = WebhookAttempt.objects.filter(delivery_id=delivery_id).aggregate(last=Max("number"))["last"]
        WebhookDelivery.objects.filter(pk=delivery_id, attempt_count__lt=last).update(attempt_count=last)


class Migration(migrations.Migration):

    dependencies = [
        ("contributions", "0005_mechanics"),
    ]

    operations = [
        migrations.RunPython(renumber_duplicates, migrations.RunPython.noop),
        migrations.AlterField(
            model_name="webhookattempt",
            name="number",
            field=models.PositiveSmallIntegerField(help_text="Given when the attempt is claimed: 1, 2, 3 ..."),
        ),
        migrations.AddConstraint(
            model_name="webhookattempt",
            constraint=models.UniqueConstraint(fields=("delivery", "number"), name="webhook_attempt_number_unique"),
        ),
    ]
