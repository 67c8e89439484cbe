"""Every write of the imports app: jobs (upload, validate, confirm, apply, cancel, resume,
rollback), review decisions and column presets.

Status changes are audited with the operator; per-row changes are linked to the job through
``ImportRowChange`` and each row's ``job`` instead of an audit row each.
"""

import hashlib
import itertools
import logging
import os
import time
from decimal import Decimal
from functools import partial
from pathlib import Path

from django.conf import settings
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.files.base import ContentFile
from django.db import (
    DatabaseError,
    IntegrityError,
    connection,
    transaction,
)
from django.utils import timezone

from opsportal.accounts.permissions import require
from opsportal.audit.masking import scrub_text
from opsportal.audit.services import record

from . import commissions, engine
from .choices import ChangeOp, CommissionKind, JobKind, JobStatus, ReviewStatus
from .formats import MAX_BYTES, parse_bytes
from .models import (
    ColumnPreset,
    ImportJob,
    ImportRowChange,
    ImportRowError,
    Product,
    ReviewItem,
)
from .resilience import Worker as _Worker
from .resilience import first_line

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


def _hold_member_tables() -> None:
    """Take the imports write lock until the current transaction ends (see WRITE_LOCK_KEY).

    Taken before the job row, by every transaction that writes member data."""
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_xact_lock(%s)", [WRITE_LOCK_KEY])
            # A batch and its checkpoint commit together, so a commit lost in a crash is a
            # batch that resume applies again: no need to wait for the WAL flush (~40 ms per
            # batch on a busy disk, measured).
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


# --- upload -------------------------------------------------------------------------------------
def job_create(
    *,
    actor,
    data: bytes,
    name: str,
    kind: str = "auto",
    batch_size: int = 1000,
    mapping: dict | None = None,
    parent: ImportJob | None = None,
    validate: str = "background",
) -> ImportJob:
    """Store an uploaded file (with its sha256) as a job; validation runs next.

    ``validate`` is ``"background"`` (a task), ``"now"`` (in this process, e.g. the CLI) or
    ``"no"``. File-level problems raise ``ValidationError`` and store nothing.
    """
    _require(actor, PERM_START, "start imports")
    if len(data) > MAX_BYTES:
        raise ValidationError(
            f"The file is {len(data) / 1_048_576:.0f} MB; the limit is {MAX_BYTES // 1_048_576} MB."
        )
    if not 10 <= batch_size <= 50_000:
        raise ValidationError("Batch size must be between 10 and 50,000 rows.")
    source = parse_bytes(data, kind=kind, mapping=mapping)
    if source.kind not in engine.HANDLERS:
        raise ValidationError(
            f"{JobKind(source.kind).label} files are recognised but cannot be imported yet."
        )
    digest = hashlib.sha256(data).hexdigest()
    with transaction.atomic():
        job = ImportJob(
            kind=source.kind,
            original_name=Path(name).name[:255],
            sha256=digest,
            size=len(data),
            encoding=source.encoding,
            delimiter=source.delimiter,
            batch_size=batch_size,
            parent=parent,
            created_by=actor,
            preview={"mapping": source.mapping, "columns": list(source.mapping)}
            if mapping
            else {"columns": source.columns},
        )
        job.file.save(f"{digest[:16]}-{job.original_name}", ContentFile(data), save=False)
        job.save()
        record(
            actor=actor,
            action="import.job.uploaded",
            target=job,
            job_id=job.pk,
            changes={
                "kind": job.kind,
                "sha256": digest,
                "size": len(data),
                "name": job.original_name,
            },
        )
        if validate == "background":
            transaction.on_commit(lambda: _async("imports.tasks.validate_job", job.pk))
    del source  # the validation reads the stored file again: not two copies of a big file
    if validate == "now":
        job_validate(job_id=job.pk)
        job.refresh_from_db()
    return job


def _async(func: str, job_id: int) -> None:
    from django_q.tasks import async_task

    async_task(func, job_id, cluster=settings.IMPORTS_CLUSTER)


def _source(job: ImportJob):
    with job.file.open("rb") as fh:
        data = fh.read()
    return parse_bytes(data, kind=job.kind, mapping=job.preview.get("mapping") or None)


def _batches(job: ImportJob):
    rows = _source(job).rows()
    while chunk := list(itertools.islice(rows, job.batch_size)):
        yield chunk


def _with_raw(rejected: list, chunk: list) -> list:
    """Keep each rejected row's original cells, so it can be fixed and uploaded again."""
    raws = {number: raw for number, raw in chunk if "__error__" not in raw}
    return [(r, k, why, raws.get(r, {})) for r, k, why in rejected]


