"""Dashboard panel: campaigns sending, queued, paused or failed."""

from .models import Campaign


def panels(request) -> list[dict]:
    if not request.user.has_perm("mailings.view_campaign"):
        return []
    campaigns = list(Campaign.objects.needing_attention().order_by("-pk")[:10])
    return [{"template": "mailings/_dashboard_panel.html", "campaigns": campaigns, "order": 45}]
