"""'Waiting for me' (notifications): review items to decide, my jobs waiting for confirmation."""

from django.db.models import Count, Min
from django.urls import reverse

from notifications.hooks import LIMIT, WaitingItem

from .choices import JobStatus, ReviewKind
from .models import ImportJob, ReviewItem

REVIEW = "imports.review_importitem"


def items(user) -> list[WaitingItem]:
    out = []
    if user.has_perm(REVIEW):
        # One entry per queue: there can be thousands of items after a large import.
        queues = (
            ReviewItem.objects.open()
            .order_by()
            .values("kind")
            .annotate(n=Count("pk"), first=Min("pk"))
            .order_by("kind")
        )
        firsts = {q["kind"]: q for q in queues}
        for kind, q in firsts.items():
            label = ReviewKind(kind).label if kind in ReviewKind.values else kind
            out.append(
                WaitingItem(
                    kind="Review items",
                    title=f"{q['n']} × {label}",
                    url=f"{reverse('imports:review_list')}?kind={kind}",
                    detail="left by imports for a person to decide",
                    count=q["n"],
                )
            )
    ready = ImportJob.objects.filter(created_by=user, status=JobStatus.READY).order_by(
        "created_at", "pk"
    )[:LIMIT]
    for job in ready:
        out.append(
            WaitingItem(
                kind="Import to confirm",
                title=f"#{job.pk} {job.get_kind_display()}: {job.original_name}",
                url=job.get_absolute_url(),
                detail=f"previewed {job.total_rows} row(s); confirm to apply it or cancel it",
                since=job.created_at,
            )
        )
    return out
