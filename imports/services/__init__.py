"""Every write of the imports app: jobs (upload, validate, confirm, apply, cancel, resume,
rollback), review decisions, column presets and product settings, one module per seam.

Status changes are audited with the operator; per-row changes are linked to the job through
``ImportRowChange`` and each row's ``job`` instead of an audit row each.
"""

from .apply import job_apply, job_cancel, job_confirm, job_figures, job_resume
from .common import (
    BATCH_PAUSE,
    PERM_REVIEW,
    PERM_ROLLBACK,
    PERM_RUN,
    PERM_START,
    WRITE_LOCK_KEY,
)
from .products import PERM_PRODUCTS, product_update, validate_product_settings
from .retention import job_files_purge
from .reviews import preset_save, review_decide
from .rollback import job_rollback, job_rollback_run
from .upload import job_create, job_validate
from .verification import (
    PERM_MARK,
    PERM_VERIFY,
    draw_is_stuck,
    verification_complete,
    verification_draw,
    verification_item_mark,
    verification_redraw,
    verification_start,
)

__all__ = [
    "BATCH_PAUSE",
    "PERM_MARK",
    "PERM_PRODUCTS",
    "PERM_REVIEW",
    "PERM_ROLLBACK",
    "PERM_RUN",
    "PERM_START",
    "PERM_VERIFY",
    "WRITE_LOCK_KEY",
    "draw_is_stuck",
    "job_apply",
    "job_cancel",
    "job_confirm",
    "job_create",
    "job_figures",
    "job_files_purge",
    "job_resume",
    "job_rollback",
    "job_rollback_run",
    "job_validate",
    "preset_save",
    "product_update",
    "review_decide",
    "validate_product_settings",
    "verification_complete",
    "verification_draw",
    "verification_item_mark",
    "verification_redraw",
    "verification_start",
]
