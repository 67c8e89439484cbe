"""Import jobs over the JSON API (docs/api.md): status and counts, read-only. Member data (names,
e-mails, phones) is not served here."""

from datetime import datetime

from django.core.exceptions import ValidationError
from django.http import Http404
from ninja import Router, Schema

from opsportal.accounts.permissions import require
from opsportal.api.pagination import cursor_page, page_of

from .choices import JobKind, JobStatus
from .models import ImportJob

router = Router(tags=["imports"])


class ImportJobOut(Schema):
    id: int
    kind: str
    status: str
    original_name: str
    sha256: str
    size: int
    total_rows: int
    processed_rows: int
    created_count: int
    updated_count: int
    unchanged_count: int
    rejected_count: int
    percent: int
    created_by: str | None
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None
    seconds: float
    error: str


def job_out(job: ImportJob) -> dict:
    return {
        **{f: getattr(job, f) for f in ImportJobOut.model_fields if f != "created_by"},
        "created_by": job.created_by.get_username() if job.created_by_id else None,
    }


@router.get("/import-jobs", response=page_of(ImportJobOut), summary="Import jobs, newest first")
def import_job_list(
    request,
    status: str | None = None,
    kind: str | None = None,
    cursor: str | None = None,
    limit: int = 50,
):
    require(request.user, "imports.view_importjob", action="view import jobs")
    qs = ImportJob.objects.select_related("created_by")
    if status:
        if status not in JobStatus.values:
            raise ValidationError({"status": f"One of: {', '.join(JobStatus.values)}."})
        qs = qs.filter(status=status)
    if kind:
        if kind not in JobKind.values:
            raise ValidationError({"kind": f"One of: {', '.join(JobKind.values)}."})
        qs = qs.filter(kind=kind)
    page = cursor_page(qs, cursor=cursor, limit=limit)
    page["items"] = [job_out(j) for j in page["items"]]
    return page


@router.get("/import-jobs/{job_id}", response=ImportJobOut, summary="An import job")
def import_job_detail(request, job_id: int):
    require(request.user, "imports.view_importjob", action="view import jobs")
    job = ImportJob.objects.select_related("created_by").filter(pk=job_id).first()
    if job is None:
        raise Http404(f"No import job #{job_id}.")
    return job_out(job)
