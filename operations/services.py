"""Every write of the operations app: recurring-run schedules and the runs they start.

A schedule fires on a cron expression (a preset's or its own, ``cron.py``). The tick
(``tasks.schedules_tick``, every few minutes) calls :func:`scheduled_runs_create_due`: for each
active schedule whose ``next_due_at`` has come, the latest period that has started gets one
run, started through ``runbooks.services.run_start`` for the schedule's owner. One run per
period however many workers tick at once: the schedule row is taken with ``SKIP LOCKED`` (a
second worker passes it by), and the period's ``ScheduledRun`` row — unique on
``(schedule, period_start)`` — is inserted in the same transaction as the run, so a second
insert fails and starts nothing. Periods missed while nothing ticked are not caught up one by
one (a daily check run three times on Monday helps nobody): the latest is started and the
number skipped is audited.
"""

from __future__ import annotations

from datetime import datetime, time, timedelta

from django.core.exceptions import PermissionDenied, ValidationError
from django.db import IntegrityError, transaction
from django.utils import timezone

from opsportal.accounts.permissions import require
from opsportal.audit.services import record
from runbooks import services as runbook_services
from runbooks.choices import RunStatus

from .choices import Frequency, Weekday
from .cron import Cron, CronError
from .models import RunSchedule, ScheduledRun

PERM_ADD = "operations.add_runschedule"
PERM_CHANGE = "operations.change_runschedule"
PERM_DELETE = "operations.delete_runschedule"
PERM_ASSIGN = "operations.assign_owner"
PERM_VIEW = "operations.view_runschedule"
# The owner starts the runs (``runbooks.services.run_start`` checks it again each period).
PERM_RUN = runbook_services.PERM_RUN

MAX_GRACE_HOURS = 24 * 92
# Schedules started per tick (the rest wait for the next tick: a tick stays short).
TICK_BATCH = 200
# Skipped periods counted at most this far (a minutely gap of a year is "more than …").
MAX_COUNTED = 1000

FIELDS = (
    "runbook",
    "environment",
    "owner",
    "frequency",
    "at_time",
    "weekday",
    "day_of_month",
    "cron",
    "grace_hours",
    "starts_at",
)


# --- validation -------------------------------------------------------------------------------
def cron_clean(expression: str) -> Cron:
    """Parse a schedule's own cron expression; runs recur at most hourly."""
    try:
        parsed = Cron.parse(expression)
    except CronError as exc:
        raise ValidationError({"cron": str(exc)}) from None
    if len(parsed.minutes) != 1:
        raise ValidationError(
            {
                "cron": "A runbook recurs at most hourly: give the minute as one number "
                "(0 9 * * mon, not */5 9 * * mon)."
            }
        )
    return parsed


def _clean(*, actor, values: dict, before_owner=None) -> Cron:
    """Check a schedule's settings (``values`` holds every name in ``FIELDS``)."""
    errors: dict[str, str] = {}
    runbook, environment, owner = values["runbook"], values["environment"], values["owner"]
    if runbook is None:
        errors["runbook"] = "Pick the runbook to run."
    elif runbook.latest_version() is None:
        errors["runbook"] = "This runbook has no version to run yet."
    if environment is None:
        errors["environment"] = "Pick the environment the runs target."
    elif runbook is not None and runbook.project_id not in (None, environment.project_id):
        errors["environment"] = f"This runbook belongs to {runbook.project}; pick one of its envs."
    if owner is None:
        errors["owner"] = "Name the person the runs are started for."
    elif not owner.is_active or not owner.has_perm(PERM_RUN):
        errors["owner"] = f"{owner.get_username()} may not start runbook runs."
    if values["frequency"] not in Frequency.values:
        errors["frequency"] = f"Unknown frequency {values['frequency']!r}."
    if values["weekday"] not in Weekday.values:
        errors["weekday"] = "Pick a day of the week."
    if not 1 <= int(values["day_of_month"] or 0) <= 28:
        errors["day_of_month"] = "Pick a day from 1 to 28 (every month has it)."
    if not isinstance(values["at_time"], time):
        errors["at_time"] = "Give a time of day."
    if not 1 <= int(values["grace_hours"] or 0) <= MAX_GRACE_HOURS:
        errors["grace_hours"] = f"The grace period is 1 to {MAX_GRACE_HOURS} hours."
    starts_at = values["starts_at"]
    if not isinstance(starts_at, datetime) or timezone.is_naive(starts_at):
        errors["starts_at"] = "Give the moment the schedule starts (with its time zone)."
    if errors:
        raise ValidationError(errors)
    if values["frequency"] == Frequency.CRON:
        parsed = cron_clean(values["cron"])
        values["cron"] = parsed.expression
    else:
        values["cron"] = ""
        parsed = Cron.parse(
            RunSchedule(
                frequency=values["frequency"],
                at_time=values["at_time"],
                weekday=values["weekday"],
                day_of_month=values["day_of_month"],
            ).expression()
        )
    if owner.pk != actor.pk and (before_owner is None or owner.pk != before_owner.pk):
        require(actor, PERM_ASSIGN, action="make another person the owner of a recurring run")
    return parsed


