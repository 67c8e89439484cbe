"""Dashboard panel: open rotation campaigns with their progress (one query). The access review
due or open is in admins' "waiting for me" and on the calendar."""

from django.utils import timezone

from .models import RotationCampaign


def panels(request) -> list[dict]:
    if not request.user.has_perm("environments.view_configvar"):
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
    return [{"template": "compliance/dashboard_panel.html", "rows": rows}]
