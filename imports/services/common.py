"""What every imports service shares: permissions, the job row lock, the imports write lock,
the worker that survives a lost connection, and marking a job failed."""

import logging
import os

from django.conf import settings
from django.db import (
    DatabaseError,
    connection,
    transaction,
)

from opsportal.accounts.permissions import require
from opsportal.audit.services import record

from ..choices import JobStatus
from ..models import (
    ImportJob,
)
from ..resilience import Worker as _Worker
from ..resilience import first_line

logger = logging.getLogger(__name__)


PERM_START = "imports.add_importjob"
PERM_RUN = "imports.change_importjob"
PERM_ROLLBACK = "imports.delete_importjob"
PERM_REVIEW = "imports.review_importitem"
SAMPLE_ROWS = 20
# Seconds to wait after each committed batch: lets crash drills and demos watch a job run.
BATCH_PAUSE = float(os.environ.get("IMPORTS_BATCH_PAUSE", "0") or 0)
# Imports write the member tables one batch at a time, whichever job and worker the batch
# belongs to: batches of different jobs interleave but never overlap, so each sees what the
# others committed (one member per email, one product, affiliate and review item per key)
# instead of failing on a unique key another worker inserted a moment earlier. A
# transaction-scoped PostgreSQL advisory lock; SQLite serializes writers already.
WRITE_LOCK_KEY = 0x696D706F727473  # "imports"


def _require(actor, perm: str, action: str) -> None:
    # actor None is the system itself (a worker, or the CLI run by someone with shell access).
    if actor is not None:
        require(actor, perm, action=action)


def _enqueue(func: str, job: ImportJob) -> None:
    from django_q.tasks import async_task

    cluster = settings.IMPORTS_CLUSTER
    transaction.on_commit(lambda: async_task(func, job.pk, cluster=cluster))


def _lock(job_id: int) -> ImportJob:
    return ImportJob.objects.select_for_update().get(pk=job_id)


def _job_interrupted(job_id: int, interruptions: int, exc: BaseException) -> None:
    """Audit a lost database connection the worker survived (see imports.resilience)."""
    with transaction.atomic():
        job = _lock(job_id)
        record(
            actor=None,
            on_behalf_of=job.created_by,
            action="import.job.interrupted",
            target=job,
            job_id=job.pk,
            changes={
                "status": job.status,
                "checkpoint": job.checkpoint,
                "rollback_checkpoint": job.rollback_checkpoint,
                "interruption": interruptions,
            },
            message=f"Database connection lost ({first_line(exc)}); reconnected, "
            "the interrupted transaction runs again.",
        )


def _worker(job_id: int) -> _Worker:
    return _Worker(job_id, on_interrupted=_job_interrupted)


def _hold_member_tables(*, resumable: bool = False) -> None:
    """Take the imports write lock until the current transaction ends (see WRITE_LOCK_KEY).

    Taken before the job row, by every transaction that writes member data."""
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_xact_lock(%s)", [WRITE_LOCK_KEY])
            if resumable:
                # A job's batch and its checkpoint commit together, so a commit lost in a crash
                # is a batch that resume applies again: no need to wait for the WAL flush
                # (~15-40 ms a batch, measured). Never for a person's change, which must last
                # once they are told it is saved.
                cursor.execute("SET LOCAL synchronous_commit TO OFF")


def _fail(job_id: int, exc: BaseException, *, when: tuple) -> None:
    """Mark a job whose task stopped with ``exc`` failed, with its audit event, so it neither
    shows "running" forever nor hides the error; ``job_resume`` continues it from the
    checkpoint. Nothing is written when the job moved on (a duplicate delivery finished or an
    operator cancelled it) or when the database cannot be reached."""
    try:
        with transaction.atomic():
            job = _lock(job_id)
            if job.status not in when:
                return
            before = job.status
            where = f"batch {job.checkpoint + 1}" if job.checkpoint < job.batches else "the end"
            job.status = JobStatus.FAILED
            job.error = f"Stopped at {where}: {first_line(exc)}. Resume to continue from there."
            job.save(update_fields=["status", "error"])
            record(
                actor=None,
                on_behalf_of=job.created_by,
                action="import.job.failed",
                target=job,
                job_id=job.pk,
                changes={"status": [before, job.status], "checkpoint": job.checkpoint},
                message=job.error,
            )
    except DatabaseError:
        logger.exception("could not mark import job %s failed", job_id)
