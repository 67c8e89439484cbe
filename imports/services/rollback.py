"""Rollback: the rows a job created deleted, the rows it updated restored, newest first."""

import logging
from collections import Counter
from functools import partial

from django.core.exceptions import ValidationError
from django.db import (
    DatabaseError,
    IntegrityError,
    transaction,
)
from django.db.models import Count
from django.utils import timezone

from opsportal.audit.models import AuditEvent
from opsportal.audit.services import record

from ..choices import ChangeOp, JobStatus
from ..models import (
    ImportJob,
    ImportRowChange,
)
from ..resilience import first_line
from ..writer import MODELS, restore, unchanged_since
from .common import (
    PERM_ROLLBACK,
    _enqueue,
    _hold_member_tables,
    _lock,
    _require,
    _worker,
)

logger = logging.getLogger(__name__)
CONFLICTS_KEPT = 1000


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
        job.rollback_conflicts = [*job.rollback_conflicts, *conflicts][:CONFLICTS_KEPT]
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
                **{k: v for k, v in rollback_figures(job).items() if k != "conflicts"},
            },
        )
    return job


def rollback_figures(job: ImportJob) -> dict:
    """What a rollback did, from the job's change log and its conflicts (no counter of its own):
    rows the job created now deleted, rows it updated now restored, and what the rollback left
    in place (changed since, or still referenced) — the rows of this job still in the tables."""
    by_op = dict(job.changes.order_by().values_list("op").annotate(n=Count("pk")))
    created, updated = by_op.get(ChangeOp.CREATED, 0), by_op.get(ChangeOp.UPDATED, 0)
    kept = Counter(c.get("op") for c in job.rollback_conflicts)
    done = job.rollback_checkpoint >= created + updated
    return {
        "changes": created + updated,
        "reverted_so_far": job.rollback_checkpoint,
        "deleted": created - kept[ChangeOp.CREATED] if done else None,
        "restored": updated - kept[ChangeOp.UPDATED] if done else None,
        "conflicts": len(job.rollback_conflicts),
        "created_kept": kept[ChangeOp.CREATED],
        "updated_kept": kept[ChangeOp.UPDATED],
        # the conflict list keeps its first 1000: past that the figures above are at least
        "conflicts_capped": len(job.rollback_conflicts) >= CONFLICTS_KEPT,
    }


def rollback_summary(job: ImportJob) -> dict | None:
    """The rollback of ``job`` for its page: who asked, why, when, and the figures; ``None``
    when it was never rolled back. Who and why come from the audit trail (the started event)."""
    if job.status not in (JobStatus.ROLLING_BACK, JobStatus.ROLLED_BACK):
        return None
    events = {
        e.action: e
        for e in AuditEvent.objects.filter(
            target_type="imports.importjob",
            target_id=str(job.pk),
            action__in=["import.job.rollback_started", "import.job.rolled_back"],
        )
        .select_related("actor")
        .order_by("seq")
    }
    started = events.get("import.job.rollback_started")
    finished = events.get("import.job.rolled_back")
    return {
        **rollback_figures(job),
        "by": (started.actor or started.actor_label) if started else None,
        "reason": started.message if started else "",
        "started_at": started.at if started else None,
        "finished_at": finished.at if finished else job.finished_at,
        "done": job.status == JobStatus.ROLLED_BACK,
    }


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
