"""Sample verification: start (checked in the request, the seeded sample drawn on the imports
worker: each member's sources re-read from the stored files, and stored data), mark a member
correct or wrong (a wrong one raises a review item), complete (the signed report). See
``imports.verification`` for the sampling and the source rows."""

import secrets
from datetime import timedelta

from django.conf import settings
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.utils import timezone

from opsportal.audit.masking import scrub_text
from opsportal.audit.services import record
from opsportal.fields import mask_json

from .. import verification as v
from ..choices import ReviewKind, ReviewStatus, SampleMark, VerificationStatus
from ..models import ReviewItem, SampleVerification, SampleVerificationItem
from .common import _require

PERM_VERIFY = "imports.add_sampleverification"
PERM_MARK = "imports.change_sampleverification"
SEED_LIMIT = 2**53  # seeds survive a round trip through JSON and JavaScript


def _seed(seed) -> int:
    if seed in (None, ""):
        return secrets.randbelow(10**9)
    try:
        value = int(seed)
    except (TypeError, ValueError):
        raise ValidationError({"seed": "The seed is a whole number."}) from None
    if not 0 <= value < SEED_LIMIT:
        raise ValidationError({"seed": f"The seed is between 0 and {SEED_LIMIT - 1}."})
    return value


def verification_start(
    *, actor, jobs, size: int = v.DEFAULT_SIZE, seed: int | None = None
) -> SampleVerification:
    """Start a verification of the members the completed ``jobs`` wrote: checked and created
    here (status drawing); the sample is drawn on the imports worker (``verification_draw``),
    since drawing re-reads the jobs' stored files. ``seed`` None: a random one (shown on the
    verification, so anyone can draw the same sample again)."""
    _require(actor, PERM_VERIFY, "verify import samples")
    if not isinstance(size, int) or not 1 <= size <= v.MAX_SIZE:
        raise ValidationError({"size": f"The sample size is between 1 and {v.MAX_SIZE}."})
    seed = _seed(seed)
    try:
        chosen = v.completed_jobs(getattr(j, "pk", j) for j in jobs)
    except ValueError as exc:
        raise ValidationError({"jobs": str(exc)}) from None
    if not v.writes_members([j.pk for j in chosen]):
        raise ValidationError({"jobs": NO_MEMBERS})
    with transaction.atomic():
        verification = SampleVerification.objects.create(
            seed=seed,
            size=size,
            status=VerificationStatus.DRAWING,
            started_by=actor,
            started_at=timezone.now(),
        )
        verification.jobs.set(chosen)
        record(
            actor=actor,
            action="import.verification.started",
            target=verification,
            job_id=chosen[0].pk,
            changes={
                "status": VerificationStatus.DRAWING,
                "jobs": [j.pk for j in chosen],
                "seed": seed,
                "size": size,
            },
        )
        _enqueue_draw(verification.pk)
    return verification


NO_MEMBERS = "These import jobs wrote no member rows to verify."


def draw_is_stuck(verification: SampleVerification, now=None) -> bool:
    """Still drawing long after it started: its task was lost (a worker killed, a queue purged)."""
    limit = timedelta(minutes=settings.IMPORTS_SAMPLE_DRAW_STUCK_MINUTES)
    return (
        verification.status == VerificationStatus.DRAWING
        and verification.started_at < (now or timezone.now()) - limit
    )


def verification_redraw(*, actor, verification: SampleVerification) -> SampleVerification:
    """Queue the draw of a verification stuck in "drawing" again. Safe whatever happened to the
    first task: the draw does nothing once the verification is no longer drawing, and writes its
    items in one transaction with the status. Audited as ``import.verification.requeued``."""
    _require(actor, PERM_VERIFY, "verify import samples")
    with transaction.atomic():
        locked = SampleVerification.objects.select_for_update().get(pk=verification.pk)
        if not draw_is_stuck(locked):
            raise ValidationError(
                "Only a draw that has been running for over "
                f"{settings.IMPORTS_SAMPLE_DRAW_STUCK_MINUTES} minutes can be queued again."
            )
        record(
            actor=actor,
            action="import.verification.requeued",
            target=locked,
            job_id=locked.jobs.order_by("pk").values_list("pk", flat=True).first(),
            changes={"status": locked.status, "started_at": locked.started_at.isoformat()},
        )
        _enqueue_draw(locked.pk)
    return locked


