"""The operations app's own calendar entries (``hooks.py``): each recurring run's periods —
those started (with how they stand) and those still to come."""

from __future__ import annotations

from datetime import datetime

from django.utils import timezone

from .choices import PeriodStatus
from .hooks import CalendarEntry
from .models import RunSchedule, ScheduledRun
from .services import PERM_VIEW

KIND = "Recurring run"
# Planned periods listed per schedule and range (an hourly cron fills a month with 720).
MAX_PLANNED = 100


def _hm(moment: datetime) -> str:
    return timezone.localtime(moment).strftime("%H:%M")


def entries(user, start: datetime, end: datetime) -> list[CalendarEntry]:
    if not user.has_perm(PERM_VIEW):
        return []
    now = timezone.now()
    out: list[CalendarEntry] = []
    periods = (
        ScheduledRun.objects.filter(period_start__gte=start, period_start__lt=end)
        .with_related()
        .order_by("period_start", "pk")
    )
    for period in periods:
        schedule = period.schedule
        status = period.status(now)
        detail = {
            PeriodStatus.DUE: f"due by {_hm(period.due_at)}",
            PeriodStatus.OVERDUE: f"was due by {timezone.localtime(period.due_at):%d %b %H:%M}",
            PeriodStatus.FAILED: period.error[:120],
        }.get(status, "")
        out.append(
            CalendarEntry(
                when=period.period_start,
                title=f"{schedule.runbook.title} on {schedule.environment}",
                url=period.get_absolute_url(),
                kind=KIND,
                status=status,
                detail=detail,
            )
        )
    schedules = (
        RunSchedule.objects.active()
        .filter(next_due_at__lt=end)
        .with_related()
        .order_by("next_due_at", "pk")
    )
    for schedule in schedules:
        begin = max(start, schedule.next_due_at)
        for fire in schedule.parsed().between(begin, end, limit=MAX_PLANNED):
            out.append(
                CalendarEntry(
                    when=fire,
                    title=f"{schedule.runbook.title} on {schedule.environment}",
                    url=schedule.get_absolute_url(),
                    kind=KIND,
                    status=PeriodStatus.PLANNED,
                    detail=f"{schedule.describe()}, owner {schedule.owner}",
                )
            )
    return out