def _first_due(parsed: Cron, starts_at: datetime) -> datetime:
    return parsed.next_after(starts_at - timedelta(microseconds=1))


def _snapshot(schedule: RunSchedule) -> dict:
    return {
        "runbook": schedule.runbook.title,
        "environment": str(schedule.environment),
        "owner": schedule.owner.get_username(),
        "frequency": schedule.frequency,
        "expression": schedule.expression(),
        "grace_hours": schedule.grace_hours,
        "starts_at": schedule.starts_at,
        "active": schedule.active,
    }


# --- schedules --------------------------------------------------------------------------------
def schedule_create(
    *,
    actor,
    runbook,
    environment,
    owner=None,
    frequency: str = Frequency.WEEKLY,
    at_time: time = time(9, 0),
    weekday: int = Weekday.MONDAY,
    day_of_month: int = 1,
    cron: str = "",
    grace_hours: int = 24,
    starts_at: datetime | None = None,
    active: bool = True,
) -> RunSchedule:
    """A new recurring run; its first period is the first fire time at or after ``starts_at``
    (now by default)."""
    require(actor, PERM_ADD, action="schedule recurring runs")
    values = {
        "runbook": runbook,
        "environment": environment,
        "owner": owner or actor,
        "frequency": frequency,
        "at_time": at_time,
        "weekday": weekday,
        "day_of_month": day_of_month,
        "cron": cron or "",
        "grace_hours": grace_hours,
        "starts_at": starts_at or timezone.now(),
    }
    parsed = _clean(actor=actor, values=values)
    with transaction.atomic():
        schedule = RunSchedule.objects.create(
            **values,
            active=bool(active),
            next_due_at=_first_due(parsed, values["starts_at"]),
            created_by=actor,
        )
        record(
            actor=actor,
            action="schedule.created",
            target=schedule,
            environment=environment,
            changes={**_snapshot(schedule), "next_due_at": schedule.next_due_at},
        )
    return schedule


def _locked(schedule: RunSchedule) -> RunSchedule:
    return (
        RunSchedule.objects.select_for_update(of=("self",))
        .select_related("runbook", "environment", "owner")
        .get(pk=schedule.pk)
    )


