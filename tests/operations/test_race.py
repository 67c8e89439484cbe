"""Several workers ticking at once start exactly one run per period (PostgreSQL: real row
locks and a real unique index, each worker on its own connection)."""

import threading
import time

import pytest
from django.db import connection, transaction

from operations import services
from operations.models import RunSchedule, ScheduledRun
from opsportal.audit.models import AuditEvent
from runbooks.models import Run

from .conftest import at

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]


def race(workers, target):
    barrier = threading.Barrier(workers)
    results, errors = [], []

    def work(i):
        try:
            barrier.wait(timeout=10)
            results.append(target(i))
        except Exception as exc:  # pragma: no cover (shown by the assertion below)
            errors.append(repr(exc))
        finally:
            connection.close()

    threads = [threading.Thread(target=work, args=(i,)) for i in range(workers)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert not errors, errors
    return results


def test_workers_ticking_together_start_one_run_per_period(postgres_only, make_schedule):
    schedule = make_schedule(frequency="daily")
    real = services.period_start

    def slow_period_start(**kwargs):
        period = real(**kwargs)
        time.sleep(0.5)  # hold the schedule row while the other workers arrive
        return period

    services.period_start = slow_period_start
    try:
        results = race(4, lambda i: services.scheduled_runs_create_due(now=at("2026-11-30 09:02")))
    finally:
        services.period_start = real
    assert sorted(len(r) for r in results) == [0, 0, 0, 1]
    assert ScheduledRun.objects.count() == 1 and Run.objects.count() == 1
    assert AuditEvent.objects.filter(action="schedule.run.created").count() == 1
    assert AuditEvent.objects.filter(action="runbook.run.started").count() == 1
    # the next day's tick, again by four workers at once: one more
    results = race(4, lambda i: services.scheduled_runs_create_due(now=at("2026-12-01 09:02")))
    assert sorted(len(r) for r in results) == [0, 0, 0, 1]
    assert list(
        ScheduledRun.objects.filter(schedule=schedule)
        .order_by("period_start")
        .values_list("period_start", flat=True)
    ) == [at("2026-11-30 09:00"), at("2026-12-01 09:00")]
    assert Run.objects.count() == 2


def test_the_unique_period_holds_without_the_row_lock(postgres_only, make_schedule):
    """Two workers that both got past the schedule row (a lock skipped, a broker redelivery):
    the period's unique row, inserted in the run's transaction, lets one run through."""
    schedule = make_schedule()
    period = at("2026-11-30 09:00")

    def start(i):
        s = RunSchedule.objects.select_related("runbook", "environment", "owner").get(
            pk=schedule.pk
        )
        with transaction.atomic():
            result = services.period_start(schedule=s, period_start=period)
            time.sleep(0.5)  # the other insert waits on this transaction, then fails
        return result

    results = race(2, start)
    assert sorted(r is None for r in results) == [False, True]
    assert ScheduledRun.objects.count() == 1 and Run.objects.count() == 1
    assert AuditEvent.objects.filter(action="schedule.run.created").count() == 1