def _enqueue_draw(verification_id: int) -> None:
    from django_q.tasks import async_task

    cluster = settings.IMPORTS_CLUSTER
    transaction.on_commit(
        lambda: async_task("imports.tasks.draw_verification", verification_id, cluster=cluster)
    )


def verification_draw(*, verification_id: int) -> SampleVerification:
    """The worker's part of ``verification_start``: draw the seeded sample, keep each member's
    source rows and stored data as they are now, and open the verification; or mark it failed,
    with the reason, when a file cannot be read or nothing is left to sample. The items are
    written in one transaction with the status, so a failure leaves none. A redelivered task
    finds the verification no longer drawing and does nothing."""
    verification = SampleVerification.objects.get(pk=verification_id)
    if verification.status != VerificationStatus.DRAWING:
        return verification
    job_ids = sorted(verification.jobs.values_list("pk", flat=True))
    try:
        # the files are read before the transaction: no lock is held while they stream
        members = v.sample(job_ids, size=verification.size, seed=verification.seed, strict=True)
        if not members:
            raise ValueError(NO_MEMBERS)
        with transaction.atomic():
            verification = _drawing(verification_id)
            if verification is None:  # another delivery of the task got there first
                return SampleVerification.objects.get(pk=verification_id)
            SampleVerificationItem.objects.bulk_create(
                SampleVerificationItem(
                    verification=verification,
                    position=n,
                    member_id=m["member"]["id"],
                    member_label=v.label(m),
                    sources=m["sources"],
                    stored=m["stored"],
                )
                for n, m in enumerate(members, start=1)
            )
            verification.status = VerificationStatus.OPEN
            verification.save(update_fields=["status"])
            record(
                actor=None,
                on_behalf_of=verification.started_by,
                action="import.verification.drawn",
                target=verification,
                job_id=job_ids[0],
                changes={
                    "status": [VerificationStatus.DRAWING, VerificationStatus.OPEN],
                    "members": len(members),
                    "source_rows": sum(len(m["sources"]) for m in members),
                },
            )
        return verification
    except (v.SourceUnreadable, ValueError) as exc:  # ValueError: a job no longer completed
        return _draw_failed(verification_id, job_ids, _reason(exc))
    except Exception as exc:
        _draw_failed(verification_id, job_ids, _reason(exc))
        raise  # unexpected: the task fails too (its message masked), among the failed tasks


def _reason(exc: BaseException) -> str:
    """Why drawing failed, in words, masked: a file's error may quote one of its cells."""
    if isinstance(exc, ValidationError):
        text = "; ".join(exc.messages)
    elif isinstance(exc, (v.SourceUnreadable, ValueError)):
        text = str(exc)
    else:
        text = f"Drawing the sample stopped on an unexpected error ({type(exc).__name__}: {exc})."
    return scrub_text(text)[:2000]


def _drawing(verification_id: int) -> SampleVerification | None:
    """The verification locked, when it is still drawing."""
    verification = SampleVerification.objects.select_for_update().get(pk=verification_id)
    return verification if verification.status == VerificationStatus.DRAWING else None


def _draw_failed(verification_id: int, job_ids: list[int], reason: str) -> SampleVerification:
    with transaction.atomic():
        verification = _drawing(verification_id)
        if verification is None:
            return SampleVerification.objects.get(pk=verification_id)
        verification.status = VerificationStatus.FAILED
        verification.failure = reason
        verification.save(update_fields=["status", "failure"])
        record(
            actor=None,
            on_behalf_of=verification.started_by,
            action="import.verification.failed",
            target=verification,
            job_id=job_ids[0] if job_ids else None,
            changes={"status": [VerificationStatus.DRAWING, VerificationStatus.FAILED]},
            message=reason,
        )
    return verification


def _locked(verification_id: int) -> SampleVerification:
    verification = SampleVerification.objects.select_for_update().get(pk=verification_id)
    if verification.status == VerificationStatus.DRAWING:
        raise ValidationError("The sample is still being drawn; mark its members once it is open.")
    if verification.status == VerificationStatus.FAILED:
        raise ValidationError("Drawing this sample failed; start another verification.")
    if verification.status != VerificationStatus.OPEN:
        raise ValidationError("This verification is completed; its report is final.")
    return verification


