"""An apply that meets a lost connection, a failing query, or another job's worker.

In-process and fast; the drills in tests/drills run the same faults with real qcluster
processes and a real database restart."""

import threading
import time

import pytest
from django.core.exceptions import ValidationError
from django.db import connection, connections

from imports import engine, services
from imports.choices import JobStatus
from imports.models import ImportJob, ImportRowChange, Member, Order
from opsportal.audit.chain import verify_chain
from opsportal.audit.models import AuditEvent

from .factories import CLEAN, apply_file, make_job


def actions(job) -> list[str]:
    return list(
        AuditEvent.objects.filter(job_id=job.pk).order_by("seq").values_list("action", flat=True)
    )


def confirmed(op, path, **kw) -> ImportJob:
    job = make_job(op, path, **kw)
    return services.job_confirm(actor=op, job=job, enqueue=False)


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_connection_lost_mid_batch_reconnects_and_continues(
    postgres_only, user_factory, monkeypatch
):
    op = user_factory("operator")
    apply_file(op, CLEAN / "users.csv")
    job = confirmed(op, CLEAN / "orders.csv", batch_size=40)  # 8 batches
    real, calls = engine.apply_batch, {"n": 0}

    def cut_off(job, rows, **kw):
        calls["n"] += 1
        result = real(job, rows, **kw)
        if calls["n"] == 4:  # the server ends this session mid-batch, as on a restart
            with connection.cursor() as cursor:
                cursor.execute("SELECT pg_terminate_backend(pg_backend_pid())")
        return result

    monkeypatch.setattr(engine, "apply_batch", cut_off)
    done = services.job_apply(job_id=job.pk)
    assert done.status == JobStatus.COMPLETED and done.checkpoint == 8
    assert calls["n"] == 9  # batch 4 ran again after the reconnect: it had not committed
    assert Order.objects.count() == 300 == done.created_count
    assert ImportRowChange.objects.filter(job=done, model="imports.order").count() == 300
    assert actions(done)[-2:] == ["import.job.interrupted", "import.job.completed"]
    event = AuditEvent.objects.get(job_id=done.pk, action="import.job.interrupted")
    assert event.changes["checkpoint"] == 3 and event.changes["interruption"] == 1
    assert "administrator command" in event.message
    assert verify_chain(in_processes=False).ok


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_a_failing_query_is_not_a_lost_connection(postgres_only, user_factory, monkeypatch):
    """A statement timeout is an OperationalError too, but nothing to reconnect for: the job
    fails (audited) at its checkpoint and resumes from there."""
    op = user_factory("operator")
    apply_file(op, CLEAN / "users.csv")
    job = confirmed(op, CLEAN / "orders.csv", batch_size=100)
    real, calls = engine.apply_batch, {"n": 0}

    def slow(job, rows, **kw):
        calls["n"] += 1
        if calls["n"] == 2:
            with connection.cursor() as cursor:
                cursor.execute("SET LOCAL statement_timeout = 10")
                cursor.execute("SELECT pg_sleep(1)")
        return real(job, rows, **kw)

    monkeypatch.setattr(engine, "apply_batch", slow)
    with pytest.raises(Exception, match="statement timeout"):
        services.job_apply(job_id=job.pk)
    job.refresh_from_db()
    assert job.status == JobStatus.FAILED and job.checkpoint == 1
    assert job.error.startswith("Stopped at batch 2: OperationalError: canceling statement")
    assert "import.job.interrupted" not in actions(job)
    assert actions(job)[-1] == "import.job.failed"
    services.job_resume(actor=op, job=job, enqueue=False)
    monkeypatch.setattr(engine, "apply_batch", real)
    done = services.job_apply(job_id=job.pk)
    assert done.status == JobStatus.COMPLETED and Order.objects.count() == 300


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_batches_of_two_jobs_take_turns_instead_of_colliding(
    postgres_only, user_factory, monkeypatch, tmp_path
):
    """Two workers applying different files that name the same new buyers: the second batch
    waits for the first to commit, then finds the buyers it created (before: the second died
    on the unique email, leaving its job "running")."""
    op = user_factory("operator")
    lines = (CLEAN / "orders.csv").read_text(encoding="utf-8-sig").splitlines(keepends=True)
    halves = []
    for i in (0, 1):
        path = tmp_path / f"half{i}.csv"
        path.write_text(lines[0] + "".join(lines[1 + i :: 2]), encoding="utf-8")
        halves.append(confirmed(op, path, batch_size=1000))  # one batch each
    first, second = halves
    inside, release = threading.Event(), threading.Event()
    real = engine.apply_batch

    def paused(job, rows, **kw):
        result = real(job, rows, **kw)
        if job.pk == first.pk:
            inside.set()
            release.wait(30)  # hold the first batch's transaction open
        return result

    monkeypatch.setattr(engine, "apply_batch", paused)
    errors = []

    def apply(job):
        try:
            services.job_apply(job_id=job.pk)
        except Exception as exc:  # reported below
            errors.append(exc)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=apply, args=(job,)) for job in halves]
    threads[0].start()
    assert inside.wait(30)
    threads[1].start()

    def waiting() -> int:
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
                "AND wait_event_type = 'Lock'"
            )
            return cursor.fetchone()[0]

    deadline = time.monotonic() + 30
    while not waiting() and time.monotonic() < deadline:
        time.sleep(0.02)
    release.set()
    for thread in threads:
        thread.join(60)
    assert not errors, errors
    first.refresh_from_db()
    second.refresh_from_db()
    assert first.status == second.status == JobStatus.COMPLETED
    assert Order.objects.count() == 300 == first.created_count + second.created_count
    emails = list(Member.objects.values_list("email", flat=True))
    assert len(emails) == len(set(emails))
    assert ImportRowChange.objects.filter(model="imports.member").count() == Member.objects.count()


