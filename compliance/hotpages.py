"""Pages of this app held to the query budget and measured by the pages bench
(``opsportal/hotpages.py`` collects every app's)."""

from django.urls import reverse

from .models import RotationCampaign


def pages() -> list[tuple[str, str]]:
    out = [("compliance", reverse("compliance:index"))]
    campaign = RotationCampaign.objects.order_by("-pk").first()
    if campaign:
        out.append(("rotation campaign", campaign.get_absolute_url()))
    return out
