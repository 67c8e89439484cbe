"""Dashboard panel: imports running or waiting for a decision, and open review items."""

from django.db.models import Count

from .choices import ReviewKind, ReviewStatus
from .models import ImportJob, ReviewItem


def panels(request) -> list[dict]:
    if not request.user.has_perm("imports.view_importjob"):
        return []
    jobs = list(ImportJob.objects.needing_attention().select_related("created_by")[:10])
    open_by_kind = (
        ReviewItem.objects.filter(status=ReviewStatus.OPEN)
        .values("kind")
        .annotate(n=Count("pk"))
        .values_list("kind", "n")
    )
    reviews = {ReviewKind(kind).label: n for kind, n in open_by_kind}
    return [
        {
            "template": "imports/_dashboard_panel.html",
            "import_jobs": jobs,
            "import_reviews": reviews,
        },
        *_verification_panels(request),
    ]


def _verification_panels(request) -> list[dict]:
    """Sample verifications: a slot the page fills after it loads (htmx), so the dashboard
    itself runs no query for it (``verification_views.VerificationPanelView``)."""
    if not request.user.has_perm("imports.view_sampleverification"):
        return []
    return [{"template": "imports/_verification_slot.html"}]
