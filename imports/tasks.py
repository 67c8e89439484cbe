"""django-q2 entry points (thin): load by id, call a service.

They return nothing, and a failure reaches django-q2's table with its message masked
(``opsportal.tasking``): an error may quote a cell of the file.
"""

from opsportal.tasking import masks_failures

from . import services


@masks_failures
def validate_job(job_id: int) -> None:
    services.job_validate(job_id=job_id)


@masks_failures
def apply_job(job_id: int) -> None:
    services.job_apply(job_id=job_id)


@masks_failures
def rollback_job(job_id: int) -> None:
    services.job_rollback_run(job_id=job_id)


@masks_failures
def purge_files() -> None:
    """Daily (a django-q2 schedule created by migration): IMPORT_FILE_RETENTION_DAYS."""
    services.job_files_purge(actor=None)


@masks_failures
def draw_verification(verification_id: int) -> None:
    services.verification_draw(verification_id=verification_id)