class _DryRun(Exception):
    pass


def _dry_run(job: ImportJob) -> tuple[dict, list, list]:
    """Apply the whole file in one transaction and roll it back: (counts, rejected, samples).

    Holds the imports write lock throughout: a preview inserts the rows it would create, and
    would otherwise collide with (or wait on) a job applying the same members meanwhile."""
    counts = {"created": 0, "updated": 0, "unchanged": 0, "total": 0}
    rejected, samples = [], []
    state: dict = {}
    try:
        with transaction.atomic(), engine.bulk_work():
            _hold_member_tables()
            for number, chunk in enumerate(_batches(job)):
                engine.refresh_statistics(job, number, dry_run=True)
                result = engine.apply_batch(
                    job,
                    chunk,
                    sample_limit=SAMPLE_ROWS - len(samples),
                    dry_run=True,
                    state=state,
                )
                counts["total"] += len(chunk)
                for k in ("created", "updated", "unchanged"):
                    counts[k] += getattr(result, k)
                rejected += _with_raw(result.rejected, chunk)
                samples += result.samples
            raise _DryRun
    except _DryRun:
        pass
    return counts, rejected, samples


def job_validate(*, job_id: int) -> ImportJob:
    """Dry-run the whole file in one transaction that is rolled back: exact preview counts."""
    worker = _worker(job_id)
    job = worker.run(partial(_validation_start, job_id))
    if job.status != JobStatus.VALIDATING:
        return job
    started = time.monotonic()
    try:
        counts, rejected, samples = worker.run(partial(_dry_run, job))
    except Exception as exc:  # a bad file must not leave the job "validating"
        if isinstance(exc, ValidationError):
            message = "; ".join(exc.messages)
        else:
            logger.exception("validation of import job %s stopped", job_id)
            message = f"Validation stopped: {exc.__class__.__name__}: {exc}"[:1000]
        with transaction.atomic():
            job = _lock(job_id)
            job.status, job.error = JobStatus.FAILED, message
            job.save(update_fields=["status", "error"])
            record(
                actor=None, action="import.job.failed", target=job, job_id=job.pk, message=job.error
            )
        return job
    seconds = round(time.monotonic() - started, 2)
    return worker.run(partial(_validated, job_id, counts, rejected, samples, seconds))


def _validation_start(job_id: int) -> ImportJob:
    with transaction.atomic():
        job = _lock(job_id)
        if job.status in (JobStatus.UPLOADED, JobStatus.VALIDATING):
            job.status = JobStatus.VALIDATING
            job.save(update_fields=["status"])
    return job


def _validated(
    job_id: int, counts: dict, rejected: list, samples: list, seconds: float
) -> ImportJob:
    with transaction.atomic():
        job = _lock(job_id)
        if job.status != JobStatus.VALIDATING:
            return job  # a duplicate delivery got there first, or the job was cancelled
        job.row_errors.all().delete()
        ImportRowError.objects.bulk_create(
            [
                ImportRowError(job=job, row=r, key=str(k)[:100], reason=reason[:200], raw=raw)
                for r, k, reason, raw in rejected
            ],
            batch_size=1000,
        )
        job.total_rows = counts["total"]
        job.rejected_count = len(rejected)
        job.preview = {
            **job.preview,
            "created": counts["created"],
            "updated": counts["updated"],
            "unchanged": counts["unchanged"],
            "rejected": len(rejected),
            "samples": samples,
            "seconds": seconds,
        }
        if counts["total"] == 0:
            job.status, job.error = JobStatus.FAILED, "The file has a header but no data rows."
        else:
            job.status = JobStatus.READY
        job.save(update_fields=["total_rows", "rejected_count", "preview", "status", "error"])
        record(
            actor=None,
            action="import.job.validated",
            target=job,
            job_id=job.pk,
            changes={k: job.preview[k] for k in ("created", "updated", "unchanged", "rejected")}
            if job.status == JobStatus.READY
            else {},
            message=job.error,
        )
    return job


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
        _hold_member_tables()
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


# --- rollback -----------------------------------------------------------------------------------
def job_rollback(*, actor, job: ImportJob, reason: str, enqueue: bool = True) -> ImportJob:
    """Undo a job: delete the rows it created, restore the before-image of rows it updated."""
    _require(actor, PERM_ROLLBACK, "roll back imports")
    if not reason.strip():
        raise ValidationError("Give a reason for the rollback.")
    try:
        with transaction.atomic():
            job = _lock(job.pk)
            if job.status not in (JobStatus.COMPLETED, JobStatus.CANCELLED, JobStatus.FAILED):
                raise ValidationError(
                    f"Job #{job.pk} is {job.get_status_display()}: only finished jobs roll back."
                )
            before = job.status
            job.status = JobStatus.ROLLING_BACK
            job.save(update_fields=["status"])
            record(
                actor=actor,
                action="import.job.rollback_started",
                target=job,
                job_id=job.pk,
                changes={"status": [before, job.status]},
                message=reason,
            )
            if enqueue:
                _enqueue("imports.tasks.rollback_job", job)
    except IntegrityError:
        raise ValidationError("The same file is being applied by another job right now.") from None
    return job