def verification_item_mark(
    *, actor, item: SampleVerificationItem, mark: str, note: str = ""
) -> SampleVerificationItem:
    """Mark one sampled member correct or wrong, with a note (required when wrong). A wrong
    member raises a review item in the review queues; it is then decided there, and the mark
    stays wrong."""
    if actor is None:
        raise PermissionDenied("Marking a sampled member needs a person.")
    _require(actor, PERM_MARK, "mark sampled members")
    if mark not in (SampleMark.CORRECT, SampleMark.WRONG):
        raise ValidationError({"mark": "Mark the member correct or wrong."})
    note = (note or "").strip()
    if mark == SampleMark.WRONG and not note:
        raise ValidationError({"note": "Say what is wrong in a note."})
    with transaction.atomic():
        verification = _locked(item.verification_id)
        item = SampleVerificationItem.objects.select_for_update().get(pk=item.pk)
        before = item.mark
        if before == SampleMark.WRONG:
            raise ValidationError(
                "This member is already marked wrong; its review item decides it now."
            )
        item.mark, item.note = mark, note
        item.marked_by, item.marked_at = actor, timezone.now()
        fields = ["mark", "note", "marked_by", "marked_at"]
        review = None
        if mark == SampleMark.WRONG:
            review = ReviewItem.objects.create(
                kind=ReviewKind.SAMPLE_WRONG,
                key=f"sample:{verification.pk}:{item.position}",
                status=ReviewStatus.OPEN,
                summary=f"{item.member_label} (sample verification #{verification.pk}, "
                f"seed {verification.seed}): {note}",
                # the member by id only: a review item's member is protected, and rolling
                # the import back must still be able to delete it
                details={
                    "verification": verification.pk,
                    "position": item.position,
                    "member": item.member_id,
                },
                job_id=verification.jobs.order_by("pk").values_list("pk", flat=True).first(),
            )
            item.review_item = review
            fields.append("review_item")
        item.save(update_fields=fields)
        counts = dict.fromkeys(SampleMark.values, 0)
        for value in verification.items.values_list("mark", flat=True):
            counts[value] += 1
        verification.correct_count = counts[SampleMark.CORRECT]
        verification.wrong_count = counts[SampleMark.WRONG]
        verification.save(update_fields=["correct_count", "wrong_count"])
        record(
            actor=actor,
            action=f"import.verification.marked_{mark}",
            target=item,
            job_id=review.job_id if review else None,
            changes={
                "verification": verification.pk,
                "position": item.position,
                "mark": [before, mark],
            },
            message=note,
        )
        if review is not None:
            record(
                actor=actor,
                action="import.review.raised",
                target=review,
                job_id=review.job_id,
                changes={"kind": review.kind, "verification": verification.pk},
                message=note,
            )
    return item


def verification_complete(*, actor, verification: SampleVerification) -> SampleVerification:
    """Close the verification once every member is marked: the report (who, when, the seed,
    every result) is frozen, hashed and signed with the portal's key, and the hash goes into
    the audit chain with the completion event."""
    if actor is None:
        raise PermissionDenied("Completing a verification needs a person.")
    _require(actor, PERM_MARK, "complete sample verifications")
    with transaction.atomic():
        verification = _locked(verification.pk)
        items = list(verification.items.select_related("marked_by").order_by("position"))
        pending = sum(1 for i in items if i.mark == SampleMark.PENDING)
        if pending:
            raise ValidationError(f"{pending} sampled members are not marked yet.")
        now = timezone.now()
        body = v.report_body(verification, items, completed_by=actor, completed_at=now)
        body = mask_json(body)  # what the masked JSON column stores is what is hashed
        verification.report = body
        verification.content_hash = v.content_hash(body)
        verification.signature, verification.key_id = v.sign(body)
        verification.status = VerificationStatus.COMPLETED
        verification.completed_by, verification.completed_at = actor, now
        verification.save(
            update_fields=[
                "report", "content_hash", "signature", "key_id", "status", "completed_by",
                "completed_at",
            ]
        )  # fmt: skip
        record(
            actor=actor,
            action="import.verification.completed",
            target=verification,
            job_id=body["jobs"][0],
            changes={
                "status": [VerificationStatus.OPEN, VerificationStatus.COMPLETED],
                "jobs": body["jobs"],
                "seed": verification.seed,
                "correct": body["results"]["correct"],
                "wrong": body["results"]["wrong"],
                "content_hash": verification.content_hash,
                "key_id": verification.key_id,
            },
        )
    return verification
