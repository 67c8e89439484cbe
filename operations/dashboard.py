"""Dashboard panel: recurring runs due or overdue now, and the next ones coming.

The dashboard holds a slot that htmx fills as soon as the page loads (``views.DuePanelView``),
as the "waiting for me" queue does: the panel's queries are its own request's, not the
dashboard's (both are held to the query budget, ``opsportal/hotpages.py``)."""

from django.utils import timezone

from .choices import PeriodStatus
from .models import RunSchedule, ScheduledRun
from .services import PERM_VIEW

SHOWN = 8


def due_panel() -> dict:
    """What the panel shows: open periods (overdue first by due time), the next schedules."""
    now = timezone.now()
    open_periods = list(
        ScheduledRun.objects.open()
        .filter(period_start__lte=now)
        .with_related()
        .order_by("due_at", "pk")[:SHOWN]
    )
    rows = [{"period": p, "overdue": p.status(now) == PeriodStatus.OVERDUE} for p in open_periods]
    upcoming = list(
        RunSchedule.objects.active()
        .filter(next_due_at__gt=now)
        .with_related()
        .order_by("next_due_at", "pk")[:5]
    )
    return {"rows": rows, "overdue": sum(1 for r in rows if r["overdue"]), "upcoming": upcoming}


def panels(request) -> list[dict]:
    if not request.user.has_perm(PERM_VIEW):
        return []
    return [{"template": "operations/_dashboard_slot.html", "order": 40}]
