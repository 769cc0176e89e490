"""Celery tasks of the catalogue: they call a service; each is safe to run twice."""

from celery import shared_task

from sources.services import instances_follow_schedule


@shared_task(name="sources.follow_schedules")
def follow_schedules() -> tuple[int, int]:
    """Instances start and end by their timestamps."""
    return instances_follow_schedule()
