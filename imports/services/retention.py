"""Stored import files are kept only as long as ``IMPORT_FILE_RETENTION_DAYS`` says.

A job's file is what its worker reads; once the job is over (completed, failed, cancelled or
rolled back) for that many days, the file is deleted and the job keeps its sha256, size, name,
counts, rejected rows and before-images (so a completed job can still be rolled back). Each
deletion is audited (``import.job.file_purged``). Run by ``manage.py import_files_purge`` and
daily by django-q2 (``imports.tasks.purge_files``)."""

import logging
from datetime import timedelta

from django.conf import settings
from django.db import transaction
from django.db.models import Q
from django.db.models.functions import Coalesce
from django.utils import timezone

from opsportal.audit.services import record

from ..choices import JobStatus
from ..models import ImportJob
from .common import PERM_ROLLBACK, _lock, _require

logger = logging.getLogger(__name__)

# The statuses after which nothing reads the file again (a failed apply resumes from it: it
# is kept for the same period, then resuming asks for the file again).
OVER = (JobStatus.COMPLETED, JobStatus.FAILED, JobStatus.CANCELLED, JobStatus.ROLLED_BACK)


def purgeable(*, days: int, now=None):
    """Jobs over for more than ``days`` days that still have a stored file."""
    cutoff = (now or timezone.now()) - timedelta(days=days)
    return (
        ImportJob.objects.filter(status__in=OVER)
        .exclude(Q(file="") | Q(file__isnull=True))
        .alias(over_at=Coalesce("finished_at", "created_at"))
        .filter(over_at__lt=cutoff)
        .order_by("pk")
    )


def job_files_purge(*, actor=None, days: int | None = None, now=None) -> list[int]:
    """Delete the stored files of jobs over for more than ``days`` (``IMPORT_FILE_RETENTION_DAYS``
    by default; 0 or less keeps every file). Returns the ids of the jobs whose file went.
    ``actor`` None is the system (the schedule, the command line)."""
    _require(actor, PERM_ROLLBACK, "delete import files")
    days = settings.IMPORT_FILE_RETENTION_DAYS if days is None else days
    if days <= 0:
        return []
    purged = []
    for job_id in purgeable(days=days, now=now).values_list("pk", flat=True).iterator():
        with transaction.atomic():
            job = _lock(job_id)
            if job.status not in OVER or not job.file:
                continue  # resumed or purged meanwhile
            name, storage = job.file.name, job.file.storage
            job.file = ""
            job.save(update_fields=["file"])
            record(
                actor=actor,
                action="import.job.file_purged",
                target=job,
                job_id=job.pk,
                changes={"file": [name, ""], "sha256": job.sha256, "retention_days": days},
                message=f"Stored file deleted {days} days after the job was {job.status}.",
            )
            # the file goes once the row says so: a rolled-back transaction keeps both
            transaction.on_commit(lambda n=name, s=storage: _delete(s, n))
        purged.append(job_id)
    return purged


def _delete(storage, name: str) -> None:
    try:
        storage.delete(name)
    except OSError:
        logger.exception("could not delete the stored import file %s", name)
