"""The environment page's timeline panel (found by ``opsportal.apphooks``, so the environments
app never imports this one)."""

from django.urls import reverse

from . import timeline

PANEL_ENTRIES = 15


def panels(request, environment) -> list[dict]:
    if not request.user.has_perm("deployments.view_deployment"):
        return []
    items, more = timeline.entries(environment, limit=PANEL_ENTRIES)
    return [
        {
            "template": "deployments/panel_timeline.html",
            "items": items,
            "more": more,
            "timeline_url": reverse("deployments:timeline", args=[environment.pk]),
            "ledger_url": reverse("deployments:environment_ledger", args=[environment.pk]),
            "dora_url": f"{reverse('deployments:dora')}?environment={environment.pk}",
            "audit_url": f"{reverse('audit:event_list')}?environment={environment.pk}",
        }
    ]
