"""Sample verification: start (draw the seeded sample, keep each member's sources and stored
data), mark a member correct or wrong (a wrong one raises a review item), complete (the signed
report). See ``imports.verification`` for the sampling and the source rows."""

import secrets

from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.utils import timezone

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
    """Draw a reproducible sample of the members the completed ``jobs`` wrote and keep, per
    member, its source rows and stored data as they are now. ``seed`` None: a random one (shown
    on the verification, so anyone can draw the same sample again)."""
    _require(actor, PERM_VERIFY, "verify import samples")
    if not isinstance(size, int) or not 1 <= size <= v.MAX_SIZE:
        raise ValidationError({"size": f"The sample size is between 1 and {v.MAX_SIZE}."})
    seed = _seed(seed)
    try:
        chosen = v.completed_jobs(getattr(j, "pk", j) for j in jobs)
    except ValueError as exc:
        raise ValidationError({"jobs": str(exc)}) from None
    # Reading the files happens before the transaction: no lock is held while they stream.
    members = v.sample([j.pk for j in chosen], size=size, seed=seed)
    if not members:
        raise ValidationError({"jobs": "These import jobs wrote no member rows to verify."})
    with transaction.atomic():
        verification = SampleVerification.objects.create(
            seed=seed, size=size, started_by=actor, started_at=timezone.now()
        )
        verification.jobs.set(chosen)
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
        record(
            actor=actor,
            action="import.verification.started",
            target=verification,
            job_id=chosen[0].pk,
            changes={
                "jobs": [j.pk for j in chosen],
                "seed": seed,
                "size": size,
                "members": len(members),
                "source_rows": sum(len(m["sources"]) for m in members),
            },
        )
    return verification


def _locked(verification_id: int) -> SampleVerification:
    verification = SampleVerification.objects.select_for_update().get(pk=verification_id)
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
