"""Confirm, apply batch by batch from the checkpoint, cancel, resume."""

import time
from functools import partial

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import (
    IntegrityError,
    transaction,
)
from django.utils import timezone

from opsportal.audit.services import record

from .. import engine
from ..choices import JobStatus
from ..models import (
    ImportJob,
    ImportRowError,
)
from ..resilience import Worker as _Worker
from .common import (
    BATCH_PAUSE,
    PERM_RUN,
    _enqueue,
    _fail,
    _hold_member_tables,
    _lock,
    _require,
    _worker,
)
from .upload import _batches, _with_raw


# --- apply --------------------------------------------------------------------------------------
def job_confirm(*, actor, job: ImportJob, enqueue: bool = True) -> ImportJob:
    """Queue a validated job for applying on the imports cluster."""
    _require(actor, PERM_RUN, "confirm imports")
    try:
        with transaction.atomic():
            job = _lock(job.pk)
            if job.status != JobStatus.READY:
                raise ValidationError(f"Job #{job.pk} is {job.get_status_display()}, not ready.")
            job.status = JobStatus.QUEUED
            job.save(update_fields=["status"])
            record(
                actor=actor,
                action="import.job.confirmed",
                target=job,
                job_id=job.pk,
                changes={"status": [JobStatus.READY, JobStatus.QUEUED]},
            )
            if enqueue:
                _enqueue("imports.tasks.apply_job", job)
    except IntegrityError:
        busy = ImportJob.objects.active().filter(sha256=job.sha256, kind=job.kind).first()
        raise ValidationError(
            f"This file is already being applied by job #{busy.pk if busy else '?'}."
        ) from None
    return job


def job_apply(*, job_id: int, progress=None) -> ImportJob:
    """Apply the job batch by batch from its checkpoint.

    Safe to run twice at once (a duplicate delivery, two workers) or after a crash: each batch
    locks the job row and skips batches already committed, so every batch is applied once.
    A lost database connection is waited out and the job continues from its checkpoint; any
    other error marks the job failed (audited), to be resumed from its checkpoint."""
    worker = _worker(job_id)
    try:
        job = worker.run(partial(_start, job_id))
        if job.status != JobStatus.RUNNING:
            return job
        with engine.bulk_work():
            job = _apply_batches(job_id, job, progress, worker)
        if job.status != JobStatus.RUNNING:
            return job
        return worker.run(partial(_complete, job_id))
    except (Exception, SystemExit) as exc:  # SystemExit: django-q2's task timeout
        _fail(job_id, exc, when=(JobStatus.QUEUED, JobStatus.RUNNING))
        raise


def _start(job_id: int) -> ImportJob:
    with transaction.atomic():
        job = _lock(job_id)
        if job.status not in (JobStatus.QUEUED, JobStatus.RUNNING):
            return job
        first = job.started_at is None
        job.status = JobStatus.RUNNING
        job.started_at = job.started_at or timezone.now()
        job.save(update_fields=["status", "started_at"])
        if first:
            record(
                actor=None,
                on_behalf_of=job.created_by,
                action="import.job.started",
                target=job,
                job_id=job.pk,
            )
    return job


def _apply_batches(job_id: int, job: ImportJob, progress, worker: _Worker) -> ImportJob:
    for number, chunk in enumerate(_batches(job)):
        if number < job.checkpoint:
            continue
        job, applied = worker.run(partial(_apply_batch, job_id, number, chunk))
        if job.status != JobStatus.RUNNING:
            return job  # cancelled, failed, or finished by a duplicate delivery
        if not applied:
            continue
        if progress:
            progress(job)
        if BATCH_PAUSE:
            time.sleep(BATCH_PAUSE)
    return job


def _apply_batch(job_id: int, number: int, chunk: list) -> tuple[ImportJob, bool]:
    """Batch ``number`` in one transaction with the checkpoint; (job, whether it was applied
    here). Another delivery of the same job may have committed it first: then nothing."""
    with transaction.atomic():
        _hold_member_tables(resumable=True)
        job = _lock(job_id)
        if job.status != JobStatus.RUNNING or number < job.checkpoint:
            return job, False
        if number > job.checkpoint:
            raise RuntimeError(
                f"Job #{job_id} is at batch {job.checkpoint + 1}, not {number + 1}: refusing to "
                "skip batches."
            )
        started = time.monotonic()
        engine.refresh_statistics(job, number)
        result = engine.apply_batch(job, chunk)
        ImportRowError.objects.filter(job=job, row__gte=chunk[0][0], row__lte=chunk[-1][0]).delete()
        ImportRowError.objects.bulk_create(
            [
                ImportRowError(job=job, row=r, key=str(k)[:100], reason=reason[:200], raw=raw)
                for r, k, reason, raw in _with_raw(result.rejected, chunk)
            ]
        )
        job.checkpoint = number + 1
        job.processed_rows += len(chunk)
        job.created_count += result.created
        job.updated_count += result.updated
        job.unchanged_count += result.unchanged
        job.seconds += time.monotonic() - started
        job.save(
            update_fields=[
                "checkpoint",
                "processed_rows",
                "created_count",
                "updated_count",
                "unchanged_count",
                "seconds",
            ]
        )
    return job, True


