"""Crash drill: a real `qcluster` worker is killed with SIGKILL mid-apply, the job is resumed
on a new worker, and the tables equal those of an uninterrupted import."""

import os
import signal

import pytest
from django_q.conf import Conf

from imports import services
from imports.choices import JobStatus
from imports.models import ImportJob, Order
from opsportal.audit.models import AuditEvent
from tests.drills.qcluster_procs import start_worker, wait_for

from .conftest import table_state
from .factories import MESSY, MESSY_ORDERS, apply_file, make_job

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]


def job_now(job) -> ImportJob:
    return ImportJob.objects.get(pk=job.pk)


def test_worker_killed_mid_apply_resumes_to_the_same_tables(
    postgres_only, user_factory, monkeypatch
):
    op = user_factory("operator")
    apply_file(op, MESSY / "users.csv")
    job = make_job(op, MESSY / "orders.csv", batch_size=20)  # 30 batches
    monkeypatch.setattr(Conf, "SYNC", False)  # enqueue for real, on the imports cluster

    worker = start_worker()
    try:
        services.job_confirm(actor=op, job=job)
        assert wait_for(lambda: job_now(job).checkpoint >= 5), "worker never advanced"
        os.killpg(worker.pid, signal.SIGKILL)  # the worker and its children, no clean-up
        worker.proc.wait(timeout=30)
    finally:
        worker.stop()
    crashed = job_now(job)
    assert crashed.status == JobStatus.RUNNING
    assert 5 <= crashed.checkpoint < 30
    # every committed batch is complete: rows and checkpoint moved together
    assert crashed.processed_rows == crashed.checkpoint * 20
    assert Order.objects.count() == crashed.created_count

    worker = start_worker()
    try:
        services.job_resume(actor=op, job=crashed)
        assert wait_for(lambda: job_now(job).status == JobStatus.COMPLETED), "resume never finished"
    finally:
        worker.stop()
    done = job_now(job)
    assert done.processed_rows == 600 and done.created_count == MESSY_ORDERS["importable"]
    assert done.rejected_count == len(MESSY_ORDERS["rejected_inv"])
    assert AuditEvent.objects.filter(job_id=job.pk, action="import.job.resumed").get().actor == op
    after_crash = table_state()

    # the same file, uninterrupted, after rolling the crashed job back
    monkeypatch.setattr(Conf, "SYNC", True)
    services.job_rollback(actor=op, job=done, reason="crash drill")
    assert job_now(job).status == JobStatus.ROLLED_BACK
    assert Order.objects.count() == 0
    clean = apply_file(op, MESSY / "orders.csv")
    assert clean.status == JobStatus.COMPLETED
    assert table_state() == after_crash