def schedule_update(*, actor, schedule: RunSchedule, **changes) -> RunSchedule:
    """Change any of ``FIELDS``; the next period is worked out again from now on (a period
    already started keeps its run)."""
    require(actor, PERM_CHANGE, action="change recurring runs")
    unknown = set(changes) - set(FIELDS)
    if unknown:
        raise TypeError(f"schedule_update() got unexpected fields {sorted(unknown)}")
    with transaction.atomic():
        s = _locked(schedule)
        before = _snapshot(s)
        values = {name: getattr(s, name) for name in FIELDS} | changes
        parsed = _clean(actor=actor, values=values, before_owner=s.owner)
        for name in FIELDS:
            setattr(s, name, values[name])
        after = _snapshot(s)
        diff = {
            k: {"before": before[k], "after": after[k]} for k in before if before[k] != after[k]
        }
        if not diff:
            raise ValidationError("Nothing to change: the schedule is as it was.")
        now = timezone.now()
        s.next_due_at = _first_due(parsed, max(s.starts_at, now))
        s.save(update_fields=[*FIELDS, "next_due_at", "updated_at"])
        record(
            actor=actor,
            action="schedule.updated",
            target=s,
            environment=s.environment,
            changes={**diff, "next_due_at": s.next_due_at},
        )
    return s


def schedule_pause(*, actor, schedule: RunSchedule, reason: str = "") -> RunSchedule:
    """Stop starting runs (runs already started stay as they are)."""
    require(actor, PERM_CHANGE, action="pause recurring runs")
    with transaction.atomic():
        s = _locked(schedule)
        if not s.active:
            raise ValidationError("The schedule is already paused.")
        s.active = False
        s.save(update_fields=["active", "updated_at"])
        record(
            actor=actor,
            action="schedule.paused",
            target=s,
            environment=s.environment,
            message=(reason or "").strip(),
        )
    return s


def schedule_resume(*, actor, schedule: RunSchedule, reason: str = "") -> RunSchedule:
    """Start runs again from the next period after now (periods that passed while paused are
    not started late)."""
    require(actor, PERM_CHANGE, action="resume recurring runs")
    with transaction.atomic():
        s = _locked(schedule)
        if s.active:
            raise ValidationError("The schedule is not paused.")
        if not s.owner.is_active or not s.owner.has_perm(PERM_RUN):
            raise ValidationError(
                {"owner": f"{s.owner.get_username()} may not start runbook runs: change the owner."}
            )
        s.active = True
        s.next_due_at = _first_due(s.parsed(), max(s.starts_at, timezone.now()))
        s.save(update_fields=["active", "next_due_at", "updated_at"])
        record(
            actor=actor,
            action="schedule.resumed",
            target=s,
            environment=s.environment,
            changes={"next_due_at": s.next_due_at},
            message=(reason or "").strip(),
        )
    return s


def schedule_delete(*, actor, schedule: RunSchedule, reason: str) -> None:
    """Delete a schedule and its period rows; the runs it started stay with their runbook."""
    require(actor, PERM_DELETE, action="delete recurring runs")
    reason = (reason or "").strip()
    if not reason:
        raise ValidationError({"reason": "Deleting a schedule needs a reason."})
    with transaction.atomic():
        s = _locked(schedule)
        periods = s.periods.count()
        snapshot = _snapshot(s)
        record(
            actor=actor,
            action="schedule.deleted",
            target=s,
            environment=s.environment,
            changes={**snapshot, "periods": periods},
            message=reason,
        )
        s.delete()


# --- the tick ---------------------------------------------------------------------------------
def scheduled_runs_create_due(*, now: datetime | None = None) -> list[ScheduledRun]:
    """Start the run of every period that has come (one per schedule per tick); returns the
    period rows written by this call (a period another worker took is not among them)."""
    now = now or timezone.now()
    due = list(
        RunSchedule.objects.filter(active=True, next_due_at__lte=now)
        .order_by("next_due_at", "pk")
        .values_list("pk", flat=True)[:TICK_BATCH]
    )
    written = []
    for pk in due:
        period = _tick_one(pk, now)
        if period is not None:
            written.append(period)
    return written


