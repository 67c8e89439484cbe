"""Crash drill: a real `qcluster` worker is killed with SIGKILL mid-apply, the job is resumed
on a new worker, and the tables equal those of an uninterrupted import."""

import os
import signal
import subprocess
import sys
import time

import pytest
from django.conf import settings
from django.db import connection
from django_q.conf import Conf

from imports import services
from imports.choices import JobStatus
from imports.models import ImportJob, Order
from opsportal.audit.models import AuditEvent

from .conftest import table_state
from .factories import MESSY, apply_file, make_job

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]
REPO = settings.BASE_DIR


def start_worker() -> subprocess.Popen:
    db = connection.settings_dict
    host, port = db["HOST"] or "127.0.0.1", db["PORT"] or 5432
    env = {
        **os.environ,
        "DATABASE_URL": f"postgres://{db['USER']}@{host}:{port}/{db['NAME']}",
        "OPSPORTAL_TESTING": "0",
        "Q_SYNC": "0",
        "Q_CLUSTER_NAME": settings.IMPORTS_CLUSTER,
        "MEDIA_ROOT": str(settings.MEDIA_ROOT),
        "IMPORTS_BATCH_PAUSE": "0.15",
    }  # fmt: skip
    if db.get("PASSWORD"):
        env["PGPASSWORD"] = db["PASSWORD"]
    return subprocess.Popen(
        [sys.executable, str(REPO / "manage.py"), "qcluster"],
        env=env, cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        start_new_session=True,
    )  # fmt: skip


def stop(proc: subprocess.Popen, sig=signal.SIGKILL) -> None:
    if proc.poll() is None:
        os.killpg(proc.pid, sig)
        proc.wait(timeout=30)


def wait_for(predicate, timeout=90.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.05)
    return False


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
        worker.wait(timeout=30)
    finally:
        stop(worker)
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
        stop(worker)
    done = job_now(job)
    assert done.processed_rows == 600 and done.created_count == 597
    assert done.rejected_count == 3
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
