"""Review decisions and column presets."""

from django.core.exceptions import PermissionDenied, ValidationError
from django.db import (
    transaction,
)
from django.utils import timezone

from opsportal.accounts.permissions import require
from opsportal.audit.services import record

from ..choices import JobKind, ReviewStatus
from ..models import (
    ColumnPreset,
    ReviewItem,
)
from .common import (
    PERM_REVIEW,
    PERM_START,
    _require,
)


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