def _complete(job_id: int) -> ImportJob:
    with transaction.atomic():
        _hold_member_tables()  # the review queues read and write member data
        job = _lock(job_id)
        if job.status != JobStatus.RUNNING:
            return job
        started = time.monotonic()
        reviews, notes = engine.finalise(job)
        job.rejected_count = job.row_errors.count()
        job.total_rows = job.processed_rows
        job.status = JobStatus.COMPLETED
        job.finished_at = timezone.now()
        job.seconds += time.monotonic() - started
        job.preview = {**job.preview, "reviews": reviews, "notes": notes}
        job.save(
            update_fields=[
                "rejected_count",
                "total_rows",
                "status",
                "finished_at",
                "seconds",
                "preview",
            ]
        )
        record(
            actor=None,
            on_behalf_of=job.created_by,
            action="import.job.completed",
            target=job,
            job_id=job.pk,
            changes=job_figures(job),
        )
    return job


def job_figures(job: ImportJob) -> dict:
    return {
        "total": job.total_rows,
        "processed": job.processed_rows,
        "created": job.created_count,
        "updated": job.updated_count,
        "unchanged": job.unchanged_count,
        "rejected": job.rejected_count,
        "seconds": round(job.seconds, 2),
        "rows_per_second": job.rows_per_second,
    }


def job_cancel(*, actor, job: ImportJob, reason: str = "") -> ImportJob:
    """Stop a job before or while it applies; committed batches stay (roll them back after)."""
    _require(actor, PERM_RUN, "cancel imports")
    with transaction.atomic():
        job = _lock(job.pk)
        allowed = (
            JobStatus.UPLOADED,
            JobStatus.VALIDATING,
            JobStatus.READY,
            JobStatus.QUEUED,
            JobStatus.RUNNING,
            JobStatus.FAILED,
        )
        if job.status not in allowed:
            raise ValidationError(
                f"Job #{job.pk} is {job.get_status_display()}: nothing to cancel."
            )
        before = job.status
        job.status = JobStatus.CANCELLED
        job.finished_at = timezone.now()
        job.save(update_fields=["status", "finished_at"])
        record(
            actor=actor,
            action="import.job.cancelled",
            target=job,
            job_id=job.pk,
            changes={"status": [before, job.status]},
            message=reason,
        )
    return job


def job_resume(*, actor, job: ImportJob, enqueue: bool = True) -> ImportJob:
    """Continue an interrupted or failed apply (or rollback) from its checkpoint."""
    _require(actor, PERM_RUN, "resume imports")
    try:
        with transaction.atomic():
            job = _lock(job.pk)
            before = job.status
            failed_apply = job.status == JobStatus.FAILED and job.started_at is not None
            if failed_apply and not job.file:
                raise ValidationError(
                    f"Job #{job.pk} cannot resume: its file was deleted after "
                    f"{settings.IMPORT_FILE_RETENTION_DAYS} days (IMPORT_FILE_RETENTION_DAYS). "
                    "Upload the file again."
                )
            if job.status in (JobStatus.RUNNING, JobStatus.QUEUED) or failed_apply:
                func = "imports.tasks.apply_job"
                job.status = (
                    JobStatus.RUNNING if job.checkpoint or failed_apply else JobStatus.QUEUED
                )
            elif job.status == JobStatus.ROLLING_BACK:
                func = "imports.tasks.rollback_job"
            else:
                raise ValidationError(
                    f"Job #{job.pk} is {job.get_status_display()}: nothing to resume."
                )
            job.error = ""
            job.save(update_fields=["status", "error"])
            record(
                actor=actor,
                action="import.job.resumed",
                target=job,
                job_id=job.pk,
                changes={
                    "status": [before, job.status],
                    "checkpoint": job.checkpoint,
                    "rollback_checkpoint": job.rollback_checkpoint,
                },
            )
            if enqueue:
                _enqueue(func, job)
    except IntegrityError:
        busy = ImportJob.objects.active().filter(sha256=job.sha256, kind=job.kind).first()
        raise ValidationError(
            f"This file is being applied by job #{busy.pk if busy else '?'}; resume after it."
        ) from None
    return job