def _tick_one(pk: int, now: datetime) -> ScheduledRun | None:
    with transaction.atomic():
        schedule = (
            RunSchedule.objects.select_for_update(of=("self",), skip_locked=True)
            .select_related("runbook", "environment", "owner")
            .filter(pk=pk, active=True, next_due_at__lte=now)
            .first()
        )
        if schedule is None:
            return None  # another worker has it, or took it already
        parsed = schedule.parsed()
        latest = parsed.previous(now)
        skipped = 0
        if latest < schedule.next_due_at:  # settings changed under the index: just move it
            latest = None
        else:
            for fire in parsed.iter_after(schedule.next_due_at - timedelta(microseconds=1)):
                if fire >= latest or skipped >= MAX_COUNTED:
                    break
                skipped += 1
        period = None
        if latest is not None:
            period = period_start(schedule=schedule, period_start=latest, skipped=skipped)
        schedule.next_due_at = parsed.next_after(now)
        schedule.save(update_fields=["next_due_at"])
    return period


def period_start(
    *, schedule: RunSchedule, period_start: datetime, skipped: int = 0
) -> ScheduledRun | None:
    """Write the period's row and start its run, in the caller's transaction; ``None`` when
    the period has a row already (another worker's, committed or about to be)."""
    try:
        with transaction.atomic():  # a savepoint: a duplicate undoes only this
            period = ScheduledRun.objects.create(
                schedule=schedule,
                period_start=period_start,
                due_at=period_start + schedule.grace,
            )
    except IntegrityError:
        return None
    owner = schedule.owner
    changes = {
        "schedule": schedule.pk,
        "runbook": schedule.runbook.title,
        "period_start": period_start,
        "due_at": period.due_at,
        "skipped_periods": skipped,
    }
    try:
        with transaction.atomic():
            version = schedule.runbook.latest_version()
            if version is None:
                raise ValidationError("The runbook has no version to run.")
            run = runbook_services.run_start(
                actor=owner,
                version=version,
                environment=schedule.environment,
                planned_start=period_start,
                planned_end=period.due_at,
            )
    except (PermissionDenied, ValidationError) as exc:
        why = exc.messages if isinstance(exc, ValidationError) else [str(exc)]
        period.error = " ".join(why)[:1000]
        period.save(update_fields=["error"])
        record(
            actor=None,
            on_behalf_of=owner,
            action="schedule.run.failed",
            target=period,
            environment=schedule.environment,
            changes=changes,
            message=period.error,
        )
        return period
    period.run = run
    period.save(update_fields=["run"])
    record(
        actor=None,
        on_behalf_of=owner,
        action="schedule.run.created",
        target=period,
        environment=schedule.environment,
        changes={**changes, "run": run.pk, "version": version.number},
    )
    return period


def scheduled_runs_flag_overdue(*, now: datetime | None = None) -> int:
    """Record each period whose run is past its due time and still open, once
    (``schedule.run.overdue``: its notify handler tells the owner). How many were recorded."""
    now = now or timezone.now()
    ids = list(
        ScheduledRun.objects.filter(
            due_at__lt=now, overdue_noted_at=None, run__status=RunStatus.IN_PROGRESS
        )
        .order_by("due_at")
        .values_list("pk", flat=True)[:TICK_BATCH]
    )
    noted = 0
    for pk in ids:
        with transaction.atomic():
            period = (
                ScheduledRun.objects.select_for_update(of=("self",), skip_locked=True)
                .select_related("schedule__runbook", "schedule__environment", "schedule__owner")
                .select_related("run")
                .filter(pk=pk, overdue_noted_at=None, run__status=RunStatus.IN_PROGRESS)
                .first()
            )
            if period is None:
                continue
            period.overdue_noted_at = now
            period.save(update_fields=["overdue_noted_at"])
            record(
                actor=None,
                action="schedule.run.overdue",
                target=period,
                environment=period.schedule.environment,
                changes={
                    "schedule": period.schedule_id,
                    "run": period.run_id,
                    "period_start": period.period_start,
                    "due_at": period.due_at,
                    "owner": period.schedule.owner.get_username(),
                },
            )
            noted += 1
    return noted


def owner_choices():
    """Users who may own a schedule: active, and allowed to start runs."""
    from notifications.hooks import users_with_perm

    return users_with_perm(PERM_RUN)
