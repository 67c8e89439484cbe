"""Dashboard panel: runs in progress with their progress and elapsed time against the window."""

from django.db.models import Count, Q

from . import report
from .choices import StepStatus
from .models import Run


def panels(request) -> list[dict]:
    if not request.user.has_perm("runbooks.view_run"):
        return []
    runs = list(
        Run.objects.in_progress()
        .with_related()
        .annotate(
            total=Count("step_runs"),
            closed=Count(
                "step_runs",
                filter=Q(step_runs__status__in=[StepStatus.DONE, StepStatus.SKIPPED]),
            ),
        )[:10]
    )
    rows = []
    for run in runs:
        elapsed, window = report.elapsed(run), report.window(run)
        rows.append(
            {
                "run": run,
                "percent": round(100 * run.closed / run.total) if run.total else 0,
                "elapsed": report.fmt_duration(elapsed),
                "window": report.fmt_duration(window),
                "over": elapsed > window,
            }
        )
    return [{"template": "runbooks/dashboard_panel.html", "rows": rows}]
