"""django-q2 entry points (thin): load by id, call a service."""

from . import services


def validate_job(job_id: int) -> None:
    services.job_validate(job_id=job_id)


def apply_job(job_id: int) -> None:
    services.job_apply(job_id=job_id)


def rollback_job(job_id: int) -> None:
    services.job_rollback_run(job_id=job_id)
