"""Pages of this app held to the query budget and measured by the pages bench
(``opsportal/hotpages.py`` collects every app's)."""

from django.urls import reverse

from .models import Campaign


def pages() -> list[tuple[str, str]]:
    out = [("welcome campaigns", reverse("mailings:campaign_list"))]
    campaign = Campaign.objects.order_by("-pk").first()
    if campaign:
        out.append(("welcome campaign", campaign.get_absolute_url()))
    return out