@pytest.mark.django_db
def test_a_job_failed_in_its_first_batch_resumes(user_factory, monkeypatch):
    op = user_factory("operator")
    job = confirmed(op, CLEAN / "users.csv", batch_size=20)

    def broken(job, rows, **kw):
        raise RuntimeError("bad data")

    monkeypatch.setattr(engine, "apply_batch", broken)
    with pytest.raises(RuntimeError):
        services.job_apply(job_id=job.pk)
    job.refresh_from_db()
    assert job.status == JobStatus.FAILED and job.checkpoint == 0
    assert job.error == "Stopped at batch 1: RuntimeError: bad data. Resume to continue from there."
    monkeypatch.undo()
    services.job_resume(actor=op, job=job, enqueue=False)
    resumed = AuditEvent.objects.get(job_id=job.pk, action="import.job.resumed")
    assert resumed.actor == op
    assert resumed.changes["status"] == [JobStatus.FAILED, JobStatus.RUNNING]
    done = services.job_apply(job_id=job.pk)
    assert done.status == JobStatus.COMPLETED and Member.objects.count() == 60
    assert actions(done).count("import.job.started") == 1


@pytest.mark.django_db
def test_a_failed_job_does_not_resume_over_a_newer_job_of_the_same_file(user_factory, monkeypatch):
    op = user_factory("operator")
    job = confirmed(op, CLEAN / "users.csv", batch_size=20)
    monkeypatch.setattr(engine, "apply_batch", lambda *a, **kw: 1 / 0)
    with pytest.raises(ZeroDivisionError):
        services.job_apply(job_id=job.pk)
    monkeypatch.undo()
    newer = confirmed(op, CLEAN / "users.csv")  # the failed job no longer holds the file
    with pytest.raises(ValidationError, match=f"being applied by job #{newer.pk}"):
        services.job_resume(actor=op, job=job, enqueue=False)
    job.refresh_from_db()
    assert job.status == JobStatus.FAILED


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_a_job_cancelled_while_it_validates_stays_cancelled(
    postgres_only, user_factory, monkeypatch
):
    op = user_factory("operator")
    job = make_job(op, CLEAN / "users.csv", validate="no")
    real = engine.apply_batch

    def cancel_meanwhile(job, rows, **kw):
        def cancel():
            try:
                services.job_cancel(actor=op, job=job, reason="wrong file")
            finally:
                connections.close_all()

        thread = threading.Thread(target=cancel)  # an operator, on another connection
        thread.start()
        thread.join(30)
        return real(job, rows, **kw)

    monkeypatch.setattr(engine, "apply_batch", cancel_meanwhile)
    services.job_validate(job_id=job.pk)
    job.refresh_from_db()
    assert job.status == JobStatus.CANCELLED  # before: the preview's end set it back to ready
    assert actions(job) == ["import.job.uploaded", "import.job.cancelled"]
