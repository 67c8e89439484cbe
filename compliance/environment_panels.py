"""The environment page's rotation section: each rotation-overdue variable (the hygiene
finding) with a one-click "start a campaign", and the open campaigns covering this environment.
Found by ``opsportal.apphooks``: the environments app never imports this module."""

from django.utils import timezone

from .models import RotationCampaign


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
    return [
        {
            "template": "compliance/environment_panel.html",
            "overdue": overdue,
            "campaigns": campaigns,
            "can_start": request.user.has_perm("environments.change_configvar"),
            "environment": environment,
        }
    ]
