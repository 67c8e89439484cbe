"""The tick: one run per period for the schedule's owner, missed periods not caught up one by
one, a run that cannot start recorded, overdue runs recorded once (a clock passed as ``now``)."""

import pytest

from operations import services
from operations.choices import PeriodStatus
from operations.models import ScheduledRun
from opsportal.audit.models import AuditEvent
from runbooks import services as rb_services
from runbooks.choices import RunStatus
from runbooks.models import Run

from .conftest import at

pytestmark = pytest.mark.django_db


def tick(when):
    return services.scheduled_runs_create_due(now=at(when))


def test_nothing_before_the_first_period(make_schedule):
    make_schedule()
    assert tick("2026-11-30 08:59") == []
    assert not Run.objects.exists()


def test_a_due_period_starts_one_run_for_the_owner(make_schedule, operator, prod, runbook):
    schedule = make_schedule()
    [period] = tick("2026-11-30 09:03")
    run = period.run
    assert run.started_by == operator and run.environment == prod
    assert run.version == runbook.latest_version() and run.status == RunStatus.IN_PROGRESS
    assert (run.planned_start, run.planned_end) == (at("2026-11-30 09:00"), at("2026-11-30 13:00"))
    assert period.period_start == at("2026-11-30 09:00") and period.due_at == at("2026-11-30 13:00")
    assert run.step_runs.count() == 3
    # every later tick in the period finds nothing to do
    for when in ("2026-11-30 09:08", "2026-11-30 15:00", "2026-12-07 08:59"):
        assert tick(when) == []
    assert Run.objects.count() == 1
    schedule.refresh_from_db()
    assert schedule.next_due_at == at("2026-12-07 09:00")
    [event] = AuditEvent.objects.filter(action="schedule.run.created")
    assert event.actor == operator and event.actor_label == "system on behalf of olga"
    assert event.target_id == str(period.pk) and event.environment == prod
    assert event.changes["run"] == run.pk and event.changes["skipped_periods"] == 0
    assert AuditEvent.objects.filter(action="runbook.run.started", target_id=str(run.pk)).exists()
    # the next week's period is another run
    [second] = tick("2026-12-07 09:01")
    assert second.run != run and Run.objects.count() == 2


def test_missed_periods_are_counted_not_started_one_by_one(make_schedule):
    make_schedule(frequency="daily", at_time=at("2000-01-01 06:00").time())
    [period] = tick("2026-12-03 07:00")  # nothing ticked since 30 November
    assert period.period_start == at("2026-12-03 06:00")
    assert ScheduledRun.objects.count() == 1
    event = AuditEvent.objects.get(action="schedule.run.created")
    assert event.changes["skipped_periods"] == 3  # 30 Nov, 1 and 2 December


def test_a_paused_schedule_starts_nothing(make_schedule, operator):
    schedule = make_schedule()
    services.schedule_pause(actor=operator, schedule=schedule)
    assert tick("2026-11-30 09:05") == []
    assert not Run.objects.exists()


def test_a_run_that_cannot_start_is_recorded_once(make_schedule, operator):
    schedule = make_schedule()
    operator.groups.clear()  # the owner lost the operator role since
    [period] = tick("2026-11-30 09:05")
    assert period.run is None and "olga is not allowed to start runbook runs" in period.error
    assert period.status() == PeriodStatus.FAILED
    assert tick("2026-11-30 09:10") == []
    [event] = AuditEvent.objects.filter(action="schedule.run.failed")
    assert event.target_id == str(period.pk) and "not allowed" in event.message
    assert not Run.objects.exists()
    schedule.refresh_from_db()
    assert schedule.next_due_at == at("2026-12-07 09:00")


def test_overdue_is_detected_with_the_clock_and_recorded_once(make_schedule, operator):
    make_schedule()
    [period] = tick("2026-11-30 09:00")
    assert period.status(at("2026-11-30 12:59")) == PeriodStatus.DUE
    assert services.scheduled_runs_flag_overdue(now=at("2026-11-30 12:59")) == 0
    assert period.status(at("2026-11-30 13:01")) == PeriodStatus.OVERDUE
    assert services.scheduled_runs_flag_overdue(now=at("2026-11-30 13:01")) == 1
    assert services.scheduled_runs_flag_overdue(now=at("2026-11-30 18:00")) == 0
    [event] = AuditEvent.objects.filter(action="schedule.run.overdue")
    assert event.actor is None and event.target_id == str(period.pk)
    assert event.changes["owner"] == "olga" and event.changes["due_at"].startswith("2026-11-30T13")
    period.refresh_from_db()
    assert period.overdue_noted_at == at("2026-11-30 13:01")


def test_a_completed_run_is_never_overdue(make_schedule, operator, staging):
    make_schedule(environment=staging)  # unprotected: one person signs each step
    [period] = tick("2026-11-30 09:00")
    for sr in period.run.step_runs.all():
        rb_services.step_sign(actor=operator, step_run=sr)
    rb_services.run_complete(actor=operator, run=period.run)
    period = ScheduledRun.objects.select_related("run").get(pk=period.pk)
    assert period.status(at("2026-12-01 00:00")) == PeriodStatus.DONE
    assert services.scheduled_runs_flag_overdue(now=at("2026-12-01 00:00")) == 0
    assert not AuditEvent.objects.filter(action="schedule.run.overdue").exists()
    assert AuditEvent.objects.filter(action="runbook.run.completed").count() == 1


def test_the_task_runs_the_tick(make_schedule, monkeypatch):
    from operations import tasks

    make_schedule()
    monkeypatch.setattr(tasks.timezone, "now", lambda: at("2026-11-30 14:00"))
    assert tasks.schedules_tick() == "1 period(s) started, 1 overdue"
    assert AuditEvent.objects.filter(action="schedule.run.created").count() == 1
    assert AuditEvent.objects.filter(action="schedule.run.overdue").count() == 1


def test_the_django_q_schedule_exists():
    from importlib import import_module

    from django.apps import apps
    from django_q.models import Schedule

    # Transactional tests flush every table, migration-made rows included: run the migration's
    # own (idempotent) function again rather than depend on test order.
    import_module("operations.migrations.0002_tick_schedule").create(apps, None)
    schedule = Schedule.objects.get(func="operations.tasks.schedules_tick")
    assert (schedule.schedule_type, schedule.minutes, schedule.repeats) == ("I", 5, -1)
