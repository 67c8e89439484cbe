"""'Waiting for me' (notifications): recurring runs I own that are due or overdue.

One query; an entry goes once its run is completed or aborted."""

from django.utils import timezone

from notifications.hooks import LIMIT, WaitingItem

from .models import ScheduledRun


def items(user) -> list[WaitingItem]:
    now = timezone.now()
    rows = (
        ScheduledRun.objects.open()
        .filter(schedule__owner=user, period_start__lte=now)
        .with_related()
        .order_by("due_at", "pk")[:LIMIT]
    )
    out = []
    for period in rows:
        schedule = period.schedule
        late = now > period.due_at
        due = timezone.localtime(period.due_at).strftime("%Y-%m-%d %H:%M")
        out.append(
            WaitingItem(
                kind="Recurring run overdue" if late else "Recurring run due",
                title=f"{schedule.runbook.title} on {schedule.environment}",
                url=period.get_absolute_url(),
                detail=f"{'was due' if late else 'due'} by {due} ({schedule.describe()})",
                since=period.period_start,
            )
        )
    return out
