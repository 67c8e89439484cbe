"""Dashboard panel: open rotation campaigns with their progress, and the access review due."""

from datetime import timedelta

from django.utils import timezone

from . import reviews
from .models import AccessReview, RotationCampaign


def next_review_due():
    """When the next access review is due: a period after the last completed one (today when
    there never was one)."""
    last = AccessReview.objects.filter(completed_at__isnull=False).order_by("-completed_at").first()
    if last is None:
        return timezone.localdate()
    return last.period_end + timedelta(days=reviews.period_days())


def panels(request) -> list[dict]:
    user = request.user
    if not user.has_perm("environments.view_configvar"):
        return []
    campaigns = list(
        RotationCampaign.objects.open()
        .with_progress()
        .select_related("owner")
        .order_by("due_date")[:5]
    )
    today = timezone.localdate()
    rows = [
        {
            "campaign": c,
            "percent": round(100 * c.done / c.total) if c.total else 100,
            "overdue": c.due_date < today,
        }
        for c in campaigns
    ]
    panel = {"template": "compliance/dashboard_panel.html", "rows": rows}
    if user.has_perm("auth.change_user"):
        panel["open_review"] = AccessReview.objects.open().first()
        panel["review_due"] = next_review_due()
        panel["review_overdue"] = panel["review_due"] <= today and panel["open_review"] is None
    return [panel]
