"""Read-only status of an import job, for runbook checks."""

from .choices import JobStatus
from .models import ImportJob, ReviewItem


def job_status(job_id: int) -> dict:
    """``ok``: the job completed with no rejected rows and no open review items it raised."""
    job = ImportJob.objects.filter(pk=job_id).first()
    if job is None:
        return {"ok": False, "summary": f"Import job #{job_id} does not exist.", "figures": {}}
    open_reviews = ReviewItem.objects.open().filter(job_id=job.pk).count()
    figures = {
        "total": job.total_rows,
        "processed": job.processed_rows,
        "created": job.created_count,
        "updated": job.updated_count,
        "unchanged": job.unchanged_count,
        "rejected": job.rejected_count,
        "open_reviews": open_reviews,
    }
    ok = job.status == JobStatus.COMPLETED and not job.rejected_count and not open_reviews
    if ok:
        summary = f"Import #{job.pk} completed: {job.processed_rows} rows, nothing to review."
    else:
        summary = (
            f"Import #{job.pk} is {job.get_status_display().lower()}: "
            f"{job.rejected_count} rejected rows, {open_reviews} open review items."
        )
    return {"ok": ok, "summary": summary, "figures": figures}
