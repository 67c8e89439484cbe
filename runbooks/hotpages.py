"""Pages of this app held to the query budget and measured by the pages bench
(``opsportal/hotpages.py`` collects every app's)."""

from django.db.models import Count
from django.urls import reverse

from opsportal.audit.links import history_url

from .models import Run, Runbook


def _largest_run():
    """The heaviest run page: the longest run still in progress (open steps carry forms)."""
    runs = Run.objects.annotate(steps=Count("step_runs")).order_by("-steps", "-pk")
    return runs.in_progress().first() or runs.first()


def pages() -> list[tuple[str, str]]:
    out = []
    runbook = Runbook.objects.order_by("-pk").first()
    if runbook:
        version = runbook.latest_version()
        if version:  # the runbook's page: its latest version, with the history beside it
            out.append(("runbook version", version.get_absolute_url()))
        out.append(("runbook history", history_url(runbook)))
    out.append(("runbooks", reverse("runbooks:runbook_list")))
    run = _largest_run()
    if run:
        out.append(("runbook run", run.get_absolute_url()))
    return out
