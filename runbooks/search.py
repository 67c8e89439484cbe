"""Global search providers (``opsportal.search``): runbooks by title, runs by number or title."""

from opsportal.search import Hit, Provider, Query

from .models import Run, Runbook


def _runbooks(query: Query, limit: int) -> list[Hit]:
    rows = (
        Runbook.objects.filter(title__icontains=query.text)
        .select_related("project")
        .only("title", "project__name")
        .order_by("title")[:limit]
    )
    return [
        Hit(r.title, r.get_absolute_url(), r.project.name if r.project else "runbook") for r in rows
    ]


def _runs(query: Query, limit: int) -> list[Hit]:
    runs = Run.objects.with_related().order_by("-started_at", "-pk")
    if query.number is not None:
        runs = runs.filter(pk=query.number)
    else:
        runs = runs.filter(version__runbook__title__icontains=query.text)
    return [
        Hit(
            f"Run #{r.pk}: {r.version.runbook.title} v{r.version.number}",
            r.get_absolute_url(),
            f"{r.get_status_display()} · {r.environment} · {r.started_by}",
        )
        for r in runs[:limit]
    ]


PROVIDERS = [
    Provider("runbooks", "Runbooks", _runbooks, "runbooks.view_runbook", order=40),
    Provider("runs", "Runs", _runs, "runbooks.view_run", order=50),
]
