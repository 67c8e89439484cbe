"""How the audit trail links what this app records (read by ``opsportal.audit.links``)."""

from django.db.models import Q

from opsportal.audit.links import by_pk

LINKS = {
    "imports.importjob": by_pk("imports:job_detail"),
    "imports.product": by_pk("imports:product_edit"),
}

REFERENCES = {"job": "imports.importjob"}

TYPE_LABELS = {"imports.importjob": "import job", "imports.reviewitem": "review item"}


def member_history(member) -> Q:
    """A member's events: the import job that last wrote the row, and the review decisions
    about them (rows are written in bulk, so there is no event per member)."""
    from .models import ReviewItem

    reviews = ReviewItem.objects.filter(Q(member=member) | Q(other_member=member))
    ids = [str(pk) for pk in reviews.values_list("pk", flat=True)[:200]]
    q = Q(target_type="imports.reviewitem", target_id__in=ids)
    if member.job_id:
        q |= Q(job_id=member.job_id, target_type="imports.importjob")
    return q


HISTORY = {"imports.member": member_history}
