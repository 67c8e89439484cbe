"""Runbooks over the JSON API (docs/api.md): runbooks, runs, and starting a run (``runs:write``)
through ``services.run_start``, the service the run page calls."""

from datetime import datetime, timedelta

from django.core.exceptions import ValidationError
from django.db.models import Count, Max, Q
from django.http import Http404
from django.utils import timezone
from ninja import Field, Router, Schema, Status

from environments.api import env_path, environment_named
from opsportal.accounts.permissions import require
from opsportal.api.auth import scoped
from opsportal.api.pagination import cursor_page, page_of

from . import services
from .choices import RunStatus, StepStatus
from .models import Run, Runbook

router = Router(tags=["runbooks"])


class RunbookOut(Schema):
    id: int
    title: str
    project: str | None
    latest_version: int | None
    second_signoff: str


class RunOut(Schema):
    id: int
    runbook_id: int
    runbook: str
    version: int
    environment: str
    status: str
    planned_start: datetime
    planned_end: datetime
    started_by: str
    started_at: datetime
    finished_by: str | None
    finished_at: datetime | None
    steps_total: int
    steps_done: int = Field(description="done or skipped")
    steps_failed: int


class RunStartIn(Schema):
    runbook: int = Field(description="The runbook's id")
    version: int | None = Field(None, description="Version number; the latest when omitted")
    environment: str = Field(description="<project-slug>/<environment-name>")
    planned_start: datetime | None = Field(None, description="Aware datetime; now when omitted")
    planned_end: datetime | None = Field(None, description="Aware datetime; start + 1 h")


def _runs():
    return Run.objects.with_related().annotate(
        n_total=Count("step_runs"),
        n_done=Count(
            "step_runs", filter=Q(step_runs__status__in=[StepStatus.DONE, StepStatus.SKIPPED])
        ),
        n_failed=Count("step_runs", filter=Q(step_runs__status=StepStatus.FAILED)),
    )


def run_out(run: Run) -> dict:
    return {
        "id": run.pk,
        "runbook_id": run.version.runbook_id,
        "runbook": run.version.runbook.title,
        "version": run.version.number,
        "environment": env_path(run.environment),
        "status": run.status,
        "planned_start": run.planned_start,
        "planned_end": run.planned_end,
        "started_by": run.started_by.get_username(),
        "started_at": run.started_at,
        "finished_by": run.finished_by.get_username() if run.finished_by_id else None,
        "finished_at": run.finished_at,
        "steps_total": getattr(run, "n_total", 0),
        "steps_done": getattr(run, "n_done", 0),
        "steps_failed": getattr(run, "n_failed", 0),
    }


@router.get("/runbooks", response=page_of(RunbookOut), summary="Runbooks")
def runbook_list(request, cursor: str | None = None, limit: int = 50):
    require(request.user, "runbooks.view_runbook", action="view runbooks")
    qs = Runbook.objects.select_related("project").annotate(latest=Max("versions__number"))
    page = cursor_page(qs, cursor=cursor, limit=limit)
    page["items"] = [
        {
            "id": rb.pk,
            "title": rb.title,
            "project": rb.project.slug if rb.project_id else None,
            "latest_version": rb.latest,
            "second_signoff": rb.second_signoff,
        }
        for rb in page["items"]
    ]
    return page


@router.get("/runs", response=page_of(RunOut), summary="Runbook runs, newest first")
def run_list(
    request,
    environment: str | None = None,
    status: str | None = None,
    runbook: int | None = None,
    cursor: str | None = None,
    limit: int = 50,
):
    require(request.user, "runbooks.view_run", action="view runs")
    qs = _runs()
    if environment:
        qs = qs.filter(environment=environment_named(environment))
    if status:
        if status not in RunStatus.values:
            raise ValidationError({"status": f"One of: {', '.join(RunStatus.values)}."})
        qs = qs.filter(status=status)
    if runbook:
        qs = qs.filter(version__runbook_id=runbook)
    page = cursor_page(qs, cursor=cursor, limit=limit)
    page["items"] = [run_out(r) for r in page["items"]]
    return page


@router.get("/runs/{run_id}", response=RunOut, summary="A run")
def run_detail(request, run_id: int):
    require(request.user, "runbooks.view_run", action="view runs")
    run = _runs().filter(pk=run_id).first()
    if run is None:
        raise Http404(f"No run #{run_id}.")
    return run_out(run)


@router.post(
    "/runs",
    auth=scoped("runs:write"),
    response={201: RunOut},
    summary="Start a run of a runbook on an environment",
)
def run_create(request, payload: RunStartIn):
    """``services.run_start``, as the run page: the owner needs ``runbooks.add_run``; the window
    defaults to now … now + 1 h."""
    runbook = Runbook.objects.filter(pk=payload.runbook).first()
    if runbook is None:
        raise ValidationError({"runbook": f"No runbook #{payload.runbook}."})
    versions = runbook.versions.order_by("-number")
    version = (
        versions.filter(number=payload.version).first()
        if payload.version is not None
        else versions.first()
    )
    if version is None:
        raise ValidationError({"version": "This runbook has no such version."})
    try:
        environment = environment_named(payload.environment)
    except Http404 as exc:
        raise ValidationError({"environment": str(exc)}) from None
    start = payload.planned_start or timezone.now()
    end = payload.planned_end or start + timedelta(hours=1)
    run = services.run_start(
        actor=request.user,
        version=version,
        environment=environment,
        planned_start=start,
        planned_end=end,
    )
    return Status(201, run_out(_runs().get(pk=run.pk)))