def job_rollback_run(*, job_id: int, batch_size: int = 1000) -> ImportJob:
    """The rollback worker: newest changes first, one batch per transaction, resumable.

    A lost database connection is waited out; any other error leaves the job rolling back
    (resume continues it) with the error shown and audited."""
    worker = _worker(job_id)
    try:
        while True:
            if not worker.run(partial(_rollback_batch, job_id, batch_size)):
                break
        return worker.run(partial(_rolled_back, job_id))
    except (Exception, SystemExit) as exc:
        _rollback_stopped(job_id, exc)
        raise


def _rollback_batch(job_id: int, batch_size: int) -> bool:
    """Revert the next ``batch_size`` changes; whether there may be more."""
    from .writer import MODELS, restore, unchanged_since

    with transaction.atomic():
        _hold_member_tables()
        job = _lock(job_id)
        if job.status != JobStatus.ROLLING_BACK:
            return False
        changes = list(
            job.changes.order_by("-pk")[
                job.rollback_checkpoint : job.rollback_checkpoint + batch_size
            ]
        )
        if not changes:
            return False
        conflicts = []
        for change in changes:
            model = MODELS[change.model]
            obj = model.objects.filter(pk=change.object_pk).first()
            if obj is None:
                if change.op == ChangeOp.UPDATED:
                    conflicts.append(_conflict(change, "deleted since"))
                continue
            if not unchanged_since(change, obj):
                conflicts.append(_conflict(change, "changed since the import"))
                continue
            try:
                with transaction.atomic():
                    if change.op == ChangeOp.CREATED:
                        obj.delete()
                    else:
                        obj.save(update_fields=restore(obj, change.before))
            except IntegrityError:
                conflicts.append(_conflict(change, "still referenced by other rows"))
        job.rollback_checkpoint += len(changes)
        job.rollback_conflicts = [*job.rollback_conflicts, *conflicts][:1000]
        job.save(update_fields=["rollback_checkpoint", "rollback_conflicts"])
    return True


def _rolled_back(job_id: int) -> ImportJob:
    with transaction.atomic():
        job = _lock(job_id)
        if job.status != JobStatus.ROLLING_BACK:
            return job
        job.status = JobStatus.ROLLED_BACK
        job.finished_at = timezone.now()
        job.save(update_fields=["status", "finished_at"])
        record(
            actor=None,
            on_behalf_of=job.created_by,
            action="import.job.rolled_back",
            target=job,
            job_id=job.pk,
            changes={
                "reverted": job.rollback_checkpoint - len(job.rollback_conflicts),
                "conflicts": len(job.rollback_conflicts),
            },
        )
    return job


def _rollback_stopped(job_id: int, exc: BaseException) -> None:
    try:
        with transaction.atomic():
            job = _lock(job_id)
            if job.status != JobStatus.ROLLING_BACK:
                return
            job.error = (
                f"Rollback stopped after {job.rollback_checkpoint} changes: {first_line(exc)}. "
                "Resume to continue from there."
            )
            job.save(update_fields=["error"])
            record(
                actor=None,
                on_behalf_of=job.created_by,
                action="import.job.rollback_stopped",
                target=job,
                job_id=job.pk,
                changes={"rollback_checkpoint": job.rollback_checkpoint},
                message=job.error,
            )
    except DatabaseError:
        logger.exception("could not record the stop of import job %s's rollback", job_id)


def _conflict(change: ImportRowChange, why: str) -> dict:
    return {"model": change.model, "pk": change.object_pk, "op": change.op, "reason": why}


