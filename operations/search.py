"""Global search provider (``opsportal.search``): recurring runs by their runbook's title."""

from opsportal.search import Hit, Provider, Query

from .models import RunSchedule


def _schedules(query: Query, limit: int) -> list[Hit]:
    """One query; schedules are few (a team's maintenance plan), the runbook title is short."""
    rows = (
        RunSchedule.objects.filter(runbook__title__icontains=query.text)
        .with_related()
        .order_by("runbook__title", "pk")[:limit]
    )
    return [
        Hit(
            f"{s.runbook.title} ({s.describe()})",
            s.get_absolute_url(),
            f"{s.environment} · {s.owner}" + ("" if s.active else " · paused"),
        )
        for s in rows
    ]


PROVIDERS = [
    Provider("recurring", "Recurring runs", _schedules, "operations.view_runschedule", order=45),
]
