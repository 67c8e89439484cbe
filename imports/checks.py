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


def sample_status(job_ids) -> dict:
    """``ok``: the latest completed sample verification covering every one of the jobs found no
    member wrong (its figures are reported either way)."""
    from django.db.models import Count, Q

    from .choices import VerificationStatus
    from .models import SampleVerification

    ids = sorted({int(j) for j in job_ids})
    if not ids:
        return {"ok": False, "summary": "Name the import jobs to verify.", "figures": {}}
    covering = (
        SampleVerification.objects.annotate(n=Count("jobs", filter=Q(jobs__in=ids), distinct=True))
        .filter(n=len(ids))
        .order_by("-pk")
    )
    names = ", ".join(f"#{j}" for j in ids)
    done = covering.filter(status=VerificationStatus.COMPLETED).first()
    if done is None:
        pending = covering.exclude(status=VerificationStatus.FAILED).first()
        summary = (
            f"Sample verification #{pending.pk} of import {names} is not completed yet."
            if pending
            else f"No sample verification of import {names} yet."
        )
        return {"ok": False, "summary": summary, "figures": {}}
    figures = {
        "verification": done.pk,
        "seed": done.seed,
        "members": done.report.get("results", {}).get("members", done.checked_count),
        "correct": done.correct_count,
        "wrong": done.wrong_count,
        "content_hash": done.content_hash,
    }
    summary = (
        f"Sample verification #{done.pk} of import {names} (seed {done.seed}): "
        f"{done.correct_count} correct, {done.wrong_count} wrong."
    )
    return {"ok": done.wrong_count == 0, "summary": summary, "figures": figures}
