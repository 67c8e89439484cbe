"""Notifications (``notifications/hooks.py``): a recurring run overdue, or one that could not
start. Time-based: :func:`scan` records an overdue period once (the tick does too, every few
minutes); the handlers below tell it. Handlers read; they write nothing."""

from notifications.hooks import IMMEDIATE, EventType, Notice, others
from runbooks.choices import RunStatus

from .models import ScheduledRun
from .services import scheduled_runs_flag_overdue

EVENTS = [
    EventType(
        "schedule.run_overdue",
        "Recurring run overdue",
        "the schedule's owner",
        IMMEDIATE,
    ),
    EventType(
        "schedule.run_failed",
        "A recurring run could not start",
        "the schedule's owner and the person who set it up",
        IMMEDIATE,
    ),
]


def _period(event) -> ScheduledRun | None:
    return (
        ScheduledRun.objects.with_related()
        .select_related("schedule__created_by")
        .filter(pk=event.target_id or None)
        .first()
    )


def _facts(period: ScheduledRun) -> dict:
    schedule = period.schedule
    return {
        "Runbook": schedule.runbook.title,
        "Environment": str(schedule.environment),
        "Owner": str(schedule.owner),
        "Recurs": schedule.describe(),
    }


def overdue(event) -> list[Notice]:
    period = _period(event)
    if period is None or period.run is None or period.run.status != RunStatus.IN_PROGRESS:
        return []  # completed or aborted since, or gone
    schedule = period.schedule
    return [
        Notice(
            event="schedule.run_overdue",
            subject=f"Recurring run overdue: {schedule.runbook.title} ({schedule.environment})",
            lines=[
                f"The {schedule.describe()} run of {schedule.runbook.title} on "
                f"{schedule.environment} was due by {period.due_at:%Y-%m-%d %H:%M %Z} "
                "and is not completed.",
                "Finish it, or abort it with a reason.",
            ],
            url=period.get_absolute_url(),
            recipients=[schedule.owner],
            project_id=schedule.environment.project_id,
            key=f"schedule.run_overdue:{period.pk}",
            facts=_facts(period),
        )
    ]


def failed(event) -> list[Notice]:
    period = _period(event)
    if period is None:
        return []
    schedule = period.schedule
    people = [schedule.owner, *([schedule.created_by] if schedule.created_by else [])]
    return [
        Notice(
            event="schedule.run_failed",
            subject=f"Recurring run not started: {schedule.runbook.title} ({schedule.environment})",
            lines=[
                f"The run due at {period.period_start:%Y-%m-%d %H:%M %Z} could not be started.",
                f"Why: {period.error}" if period.error else None,
                "Fix the schedule (its owner, the environment) or start the run by hand.",
            ],
            url=schedule.get_absolute_url(),
            recipients=others(list({u.pk: u for u in people}.values()), event),
            project_id=schedule.environment.project_id,
            key=f"schedule.run_failed:{period.pk}",
            facts=_facts(period),
        )
    ]


def scan(now) -> int:
    """What time brought: runs past their due time (recorded once each)."""
    return scheduled_runs_flag_overdue(now=now)


HANDLERS = {
    "schedule.run.overdue": overdue,
    "schedule.run.failed": failed,
}
