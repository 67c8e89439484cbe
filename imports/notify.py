"""Notifications (``notifications/hooks.py``): an import job's outcome, to whoever started it.

Handlers read the committed state; they write nothing of this app's.
"""

from django.urls import reverse

from notifications.hooks import IMMEDIATE, EventType, Notice, users_with_perm

from .models import ImportJob, ReviewItem

REVIEW = "imports.review_importitem"

EVENTS = [
    EventType("import.finished", "Your import finished", "the person who started it", IMMEDIATE),
    EventType("import.failed", "Your import failed", "the person who started it", IMMEDIATE),
    EventType(
        "import.needs_review",
        "An import left items to review",
        "the person who started it, or an approver who may decide them",
        IMMEDIATE,
    ),
]


def _job(event) -> ImportJob | None:
    return ImportJob.objects.select_related("created_by").filter(pk=event.target_id or None).first()


def _facts(job: ImportJob) -> dict:
    return {"File": job.original_name, "Kind": job.get_kind_display()}


def completed(event) -> list[Notice]:
    job = _job(event)
    if job is None:
        return []
    owner = [job.created_by] if job.created_by else []
    notices = [
        Notice(
            event="import.finished",
            subject=f"Import #{job.pk} finished: {job.original_name}",
            lines=[
                f"{job.get_kind_display()} from {job.original_name}: {job.created_count} created, "
                f"{job.updated_count} updated, {job.unchanged_count} unchanged, "
                f"{job.rejected_count} rejected, in {job.seconds:.1f} s.",
            ],
            url=job.get_absolute_url(),
            recipients=owner,
            facts={**_facts(job), "Rejected rows": str(job.rejected_count)},
        )
    ]
    open_items = ReviewItem.objects.open().filter(job=job).count()
    if open_items:
        reviewers = list(users_with_perm(REVIEW))
        notices.append(
            Notice(
                event="import.needs_review",
                subject=f"Import #{job.pk} left {open_items} item(s) to review",
                lines=[
                    f"{job.original_name} left {open_items} item(s) the import would not decide "
                    "alone (affiliate mappings, possible duplicates, commission differences).",
                ],
                url=reverse("imports:review_list"),
                recipients=[*owner, *reviewers],
                facts={**_facts(job), "To review": str(open_items)},
            )
        )
    return notices


def failed(event) -> list[Notice]:
    job = _job(event)
    if job is None:
        return []
    return [
        Notice(
            event="import.failed",
            subject=f"Import #{job.pk} failed: {job.original_name}",
            lines=[
                f"{job.get_kind_display()} from {job.original_name} stopped: {job.error}"
                if job.error
                else f"{job.get_kind_display()} from {job.original_name} stopped.",
                "Batches committed before the failure stay; resume or roll back on its page.",
            ],
            url=job.get_absolute_url(),
            recipients=[job.created_by] if job.created_by else [],
            facts=_facts(job),
        )
    ]


HANDLERS = {"import.job.completed": completed, "import.job.failed": failed}
