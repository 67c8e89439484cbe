"""The environment page's rotation section: each rotation-overdue variable (the hygiene
finding) with a one-click "start a campaign", and the open campaigns covering this environment.
Found by ``opsportal.apphooks``: the environments app never imports this module."""

from django.urls import reverse
from django.utils import timezone

from .choices import CampaignStatus
from .models import RotationCampaign, RotationItem


def panels(request, environment) -> list[dict]:
    if not request.user.has_perm("environments.view_configvar"):
        return []
    now = timezone.now()
    overdue = [
        v
        for v in environment.variables.with_rotation()
        if v.rotation_overdue(now) and v.is_secret and v.has_value
    ]
    campaigns = list(
        RotationCampaign.objects.open()
        .filter(items__environment=environment)
        .distinct()
        .with_progress()[:5]
    )
    if not overdue and not campaigns:
        return []
    # an overdue variable already in an open campaign links to it instead of offering another
    covering = dict(
        RotationItem.objects.filter(
            campaign__status=CampaignStatus.OPEN, configvar__in=[v.pk for v in overdue]
        ).values_list("configvar_id", "campaign_id")
        if overdue
        else ()
    )
    for var in overdue:
        var.open_campaign_url = (
            reverse("compliance:campaign_detail", args=[covering[var.pk]])
            if var.pk in covering
            else ""
        )
    return [
        {
            "template": "compliance/environment_panel.html",
            "overdue": overdue,
            "campaigns": campaigns,
            "can_start": request.user.has_perm("environments.change_configvar"),
            "environment": environment,
        }
    ]
