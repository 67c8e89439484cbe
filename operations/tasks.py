"""django-q2 entry points (thin). The schedule is created in code (migration 0002), never in
the admin."""

from django.utils import timezone

from opsportal.tasking import masks_failures

from . import services


@masks_failures
def schedules_tick() -> str:
    """Every 5 minutes: start the runs of periods that have come; record overdue ones once."""
    now = timezone.now()
    started = services.scheduled_runs_create_due(now=now)
    overdue = services.scheduled_runs_flag_overdue(now=now)
    return f"{len(started)} period(s) started, {overdue} overdue"
