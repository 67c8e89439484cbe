"""The imports' part of `manage.py portal_status`: jobs in flight with their batch."""

from .choices import ACTIVE_STATUSES
from .models import ImportJob


def sections(now) -> tuple[dict, list[str]]:
    running = [
        {"job": j.pk, "kind": j.kind, "percent": j.percent, "checkpoint": j.checkpoint}
        for j in ImportJob.objects.filter(status__in=ACTIVE_STATUSES).order_by("pk")
    ]
    return {"imports_in_flight": running}, []