# --- review queues ------------------------------------------------------------------------------
def review_decide(*, actor, item: ReviewItem, decision: str, note: str = "") -> ReviewItem:
    """Verify or reject a review item, with a note; approvers only."""
    if actor is None:
        raise PermissionDenied("Review decisions need a person.")
    require(actor, PERM_REVIEW, action="decide import reviews")
    if decision not in (ReviewStatus.VERIFIED, ReviewStatus.REJECTED):
        raise ValidationError("Decide verified or rejected.")
    if decision == ReviewStatus.REJECTED and not note.strip():
        raise ValidationError("Say why in a note when you reject.")
    with transaction.atomic():
        item = ReviewItem.objects.select_for_update().get(pk=item.pk)
        if item.status != ReviewStatus.OPEN:
            raise ValidationError(f"This item was already {item.get_status_display().lower()}.")
        item.status, item.note = decision, note.strip()
        item.decided_by, item.decided_at = actor, timezone.now()
        item.save(update_fields=["status", "note", "decided_by", "decided_at"])
        record(
            actor=actor,
            action=f"import.review.{decision}",
            target=item,
            job_id=item.job_id,
            changes={"status": [ReviewStatus.OPEN, decision], "kind": item.kind},
            message=item.note,
        )
    return item


def preset_save(*, actor, name: str, kind: str, mapping: dict) -> ColumnPreset:
    """Save a column mapping (field → file column) for files of an unknown layout."""
    _require(actor, PERM_START, "save column presets")
    if kind not in JobKind.values:
        raise ValidationError(f"Unknown kind {kind!r}.")
    if not name.strip() or not any(mapping.values()):
        raise ValidationError("Name the preset and map at least one column.")
    with transaction.atomic():
        preset, created = ColumnPreset.objects.update_or_create(
            name=name.strip(), defaults={"kind": kind, "mapping": mapping}
        )
        record(
            actor=actor,
            action="import.preset.saved",
            target=preset,
            changes={"kind": kind, "mapping": mapping, "created": created},
        )
    return preset


# --- product settings ---------------------------------------------------------------------------
PERM_PRODUCTS = "imports.change_product"
PRODUCT_FIELDS = ("price", "commission_kind", "commission_value", "access_days")


def _product_settings(product: Product) -> dict:
    """The settings as audit values; numbers at the stored precision, so ``150000`` and
    ``150000.00`` are the same setting."""

    def number(value, places="0.01"):
        return None if value is None else str(Decimal(value).quantize(Decimal(places)))

    return {
        "price": number(product.price),
        "commission_kind": product.commission_kind,
        "commission_value": number(product.commission_value),
        "access_days": product.access_days,
    }


def validate_product_settings(
    *,
    price: Decimal | None,
    commission_kind: str,
    commission_value: Decimal | None,
    access_days: int | None,
) -> None:
    """Raise ``ValidationError`` (per field) for settings Sejoli itself would not accept."""
    errors = {}
    if price is not None and price < 0:
        errors["price"] = "A price cannot be negative."
    if commission_kind not in ("", *CommissionKind.values):
        errors["commission_kind"] = f"Unknown commission kind {commission_kind!r}."
    elif commission_kind and commission_value is None:
        errors["commission_value"] = "Give the commission amount for this kind."
    elif commission_value is not None and not commission_kind:
        errors["commission_kind"] = "Say whether the commission is a percent or a fixed amount."
    elif commission_value is not None and commission_value < 0:
        errors["commission_value"] = "A commission cannot be negative."
    elif commission_kind == CommissionKind.PERCENT and commission_value > 100:
        errors["commission_value"] = "A percent commission is at most 100."
    if access_days is not None and access_days < 0:
        errors["access_days"] = "Access days cannot be negative."
    if errors:
        raise ValidationError(errors)


def product_update(
    *,
    actor,
    product: Product,
    price: Decimal | None,
    commission_kind: str,
    commission_value: Decimal | None,
    access_days: int | None,
    reason: str = "",
) -> Product:
    """Change a product's settings; commissions on its orders are recomputed from the new
    setting (their import's rollback still recognises them) and its "needs a commission
    setting" review item is settled. One audited transaction."""
    _require(actor, PERM_PRODUCTS, "edit product settings")
    validate_product_settings(
        price=price,
        commission_kind=commission_kind,
        commission_value=commission_value,
        access_days=access_days,
    )
    with transaction.atomic():
        _hold_member_tables()
        product = Product.objects.select_for_update().get(pk=product.pk)
        before = _product_settings(product)
        product.price = price
        product.commission_kind = commission_kind
        product.commission_value = commission_value if commission_kind else None
        product.access_days = access_days or None
        after = _product_settings(product)
        changed = [f for f in PRODUCT_FIELDS if before[f] != after[f]]
        if not changed:
            return product
        product.save(update_fields=changed)
        recomputed = commissions.recompute(product_ids=[product.pk], actor=actor)
        record(
            actor=actor,
            action="import.product.updated",
            target=product,
            changes={
                **{f: [before[f], after[f]] for f in changed},
                "commissions_recomputed": len(recomputed),
                "commissions_before": {str(pk): amount for pk, amount in recomputed[:200]},
            },
            message=scrub_text(reason.strip()),
        )
    return product
